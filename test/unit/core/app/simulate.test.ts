// The simulate plan is made before any service starts: what is wrong with a request is found there.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../../src/core/errors.js';
import { planSimulate, type SimulateRequest } from '../../../../src/core/app/simulate.js';

const request = (over: Partial<SimulateRequest> = {}): SimulateRequest => ({
  transport: 'direct',
  shard: { index: 0, count: 1 },
  thresholds: [],
  ...over,
});

describe('planSimulate', () => {
  it('plans the smoke scenario by default, with the stores its strategy and modes need', () => {
    const plan = planSimulate(request({ strategy: 'atomic', mode: 'both' }));
    expect(plan.scenario.name).toBe('smoke');
    expect(plan.modes).toEqual(['sync', 'async']);
    expect(plan.strategy).toBe('atomic');
    expect([...plan.need].sort()).toEqual(['postgres', 'redis']);
  });

  it('refuses --target without the http transport, and a threshold it cannot judge', () => {
    expect(() => planSimulate(request({ target: 'http://127.0.0.1:1' }))).toThrow(
      /^--target: drives a system over HTTP/,
    );
    expect(() => planSimulate(request({ strategy: 'atomic', thresholds: ['nonsense.p99<1'] }))).toThrow(UsageError);
  });

  it("uses the seed it is given instead of the scenario's", () => {
    expect(planSimulate(request({ strategy: 'atomic', seed: 99 })).scenario.seed).toBe(99);
  });
});
