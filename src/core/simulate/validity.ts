// Run validity (docs/design.md#run-validity): a run that did not deliver the load it was asked
// for proves nothing about the system under test, so it is not a pass whatever its invariants
// say. Built-in k6-style thresholds on simulate's own metrics; a threshold the person gives on the
// same metric (scenario or --threshold) replaces the built-in one, and the report says so.
import type { Threshold } from '../thresholds.js';
import { compare } from '../thresholds.js';
import { SIMULATE_METRICS, payTried, requestsMade, type SimulateMetricSource } from './metrics.js';

export interface Validity {
  valid: boolean;
  /** Why the run is invalid, each with its numbers; empty when valid. */
  reasons: string[];
  /** Built-in limits replaced by the person's own thresholds on the same metric. */
  relaxed: string[];
  /**
   * A service the run could not use at all (a provider that took no payment, a target that answered
   * no request), with its last answer: exit 6 rather than 4, the report written all the same.
   */
  deadService?: string;
}

/** Below this many attempts a run is too small to call a service dead. */
const DEAD_MIN_ATTEMPTS = 10;
const DEAD_SHARE = 0.9;

/** The provider failed nearly every payment, or the system under test answered nearly no request and made no order. */
export function deadService(r: SimulateMetricSource): string | undefined {
  const c = r.counters;
  const tried = payTried(c);
  if (tried >= DEAD_MIN_ATTEMPTS && c.payFailed >= DEAD_SHARE * tried)
    return `the payment provider ${c.paid + c.declined === 0 ? 'took no payment' : 'failed nearly every payment'}: ${c.payFailed} of ${tried} failed; last: ${r.lastPayFailure ?? 'no answer'}`;
  const requests = requestsMade(c);
  if (requests >= DEAD_MIN_ATTEMPTS && c.orders === 0 && c.errors >= DEAD_SHARE * requests)
    return `the system under test answered no request: ${c.errors} of ${requests} errored; last: ${r.errorSamples?.[0] ?? 'no answer'}`;
  return undefined;
}

const pct = (v: number) => `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;

interface Rule {
  metric: string;
  /** The built-in limit, as a threshold would write it. */
  limit: string;
  ok: (v: number) => boolean;
  says: (v: number, r: SimulateMetricSource) => string;
}

const RULES: Rule[] = [
  {
    metric: 'droppedRate',
    limit: '<=0.01',
    ok: (v) => compare(v, '<=', 0.01),
    says: (v, r) =>
      `${pct(v)} of arrivals dropped (${r.droppedArrivals} of ${r.droppedArrivals + r.counters.journeys}): the generator could not start them on time or the in-flight cap was full`,
  },
  {
    metric: 'errorRate',
    limit: '<=0.01',
    ok: (v) => compare(v, '<=', 0.01),
    says: (v, r) => `${pct(v)} of requests errored (${r.counters.errors} of ${requestsMade(r.counters)})`,
  },
  {
    metric: 'payFailedRate',
    limit: '<=0.01',
    ok: (v) => compare(v, '<=', 0.01),
    says: (v, r) =>
      `${pct(v)} of payments got no answer from the provider (${r.counters.payFailed} of ${payTried(r.counters)}: unreachable, timed out or 5xx)`,
  },
  {
    metric: 'stuckOrders',
    limit: '==0',
    ok: (v) => v === 0,
    says: (v) =>
      `${v} order(s) still pending at the end that are not holds waiting for their time to run out (a payment in flight, a hold past its end)`,
  },
];

/** The built-in limits, as threshold sources: what `--help` and the design list. */
export const VALIDITY_LIMITS: string[] = RULES.map((r) => `${r.metric}${r.limit}`);

export function judgeValidity(run: SimulateMetricSource, thresholds: Threshold[]): Validity {
  const reasons: string[] = [];
  const relaxed: string[] = [];
  for (const rule of RULES) {
    const own = thresholds.filter((t) => t.metric === rule.metric).map((t) => t.source);
    if (own.length) {
      relaxed.push(`${rule.metric}${rule.limit} (built in) replaced by ${own.join(', ')}`);
      continue;
    }
    const value = SIMULATE_METRICS.metrics[rule.metric](run);
    if (!rule.ok(value)) reasons.push(rule.says(value, run));
  }
  const dead = deadService(run);
  if (dead) reasons.unshift(dead);
  return { valid: reasons.length === 0, reasons, relaxed, ...(dead ? { deadService: dead } : {}) };
}
