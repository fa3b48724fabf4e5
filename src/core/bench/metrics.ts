// bench's metrics for thresholds, one strategy at a time: reserve latency in ms, rates per second.
// A new metric is one line here.
import type { StrategyBenchResult } from '../documents/bench.js';
import { invariantsFailed, latencyMetrics, type MetricRegistry } from '../metric-registry.js';

/** What the metrics read: one strategy's run. */
export type BenchMetricSource = Pick<
  StrategyBenchResult,
  'latencyMs' | 'sold' | 'oversold' | 'falseSoldOut' | 'attemptsPerSec' | 'successPerSec' | 'counters' | 'invariants'
>;

export const BENCH_METRICS: MetricRegistry<BenchMetricSource> = {
  command: 'bench',
  metrics: {
    ...latencyMetrics('latency', (r: BenchMetricSource) => r.latencyMs),
    sold: (r) => r.sold,
    oversold: (r) => r.oversold,
    falseSoldOut: (r) => r.falseSoldOut,
    attemptsPerSec: (r) => r.attemptsPerSec,
    successPerSec: (r) => r.successPerSec,
    errors: (r) => r.counters.errors,
    invariantsFailed: (r) => invariantsFailed(r.invariants),
  },
};
