// Faults during a sale, each injected by the test into something the test started itself (a
// provider process on its own port, the backends of a database of its own): the run must end
// with its report, nothing lost and nothing taken twice (money = orders, every payment resolved).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { scenarioFile, simulate } from '../../helpers/simulate.js';
import { DATABASE_URL, uniqueNamespace } from '../../helpers/services.js';

const failed = (r: { invariants: { name: string; ok: boolean; detail: string }[] }) =>
  r.invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`);

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

const SECRET = 'fault-test-secret-0123456789';

/** `flashsale provider` on `port` over ledger `namespace`; resolves once it listens. */
async function providerProcess(port: number, namespace: string, reset: boolean): Promise<ChildProcess> {
  const child = spawn(process.execPath, [
    resolve('bin/flashsale.js'),
    'provider',
    '--port',
    String(port),
    '--namespace',
    namespace,
    '--secret',
    SECRET,
    ...(reset ? ['--reset'] : []),
  ]);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 20_000;
  while (!out.includes('listening on') && Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`provider exited ${child.exitCode}: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!out.includes('listening on')) throw new Error(`provider never listened: ${out}`);
  return child;
}

describe('the provider killed mid-sale and restarted', () => {
  it('payments that failed while it was down are resolved by recovery: every payment resolved, money = orders', async () => {
    const port = await freePort();
    const ledger = uniqueNamespace('provkill').slice(0, 30);
    let provider = await providerProcess(port, ledger, true);
    // 2 s into the 5 s smoke sale: SIGKILL (requests in flight die with it), back a second later.
    const fault = (async () => {
      await new Promise((r) => setTimeout(r, 2_500));
      provider.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 1_000));
      provider = await providerProcess(port, ledger, false);
    })();
    try {
      const { code, report } = await simulate([
        '--strategy',
        'lua',
        '--workers',
        '1',
        '--provider-url',
        `http://127.0.0.1:${port}`,
        '--provider-secret',
        SECRET,
        // Payments fail while the provider is down: that is the fault, so the run's validity
        // (at most 1% of payments without an answer) is relaxed here, and the report says so.
        '--threshold',
        'payFailedRate<=0.5',
        '--threshold',
        'errorRate<=0.5',
      ]);
      await fault;
      expect(failed(report)).toEqual([]);
      expect(code).toBe(0);
      expect(report.validity.relaxed).toEqual([
        'errorRate<=0.01 (built in) replaced by errorRate<=0.5',
        'payFailedRate<=0.01 (built in) replaced by payFailedRate<=0.5',
      ]);
      // The outage mattered: payments failed while the provider was gone.
      expect(report.counters.payFailed).toBeGreaterThan(0);
      expect(report.invariants.find((i: { name: string }) => i.name === 'money = orders').detail).toMatch(
        /^\d+ live charges, \d+ Paid orders: one each/,
      );
      expect(report.recovery.noCharge + report.recovery.paid + report.recovery.refunded).toBeGreaterThan(0);
    } finally {
      await fault.catch(() => undefined);
      provider.kill('SIGKILL');
    }
  });
});

/** A provider of the test's own: `GET /v1/charges` answers `list`, every other request `status` with `message`. */
async function brokenProvider(list: number, status: number, message: string) {
  const srv = createHttpServer((req, res) => {
    const listing = req.method === 'GET' && req.url?.startsWith('/v1/charges?');
    const code = listing ? list : status;
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        code === 200 ? { object: 'list', data: [], has_more: false } : { error: { type: 'api_error', message } },
      ),
    );
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`,
    stop: () => new Promise((r) => srv.close(r)),
  };
}

describe('a service that cannot be used', () => {
  it('a target that refuses connections is exit 6 before any buyer arrives, naming it', async () => {
    const port = await freePort();
    const { code, err, report } = await simulate(['--transport', 'http', '--target', `http://127.0.0.1:${port}`]);
    expect(code).toBe(6);
    expect(err).toMatch(new RegExp(`the target at http://127\\.0\\.0\\.1:${port} does not answer: ECONNREFUSED`));
    expect(report).toBeUndefined();
  });

  it('a provider that refuses the credentials is exit 6 before any buyer arrives, quoting its answer', async () => {
    const p = await brokenProvider(401, 401, 'Invalid API Key provided');
    try {
      const { code, err, report } = await simulate(['--provider-url', p.url]);
      expect(code).toBe(6);
      expect(err).toMatch(/answered 401 to GET \/v1\/charges: .*Invalid API Key provided/);
      expect(report).toBeUndefined();
    } finally {
      await p.stop();
    }
  });

  it('a provider that answers 503 to every payment: exit 6 with the report written, its answer quoted', async () => {
    const p = await brokenProvider(200, 503, 'down for maintenance');
    try {
      const { code, report, out } = await simulate(['--provider-url', p.url, '--strategy', 'lua', '--workers', '1']);
      expect(code).toBe(6);
      expect(report.valid).toBe(false);
      expect(report.validity.deadService).toMatch(
        /^the payment provider took no payment: (\d+) of \1 failed; last: .*503 down for maintenance/,
      );
      expect(report.validity.reasons[0]).toBe(report.validity.deadService);
      expect(report.counters.paid).toBe(0);
      expect(existsSync(join(out, 'summary.json'))).toBe(true);
    } finally {
      await p.stop();
    }
  });
});

describe('a service that cannot be reached', () => {
  it('a provider that refuses connections is exit 6 before any buyer arrives, naming it', async () => {
    const port = await freePort();
    const { code, err, report } = await simulate(['--provider-url', `http://127.0.0.1:${port}`]);
    expect(code).toBe(6);
    expect(err).toMatch(
      new RegExp(`the payment provider at http://127\\.0\\.0\\.1:${port} does not answer: .*ECONNREFUSED`),
    );
    expect(err).not.toMatch(/\n\s+at /);
    expect(report).toBeUndefined();
  });
});

/** A redis-server of the test's own on `port`: with an append-only file in `dir`, or keeping nothing. */
function redisServer(port: number, aofDir?: string): ChildProcess {
  const persistence = aofDir
    ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', aofDir]
    : ['--appendonly', 'no'];
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence], {
    stdio: 'ignore',
  });
}

/**
 * A redis-server of the test's own on a free port, SIGKILLed 2.5 s into the sale and started again
 * a second later on the same port: with its append-only file, or empty.
 */
async function redisOutage(aof: boolean) {
  const port = await freePort();
  const dir = aof ? mkdtempSync(join(tmpdir(), 'fs-aof-')) : undefined;
  let redis = redisServer(port, dir);
  await new Promise((r) => setTimeout(r, 300));
  const fault = (async () => {
    await new Promise((r) => setTimeout(r, 2_500));
    redis.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1_000));
    redis = redisServer(port, dir);
  })();
  return {
    url: `redis://127.0.0.1:${port}`,
    fault,
    async stop() {
      await fault.catch(() => undefined);
      redis.kill('SIGKILL');
    },
  };
}

/**
 * A database of the test's own on the shared server, and a way to terminate every backend of it
 * (never anyone else's): how many it terminated.
 */
async function ownDatabase() {
  const db = `fault_pg_${uniqueNamespace('x').slice(4)}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  const terminate = async () =>
    (
      await admin.query<{ n: number }>(
        'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [db],
      )
    ).rows[0].n;
  return {
    url: DATABASE_URL.replace(/\/[^/]*$/, `/${db}`),
    terminate,
    async drop() {
      await terminate().catch(() => undefined);
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/**
 * The smoke sale on one worker against the given store. Requests err while the store is away: that is the
 * fault, so neither the scenario's errors==0 nor the run's validity limits on errors and drops (1%) judge it.
 */
function smokeOn(strategy: string, service: string[]) {
  const file = scenarioFile('smoke.json', (s) => delete s.thresholds.errors);
  // (a store cut also stalls buyers for a moment: some arrivals are dropped)
  const relax = [
    '--threshold',
    'errorRate<=0.5',
    '--threshold',
    'payFailedRate<=0.5',
    '--threshold',
    'droppedRate<=0.5',
  ];
  return simulate(['--scenario', file, '--strategy', strategy, '--workers', '1', ...service, ...relax]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Orders the run left unfinished in its records: anything still owed to payment recovery, a sale
 * not ended, and any order still pending that is charged or whose hold had ended before the last
 * buyer was done (the final sweep runs after that). An order whose hold outlasts the run, a buyer
 * who walked away a second before the end, is pending by right: its hold stands.
 */
async function stuckOrders(url: string, namespace: string, buyersDoneAt: number): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const s = `"flashsale_${namespace}_sale"`;
    const { rows } = await client.query<{ line: string }>(
      `SELECT o.order_id || ' ' || o.status || ' recovery=' || coalesce(o.recovery, '-') || ' charge=' || coalesce(o.charge_id, '-') AS line
FROM ${s}.orders o CROSS JOIN ${s}.sale
WHERE o.recovery IS NOT NULL OR sale.ended_at IS NULL
   OR (o.status = 'PendingPayment' AND (o.charge_id IS NOT NULL OR o.expires_at < to_timestamp($1 / 1000.0)))`,
      [buyersDoneAt],
    );
    return rows.map((r) => r.line);
  } finally {
    await client.end();
  }
}

/** Terminates the backends on a schedule while `running()`; resolves to how many each round ended. */
type PgFault = (terminate: () => Promise<number>, running: () => boolean) => Promise<number[]>;

const PG_FAULTS: { when: string; strategy: string; fault: PgFault }[] = [
  {
    when: 'twice mid-sale, at 2 s and 3 s',
    strategy: 'atomic',
    fault: async (terminate) => {
      const killed: number[] = [];
      for (const at of [2_000, 1_000]) {
        await sleep(at);
        killed.push(await terminate());
      }
      return killed;
    },
  },
  {
    // From the first connection on, every 50 ms, six times that found backends: the provider's
    // ledger, the engine's pools, the schemas and the stock load are each cut somewhere.
    when: 'again and again during setup, from the first connection on',
    strategy: 'atomic',
    fault: async (terminate) => {
      const killed: number[] = [];
      for (let polls = 0; killed.length < 6 && polls < 400; polls++) {
        const n = await terminate();
        if (n > 0) killed.push(n);
        await sleep(50);
      }
      return killed;
    },
  },
  ...(['atomic'] as const).map((strategy) => ({
    // The last buyers, the sweeps giving back their holds while others still buy, payment
    // recovery's drain and the judging: a sweep cut between its two halves is among them.
    when: 'every 100 ms from 4.5 s until the run is judged',
    strategy,
    fault: (async (terminate, running) => {
      const killed: number[] = [];
      await sleep(4_500);
      while (running()) {
        killed.push(await terminate());
        await sleep(100);
      }
      return killed.filter((n) => n > 0);
    }) satisfies PgFault,
  })),
];

describe('Postgres backends terminated', () => {
  it.each(PG_FAULTS)(
    '$when ($strategy): the run reconnects, nothing left stuck, every invariant holds',
    async ({ strategy, fault }) => {
      const own = await ownDatabase();
      let running = true;
      const faulted = fault(own.terminate, () => running);
      try {
        const { code, report, err } = await smokeOn(strategy, ['--database-url', own.url]);
        running = false;
        const killed = await faulted;
        expect(report, err).toBeDefined();
        expect(killed.length).toBeGreaterThan(0);
        expect(killed.every((n) => n > 0)).toBe(true);
        expect(failed(report)).toEqual([]);
        expect([code, report.validity, report.thresholds.filter((t: { ok: boolean }) => !t.ok)]).toEqual([
          0,
          expect.anything(),
          [],
        ]);
        const buyersDoneAt = Date.parse(report.startedAt) + report.durationSec * 1000;
        expect(await stuckOrders(own.url, report.namespace, buyersDoneAt)).toEqual([]);
      } finally {
        running = false;
        await faulted.catch(() => undefined);
        await own.drop();
      }
    },
  );
});

describe('Redis killed mid-sale and restarted with its data (AOF)', () => {
  it('the strategy reconnects and the sale goes on: 0 oversold, every invariant, report written', async () => {
    const outage = await redisOutage(true);
    try {
      const { code, report } = await smokeOn('lua', ['--redis-url', outage.url]);
      await outage.fault;
      expect(failed(report)).toEqual([]);
      expect(report.oversold).toBe(0);
      expect(code).toBe(0);
      // The outage was felt: requests failed while Redis was gone.
      expect(report.counters.errors).toBeGreaterThan(0);
    } finally {
      await outage.stop();
    }
  });
});

describe('Redis killed mid-sale and restarted empty', () => {
  // One per way of keeping units: a counter (lua), a token list (list), a counter behind a stream
  // and its consumer group (queue).
  it.each(['lua', 'list', 'queue'])(
    '%s: the stock store is rebuilt from the orders and the sale goes on: every invariant, no money left pending',
    async (strategy) => {
      const outage = await redisOutage(false);
      try {
        const { code, report, out } = await smokeOn(strategy, ['--redis-url', outage.url]);
        await outage.fault;
        expect(failed(report)).toEqual([]);
        expect(code).toBe(0);
        // What is still pending is a hold whose time is not up yet, never money on its way.
        // (orders.csv: status is the 10th column, charge_id the 11th; no field holds a comma)
        const rows = readFileSync(join(out, 'orders.csv'), 'utf8').trim().split('\n').slice(1);
        expect(rows.filter((row) => /,PendingPayment,[^,]+,/.test(row))).toEqual([]);
        // The loss was found and the store written back from what the orders said at the time.
        expect(report.storeRebuilds?.length).toBeGreaterThan(0);
        const first = report.storeRebuilds[0];
        expect(first.skus.length).toBe(report.skus.length);
        expect(first.held + first.sold + first.ended).toBeGreaterThan(0);
      } finally {
        await outage.stop();
      }
    },
  );
});
