// Runs the bench for each strategy: load stock, drive it from worker threads, then judge it
// from its ledger. No printing here: progress goes to a callback, results are returned.
import { randomBytes } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import pg from 'pg';
import { UsageError } from '../errors.js';
import type { StopFlag } from '../interrupt.js';
import { checkInvariants } from '../invariants.js';
import { createStrategy, storeOf, type StrategyName } from '../strategies/index.js';
import { mergeWorkerResults } from './aggregate.js';
import { encodeHistogram, latencySummary } from '../histogram.js';
import { MAX_POOL } from './worker.js';
import type { BenchConfig, StrategyBenchResult, WorkerResult, WorkerTask } from './types.js';

// The worker must be compiled JavaScript; this path holds from src/ (vitest) and dist/ alike.
const WORKER = fileURLToPath(new URL('../../../dist/core/bench/worker.js', import.meta.url));

export interface Progress {
  strategy: StrategyName;
  attempts: number;
  ok: number;
  inFlight: number;
  elapsedMs: number;
}

export interface BenchHooks {
  onProgress?: (p: Progress) => void;
  onStrategyStart?: (s: StrategyName) => void;
  /** Awaited right before and right after each strategy's run (baselines calibrate there, off the load). */
  beforeStrategy?: (s: StrategyName) => Promise<void>;
  afterStrategy?: (r: StrategyBenchResult) => Promise<void>;
  /** Keep each strategy's keys / schema after the run (for inspection). */
  keep?: boolean;
  /** Set to stop: workers stop issuing, the strategy being run is judged, the rest are skipped. */
  stop?: StopFlag;
}

export interface BenchEnv {
  redisUrl?: string;
  /** Seed nodes of a Redis Cluster; the Redis strategies use it instead of redisUrl. */
  redisCluster?: string[];
  databaseUrl?: string;
}

export function skuNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `sku-${String(i + 1).padStart(String(n).length, '0')}`);
}

/** Splits `total` into `parts` near-equal integers that add up to it. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/**
 * Buyers refused as sold out while the SKU had units left at the end: as many of them as the
 * leftover could have served (1 unit left does not make 4,000 refusals false).
 */
export function falseSoldOuts(
  skus: { sku: string; available: number }[],
  soldOutBySku: Record<string, number>,
  qty: number,
): number {
  return skus.reduce((n, s) => n + Math.min(soldOutBySku[s.sku] ?? 0, Math.floor(s.available / qty)), 0);
}

export async function runBench(
  config: BenchConfig,
  env: BenchEnv,
  hooks: BenchHooks = {},
): Promise<StrategyBenchResult[]> {
  const runId = randomBytes(3).toString('hex');
  const pool = new Piscina({
    filename: WORKER,
    minThreads: config.workers,
    maxThreads: config.workers,
    idleTimeout: 60_000,
  });
  const results: StrategyBenchResult[] = [];
  try {
    for (const name of config.strategies) {
      if (hooks.stop?.raised) break;
      hooks.onStrategyStart?.(name);
      await hooks.beforeStrategy?.(name);
      const result = await benchOne(pool, name, `fs_${runId}_${name}`, config, env, hooks);
      results.push(result);
      await hooks.afterStrategy?.(result);
    }
  } finally {
    await pool.destroy();
  }
  return results;
}

async function benchOne(
  pool: Piscina,
  name: StrategyName,
  namespace: string,
  config: BenchConfig,
  env: BenchEnv,
  hooks: BenchHooks,
): Promise<StrategyBenchResult> {
  const skus = skuNames(config.skus);
  const store = storeOf(name, { naiveStore: config.naiveStore });
  const ctx = {
    namespace,
    redisUrl: env.redisUrl,
    redisCluster: env.redisCluster,
    databaseUrl: env.databaseUrl,
    naiveStore: config.naiveStore,
    connections: 4,
  };
  const main = await createStrategy(name, ctx);
  let stopBackground: (() => Promise<void>) | undefined;
  try {
    await main.load(
      skus.map((sku) => ({ sku, stock: config.stock })),
      { perUserLimit: config.perUserLimit },
    );
    stopBackground = main.startBackground ? await main.startBackground() : undefined;

    const workers = Math.min(config.workers, config.concurrency);
    const concurrency = split(config.concurrency, workers);
    if (store === 'postgres' && env.databaseUrl) {
      await checkConnectionBudget(
        env.databaseUrl,
        config.concurrency,
        concurrency.reduce((n, c) => n + Math.min(c, MAX_POOL), 0),
      );
    }
    const attempts = config.buyers !== undefined ? split(config.buyers, workers) : undefined;
    const users = config.users ?? config.buyers ?? 1_000_000;
    // Time for every worker to open its connections before the common start.
    const startAt = Date.now() + 750;
    const deadline = config.durationSec !== undefined ? startAt + config.durationSec * 1000 : undefined;
    const live = new Map<number, { attempts: number; ok: number; inFlight: number }>();
    const t0 = startAt;
    const tasks = concurrency.map((conc, i) => {
      const channel = hooks.onProgress ? new MessageChannel() : undefined;
      channel?.port1.on('message', (m: { worker: number; attempts: number; ok: number; inFlight: number }) => {
        live.set(m.worker, m);
        let a = 0,
          ok = 0,
          inFlight = 0;
        for (const v of live.values()) {
          a += v.attempts;
          ok += v.ok;
          inFlight += v.inFlight;
        }
        hooks.onProgress?.({ strategy: name, attempts: a, ok, inFlight, elapsedMs: Date.now() - t0 });
      });
      const task: WorkerTask = {
        strategy: name,
        namespace,
        redisUrl: env.redisUrl,
        redisCluster: env.redisCluster,
        databaseUrl: env.databaseUrl,
        naiveStore: config.naiveStore,
        workerIndex: i,
        skus,
        qty: config.qty,
        attempts: attempts?.[i],
        startAt,
        deadline,
        stop: hooks.stop?.buffer,
        concurrency: conc,
        skew: config.skew,
        seed: config.seed,
        ttlMs: config.ttlMs,
        users,
        confirmRate: config.confirmRate,
        progress: channel?.port2 as unknown as MessagePort | undefined,
      };
      const run = pool.run(task, { transferList: channel ? [channel.port2 as never] : [] }) as Promise<WorkerResult>;
      return run.finally(() => channel?.port1.close());
    });
    const workerResults = await Promise.all(tasks);
    await stopBackground?.();
    stopBackground = undefined;

    const perWorker = Math.max(...concurrency);
    const limits =
      store === 'postgres' && perWorker > MAX_POOL
        ? [`${perWorker} requests in flight per worker share ${MAX_POOL} connections, the rest queue in the client`]
        : [];
    const merged = mergeWorkerResults(workerResults, config.concurrency, startAt, limits);
    const snapshot = await main.snapshot();
    const report = checkInvariants({ snapshot, perUserLimit: config.perUserLimit, buyerUnits: merged.buyerUnits });
    const falseSoldOut = falseSoldOuts(report.skus, merged.soldOutBySku, config.qty);
    const sum = (f: (s: (typeof report.skus)[number]) => number) => report.skus.reduce((n, s) => n + f(s), 0);
    const c = merged.counters;
    return {
      strategy: name,
      store,
      skus: config.skus,
      stock: config.stock * config.skus,
      attempts: c.attempts,
      sold: sum((s) => s.sold),
      held: sum((s) => s.held),
      oversold: sum((s) => s.oversold),
      falseSoldOut,
      durationSec: round(merged.durationSec, 3),
      attemptsPerSec: round(c.attempts / merged.durationSec, 1),
      successPerSec: round(c.ok / merged.durationSec, 1),
      counters: c,
      latencyMs: latencySummary(merged.histogram),
      confirmLatencyMs: latencySummary(merged.confirmHistogram),
      generator: merged.generator,
      invariants: report.invariants,
      ok: report.ok,
      errorSamples: merged.errorSamples,
      histogram: encodeHistogram(merged.histogram),
    };
  } finally {
    await stopBackground?.().catch(() => {});
    if (!hooks.keep) await main.destroy().catch(() => {});
    await main.close().catch(() => {});
  }
}

/**
 * Each Postgres buyer in flight holds a connection. Asking for more than the server has free
 * would fail mid-run with "too many clients"; say so before any load starts.
 */
async function checkConnectionBudget(databaseUrl: string, asked: number, needed: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ max: string; used: string; reserved: string }>(
      `SELECT current_setting('max_connections') AS max, current_setting('superuser_reserved_connections') AS reserved,
              (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS used`,
    );
    const free = Number(rows[0].max) - Number(rows[0].reserved) - Number(rows[0].used);
    if (needed > free) {
      throw new UsageError(
        `--concurrency ${asked}: each Postgres request in flight holds a connection (${needed} here), and the server has ${free} free (max_connections ${rows[0].max}, ${rows[0].used} in use); lower --concurrency to at most ${Math.max(1, free)} or raise max_connections`,
      );
    }
  } finally {
    await client.end();
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
