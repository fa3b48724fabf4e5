import type { Skew } from '../random.js';
import type { Store, StrategyName } from '../strategies/types.js';
import type { InvariantResult } from '../invariants.js';
import type { LatencySummary } from '../histogram.js';

export type { LatencySummary };

/** A validated `bench` configuration (the command builds it from options). */
export interface BenchConfig {
  strategies: StrategyName[];
  skus: number;
  stock: number;
  qty: number;
  /** Total attempts across all workers; the run stops when they are done. */
  buyers?: number;
  /** Seconds; unbounded buyers until then. */
  durationSec?: number;
  concurrency: number;
  workers: number;
  skew: Skew;
  seed: number;
  ttlMs: number;
  perUserLimit: number;
  /** Distinct buyers the attempts are drawn from; default one per attempt. */
  users?: number;
  /** Fraction of successful holds confirmed into sales right away, 0..1. */
  confirmRate: number;
  naiveStore: Store;
}

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

export interface Counters {
  attempts: number;
  /** Reservations granted (new ones; duplicates are counted apart). */
  ok: number;
  duplicates: number;
  soldOut: number;
  limitExceeded: number;
  conflicts: number;
  inProgress: number;
  errors: number;
  retries: number;
  confirmed: number;
  confirmFailed: number;
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


export interface GeneratorReport {
  workers: number;
  targetConcurrency: number;
  /** Busiest worker's event-loop utilisation. */
  eluMax: number;
  loopDelayP99Ms: number;
  /** How long after the common start the last worker began (slow connects show here). */
  startLagMs: number;
  /** True when the generator, not the system under test, was the bottleneck. */
  limited: boolean;
  /** Too short to judge the generator or quote a rate: warm-up dominates. */
  shortRun: boolean;
  note: string;
}

export interface StrategyBenchResult {
  strategy: StrategyName;
  store: Store;
  skus: number;
  stock: number;
  attempts: number;
  sold: number;
  held: number;
  oversold: number;
  falseSoldOut: number;
  durationSec: number;
  attemptsPerSec: number;
  successPerSec: number;
  counters: Counters;
  latencyMs: LatencySummary;
  /** Confirm latency (holds turned into sales), apart from reserve latency. */
  confirmLatencyMs: LatencySummary;
  generator: GeneratorReport;
  invariants: InvariantResult[];
  ok: boolean;
  errorSamples: string[];
  /** The merged histogram (compressed base64), kept for reports and merges. */
  histogram: string;
}
