// `bench --reference`: our rate next to the reference tools' on the same machine, in the same
// run, on the same work — redis-benchmark sending the same Lua script, pgbench sending the same
// SQL statement — at the same concurrency. Successes are counted from the stock each side
// actually took, not from what the tools print.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectRedis } from '../redis/client.js';
import { reserveStockBenchmarkArgs, skuKeys } from '../redis/keys.js';
import { luaScript } from '../redis/scripts.js';
import { atomicReserveSql, ATOMIC_RESERVE_PARAMS } from '../strategies/atomic.js';
import { createStrategy } from '../strategies/index.js';
import { schemaIdent } from '../strategies/pg-ledger.js';
import { runBench } from './run.js';
import { parsePgbench, parseRedisBenchmarkCsv, redisBenchmarkFlags, requireTool, runTool } from './tools.js';
import type { BenchConfig } from './types.js';
import type { ReferenceComparison } from '../documents/bench.js';

/** As the bench document keeps it (documents/bench.ts describes each field). */
export type { ReferenceComparison };

export interface ReferenceEnv {
  redisUrl?: string;
  databaseUrl?: string;
}

/** Enough stock that neither side runs out while measuring: we compare successes, not refusals. */
const BIG_STOCK = 1_000_000_000;
/** The yardstick concurrency the issue names for the minimal script. */
const MINIMAL_CONCURRENCY = 16;

const round = (x: number) => Math.round(x * 10) / 10;

function comparison(
  name: string,
  strategy: string,
  tool: string,
  concurrency: number,
  ours: number,
  theirs: number,
  target: number,
  detail: string,
): ReferenceComparison {
  return {
    name,
    strategy,
    tool,
    concurrency,
    oursPerSec: round(ours),
    theirsPerSec: round(theirs),
    ratio: theirs > 0 ? Math.round((ours / theirs) * 1000) / 1000 : 0,
    target,
    detail,
  };
}

async function ours(
  config: BenchConfig,
  env: ReferenceEnv,
  strategy: 'lua' | 'atomic',
  durationSec: number,
  concurrency: number,
): Promise<number> {
  const [r] = await runBench(
    {
      ...config,
      strategies: [strategy],
      skus: 1,
      stock: BIG_STOCK,
      buyers: undefined,
      durationSec,
      concurrency,
      confirmRate: 0,
      perUserLimit: 0,
    },
    env,
  );
  if (!r.ok)
    throw new Error(
      `${strategy} broke an invariant during the reference run: ${r.invariants
        .filter((i) => !i.ok)
        .map((i) => i.detail)
        .join('; ')}`,
    );
  return r.successPerSec;
}

interface RedisBenchmarkRun {
  /** Connections (-c). */
  clients: number;
  /** Requests in flight per connection (-P); 1 = one request per round trip. */
  pipeline: number;
  script: 'reserveStock' | 'checkAndDecrement';
}

async function redisBenchmark(
  redisUrl: string,
  run: RedisBenchmarkRun,
  durationSec: number,
  expectPerSec: number,
  qty: number,
): Promise<{ perSec: number; detail: string }> {
  const { clients, pipeline, script } = run;
  const tool = requireTool('redis-benchmark', 'redis-tools');
  const redis = await connectRedis(redisUrl, 'Redis (reference)');
  const ns = `ref_${randomBytes(3).toString('hex')}`;
  const keys = skuKeys(ns, 'sku-1');
  // The lua strategy lays out the namespace (stock, ledger, holds…) exactly as for our run.
  const strategy = await createStrategy('lua', { namespace: ns, redisUrl });
  try {
    const lua = luaScript(script);
    await redis.script('LOAD', lua.lua);
    let args: string[];
    if (script === 'reserveStock') {
      await strategy.load([{ sku: 'sku-1', stock: BIG_STOCK }], { perUserLimit: 0 });
      args = reserveStockBenchmarkArgs(ns, 'sku-1', { qty });
    } else {
      await redis.set(keys.stock, BIG_STOCK);
      args = ['1', keys.stock, String(qty)];
    }
    const n = Math.max(10_000, Math.round(expectPerSec * durationSec));
    const flags = [
      ...redisBenchmarkFlags(redisUrl),
      '-c',
      String(clients),
      '-P',
      String(pipeline),
      '-n',
      String(n),
      '-r',
      '100000000',
      '--csv',
    ];
    const out = await runTool(tool, [...flags, 'EVALSHA', lua.sha, ...args], (durationSec * 10 + 60) * 1000);
    if (out.code !== 0) throw new Error(`redis-benchmark exited ${out.code}: ${out.stderr.slice(0, 300)}`);
    const { rps, p50, p99 } = parseRedisBenchmarkCsv(out.stdout);
    const left = Number(await redis.get(keys.stock));
    const granted = (BIG_STOCK - left) / qty;
    const perSec = rps * (granted / n);
    return { perSec, detail: `${n} calls at ${Math.round(rps)}/s, ${granted} granted, p50 ${p50} ms p99 ${p99} ms` };
  } finally {
    await redis.del(keys.stock);
    await strategy.destroy().catch(() => {});
    await strategy.close();
    redis.disconnect();
  }
}

/** pgbench variables are numbers; the SKU, user and key become numeric strings. */
export function pgbenchScript(namespace: string, qty: number, expiresAtMs: number): string {
  const vars: Record<(typeof ATOMIC_RESERVE_PARAMS)[number], string> = {
    sku: ':sku',
    qty: ':qty',
    user: ':user',
    idempotencyKey: ':key',
    expiresAtMs: ':exp',
  };
  const sql = atomicReserveSql(namespace).replace(
    /\$(\d+)/g,
    (_m, i: string) => vars[ATOMIC_RESERVE_PARAMS[Number(i) - 1]],
  );
  return [
    '\\set sku 1',
    `\\set qty ${qty}`,
    '\\set user random(1, 1000000000)',
    '\\set key random(1, 9000000000000000)',
    `\\set exp ${expiresAtMs}`,
    `${sql.trim().replace(/;?$/, ';')}`,
    '',
  ].join('\n');
}

async function pgbench(
  databaseUrl: string,
  concurrency: number,
  threads: number,
  durationSec: number,
  qty: number,
): Promise<{ perSec: number; detail: string }> {
  const tool = requireTool('pgbench', 'postgresql-contrib');
  const ns = `ref_${randomBytes(3).toString('hex')}`;
  const strategy = await createStrategy('atomic', { namespace: ns, databaseUrl, connections: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'flashsale-pgbench-'));
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await strategy.load([{ sku: '1', stock: BIG_STOCK }], { perUserLimit: 0 });
    const file = join(dir, 'atomic-reserve.sql');
    writeFileSync(file, pgbenchScript(ns, qty, Date.now() + 3_600_000));
    const run = await runTool(
      tool,
      [
        '-n',
        '-M',
        'prepared',
        '-c',
        String(concurrency),
        '-j',
        String(Math.min(concurrency, threads)),
        '-T',
        String(Math.ceil(durationSec)),
        '-f',
        file,
        databaseUrl,
      ],
      (durationSec * 3 + 60) * 1000,
    );
    const out = run.stdout + run.stderr;
    if (run.code !== 0) throw new Error(`pgbench exited ${run.code}: ${out.slice(-400)}`);
    const { tps, transactions, failed } = parsePgbench(out);
    await client.connect();
    const { rows } = await client.query<{ available: string }>(
      `SELECT sum(available) AS available FROM ${schemaIdent(ns)}.stock`,
    );
    const granted = (BIG_STOCK - Number(rows[0].available)) / qty;
    return {
      perSec: tps * (granted / Math.max(1, transactions)),
      detail: `${transactions} transactions at ${Math.round(tps)}/s, ${granted} granted, ${failed} failed`,
    };
  } finally {
    await client.end().catch(() => {});
    await strategy.destroy().catch(() => {});
    await strategy.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runReference(
  config: BenchConfig,
  env: ReferenceEnv,
  log: (line: string) => void = () => {},
): Promise<ReferenceComparison[]> {
  const c = config.concurrency;
  const d = config.durationSec ?? 10;
  const rows: ReferenceComparison[] = [];
  if (env.redisUrl) {
    log(`reference: lua, ${d} s at concurrency ${c}`);
    const lua = await ours(config, env, 'lua', d, c);
    log('reference: redis-benchmark, the same reserveStock script');
    const same = await redisBenchmark(
      env.redisUrl,
      { clients: c, pipeline: 1, script: 'reserveStock' },
      d,
      lua,
      config.qty,
    );
    rows.push(
      comparison(
        'lua vs the same script',
        'lua',
        `redis-benchmark -c ${c} EVALSHA reserveStock`,
        c,
        lua,
        same.perSec,
        0.9,
        same.detail,
      ),
    );
    // Our workers multiplex their requests over one connection each; this row gives
    // redis-benchmark the same shape: as many connections, as many requests in flight on each.
    const w = Math.min(config.workers, c);
    const depth = Math.ceil(c / w);
    const shaped = await redisBenchmark(
      env.redisUrl,
      { clients: w, pipeline: depth, script: 'reserveStock' },
      d,
      lua,
      config.qty,
    );
    rows.push(
      comparison(
        'lua vs the same script, same connections',
        'lua',
        `redis-benchmark -c ${w} -P ${depth} EVALSHA reserveStock`,
        c,
        lua,
        shaped.perSec,
        0.9,
        shaped.detail,
      ),
    );
    const lua16 = c === MINIMAL_CONCURRENCY ? lua : await ours(config, env, 'lua', d, MINIMAL_CONCURRENCY);
    log(`reference: redis-benchmark -c ${MINIMAL_CONCURRENCY}, a minimal check-and-decrement script`);
    const minimal = await redisBenchmark(
      env.redisUrl,
      { clients: MINIMAL_CONCURRENCY, pipeline: 1, script: 'checkAndDecrement' },
      d,
      lua16,
      config.qty,
    );
    rows.push(
      comparison(
        'lua vs minimal check-and-decrement',
        'lua',
        `redis-benchmark -c ${MINIMAL_CONCURRENCY} EVALSHA checkAndDecrement`,
        MINIMAL_CONCURRENCY,
        lua16,
        minimal.perSec,
        0.5,
        minimal.detail,
      ),
    );
  }
  if (env.databaseUrl) {
    log(`reference: atomic, ${d} s at concurrency ${c}`);
    const atomic = await ours(config, env, 'atomic', d, c);
    log('reference: pgbench -M prepared, the same statement');
    // pgbench gets as many threads as we have workers: the same share of the two cores.
    const bench = await pgbench(env.databaseUrl, c, config.workers, d, config.qty);
    rows.push(
      comparison(
        'atomic vs the same statement',
        'atomic',
        `pgbench -M prepared -c ${c} -j ${Math.min(c, config.workers)}`,
        c,
        atomic,
        bench.perSec,
        0.9,
        bench.detail,
      ),
    );
  }
  return rows;
}
