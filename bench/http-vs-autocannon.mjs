#!/usr/bin/env node
// Our HTTP load generator against autocannon, on the same `flashsale serve` endpoint, in one run.
//
//   npm run build && node bench/http-vs-autocannon.mjs [--duration 10] [--connections 64] [--workers 1] [--rounds 2]
//
// The sale API runs in this process exactly as `flashsale serve` runs it (lua strategy, Postgres
// orders, sweeper, mock provider), over a fresh namespace whose 10 SKUs hold 100,000,000 units
// each: every reserve is granted (201) and makes a Postgres order — nothing sells out. No rate
// limit, no per-user limit. Redis and Postgres come from REDIS_URL / DATABASE_URL (or are started
// as `serve` would start them).
//
// Each generator runs in a child process of its own, one after the other, so that neither shares
// an event loop with the server and each one's CPU is that child's process.cpuUsage():
//   autocannon  POST /v1/reservations for D s at C connections, a fresh click id per request
//               (idReplacement: `[<id>]` in the body).
//   ours        runSimulation({transport: 'http', target}) of dist/: the simulate workers and
//               journeys over httpSaleApi, closed model, C virtual buyers split over the worker
//               threads, journeys that only reserve (no availability check, every hold abandoned,
//               no double clicks, retries or bots). One worker thread by default, as autocannon
//               runs on one; --workers 2 (simulate's default here) pays a second event loop and
//               thread start-up out of the same two cores the server needs.
// CPU s (gen) is the child's whole process.cpuUsage(): for ours it includes loading dist/, starting
// the piscina threads and the 1 s they wait for a common start.
// Rounds alternate which one goes first (AB, BA, …): the orders table grows as the run goes on and
// other load on this machine comes and goes, so the ratio is taken over all rounds together.
// A measurement, not a test: it prints the table and exits 0 whatever the ratio.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const dist = (p) => new URL(`../dist/${p}`, import.meta.url).href;
const SKUS = 10;
const STOCK_EACH = 100_000_000;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    workers: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '2' },
    child: { type: 'string' },
    url: { type: 'string' },
  },
});
const durationSec = Number(args.duration);
const connections = Number(args.connections);
const workers = Number(args.workers);
const rounds = Number(args.rounds);
for (const [name, v] of Object.entries({ duration: durationSec, connections, workers, rounds })) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${name}: expected a whole number ≥ 1, got ${JSON.stringify(args[name])}`);
    process.exit(2);
  }
}

const skuNames = Array.from({ length: SKUS }, (_, i) => `sku-${String(i + 1).padStart(2, '0')}`);

/** The sale both generators hit; `traffic` matters only to ours. */
function saleScenario() {
  return {
    name: 'http-vs-autocannon',
    seed: 1,
    strategy: 'lua',
    skus: { count: SKUS, stockEach: STOCK_EACH, priceMinor: 1000, currency: 'EUR' },
    holdTtlMs: 600_000,
    perUserLimit: 0,
    traffic: { model: 'closed', buyers: connections, durationMs: durationSec * 1000 },
    buyers: {
      users: 1_000_000,
      qty: 1,
      checkAvailability: false,
      abandonRate: 1,
      doubleClickRate: 0,
      retryRate: 0,
      bots: { fraction: 0, requestsPerArrival: 1 },
    },
    payment: { timeoutMs: 2000, retries: 0, backoffMs: 50, faults: {} },
    sweepIntervalMs: 1000,
  };
}

const cpuMs = (u) => Math.round((u.user + u.system) / 1000);

// ---------------------------------------------------------------- children: one generator each

async function childAutocannon(url) {
  const { default: autocannon } = await import('autocannon');
  const cpu0 = process.cpuUsage();
  const r = await autocannon({
    url: `${url}/v1/reservations`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // One of the 10 SKUs for all requests: autocannon sends one body template; a unique user and
    // click id per request come from idReplacement.
    body: `{"sku":"${skuNames[0]}","qty":1,"user":"u[<id>]","clickId":"c[<id>]"}`,
    idReplacement: true,
    connections,
    duration: durationSec,
  });
  const total = r.requests.total;
  return {
    tool: 'autocannon',
    requests: total,
    seconds: r.duration,
    ok: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    p50: r.latency.p50,
    p99: r.latency.p99,
    cpuMs: cpuMs(process.cpuUsage(cpu0)),
  };
}

async function childOurs(url) {
  const { parseScenario } = await import(dist('core/scenario.js'));
  const { runSimulation } = await import(dist('core/simulate/run.js'));
  const scenario = parseScenario(saleScenario(), 'http-vs-autocannon');
  const cpu0 = process.cpuUsage();
  const r = await runSimulation({
    scenario,
    strategy: 'lua',
    mode: 'sync',
    transport: 'http',
    target: url,
    workers,
    shard: { index: 0, count: 1 },
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://unused',
    // Every hold is abandoned, so nothing is paid: no provider is needed on this side.
    providerUrl: 'http://127.0.0.1:9',
  });
  const c = r.counters;
  return {
    tool: `ours (${workers} worker${workers > 1 ? 's' : ''})`,
    requests: c.reserveCalls,
    seconds: r.durationSec,
    ok: c.orders + c.duplicatesSuppressed,
    non2xx: c.soldOut + c.limitExceeded + c.rateLimited + c.conflicts,
    errors: c.errors,
    p50: r.latencyMs.reserve.p50,
    p99: r.latencyMs.reserve.p99,
    // Includes the 1 s the workers wait for a common start and piscina's thread start-up.
    cpuMs: cpuMs(process.cpuUsage(cpu0)),
    errorSamples: r.errorSamples,
  };
}

if (args.child) {
  const run = args.child === 'autocannon' ? childAutocannon : childOurs;
  const result = await run(args.url);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------- parent: the server, then both

function runChild(kind, url) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...process.execArgv,
        SELF,
        '--child',
        kind,
        '--url',
        url,
        '--duration',
        String(durationSec),
        '--connections',
        String(connections),
        '--workers',
        String(workers),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop();
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`${kind} exited ${code} without a result: ${out.slice(0, 500)}`));
      }
    });
  });
}

const { parseScenario, engineConfigOf } = await import(dist('core/scenario.js'));
const { resolveServices } = await import(dist('core/services/resolve.js'));
const { startProvider } = await import(dist('core/provider/index.js'));
const { createEngine } = await import(dist('core/engine/engine.js'));
const { serveSaleApi } = await import(dist('core/http/server.js'));

const scenario = parseScenario(saleScenario(), 'http-vs-autocannon');
const services = await resolveServices(new Set(['redis', 'postgres']), { log: (l) => console.error(l) });
const namespace = `bench_${randomBytes(4).toString('hex')}`;
const secret = randomBytes(24).toString('hex');
const provider = await startProvider({
  databaseUrl: services.databaseUrl,
  namespace,
  secret,
  seed: scenario.seed,
  faults: scenario.payment.faults,
});
const engine = await createEngine(
  engineConfigOf(scenario, {
    namespace,
    strategy: 'lua',
    redisUrl: services.redisUrl,
    databaseUrl: services.databaseUrl,
    providerUrl: provider.url,
    providerSecret: secret,
  }),
);
let stopSweeper;
let server;
const rows = [];
try {
  await engine.setup();
  stopSweeper = engine.startSweeper();
  server = await serveSaleApi(engine, { onError: (e) => console.error(`serve: ${e?.message ?? e}`) });
  console.error(
    `sale API (lua, ${SKUS} SKUs × ${STOCK_EACH.toLocaleString('en')} units, no rate limit) on ${server.url}; ${durationSec} s at ${connections} connections each`,
  );
  for (let round = 1; round <= rounds; round++) {
    for (const kind of round % 2 === 1 ? ['autocannon', 'ours'] : ['ours', 'autocannon']) {
      const cpu0 = process.cpuUsage();
      const r = await runChild(kind, server.url);
      r.serverCpuMs = cpuMs(process.cpuUsage(cpu0));
      r.round = round;
      rows.push(r);
      if (r.errorSamples?.length) console.error(`${r.tool} errors, e.g.: ${r.errorSamples.join(' | ')}`);
    }
  }
} finally {
  await stopSweeper?.().catch(() => {});
  await server?.stop();
  await engine.close();
  await provider.stop();
  await services.stop();
}

const { default: Table } = await import('cli-table3');
const t = new Table({
  style: { head: [], border: [] },
  head: [
    'round',
    'generator',
    'requests/s',
    '2xx/s',
    'p50 ms',
    'p99 ms',
    'non-2xx',
    'errors',
    'CPU s (gen)',
    'CPU s (server)',
  ],
});
const fmt = (n, d = 0) => n.toLocaleString('en', { minimumFractionDigits: d, maximumFractionDigits: d });
for (const r of rows) {
  t.push([
    r.round,
    r.tool,
    fmt(r.requests / r.seconds),
    fmt(r.ok / r.seconds),
    fmt(r.p50, 2),
    fmt(r.p99, 2),
    fmt(r.non2xx),
    fmt(r.errors),
    fmt(r.cpuMs / 1000, 1),
    fmt(r.serverCpuMs / 1000, 1),
  ]);
}
console.log(t.toString());
const rate = (rs, field) => rs.reduce((n, r) => n + r[field], 0) / rs.reduce((n, r) => n + r.seconds, 0);
const ratio = (rs, field) =>
  rate(
    rs.filter((r) => r.tool !== 'autocannon'),
    field,
  ) /
  rate(
    rs.filter((r) => r.tool === 'autocannon'),
    field,
  );
const perRound = Array.from({ length: rounds }, (_, i) =>
  ratio(
    rows.filter((r) => r.round === i + 1),
    'requests',
  ).toFixed(3),
);
console.log(
  `ours / autocannon: ${ratio(rows, 'requests').toFixed(3)} (requests/s), ${ratio(rows, 'ok').toFixed(3)} (2xx/s) over ${rounds} round(s); per round ${perRound.join(', ')}`,
);
process.exit(0);
