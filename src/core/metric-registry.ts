// A command's metrics for thresholds: each name with how to read it off that command's finished
// result. The registries live beside the results they read (simulate/metrics.ts, bench/metrics.ts);
// thresholds.ts parses and evaluates over whichever registry it is given (k6's split).
import type { LatencySummary } from './histogram.js';
import type { InvariantResult } from './invariants.js';

export type Metrics<R> = Record<string, (r: R) => number>;

export interface MetricRegistry<R> {
  /** The command whose results these are: named in every message about an unknown metric. */
  command: string;
  metrics: Metrics<R>;
}

const PERCENTILES = ['p50', 'p90', 'p95', 'p99', 'p999', 'max'] as const;

/** `prefix.p50` … `prefix.max` read from one latency summary. */
export function latencyMetrics<R>(prefix: string, of: (r: R) => LatencySummary): Metrics<R> {
  return Object.fromEntries(PERCENTILES.map((p) => [`${prefix}.${p}`, (r: R) => of(r)[p]]));
}

export const invariantsFailed = (invariants: InvariantResult[]): number => invariants.filter((i) => !i.ok).length;
