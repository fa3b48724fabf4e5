// Merging bench workers: histograms and counters add up, nothing is listed twice.
import { describe, expect, it } from 'vitest';
import * as hdr from 'hdr-histogram-js';
import { mergeWorkerResults } from '../../../../src/core/bench/aggregate.js';
import { emptyCounters } from '../../../../src/core/bench/worker.js';
import { newHistogram } from '../../../../src/core/histogram.js';
import { prng } from '../../../../src/core/random.js';
import type { WorkerResult } from '../../../../src/core/bench/types.js';

function fakeWorker(values: number[], i: number): WorkerResult {
  const h = newHistogram();
  for (const v of values) h.recordValue(v);
  return {
    workerIndex: i,
    counters: { ...emptyCounters(), attempts: values.length, ok: 1 },
    buyerUnits: { A: 1 },
    soldOutBySku: {},
    histogram: hdr.encodeIntoCompressedBase64(h),
    confirmHistogram: hdr.encodeIntoCompressedBase64(newHistogram()),
    startedAt: 1000 + i,
    endedAt: 3000 + i,
    elu: 0.5,
    loopDelayP99Ms: 1,
    errorSamples: [],
  };
}

describe('merging worker results', () => {
  it('gives the percentiles of one histogram of all samples', () => {
    const rand = prng(7);
    const a = Array.from({ length: 5000 }, () => 1 + Math.floor(rand() * 2000));
    const b = Array.from({ length: 3000 }, () => 500 + Math.floor(rand() * 90000));
    const merged = mergeWorkerResults([fakeWorker(a, 0), fakeWorker(b, 1)], 8);
    const all = newHistogram();
    for (const v of [...a, ...b]) all.recordValue(v);
    for (const p of [50, 90, 99, 99.9])
      expect(merged.histogram.getValueAtPercentile(p)).toBe(all.getValueAtPercentile(p));
    expect(merged.counters.attempts).toBe(8000);
    expect(merged.buyerUnits).toEqual({ A: 2 });
    expect(merged.durationSec).toBeCloseTo(2.001, 3);
    expect(merged.generator.limited).toBe(false);
  });
  it('says when the generator was the bottleneck', () => {
    const busy = { ...fakeWorker([1], 0), elu: 0.97 };
    const m = mergeWorkerResults([busy], 64);
    expect(m.generator.limited).toBe(true);
    expect(m.generator.note).toMatch(/generator-bound: a worker's event loop was 97% busy/);
    const late = mergeWorkerResults([{ ...fakeWorker([1], 0), loopDelayP99Ms: 45 }], 64);
    expect(late.generator.note).toMatch(/requests started up to 45\.0 ms late/);
  });
  it('still judges a run shorter than a second, and says its rates include warm-up', () => {
    const blip = { ...fakeWorker([1], 0), endedAt: 1_400, elu: 0.99 };
    const m = mergeWorkerResults([blip], 64);
    expect(m.generator.limited).toBe(true);
    expect(m.generator.shortRun).toBe(true);
    expect(m.generator.note).toMatch(/generator-bound: .*; the run lasted 0\.40 s, so its rates include warm-up/);
  });
  it('says when a worker began late after the common start', () => {
    const m = mergeWorkerResults([fakeWorker([1], 0), { ...fakeWorker([1], 1), startedAt: 1_250 }], 8, 1_000);
    expect(m.generator.startLagMs).toBe(250);
    expect(m.generator.note).toMatch(/a worker began 250 ms after the common start/);
  });
});
