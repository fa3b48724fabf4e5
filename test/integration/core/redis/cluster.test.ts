// The Redis strategies on a real three-master Redis Cluster, started by this file on free
// loopback ports and always stopped again. Proves the hash tags do their job: a run sells
// exactly its stock, oversells nothing, and its keys are spread over more than one master.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../../src/cli.js';
import { UsageError } from '../../../../src/core/errors.js';
import { parseRedisCluster } from '../../../../src/core/redis/client.js';
import { hashTag, skuKeys } from '../../../../src/core/redis/keys.js';
import { freePort } from '../../../../src/core/services/ports.js';
import { createStrategy } from '../../../../src/core/strategies/index.js';
import { captureIO } from '../../../helpers/io.js';
import { DATABASE_URL, REDIS_URL, uniqueNamespace } from '../../../helpers/services.js';

const run = promisify(execFile);
/** A run takes 2-5 s here; a strategy stuck on a cross-slot error (queue waits 12 s per request) fails well before the file's minute. */
const BENCH_TIMEOUT = 20_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'fs-cluster-'));
const servers: ChildProcess[] = [];
const admins: Redis[] = [];
const ports: number[] = [];
let seeds = '';
const logs = new Map<number, string>();

// A crashed or interrupted test run must not leave servers behind either.
const killAll = () => servers.forEach((s) => s.exitCode === null && s.kill('SIGKILL'));
process.once('exit', killAll);

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port whose cluster bus port (port + 10000) is free as well. */
async function clusterPort(taken: number[]): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p <= 55_535 && !taken.includes(p) && (await listenable(p + 10_000))) return p;
  }
}

async function until(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; server logs:\n${[...logs.values()].join('\n')}`);
    await sleep(100);
  }
}

beforeAll(async () => {
  for (let i = 0; i < 3; i++) ports.push(await clusterPort(ports));
  for (const port of ports) {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    servers.push(child);
    logs.set(port, '');
    const keep = (d: Buffer) => logs.set(port, (logs.get(port)! + d.toString()).slice(-4_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const admin = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    // refused connects until the server listens are expected; until() reports a real failure
    admin.on('error', () => {});
    admins.push(admin);
  }
  await Promise.all(
    admins.map((a, i) => until(`redis-server on ${ports[i]}`, async () => (await a.ping()) === 'PONG', 10_000)),
  );
  seeds = ports.map((p) => `127.0.0.1:${p}`).join(',');
  await run('redis-cli', ['--cluster', 'create', ...seeds.split(','), '--cluster-replicas', '0', '--cluster-yes'], {
    timeout: 20_000,
  });
  await until(
    'cluster_state:ok on every node',
    async () =>
      (await Promise.all(admins.map((a) => a.cluster('INFO')))).every((info) => /cluster_state:ok/.test(info)),
    15_000,
  );
}, 30_000);

afterAll(async () => {
  admins.forEach((a) => a.disconnect());
  await Promise.all(
    servers.map(async (s) => {
      if (s.exitCode !== null || s.signalCode !== null) return;
      const gone = new Promise((r) => s.once('exit', r));
      s.kill('SIGKILL');
      await Promise.race([gone, sleep(3_000)]);
    }),
  );
  process.off('exit', killAll);
  rmSync(dir, { recursive: true, force: true });
}, 10_000);

/** Keys of a bench run of `strategy` on each master, in port order. */
async function keysPerNode(strategy: string): Promise<number[]> {
  return Promise.all(
    admins.map(async (a) => {
      let cursor = '0';
      let n = 0;
      do {
        const [next, keys] = await a.scan(cursor, 'MATCH', `fs:{fs_*_${strategy}[:}]*`, 'COUNT', 1_000);
        n += keys.length;
        cursor = next;
      } while (cursor !== '0');
      return n;
    }),
  );
}

async function bench(strategy: string, extra: string[] = []) {
  const io = captureIO();
  const out = join(dir, `out-${strategy}`);
  const code = await main(
    [
      'bench',
      '--strategy',
      strategy,
      '--redis-cluster',
      seeds,
      '--database-url',
      DATABASE_URL,
      '--stock',
      '100',
      '--buyers',
      '5000',
      '--skus',
      '12',
      '--concurrency',
      '32',
      '--json',
      '--out',
      out,
      ...extra,
    ],
    io,
  );
  const report = io.stdout.length ? JSON.parse(io.stdout.join('')) : undefined;
  return { code, report, err: io.stderr.join('\n') };
}

/** stock 100 × 12 SKUs, 5,000 buyers → exactly 1,200 sold, 0 oversold, every invariant, keys on more than one master. */
async function sellsAllOnSeveralMasters(strategy: string) {
  const r = await bench(strategy, ['--keep']);
  expect(r.code, r.err).toBe(0);
  const s = r.report.strategies[0];
  expect(r.report.services.redis).toBe(`--redis-cluster ${seeds}`);
  expect(s.sold).toBe(1_200);
  expect(s.oversold).toBe(0);
  expect(s.counters.errors).toBe(0);
  expect(s.invariants.every((i: { ok: boolean }) => i.ok)).toBe(true);
  const perNode = await keysPerNode(strategy);
  expect(perNode.filter((n) => n > 0).length, `keys per master: ${perNode.join(', ')}`).toBeGreaterThanOrEqual(2);
  // 12 SKUs × their keys + the namespace's SKU list: all of them, wherever they landed
  expect(perNode.reduce((a, b) => a + b, 0)).toBeGreaterThan(12 * 3);
}

describe('--redis-cluster is validated before anything connects', () => {
  it.each([
    ['one seed', '127.0.0.1:7000', ['127.0.0.1:7000']],
    [
      'several seeds, spaces and a repeat dropped',
      'a.example:7000, 10.0.0.2:7001,a.example:7000',
      ['a.example:7000', '10.0.0.2:7001'],
    ],
    ['an IPv6 seed in brackets', '[::1]:7000', ['[::1]:7000']],
  ])('accepts %s', (_name, value, expected) => {
    expect(parseRedisCluster(value)).toEqual(expected);
  });

  it.each([
    ['a URL instead of host:port', 'redis://127.0.0.1:7000', /"redis:\/\/127\.0\.0\.1:7000" in .* is not host:port/],
    ['a seed without a port', '127.0.0.1:7000,127.0.0.1', /"127\.0\.0\.1" in .* is not host:port/],
    ['port 0', '127.0.0.1:0', /"127\.0\.0\.1:0" .* is not host:port/],
    ['an empty seed', '127.0.0.1:7000,', /"" in .* is not host:port/],
  ])('refuses %s, naming the option and the form', (_name, value, message) => {
    const err = (() => {
      try {
        parseRedisCluster(value);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/^--redis-cluster: /);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain('host:port seed nodes');
  });

  it('bench exits 2 on a bad seed list, and on --redis-cluster with --redis-url', async () => {
    const io = captureIO();
    expect(
      await main(['bench', '--strategy', 'lua', '--redis-cluster', 'nowhere', '--out', join(dir, 'bad')], io),
    ).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/--redis-cluster: "nowhere" in "nowhere" is not host:port/);
    const both = captureIO();
    expect(
      await main(
        [
          'bench',
          '--strategy',
          'lua',
          '--redis-cluster',
          '127.0.0.1:7000',
          '--redis-url',
          'redis://127.0.0.1:6379',
          '--out',
          join(dir, 'bad'),
        ],
        both,
      ),
    ).toBe(2);
    expect(both.stderr.join('\n')).toMatch(/--redis-cluster and --redis-url: give one/);
  });
});

describe('bench reports a cluster it cannot use with exit 6, naming the seeds', () => {
  it.each([
    [
      'nothing listens on the seed',
      async () => `127.0.0.1:${await freePort()}`,
      /Redis Cluster at 127\.0\.0\.1:\d+ is not reachable/,
    ],
    [
      'the seed is a Redis without cluster mode',
      async () => new URL(REDIS_URL).host,
      /is not reachable: .*cluster support disabled/,
    ],
  ])('%s', async (_name, seed, message) => {
    const io = captureIO();
    const out = join(dir, 'unreachable');
    expect(
      await main(
        ['bench', '--strategy', 'lua', '--redis-cluster', await seed(), '--database-url', DATABASE_URL, '--out', out],
        io,
      ),
    ).toBe(6);
    expect(io.stderr.join('\n')).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });
});

describe('the Redis strategies on a three-master Redis Cluster', () => {
  it('hashTag reads what the cluster hashes', () => {
    expect(hashTag(skuKeys('ns', 'sku-1').stock)).toBe('ns:sku-1');
    expect(hashTag('fs:{}:x{y}')).toBe('fs:{}:x{y}');
    expect(hashTag('plain')).toBe('plain');
  });

  it('every key of one SKU is in one slot, and different SKUs hash to different slots', async () => {
    const slotOf = async (key: string) => Number(await admins[0].cluster('KEYSLOT', key));
    const k = skuKeys('ns', 'sku-1');
    const slots = new Set(await Promise.all(Object.values(k).map(slotOf)));
    expect(slots.size).toBe(1);
    const perSku = new Set(
      await Promise.all(Array.from({ length: 12 }, (_, i) => slotOf(skuKeys('ns', `sku-${i}`).stock))),
    );
    expect(perSku.size).toBeGreaterThan(1);
  });

  it(
    'lua: stock 100 × 12 SKUs, 5,000 buyers → exactly 1,200 sold, 0 oversold, keys on more than one master',
    async () => {
      await sellsAllOnSeveralMasters('lua');
    },
    BENCH_TIMEOUT,
  );

  // Three runs in a row, as CI runs this file: the consumers and reply readers of one run must not hold up the next.
  it.each([1, 2, 3])(
    'queue (run %i of 3): stock 100 × 12 SKUs, 5,000 buyers → exactly 1,200 sold, 0 oversold, keys on more than one master',
    async () => {
      await sellsAllOnSeveralMasters('queue');
    },
    BENCH_TIMEOUT,
  );

  it.each(['list', 'decr'])(
    '%s sells exactly its stock on the cluster, and destroy() clears every master',
    async (strategy) => {
      const r = await bench(strategy);
      expect(r.code, r.err).toBe(0);
      const s = r.report.strategies[0];
      expect(s.sold).toBe(1_200);
      expect(s.oversold).toBe(0);
      expect(s.counters.errors).toBe(0);
      expect(await keysPerNode(strategy)).toEqual([0, 0, 0]);
    },
    BENCH_TIMEOUT,
  );

  it(
    'naive on Redis is still caught overselling on the cluster (exit 3)',
    async () => {
      const r = await bench('naive', ['--naive-store', 'redis', '--concurrency', '64']);
      expect(r.code, r.err).toBe(3);
      const s = r.report.strategies[0];
      expect(s.oversold).toBeGreaterThan(0);
      expect(s.counters.errors).toBe(0);
      expect(s.invariants.find((i: { name: string }) => i.name === 'no oversell')).toMatchObject({ ok: false });
    },
    BENCH_TIMEOUT,
  );

  it('lua: release, sweep and snapshot work SKU by SKU across the masters', async () => {
    const namespace = uniqueNamespace('cluster');
    const strategy = await createStrategy('lua', { namespace, redisCluster: seeds.split(',') });
    try {
      const skus = Array.from({ length: 6 }, (_, i) => ({ sku: `s${i}`, stock: 5 }));
      await strategy.load(skus, { perUserLimit: 0 });
      const now = Date.now();
      const held = [];
      for (const { sku } of skus) {
        for (let i = 0; i < 3; i++) {
          const r = await strategy.reserve({
            sku,
            qty: 1,
            user: `u${i}`,
            idempotencyKey: `${sku}-${i}`,
            ttlMs: 1_000,
            now,
          });
          expect(r.ok).toBe(true);
          if (r.ok) held.push(r.reservation);
        }
      }
      expect(await strategy.release(held[0])).toBe(true);
      expect(await strategy.confirm(held[1], now)).toBe(true);
      // 18 holds: one released, one sold, 16 due at now + ttl
      expect(await strategy.sweepExpired(now + 1_000)).toBe(16);
      const snap = await strategy.snapshot();
      expect(snap.skus.map((s) => s.sku)).toEqual(skus.map((s) => s.sku));
      expect(snap.skus.reduce((n, s) => n + s.available, 0)).toBe(6 * 5 - 1);
      expect(snap.ledger.filter((e) => e.state === 'expired')).toHaveLength(16);
      const tags = new Set(
        await Promise.all(
          skus.map(async ({ sku }) => Number(await admins[0].cluster('KEYSLOT', skuKeys(namespace, sku).stock))),
        ),
      );
      expect(tags.size).toBeGreaterThan(1);
    } finally {
      await strategy.destroy();
      await strategy.close();
    }
  });
});

describe('simulate on the three-master Redis Cluster', () => {
  it('the smoke sale (sync, lua, rate limit on the cluster) passes every invariant', async () => {
    const io = captureIO();
    const out = join(mkdtempSync(join(tmpdir(), 'fs-cl-sim-')), 'out');
    const code = await main(
      [
        'simulate',
        '--scenario',
        'scenarios/smoke.json',
        '--strategy',
        'lua',
        '--workers',
        '1',
        '--redis-cluster',
        seeds,
        '--database-url',
        DATABASE_URL,
        '--json',
        '--out',
        out,
      ],
      io,
    );
    const report = JSON.parse(io.stdout.join('\n'));
    expect(report.invariants.filter((i: { ok: boolean }) => !i.ok)).toEqual([]);
    expect(code).toBe(0);
    expect(report.oversold).toBe(0);
    expect(report.sold).toBeGreaterThan(100);
    expect(report.counters.rateLimited).toBeGreaterThan(0); // the bots met the token bucket on the cluster
    expect(report.services.redis).toBe(`--redis-cluster ${seeds}`);
  }, 60_000);

  it('async mode is refused on a cluster with exit 2 before anything starts', async () => {
    const io = captureIO();
    const code = await main(
      ['simulate', '--mode', 'async', '--redis-cluster', seeds, '--database-url', DATABASE_URL],
      io,
    );
    expect(code).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/--redis-cluster: mode async is not cluster-ready/);
  });
});

describe('serve takes --redis-cluster as simulate does', () => {
  it('refuses it together with --redis-url, naming both, before anything starts', async () => {
    const io = captureIO();
    const code = await main(
      ['serve', '--redis-cluster', '127.0.0.1:7000', '--redis-url', REDIS_URL, '--database-url', DATABASE_URL],
      io,
    );
    expect(code).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/--redis-cluster and --redis-url: give one/);
  });
});
