// The yardstick a baseline is measured against: how many bare round trips this machine's client
// gets out of the same Redis / Postgres at the bench's concurrency. A strategy's rate divided by
// it ("efficiency") is what a baseline keeps, so a slower CI box does not read as a regression.
import { performance } from 'node:perf_hooks';
import { UsageError } from '../errors.js';
import type { Calibration, RunCalibration } from '../documents/bench.js';

/** As the bench document keeps them (documents/bench.ts describes each field). */
export type { Calibration, RunCalibration };
import { connectPostgres, fillPool } from '../postgres/client.js';
import { connectRedis, connectRedisCluster, type RedisConnection } from '../redis/client.js';
import type { Store, StrategyName } from '../strategies/types.js';
import { MAX_POOL } from './worker.js';

export interface CalibrateOptions {
  concurrency: number;
  /** Measured window per store. */
  seconds?: number;
  /** Run first and thrown away: connection warm-up, JIT, the server's first-query costs. */
  warmupSeconds?: number;
}

export interface CalibrateEnv {
  redisUrl?: string;
  redisCluster?: string[];
  databaseUrl?: string;
}

/**
 * Keeps `concurrency` calls of `op` in flight for `seconds` and returns completed calls per second.
 * A closed loop like the bench's buyers, so the yardstick sees the same queueing.
 */
export async function closedLoopRate(
  op: () => Promise<unknown>,
  concurrency: number,
  seconds: number,
): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      await op();
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - t0) / 1000;
  return done / elapsed;
}

async function measure(op: () => Promise<unknown>, o: Required<CalibrateOptions>): Promise<number> {
  if (o.warmupSeconds > 0) await closedLoopRate(op, o.concurrency, o.warmupSeconds);
  return Math.round(await closedLoopRate(op, o.concurrency, o.seconds));
}

/**
 * Measures the stores in `stores`, one after the other (never both at once: on a small machine
 * they share the cores). Connections come from the same helpers the strategies use.
 */
export async function calibrate(
  stores: ReadonlySet<Store>,
  env: CalibrateEnv,
  options: CalibrateOptions,
): Promise<Calibration> {
  const o: Required<CalibrateOptions> = { seconds: 1, warmupSeconds: 0.25, ...options };
  const result: Calibration = {};
  if (stores.has('redis') && (env.redisUrl || env.redisCluster)) {
    const what = 'the bench calibration';
    const redis: RedisConnection = env.redisCluster
      ? await connectRedisCluster(env.redisCluster, what, { connectionName: 'fs:calibrate' })
      : await connectRedis(env.redisUrl!, what, { connectionName: 'fs:calibrate' });
    // A key command, not PING: on a cluster it goes to one node, as a one-SKU strategy's do.
    const key = 'fs:calibrate:{calibrate}';
    try {
      result.redisOpsPerSec = await measure(() => redis.get(key), o);
    } finally {
      redis.disconnect();
    }
  }
  if (stores.has('postgres') && env.databaseUrl) {
    const connections = Math.max(1, Math.min(o.concurrency, MAX_POOL));
    const pool = await connectPostgres(env.databaseUrl, 'the bench calibration', connections);
    try {
      await fillPool(pool, connections).catch((err: { code?: string; message?: string }) => {
        // 53300 too_many_connections: the bench's own connection check has not run yet.
        if (err.code === '53300')
          throw new UsageError(
            `--concurrency ${o.concurrency}: the calibration opens ${connections} Postgres connections, one per request in flight, and the server refused (${err.message}); lower --concurrency or raise max_connections`,
          );
        throw err;
      });
      // A named statement: the extended protocol, as the strategies' prepared statements use.
      result.postgresOpsPerSec = await measure(() => pool.query({ name: 'fs_calibrate', text: 'SELECT 1' }), o);
    } finally {
      await pool.end();
    }
  }
  return result;
}

/** A run's yardsticks: per strategy, and per store (the mean over its strategies). */
/**
 * Calibrates around each strategy rather than around the whole run: measured on this 2-core
 * machine, a bracket tight around the strategy cut the spread of efficiency (lua cv 13% → 8%,
 * atomic 15% → 12% over 10 runs) where one around the whole run added noise to it. A store
 * measured right after one strategy is reused right before the next on the same store.
 */
export class CalibrationBracket {
  private last?: { store: Store; opsPerSec: number };
  private readonly opened = new Map<string, number>();
  private readonly closed = new Map<string, { store: Store; opsPerSec: number }>();

  constructor(
    private readonly storeOf: (strategy: StrategyName) => Store,
    private readonly measure: (store: Store) => Promise<number>,
    private readonly stop?: { readonly raised: boolean },
  ) {}

  /** Measures each store through calibrate(). */
  static of(
    env: CalibrateEnv,
    options: CalibrateOptions,
    storeOf: (strategy: StrategyName) => Store,
    stop?: { readonly raised: boolean },
  ): CalibrationBracket {
    return new CalibrationBracket(
      storeOf,
      async (store) => {
        const c = await calibrate(new Set([store]), env, options);
        const v = store === 'redis' ? c.redisOpsPerSec : c.postgresOpsPerSec;
        if (v === undefined) throw new Error(`no ${store} to calibrate against`);
        return v;
      },
      stop,
    );
  }

  private async point(store: Store): Promise<number> {
    const opsPerSec = await this.measure(store);
    this.last = { store, opsPerSec };
    return opsPerSec;
  }

  readonly beforeStrategy = async (name: StrategyName): Promise<void> => {
    if (this.stop?.raised) return;
    const store = this.storeOf(name);
    this.opened.set(name, this.last?.store === store ? this.last.opsPerSec : await this.point(store));
  };

  readonly afterStrategy = async (r: { strategy: StrategyName; store: Store }): Promise<void> => {
    if (this.stop?.raised) return;
    const after = await this.point(r.store);
    const before = this.opened.get(r.strategy);
    if (before !== undefined)
      this.closed.set(r.strategy, { store: r.store, opsPerSec: Math.round((before + after) / 2) });
  };

  result(): RunCalibration {
    const out: RunCalibration = { strategies: {} };
    const byStore: Partial<Record<Store, number[]>> = {};
    for (const [strategy, { store, opsPerSec }] of this.closed) {
      out.strategies[strategy] = opsPerSec;
      (byStore[store] ??= []).push(opsPerSec);
    }
    const mean = (xs?: number[]) => (xs?.length ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : undefined);
    const redis = mean(byStore.redis);
    const postgres = mean(byStore.postgres);
    if (redis !== undefined) out.redisOpsPerSec = redis;
    if (postgres !== undefined) out.postgresOpsPerSec = postgres;
    return out;
  }
}
