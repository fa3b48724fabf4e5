import type { Skew } from '../random.js';
import type { Store, StrategyName } from '../strategies/types.js';
import type { LatencySummary } from '../histogram.js';
import type { Counters } from '../documents/bench.js';

export type { LatencySummary };
/** What a strategy's run reports: the bench document's types (documents/bench.ts describes each field). */
export type { BenchConfig, Counters, GeneratorReport, StrategyBenchResult } from '../documents/bench.js';

/** What one worker thread is asked to do. Plain data: it crosses a thread boundary. */
export interface WorkerTask {
  strategy: StrategyName;
  namespace: string;
  redisUrl?: string;
  redisCluster?: string[];
  databaseUrl?: string;
  naiveStore: Store;
  workerIndex: number;
  skus: string[];
  qty: number;
  /** This worker's share of attempts (undefined with a duration). */
  attempts?: number;
  /** Epoch ms at which every worker starts its buyers (after connecting). */
  startAt: number;
  /** Epoch ms after which no new attempt starts. */
  deadline?: number;
  concurrency: number;
  skew: Skew;
  seed: number;
  ttlMs: number;
  users: number;
  confirmRate: number;
  /** Shared flag (Int32 at 0): non-zero means stop issuing attempts (the run was interrupted). */
  stop?: SharedArrayBuffer;
  /** Where progress ticks go, when someone watches. */
  progress?: MessagePort;
}

export interface WorkerResult {
  workerIndex: number;
  counters: Counters;
  /** Per SKU: units buyers were granted (what they were told), for the ledger cross-check. */
  buyerUnits: Record<string, number>;
  /** Per SKU: buyers refused as sold out (false sold-outs are those on SKUs with stock left). */
  soldOutBySku: Record<string, number>;
  /** HDR histogram of reserve latency in microseconds, compressed base64. */
  histogram: string;
  /** The same for confirms (run right after a granted reserve, in the buyer's slot). */
  confirmHistogram: string;
  startedAt: number;
  endedAt: number;
  /** Event-loop utilisation of the worker over the run, 0..1: near 1 means the generator is the limit. */
  elu: number;
  /** p99 event-loop delay in ms: how late a buyer's next request started. */
  loopDelayP99Ms: number;
  errorSamples: string[];
}
