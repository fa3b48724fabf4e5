// `flashsale reconcile` against the real Postgres and the bundled mock provider: the categories
// found against a simulation's ground truth, day windows in named zones, a misbehaving provider,
// --fix done once, and bad input refused before anything is written.
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../../src/cli.js';
import { generateDay } from '../../../../src/core/reconcile/generate.js';
import { reconcile } from '../../../../src/core/reconcile/run.js';
import { startProvider } from '../../../../src/core/provider/index.js';
import { captureIO } from '../../../helpers/io.js';
import { DATABASE_URL, uniqueNamespace } from '../../../helpers/services.js';
import { simulate, tmpOut } from '../../../helpers/simulate.js';

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
const namespaces: string[] = [];

afterAll(async () => {
  for (const ns of namespaces) {
    await pool.query(
      `DROP SCHEMA IF EXISTS "flashsale_${ns}_sale" CASCADE; DROP SCHEMA IF EXISTS "mockpay_${ns}" CASCADE; DROP SCHEMA IF EXISTS "flashsale_${ns}" CASCADE`,
    );
  }
  await pool.end();
});

function ns(prefix: string): string {
  const n = uniqueNamespace(prefix);
  namespaces.push(n);
  return n;
}

async function run(args: string[]) {
  const io = captureIO();
  const out = tmpOut();
  const code = await main(['reconcile', '--database-url', DATABASE_URL, '--out', out, '--json', ...args], io);
  const stdout = io.stdout.join('\n');
  return { code, out, err: io.stderr.join('\n'), doc: stdout ? JSON.parse(stdout) : undefined };
}

const counts = (doc: { summary: { category: string; count: number }[] }) =>
  Object.fromEntries(doc.summary.map((l) => [l.category, l.count]));

/** One local transaction and (optionally) its charge, at a given instant. */
async function insertPair(
  n: string,
  txid: string,
  atIso: string,
  opts: { localAmount: number; providerAmount?: number },
) {
  const at = new Date(atIso).getTime();
  await pool.query(
    `INSERT INTO "flashsale_${n}_sale".orders (order_id, reservation_id, click_id, sku, qty, user_id, amount_minor, currency, status, transaction_id, expires_at, charge_id, created_at, updated_at)
VALUES ($1, $1, $1, 'sku-1', 1, 'u', $2, 'EUR', 'Paid', $3, to_timestamp($4 / 1000.0), $5, to_timestamp($4 / 1000.0), to_timestamp($4 / 1000.0))`,
    [`ord_${txid}`, opts.localAmount, txid, at, `ch_${txid}`],
  );
  await pool.query(
    `INSERT INTO "flashsale_${n}_sale".transactions (transaction_id, order_id, amount_minor, currency, status, charge_id, created_at) VALUES ($1, $2, $3, 'EUR', 'succeeded', $4, to_timestamp($5 / 1000.0))`,
    [txid, `ord_${txid}`, opts.localAmount, `ch_${txid}`, at],
  );
  if (opts.providerAmount !== undefined) {
    await pool.query(
      `INSERT INTO "mockpay_${n}".charges (id, transaction_id, order_id, amount, currency, status, metadata, created, settled_at)
VALUES ($1, $2, $3, $4, 'EUR', 'succeeded', jsonb_build_object('transaction_id', $2::text, 'order_id', $3::text), to_timestamp($5 / 1000.0), to_timestamp($5 / 1000.0))`,
      [`ch_${txid}`, txid, `ord_${txid}`, opts.providerAmount, at - 100],
    );
  }
}

describe('reconcile after a payment-chaos simulation', () => {
  it('reports exactly the anomalies of provider-faults.json, each in its category, and exits 5', async () => {
    const sim = await simulate([
      '--scenario',
      'scenarios/payment-chaos.json',
      '--strategy',
      'atomic',
      '--workers',
      '2',
    ]);
    expect(sim.code).toBe(0);
    namespaces.push(sim.report.namespace);
    const faults: { transaction_id: string; expected: string }[] = JSON.parse(
      readFileSync(join(sim.out, 'provider-faults.json'), 'utf8'),
    );
    const expected = new Map<string, string>();
    for (const f of faults) if (f.expected !== 'MATCHED') expected.set(f.transaction_id, f.expected);
    expect(expected.size).toBeGreaterThan(20);
    // The sale ran minutes ago: every day it touched (two, if it straddled midnight UTC) is reconciled.
    const { rows } = await pool.query<{ day: string }>(
      `SELECT DISTINCT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day FROM "flashsale_${sim.report.namespace}_sale".transactions`,
    );
    const found = new Map<string, string>();
    for (const { day } of rows) {
      const r = await run(['--date', day, '--namespace', sim.report.namespace, '--grace', '0']);
      expect(r.code).toBe(5);
      expect(r.doc.verdict).toBe('BREAKS');
      const report = JSON.parse(readFileSync(join(r.out, 'mismatches.json'), 'utf8'));
      for (const m of report.mismatches) found.set(m.transaction_id, m.category);
    }
    const missed = [...expected].filter(([t, c]) => found.get(t) !== c);
    const extra = [...found].filter(([t]) => !expected.has(t));
    expect(missed).toEqual([]); // recall 1
    expect(extra).toEqual([]); // precision 1
    for (const c of [
      'ORPHAN_CHARGE',
      'DUPLICATE_CHARGE',
      'AMOUNT_MISMATCH',
      'MISSING_AT_PROVIDER',
      'SETTLED_OTHER_DAY',
    ]) {
      expect([...found.values()]).toContain(c);
    }
  });
});

describe('reconcile on generated days', () => {
  let day: string;
  let expected: Awaited<ReturnType<typeof generateDay>>;
  beforeAll(async () => {
    day = ns('rday');
    expected = await generateDay({
      databaseUrl: DATABASE_URL,
      namespace: day,
      date: '2026-11-20',
      n: 3000,
      anomalyRate: 0.06,
      orphanRate: 0.01,
    });
  });

  it('counts every generated break in its category, and the same date twice gives byte-identical files', async () => {
    const a = await run(['--date', '2026-11-20', '--namespace', day]);
    const b = await run(['--date', '2026-11-20', '--namespace', day, '--concurrency', '1']);
    expect(a.code).toBe(5);
    expect(counts(a.doc)).toEqual(expected);
    for (const f of ['mismatches.csv', 'mismatches.json'])
      expect(readFileSync(join(b.out, f))).toEqual(readFileSync(join(a.out, f)));
    const csv = readFileSync(join(a.out, 'mismatches.csv'), 'utf8').trim().split('\n');
    expect(csv[0].split(',').slice(0, 4)).toEqual(['break_id', 'category', 'transaction_id', 'order_id']);
    expect(csv.length - 1).toBe(
      Object.entries(expected)
        .filter(([c]) => c !== 'MATCHED')
        .reduce((n, [, v]) => n + (v ?? 0), 0),
    );
  });

  it('a day with nothing wrong is RECONCILED and exits 0', async () => {
    const clean = ns('rclean');
    const exp = await generateDay({
      databaseUrl: DATABASE_URL,
      namespace: clean,
      date: '2026-11-20',
      n: 500,
      anomalyRate: 0,
      orphanRate: 0,
    });
    const r = await run(['--date', '2026-11-20', '--namespace', clean]);
    expect(r.code).toBe(0);
    expect(r.doc.verdict).toBe('RECONCILED');
    expect(counts(r.doc)).toEqual(exp);
    expect(JSON.parse(readFileSync(join(r.out, 'mismatches.json'), 'utf8')).mismatches).toEqual([]);
  });

  it('--fix refunds orphan and duplicate charges and fails orders never paid, once, however often it runs', async () => {
    const fixed = ns('rfix');
    const exp = await generateDay({
      databaseUrl: DATABASE_URL,
      namespace: fixed,
      date: '2026-11-20',
      n: 2000,
      anomalyRate: 0.06,
      orphanRate: 0.01,
    });
    const dry = await run(['--date', '2026-11-20', '--namespace', fixed]);
    expect(dry.doc.fixes.applied).toBe(false);
    expect((await pool.query(`SELECT count(*)::int AS n FROM "mockpay_${fixed}".refunds`)).rows[0].n).toBe(0);

    const first = await run(['--date', '2026-11-20', '--namespace', fixed, '--fix']);
    expect(first.code).toBe(5); // the report is of what was found
    const refunds = (exp.ORPHAN_CHARGE ?? 0) + (exp.DUPLICATE_CHARGE ?? 0);
    expect(first.doc.fixes.outcome.done).toBe(refunds + (exp.MISSING_AT_PROVIDER ?? 0));
    expect(first.doc.fixes.outcome.failed).toEqual([]);
    const refundCount = async () =>
      (await pool.query(`SELECT count(*)::int AS n FROM "mockpay_${fixed}".refunds`)).rows[0].n;
    expect(await refundCount()).toBe(refunds);

    const second = await run(['--date', '2026-11-20', '--namespace', fixed, '--fix']);
    expect(await refundCount()).toBe(refunds);
    expect(second.doc.fixes.outcome?.done ?? 0).toBe(0);
    const after = counts(second.doc);
    expect(after.ORPHAN_CHARGE).toBeUndefined();
    expect(after.DUPLICATE_CHARGE).toBeUndefined();
    expect(after.MISSING_AT_PROVIDER).toBeUndefined();
    expect(after.AMOUNT_MISMATCH).toBe(exp.AMOUNT_MISMATCH); // a person's to decide
    const audit = await pool.query(
      `SELECT action, count(*)::int AS n FROM "flashsale_${fixed}_sale".reconcile_actions GROUP BY action ORDER BY action`,
    );
    expect(Object.fromEntries(audit.rows.map((r) => [r.action, r.n]))).toEqual({
      refund_duplicate: exp.DUPLICATE_CHARGE,
      refund_orphan: exp.ORPHAN_CHARGE,
      release_stock_and_fail_order: exp.MISSING_AT_PROVIDER,
    });
    const failedOrders = await pool.query(
      `SELECT count(*)::int AS n FROM "flashsale_${fixed}_sale".orders WHERE decline_code = 'missing_at_provider' AND status = 'PaymentFailed'`,
    );
    expect(failedOrders.rows[0].n).toBe(exp.MISSING_AT_PROVIDER);
  });
});

describe('the day is counted in the named zone', () => {
  it('a charge at 23:30 Europe/Berlin belongs to that Berlin day, and 00:30 to the next, whatever the UTC date', async () => {
    const n = ns('rtz');
    await generateDay({
      databaseUrl: DATABASE_URL,
      namespace: n,
      date: '2026-11-21',
      n: 0,
      anomalyRate: 0,
      orphanRate: 0,
    });
    await insertPair(n, 'txn_berlin_2330', '2026-11-21T22:30:00Z', { localAmount: 1000, providerAmount: 1001 });
    await insertPair(n, 'txn_berlin_0030', '2026-11-21T23:30:00Z', { localAmount: 1000, providerAmount: 1002 });
    const ids = async (date: string, tz: string) => {
      const r = await run(['--date', date, '--tz', tz, '--namespace', n]);
      return JSON.parse(readFileSync(join(r.out, 'mismatches.json'), 'utf8')).mismatches.map(
        (m: { transaction_id: string }) => m.transaction_id,
      );
    };
    expect(await ids('2026-11-21', 'Europe/Berlin')).toEqual(['txn_berlin_2330']);
    expect(await ids('2026-11-22', 'Europe/Berlin')).toEqual(['txn_berlin_0030']);
    expect(await ids('2026-11-21', 'UTC')).toEqual(['txn_berlin_0030', 'txn_berlin_2330']);
  });

  it('the spring-forward day in Berlin has 23 hours and every payment of it, and the autumn day 25', async () => {
    const spring = ns('rdst');
    const exp = await generateDay({
      databaseUrl: DATABASE_URL,
      namespace: spring,
      date: '2026-03-29',
      tz: 'Europe/Berlin',
      n: 2300,
      anomalyRate: 0,
      orphanRate: 0,
    });
    const r = await run(['--date', '2026-03-29', '--tz', 'Europe/Berlin', '--namespace', spring]);
    expect(r.doc.window).toEqual({ start: '2026-03-28T23:00:00.000Z', end: '2026-03-29T22:00:00.000Z', hours: 23 });
    expect(counts(r.doc)).toEqual(exp);
    // Counted in UTC the same payments straddle two days.
    const utc = await run(['--date', '2026-03-29', '--tz', 'UTC', '--namespace', spring]);
    expect(counts(utc.doc).MATCHED).toBeLessThan(exp.MATCHED!);

    const autumn = ns('rdst');
    const exp2 = await generateDay({
      databaseUrl: DATABASE_URL,
      namespace: autumn,
      date: '2026-10-25',
      tz: 'Europe/Berlin',
      n: 2500,
      anomalyRate: 0,
      orphanRate: 0,
    });
    const r2 = await run(['--date', '2026-10-25', '--tz', 'Europe/Berlin', '--namespace', autumn]);
    expect(r2.doc.window.hours).toBe(25);
    expect(counts(r2.doc)).toEqual(exp2);
  });
});

/** A proxy in front of a provider that misbehaves on the list endpoint as told. */
async function flakyProxy(
  target: string,
  misbehave: (n: number, url: string) => 'ok' | 429 | 500 | 'hang',
): Promise<{ url: string; stop(): Promise<void>; seen: () => number }> {
  let n = 0;
  const server: Server = createServer(async (req, res) => {
    const what =
      req.method === 'GET' &&
      req.url?.startsWith('/v1/charges?') &&
      !req.url.includes('limit=1&') &&
      !req.url.endsWith('limit=1')
        ? misbehave(++n, req.url)
        : 'ok';
    if (what === 'hang') return; // never answers
    if (what === 429)
      return void res
        .writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' })
        .end('{"error":{"code":"rate_limit"}}');
    if (what === 500)
      return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"api_error"}}');
    const upstream = await fetch(target + req.url, { method: req.method });
    res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen: () => n,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('a provider that misbehaves', () => {
  let n: string;
  let provider: Awaited<ReturnType<typeof startProvider>>;
  beforeAll(async () => {
    n = ns('rflaky');
    await generateDay({
      databaseUrl: DATABASE_URL,
      namespace: n,
      date: '2026-11-20',
      n: 1500,
      anomalyRate: 0.06,
      orphanRate: 0.01,
    });
    provider = await startProvider({ databaseUrl: DATABASE_URL, namespace: n, secret: 'x'.repeat(24), seed: 1 });
  });
  afterAll(async () => {
    await provider.stop();
  });

  it('429 with Retry-After and 500 on some pages still give the full report, identical to a clean read', async () => {
    const clean = await run(['--date', '2026-11-20', '--namespace', n, '--provider-url', provider.url]);
    const proxy = await flakyProxy(provider.url, (k) => (k === 2 || k === 7 ? 429 : k % 4 === 0 ? 500 : 'ok'));
    try {
      const flaky = await run(['--date', '2026-11-20', '--namespace', n, '--provider-url', proxy.url]);
      expect(flaky.code).toBe(5);
      expect(flaky.doc.read.rateLimited).toBe(2);
      expect(flaky.doc.read.retries).toBeGreaterThanOrEqual(4);
      for (const f of ['mismatches.csv', 'mismatches.json'])
        expect(readFileSync(join(flaky.out, f))).toEqual(readFileSync(join(clean.out, f)));
    } finally {
      await proxy.stop();
    }
  });

  it('a page that never comes makes the verdict INCOMPLETE, reports nothing as missing, and exits 6', async () => {
    const proxy = await flakyProxy(provider.url, (_k, url) => (url.includes('starting_after') ? 'hang' : 'ok'));
    try {
      const out = tmpOut();
      const result = await reconcile({
        date: '2026-11-20',
        tz: 'UTC',
        graceMs: 0,
        databaseUrl: DATABASE_URL,
        namespace: n,
        providerUrl: proxy.url,
        outDir: out,
        fix: false,
        concurrency: 1,
        pager: { timeoutMs: 200, attempts: 2, backoffMs: 10 },
      });
      expect(result.verdict).toBe('INCOMPLETE');
      expect(result.incomplete).toMatch(/starting_after=.*could not be read after 2 attempts/);
      const report = JSON.parse(readFileSync(join(out, 'mismatches.json'), 'utf8'));
      expect(report.verdict).toBe('INCOMPLETE');
      expect(report.mismatches).toEqual([]);

      const cli = await run([
        '--date',
        '2026-11-20',
        '--namespace',
        n,
        '--provider-url',
        proxy.url,
        '--page-timeout',
        '100',
        '--concurrency',
        '1',
      ]);
      expect(cli.code).toBe(6);
      expect(cli.doc.verdict).toBe('INCOMPLETE');
    } finally {
      await proxy.stop();
    }
  }, 30_000);
});

describe('bad input: one line naming the problem, nothing written', () => {
  const cases: { name: string; args: string[]; code: number; message: RegExp }[] = [
    {
      name: 'a month 13 is refused',
      args: ['--date', '2026-13-01'],
      code: 2,
      message: /--date: expected a calendar date YYYY-MM-DD, got "2026-13-01"/,
    },
    {
      name: 'a zone that does not exist is refused',
      args: ['--date', '2026-11-20', '--tz', 'Mars/Base'],
      code: 2,
      message: /--tz: .*Mars\/Base/,
    },
    {
      name: 'a grace that is not a duration is refused',
      args: ['--date', '2026-11-20', '--grace', 'soon'],
      code: 2,
      message: /--grace/,
    },
    {
      name: 'a namespace without sale tables is refused',
      args: ['--date', '2026-11-20', '--namespace', 'no_such_sale_here'],
      code: 2,
      message: /no sale tables for "no_such_sale_here"/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await run(c.args);
      expect(r.code).toBe(c.code);
      expect(r.err).toMatch(c.message);
      expect(existsSync(r.out)).toBe(false);
    });
  }

  it('a provider URL that does not answer exits 6 and names it', async () => {
    const n = ns('rdown');
    await generateDay({
      databaseUrl: DATABASE_URL,
      namespace: n,
      date: '2026-11-20',
      n: 10,
      anomalyRate: 0,
      orphanRate: 0,
    });
    const r = await run(['--date', '2026-11-20', '--namespace', n, '--provider-url', 'http://127.0.0.1:9']);
    expect(r.code).toBe(6);
    expect(r.err).toMatch(/provider at http:\/\/127\.0\.0\.1:9 does not answer/);
    expect(existsSync(r.out)).toBe(false);
  });

  it('a database without any sale exits 2', async () => {
    const db = `fs_recon_empty_${Date.now()}`;
    await pool.query(`CREATE DATABASE ${db}`);
    try {
      const r = await run(['--date', '2026-11-20', '--database-url', DATABASE_URL.replace(/\/[^/]+$/, `/${db}`)]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/holds no sale to reconcile/);
    } finally {
      await pool.query(`DROP DATABASE ${db}`);
    }
  });
});

describe('the CSV is safe to open in a spreadsheet', () => {
  it('a provider-controlled transaction id that looks like a formula is escaped', async () => {
    const n = ns('rcsv');
    await generateDay({
      databaseUrl: DATABASE_URL,
      namespace: n,
      date: '2026-11-20',
      n: 0,
      anomalyRate: 0,
      orphanRate: 0,
    });
    await pool.query(
      `INSERT INTO "mockpay_${n}".charges (id, transaction_id, amount, currency, status, metadata, created, settled_at)
VALUES ('ch_evil', '=HYPERLINK("http://x")', 500, 'EUR', 'succeeded', '{"transaction_id": "=HYPERLINK(\\"http://x\\")"}', '2026-11-20T12:00:00Z', '2026-11-20T12:00:00Z')`,
    );
    const r = await run(['--date', '2026-11-20', '--namespace', n]);
    expect(r.code).toBe(5);
    const csv = readFileSync(join(r.out, 'mismatches.csv'), 'utf8');
    expect(csv).toContain(`"'=HYPERLINK(""http://x"")"`);
    expect(csv).toMatch(/,500,500,/); // numbers stay numbers
  });
});
