#!/usr/bin/env node
// How long `flashsale reconcile` takes over a day of N transactions, and how much memory, beside
// Postgres alone joining the same two tables in the same run.
//
//   npm run build && node bench/reconcile.mjs [--n 1000000,100000] [--anomalies 0.03] [--orphans 0.005] [--keep]
//
// For each N: writes a day (2026-11-18 UTC) of N transactions straight into a fresh sale schema
// and a fresh mock-provider ledger (src/core/reconcile/generate.ts: set-based SQL, a known count
// of every break kind), then
//   reconcile   `node bin/flashsale.js reconcile --date … --namespace … --json` in a child
//               process, exactly as a user runs it: the bundled mock provider in that process,
//               every charge read page by page over HTTP (100 per page), merged, reported.
//               Wall time, and peak RSS from the child's own getrusage high-water mark.
//   psql        the floor: `\copy (SELECT … FULL JOIN … ORDER BY transaction_id) TO /dev/null`
//               over the same rows, no HTTP and no classification: what Postgres alone needs to
//               produce the joined rows.
// The reconcile answer is checked against the generated counts: a fast wrong answer is not a result.
// A measurement, not a test: it prints the table and exits 0 (1 if an answer was wrong).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const root = fileURLToPath(new URL('..', import.meta.url));
const { generateDay } = await import(new URL('../dist/core/reconcile/generate.js', import.meta.url).href);
const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '100000,1000000' },
    anomalies: { type: 'string', default: '0.03' },
    orphans: { type: 'string', default: '0.005' },
    date: { type: 'string', default: '2026-11-18' },
    keep: { type: 'boolean', default: false },
  },
});
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const sizes = args.n.split(',').map(Number);
const rows = [];
let wrong = 0;

for (const n of sizes) {
  const namespace = `rbench_${randomBytes(3).toString('hex')}`;
  const t0 = performance.now();
  const expected = await generateDay({
    databaseUrl,
    namespace,
    date: args.date,
    n,
    anomalyRate: Number(args.anomalies),
    orphanRate: Number(args.orphans),
  });
  const genS = (performance.now() - t0) / 1000;

  const t1 = performance.now();
  const child = spawnSync(
    process.execPath,
    [
      `${root}/bin/flashsale.js`,
      'reconcile',
      '--date',
      args.date,
      '--namespace',
      namespace,
      '--database-url',
      databaseUrl,
      '--out',
      `${root}/reports/bench-reconcile-${namespace}`,
      '--json',
    ],
    {
      encoding: 'utf8',
      maxBuffer: 64 * 2 ** 20,
    },
  );
  const wallS = (performance.now() - t1) / 1000;
  if (child.status !== 5 && child.status !== 0) throw new Error(`reconcile exited ${child.status}: ${child.stderr}`);
  const doc = JSON.parse(child.stdout);
  const got = Object.fromEntries(doc.summary.map((l) => [l.category, l.count]));
  const ok = JSON.stringify(Object.entries(got).sort()) === JSON.stringify(Object.entries(expected).sort());
  if (!ok) wrong++;

  const s = `"flashsale_${namespace}_sale"`;
  const p = `"mockpay_${namespace}"`;
  const sql = `\\copy (SELECT * FROM (SELECT * FROM ${s}.transactions WHERE created_at >= '${args.date}'::date - 1 AND created_at < '${args.date}'::date + 2) t FULL JOIN (SELECT * FROM ${p}.charges WHERE created >= '${args.date}'::date - 1 AND created < '${args.date}'::date + 2) c USING (transaction_id) ORDER BY transaction_id COLLATE "C") TO '/dev/null'`;
  const t2 = performance.now();
  execFileSync('psql', [databaseUrl, '-qX', '-c', sql]);
  const psqlS = (performance.now() - t2) / 1000;

  rows.push({
    n,
    genS,
    wallS,
    ...doc.phasesMs,
    rssMb: doc.peakRssMb,
    psqlS,
    ok,
    charges: doc.read.providerCharges,
    pages: doc.read.pages,
  });
  if (!args.keep) {
    const c = new pg.Client({ connectionString: databaseUrl });
    await c.connect();
    await c.query(`DROP SCHEMA ${s} CASCADE; DROP SCHEMA ${p} CASCADE`);
    await c.end();
  }
}

const fmt = (x, d = 1) => x.toFixed(d);
console.log(
  `reconcile bench, ${new Date().toISOString()}, anomalies ${args.anomalies} + orphans ${args.orphans}, date ${args.date}`,
);
console.log(
  '| transactions | provider charges / pages | reconcile wall s | of which: provider read / match+report s | peak RSS MB | psql FULL JOIN s | reconcile / psql | answer |',
);
console.log('|---:|---:|---:|---:|---:|---:|---:|---|');
for (const r of rows) {
  console.log(
    `| ${r.n.toLocaleString('en-US')} | ${r.charges.toLocaleString('en-US')} / ${r.pages} | ${fmt(r.wallS)} | ${fmt(r.providerRead / 1000)} / ${fmt(r.matchAndReport / 1000)} | ${r.rssMb} | ${fmt(r.psqlS)} | ${fmt(r.wallS / r.psqlS)} | ${r.ok ? 'every count as generated' : 'WRONG'} |`,
  );
}
if (rows.length > 1) {
  const big = rows.reduce((a, b) => (b.n > a.n ? b : a));
  const small = rows.reduce((a, b) => (b.n < a.n ? b : a));
  console.log(
    `peak RSS at ${big.n.toLocaleString('en-US')} / at ${small.n.toLocaleString('en-US')}: ${fmt(big.rssMb / small.rssMb, 2)}×`,
  );
}
process.exit(wrong ? 1 : 0);
