// Thresholds without any service: parsing, judging, scenario validation, the table.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/core/errors.js';
import { parseScenario } from '../../../src/core/scenario.js';
import {
  evaluateThresholds,
  metricNames,
  parseThreshold,
  parseThresholds,
  renderThresholds,
  scenarioThresholdSources,
  type ThresholdCommand,
} from '../../../src/core/thresholds.js';
import { SIMULATE_METRICS, successRate } from '../../../src/core/simulate/metrics.js';
import { BENCH_METRICS } from '../../../src/core/bench/metrics.js';
import type { SimulationResult } from '../../../src/core/simulate/run.js';
import type { StrategyBenchResult } from '../../../src/core/bench/types.js';
import type { LatencySummary } from '../../../src/core/histogram.js';

const lat = (p99: number): LatencySummary => ({
  p50: p99 / 4,
  p90: p99 / 2,
  p95: p99 * 0.8,
  p99,
  p999: p99 * 2,
  max: p99 * 3,
  mean: p99 / 3,
});

/** A finished simulate run with made-up numbers: only the fields the metrics read matter. */

function simResult(change: (r: SimulationResult) => void = () => {}): SimulationResult {
  const r = {
    oversold: 0,
    sold: 150,
    droppedArrivals: 0,
    attemptsPerSec: 480.5,
    successPerSec: 30,
    latencyMs: { reserve: lat(12.5), pay: lat(40), endToEnd: lat(60), lateness: lat(1) },
    counters: { paid: 90, declined: 5, payFailed: 3, expired: 2, abandoned: 40, errors: 0 },
    invariants: [
      { name: 'no oversell', ok: true, detail: 'ok' },
      { name: 'conservation', ok: true, detail: 'ok' },
    ],
  } as unknown as SimulationResult;
  change(r);
  return r;
}

function benchResult(change: (r: StrategyBenchResult) => void = () => {}): StrategyBenchResult {
  const r = {
    strategy: 'atomic',
    sold: 100,
    oversold: 0,
    falseSoldOut: 0,
    attemptsPerSec: 9000,
    successPerSec: 200,
    latencyMs: lat(3),
    counters: { errors: 0 },
    invariants: [{ name: 'no oversell', ok: true, detail: 'ok' }],
  } as unknown as StrategyBenchResult;
  change(r);
  return r;
}

describe('parseThreshold reads k6-style expressions and keeps their source', () => {
  it.each([
    ['a percentile under a bound', 'reserve.p99<50', 'simulate', { metric: 'reserve.p99', op: '<', bound: 50 }],
    ['a count that must be zero', 'oversold==0', 'simulate', { metric: 'oversold', op: '==', bound: 0 }],
    ['a rate with a decimal bound', 'successRate>0.99', 'simulate', { metric: 'successRate', op: '>', bound: 0.99 }],
    ['an at-least bound', 'attemptsPerSec>=10000', 'simulate', { metric: 'attemptsPerSec', op: '>=', bound: 10_000 }],
    [
      'an at-most bound with a fraction of a millisecond',
      'pay.max<=1.5',
      'simulate',
      { metric: 'pay.max', op: '<=', bound: 1.5 },
    ],
    ['a not-equal bound', 'errors!=3', 'simulate', { metric: 'errors', op: '!=', bound: 3 }],
    [
      'spaces around the operator and the ends',
      '  endToEnd.p95 <  250 ',
      'simulate',
      { metric: 'endToEnd.p95', op: '<', bound: 250 },
    ],
    [
      'a decimal written without its leading zero',
      'successRate>=.5',
      'simulate',
      { metric: 'successRate', op: '>=', bound: 0.5 },
    ],
    [
      'a bound in exponent notation',
      'attemptsPerSec>1e4',
      'simulate',
      { metric: 'attemptsPerSec', op: '>', bound: 10_000 },
    ],
    ["bench's reserve latency", 'latency.p999<20', 'bench', { metric: 'latency.p999', op: '<', bound: 20 }],
    ["bench's false sold-outs", 'falseSoldOut==0', 'bench', { metric: 'falseSoldOut', op: '==', bound: 0 }],
  ] as const)('%s: %s', (_name, source, command, expected) => {
    const t = parseThreshold(source, command as ThresholdCommand);
    expect(t).toEqual({ source: source.trim(), ...expected });
  });
});

describe('parseThreshold refuses what it cannot judge, naming the threshold (exit 2)', () => {
  it.each([
    [
      'an unknown metric, listing the known ones',
      'reserve.p42<5',
      'simulate',
      /--threshold: unknown metric "reserve.p42" in "reserve.p42<5"; known simulate metrics: reserve.p50, reserve.p90, .*oversold, droppedArrivals, .*successRate, errors, droppedRate, errorRate, payFailedRate, stuckOrders, invariantsFailed/,
    ],
    [
      'a bench metric given to simulate',
      'latency.p99<5',
      'simulate',
      /unknown metric "latency.p99" in "latency.p99<5"; known simulate metrics/,
    ],
    [
      'a simulate metric given to bench',
      'reserve.p99<5',
      'bench',
      /unknown metric "reserve.p99" in "reserve.p99<5"; known bench metrics: latency.p50, .*falseSoldOut/,
    ],
    [
      "k6's p(99) syntax instead of a metric name",
      'p(99)<50',
      'simulate',
      /--threshold: expected "<metric><op><number>" such as "reserve.p99<50", got "p\(99\)<50"/,
    ],
    [
      'a single equals sign',
      'oversold=0',
      'simulate',
      /--threshold: expected "<metric><op><number>".*got "oversold=0"/,
    ],
    [
      'an operator with no number',
      'oversold==',
      'simulate',
      /--threshold: expected a condition: one of < <= > >= == != and a number, e.g. "<50" or ">=0.99" after "oversold", got "oversold=="/,
    ],
    [
      'a bound that is not a number',
      'reserve.p99<fast',
      'simulate',
      /expected a condition: .* after "reserve.p99", got "reserve.p99<fast"/,
    ],
    ['two operators', 'reserve.p99<<5', 'simulate', /after "reserve.p99", got "reserve.p99<<5"/],
    ['a unit after the number', 'reserve.p99<50ms', 'simulate', /after "reserve.p99", got "reserve.p99<50ms"/],
    ['nothing at all', '', 'simulate', /--threshold: expected "<metric><op><number>".*got ""/],
    ['a name every JavaScript object has', 'constructor<5', 'simulate', /unknown metric "constructor"/],
  ] as const)('%s', (_name, source, command, message) => {
    let caught: unknown;
    try {
      parseThreshold(source, command as ThresholdCommand);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).exitCode).toBe(2);
    expect((caught as UsageError).message).toMatch(message);
  });

  it('a malformed expression suggests the known metric names too', () => {
    expect(() => parseThreshold('p(99)<50', 'bench')).toThrow(
      expect.objectContaining({ suggestion: expect.stringContaining('known bench metrics: latency.p50') }),
    );
  });

  it('parseThresholds judges the same text once, however often it is given', () => {
    expect(parseThresholds(['oversold==0', ' oversold==0', 'oversold<1'], 'simulate').map((t) => t.source)).toEqual([
      'oversold==0',
      'oversold<1',
    ]);
  });

  it('every documented metric name parses for its command', () => {
    for (const command of ['simulate', 'bench'] as const) {
      for (const name of metricNames(command)) expect(parseThreshold(`${name}>=0`, command).metric).toBe(name);
    }
  });
});

describe('evaluateThresholds judges a finished simulate run', () => {
  it.each([
    ['a p99 under its bound passes', 'reserve.p99<50', true, 12.5],
    ['a p99 equal to a strict bound fails', 'reserve.p99<12.5', false, 12.5],
    ['a p99 equal to an inclusive bound passes', 'reserve.p99<=12.5', true, 12.5],
    ['an impossible latency bound fails with the measured value', 'reserve.p99<0.001', false, 12.5],
    ['pay max is read from the pay latencies', 'pay.max<100', false, 120],
    ['end-to-end p50 is read from the end-to-end latencies', 'endToEnd.p50>10', true, 15],
    ['no oversell passes ==0', 'oversold==0', true, 0],
    ['an attempt rate below its floor fails', 'attemptsPerSec>=10000', false, 480.5],
    ['the success rate counts paid among buyers who tried to pay', 'successRate>0.99', false, 0.9],
    ['dropped arrivals are compared as counted', 'droppedArrivals!=0', false, 0],
  ] as const)('%s', (_name, source, ok, value) => {
    const [r] = evaluateThresholds(parseThresholds([source], 'simulate'), SIMULATE_METRICS, simResult());
    expect(r).toEqual({ source, ok, value });
  });

  it('invariantsFailed counts the invariants that broke', () => {
    const broken = simResult(
      (r) => (r.invariants[1] = { name: 'conservation', ok: false, detail: 'sku-1: 2 units missing' }),
    );
    expect(evaluateThresholds(parseThresholds(['invariantsFailed==0'], 'simulate'), SIMULATE_METRICS, broken)).toEqual([
      { source: 'invariantsFailed==0', ok: false, value: 1 },
    ]);
  });

  it('errors are the journey counter of errors', () => {
    const r = simResult((s) => (s.counters.errors = 7));
    expect(
      evaluateThresholds(parseThresholds(['errors==0', 'errors<10'], 'simulate'), SIMULATE_METRICS, r).map((t) => [
        t.ok,
        t.value,
      ]),
    ).toEqual([
      [false, 7],
      [true, 7],
    ]);
  });

  it('successRate leaves out abandoned holds and is 0 when nobody tried to pay', () => {
    expect(
      successRate({ paid: 9, declined: 1, payFailed: 0, expired: 0, abandoned: 1000 } as SimulationResult['counters']),
    ).toBe(0.9);
    expect(
      successRate({ paid: 0, declined: 0, payFailed: 0, expired: 0, abandoned: 5 } as SimulationResult['counters']),
    ).toBe(0);
  });
});

describe('evaluateThresholds judges each bench strategy on its own numbers', () => {
  it.each([
    ['reserve latency p99 under its bound passes', 'latency.p99<5', true, 3],
    ['an impossible latency bound fails', 'latency.p99<0.0001', false, 3],
    ['no oversell passes', 'oversold==0', true, 0],
    ['a success rate floor above what was measured fails', 'successPerSec>=1000', false, 200],
    ['false sold-outs are compared as counted', 'falseSoldOut<=0', true, 0],
  ] as const)('%s', (_name, source, ok, value) => {
    expect(evaluateThresholds(parseThresholds([source], 'bench'), BENCH_METRICS, benchResult())).toEqual([
      { source, ok, value },
    ]);
  });

  it('the same threshold gives each strategy its own verdict', () => {
    const t = parseThresholds(['oversold==0'], 'bench');
    const naive = benchResult((r) => (r.oversold = 12));
    expect([benchResult(), naive].map((r) => evaluateThresholds(t, BENCH_METRICS, r)[0].ok)).toEqual([true, false]);
  });
});

describe('scenario files carry thresholds in k6 shape, checked when loaded', () => {
  const smoke = () => JSON.parse(readFileSync('scenarios/smoke.json', 'utf8'));

  it('the smoke scenario turns its thresholds into sources', () => {
    const s = parseScenario(smoke(), 'smoke.json');
    expect(scenarioThresholdSources(s.thresholds, s.source)).toEqual([
      'oversold==0',
      'invariantsFailed==0',
      'errors==0',
    ]);
  });

  it('several conditions on one metric become several thresholds', () => {
    expect(scenarioThresholdSources({ 'reserve.p99': ['<50', '>0'] }, 'x.json')).toEqual([
      'reserve.p99<50',
      'reserve.p99>0',
    ]);
  });

  it.each([
    [
      'an unknown metric, naming its path and the known ones',
      { 'reserve.p42': ['<50'] },
      /smoke.json: thresholds.reserve.p42: unknown metric "reserve.p42"; known simulate metrics: reserve.p50/,
    ],
    [
      'a malformed condition',
      { oversold: ['=0'] },
      /smoke.json: thresholds.oversold: expected a condition: one of < <= > >= == != and a number.*, got "=0"/,
    ],
    [
      'a condition that is not in an array',
      { oversold: '==0' },
      /smoke.json: thresholds.oversold: expected an array of conditions such as \["<50"\], got "==0"/,
    ],
    [
      'a condition that is not a string',
      { oversold: [0] },
      /smoke.json: thresholds.oversold.0: expected a condition string such as "<50", got 0/,
    ],
  ])('%s', (_name, thresholds, message) => {
    const raw = { ...smoke(), thresholds };
    expect(() => parseScenario(raw, 'smoke.json')).toThrow(message);
  });
});

describe('the thresholds table', () => {
  it('shows each threshold with its measured value and FAIL where it failed', () => {
    const text = renderThresholds([
      {
        group: 'sync',
        results: [
          { source: 'reserve.p99<0.001', ok: false, value: 12.3456789 },
          { source: 'oversold==0', ok: true, value: 0 },
        ],
      },
    ]);
    expect(text).toMatch(/reserve\.p99<0\.001 +│ 12\.3457 +│ .*FAIL/);
    expect(text).toMatch(/oversold==0 +│ 0 +│ .*ok/);
  });

  it('is empty when there are no thresholds', () => {
    expect(renderThresholds([{ group: 'sync', results: [] }])).toBe('');
  });
});
