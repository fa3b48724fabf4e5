// Run validity (docs/design.md#run-validity): the built-in limits on the load a run did not deliver.
import { describe, expect, it } from 'vitest';
import type { JourneyCounters } from '../../../../src/core/documents/simulate.js';
import { emptyJourneyCounters } from '../../../../src/core/simulate/journey.js';
import type { SimulateMetricSource } from '../../../../src/core/simulate/metrics.js';
import { judgeValidity, VALIDITY_LIMITS } from '../../../../src/core/simulate/validity.js';
import { parseThresholds } from '../../../../src/core/thresholds.js';

const counters = (over: Partial<JourneyCounters> = {}): JourneyCounters => ({
  ...emptyJourneyCounters(),
  journeys: 1_000,
  availabilityChecks: 1_000,
  reserveCalls: 1_000,
  orders: 900,
  soldOut: 100,
  abandoned: 100,
  paid: 800,
  ...over,
});

const run = (over: Partial<SimulateMetricSource> = {}, c: Partial<JourneyCounters> = {}) =>
  ({
    droppedArrivals: 0,
    counters: counters(c),
    pendingAtEnd: { holdsLive: 3, stuck: 0 },
    ...over,
  }) as SimulateMetricSource;

describe('run validity', () => {
  it('a run that delivered its load is valid; abandoned holds still waiting for their time do not count', () => {
    expect(judgeValidity(run(), [])).toEqual({ valid: true, reasons: [], relaxed: [] });
  });

  it('1% is allowed, a little more is not: each reason carries its numbers', () => {
    expect(judgeValidity(run({ droppedArrivals: 10 }), []).valid).toBe(true); // 10 of 1,010
    const v = judgeValidity(run({ droppedArrivals: 12 }), []); // 12 of 1,012
    expect(v.valid).toBe(false);
    expect(v.reasons).toEqual([expect.stringMatching(/^1\.2% of arrivals dropped \(12 of 1012\)/)]);
  });

  it('errors, payments without an answer and stuck orders are each a reason', () => {
    const v = judgeValidity(
      run({ pendingAtEnd: { holdsLive: 0, stuck: 4 } }, { errors: 300, payFailed: 200, paid: 600 }),
      [],
    );
    expect(v.valid).toBe(false);
    expect(v.reasons).toEqual([
      expect.stringMatching(/^11% of requests errored \(300 of 2800\)/),
      expect.stringMatching(/^25% of payments got no answer from the provider \(200 of 800/),
      expect.stringMatching(/^4 order\(s\) still pending at the end/),
    ]);
  });

  it("a person's threshold on the same metric replaces the built-in limit, and the report says so", () => {
    const mine = parseThresholds(['errorRate<0.5', 'reserve.p99<50'], 'simulate');
    const v = judgeValidity(run({}, { errors: 300 }), mine);
    expect(v).toEqual({ valid: true, reasons: [], relaxed: ['errorRate<=0.01 (built in) replaced by errorRate<0.5'] });
  });

  it('the built-in limits are thresholds on metrics a person can write', () => {
    expect(() => parseThresholds(VALIDITY_LIMITS, 'simulate')).not.toThrow();
    expect(VALIDITY_LIMITS).toEqual(['droppedRate<=0.01', 'errorRate<=0.01', 'payFailedRate<=0.01', 'stuckOrders==0']);
  });
});
