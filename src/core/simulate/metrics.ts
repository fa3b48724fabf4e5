// simulate's metrics for thresholds (`--threshold`, a scenario's `thresholds`): latencies in ms
// from `latencyMs`, rates per second over the arrival phase. A new metric is one line here.
import type { JourneyCounters, Simulation } from '../documents/simulate.js';
import { invariantsFailed, latencyMetrics, type MetricRegistry } from '../metric-registry.js';

/** What the metrics read: a run of one mode, or the merge of its shards. */
export type SimulateMetricSource = Pick<
  Simulation,
  'latencyMs' | 'sold' | 'oversold' | 'droppedArrivals' | 'attemptsPerSec' | 'successPerSec' | 'counters' | 'invariants'
> &
  Partial<Pick<Simulation, 'pendingAtEnd' | 'lastPayFailure' | 'errorSamples'>>;

/**
 * Of the buyers who tried to pay, the share who paid: paid / (paid + declined + payFailed + expired).
 * Buyers who abandoned their hold never tried, so they do not count against it. 0 when no one tried.
 */
export function successRate(c: JourneyCounters): number {
  return ratio(c.paid, payTried(c));
}

/** Pays that came to an answer or failed for want of one (abandoned holds never tried). */
export function payTried(c: JourneyCounters): number {
  return c.paid + c.declined + c.payFailed + c.expired;
}

/** Requests the buyers made: availability checks, reserve calls and pays. */
export function requestsMade(c: JourneyCounters): number {
  return c.availabilityChecks + c.reserveCalls + payTried(c);
}

const ratio = (n: number, of: number) => (of === 0 ? 0 : n / of);

export const SIMULATE_METRICS: MetricRegistry<SimulateMetricSource> = {
  command: 'simulate',
  metrics: {
    ...latencyMetrics('reserve', (r: SimulateMetricSource) => r.latencyMs.reserve),
    ...latencyMetrics('pay', (r: SimulateMetricSource) => r.latencyMs.pay),
    ...latencyMetrics('endToEnd', (r: SimulateMetricSource) => r.latencyMs.endToEnd),
    sold: (r) => r.sold,
    oversold: (r) => r.oversold,
    droppedArrivals: (r) => r.droppedArrivals,
    attemptsPerSec: (r) => r.attemptsPerSec,
    successPerSec: (r) => r.successPerSec,
    successRate: (r) => successRate(r.counters),
    errors: (r) => r.counters.errors,
    // Run validity (validity.ts): the load that was not delivered, as shares.
    droppedRate: (r) => ratio(r.droppedArrivals, r.droppedArrivals + r.counters.journeys),
    errorRate: (r) => ratio(r.counters.errors, requestsMade(r.counters)),
    payFailedRate: (r) => ratio(r.counters.payFailed, payTried(r.counters)),
    stuckOrders: (r) => r.pendingAtEnd?.stuck ?? 0,
    invariantsFailed: (r) => invariantsFailed(r.invariants),
  },
};
