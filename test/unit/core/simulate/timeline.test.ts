// The simulate time series: buckets per worker, their merge, and the stock sampler.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  MAX_BUCKETS,
  MAX_STOCK_SKUS,
  mergeTimelines,
  sampleStock,
  TimelineRecorder,
  type WorkerTimeline,
} from '../../../../src/core/simulate/timeline.js';

const total = (t: WorkerTimeline, k: 'started' | 'completed' | 'orders') => t[k].reduce((n, v) => n + v, 0);

describe('a worker timeline', () => {
  it('counts each event in the bucket of its time, and anything before the start in the first', () => {
    const rec = new TimelineRecorder();
    for (const ms of [-5, 0, 249, 250, 900]) rec.noteStarted(ms);
    rec.noteOrder(260);
    rec.noteReserve(10, 2_000);
    const t = rec.toJSON();
    expect(t.bucketMs).toBe(250);
    expect(t.started).toEqual([3, 1, 0, 1]);
    expect(t.orders).toEqual([0, 1, 0, 0]);
    expect(t.reserve.map((r) => r !== '')).toEqual([true, false, false, false]);
  });

  it('doubles its bucket width instead of growing past MAX_BUCKETS, losing no event', () => {
    const rec = new TimelineRecorder();
    const lastMs = MAX_BUCKETS * 250 * 3;
    for (let ms = 0; ms <= lastMs; ms += 100) rec.noteStarted(ms);
    const t = rec.toJSON();
    expect(t.bucketMs).toBe(1_000);
    expect(t.started.length).toBeLessThanOrEqual(MAX_BUCKETS);
    expect(total(t, 'started')).toBe(lastMs / 100 + 1);
    expect(t.started[0]).toBe(10);
  });
});

describe('merging worker timelines', () => {
  it("adds counts and histograms, re-bucketing the finer worker to the coarser one's width", () => {
    const fine = new TimelineRecorder();
    const coarse = new TimelineRecorder();
    for (const ms of [0, 300, 600]) fine.noteStarted(ms);
    fine.noteReserve(0, 1_000);
    fine.noteReserve(300, 3_000);
    for (let ms = 0; ms <= MAX_BUCKETS * 250; ms += 250) coarse.noteCompleted(ms); // one past the limit: 500 ms buckets
    coarse.noteReserve(100, 2_000);
    const m = mergeTimelines([fine.toJSON(), coarse.toJSON(), undefined]);
    expect(m.bucketMs).toBe(500);
    expect(m.buckets.slice(0, 2).map((b) => [b.t, b.started])).toEqual([
      [0, 2],
      [500, 1],
    ]);
    expect(m.buckets.reduce((n, b) => n + b.completed, 0)).toBe(MAX_BUCKETS + 1);
    expect(m.buckets[0]!.reserve.count).toBe(3);
    expect(m.buckets[0]!.reserve.p99).toBeGreaterThanOrEqual(2.9);
    expect(m.buckets[1]!.reserve).toEqual({ count: 0, p50: 0, p95: 0, p99: 0 });
  });

  it('is empty when no worker sent one', () => {
    expect(mergeTimelines([undefined])).toEqual({ bucketMs: 250, buckets: [] });
  });
});

describe('sampling stock', () => {
  afterEach(() => vi.useRealTimers());

  it('reads every SKU each 250 ms from the start, and once more when stopped', async () => {
    vi.useFakeTimers();
    const start = Date.now() + 100;
    let left = 10;
    const sampler = sampleStock(async (sku) => (sku === 'A' ? left-- : 7), ['A', 'B'], start);
    await vi.advanceTimersByTimeAsync(1_050);
    const samples = await sampler.stop();
    const ticks = [...new Set(samples.map((s) => s.t))];
    // 0, 250, 500, 750 ms into the run, and the stop at 950
    expect(ticks).toEqual([0, 250, 500, 750, 950]);
    expect(samples.filter((s) => s.sku === 'A').map((s) => s.available)).toEqual([10, 9, 8, 7, 6]);
    expect(samples.filter((s) => s.sku === 'B').every((s) => s.available === 7)).toBe(true);
  });

  it('thins its ticks on a long run and samples at most MAX_STOCK_SKUS SKUs', async () => {
    vi.useFakeTimers();
    const skus = Array.from({ length: MAX_STOCK_SKUS + 5 }, (_, i) => `s${i}`);
    const sampler = sampleStock(async () => 1, skus, Date.now());
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    const samples = await sampler.stop();
    expect(new Set(samples.map((s) => s.sku)).size).toBe(MAX_STOCK_SKUS);
    expect(samples.length).toBeLessThanOrEqual(4_000 + 2 * MAX_STOCK_SKUS);
    expect(Math.max(...samples.map((s) => s.t))).toBeGreaterThanOrEqual(10 * 60_000 - 50);
  });

  it('loses a point, not the run, when a read fails', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const sampler = sampleStock(
      async () => {
        if (++calls === 1) throw new Error('connection reset');
        return 3;
      },
      ['A'],
      Date.now(),
    );
    await vi.advanceTimersByTimeAsync(600);
    const samples = await sampler.stop();
    expect(samples.map((s) => s.available)).toEqual([3, 3, 3]);
  });
});
