// Time series of a simulate run, for the HTML report: per time bucket (from the run's common
// start) arrivals started, journeys completed, new orders and a reserve latency histogram,
// recorded in each worker and merged in the main thread; plus stock per SKU sampled in the main
// thread while the run goes.
import * as hdr from 'hdr-histogram-js';
import { decodeHistogram, encodeHistogram, latencySummary, newHistogram, type Histogram } from '../histogram.js';
import type { SimTimeline, StockSample, TimelineBucket } from '../documents/simulate.js';

/** The finest bucket. Long runs double it (see MAX_BUCKETS), so it is always 250 ms × 2^k. */
export const TIMELINE_BUCKET_MS = 250;
/** More buckets than a chart can show are only weight in summary.json. */
export const MAX_BUCKETS = 240;
/** At most this many SKUs are sampled: a chart of more lines is unreadable and each costs a query per tick. */
export const MAX_STOCK_SKUS = 20;
/** Stock samples kept in all (ticks × SKUs), before ticks are thinned. */
const MAX_STOCK_SAMPLES = 4_000;

/** What a worker sends: counts per bucket, and per-bucket reserve histograms (compressed base64, '' = none). */
export interface WorkerTimeline {
  bucketMs: number;
  started: number[];
  completed: number[];
  orders: number[];
  reserve: string[];
}

/** The merged series as summary.json keeps them (documents/simulate.ts describes each field). */
export type { SimTimeline, StockSample, TimelineBucket };

/**
 * Per-bucket histograms at 2 significant digits: 1 % is finer than a chart shows, and a bucket
 * then costs 14 KB instead of 95 KB (there are up to MAX_BUCKETS of them per worker).
 */
function bucketHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 2,
  });
}

/** One worker's recorder. Times are ms from the run's common start; before it counts as 0. */
export class TimelineRecorder {
  bucketMs = TIMELINE_BUCKET_MS;
  private started: number[] = [];
  private completed: number[] = [];
  private orders: number[] = [];
  private reserve: (Histogram | undefined)[] = [];

  noteStarted(ms: number): void {
    const i = this.index(ms);
    this.started[i] = (this.started[i] ?? 0) + 1;
  }

  noteCompleted(ms: number): void {
    const i = this.index(ms);
    this.completed[i] = (this.completed[i] ?? 0) + 1;
  }

  noteOrder(ms: number): void {
    const i = this.index(ms);
    this.orders[i] = (this.orders[i] ?? 0) + 1;
  }

  /** `us`: the reserve latency in µs; `ms`: when the reserve was sent. */
  noteReserve(ms: number, us: number): void {
    const i = this.index(ms);
    (this.reserve[i] ??= bucketHistogram()).recordValue(us);
  }

  toJSON(): WorkerTimeline {
    const n = Math.max(this.started.length, this.completed.length, this.orders.length, this.reserve.length);
    const dense = (a: number[]) => Array.from({ length: n }, (_, i) => a[i] ?? 0);
    return {
      bucketMs: this.bucketMs,
      started: dense(this.started),
      completed: dense(this.completed),
      orders: dense(this.orders),
      reserve: Array.from({ length: n }, (_, i) => (this.reserve[i] ? encodeHistogram(this.reserve[i]!) : '')),
    };
  }

  private index(ms: number): number {
    let i = Math.floor(Math.max(0, ms) / this.bucketMs);
    while (i >= MAX_BUCKETS) {
      this.coarsen();
      i = Math.floor(Math.max(0, ms) / this.bucketMs);
    }
    return i;
  }

  /** Twice as wide buckets, pairs folded together: the run went on longer than MAX_BUCKETS allow. */
  private coarsen(): void {
    const fold = (a: number[]) =>
      Array.from({ length: Math.ceil(a.length / 2) }, (_, i) => (a[2 * i] ?? 0) + (a[2 * i + 1] ?? 0));
    this.started = fold(this.started);
    this.completed = fold(this.completed);
    this.orders = fold(this.orders);
    this.reserve = Array.from({ length: Math.ceil(this.reserve.length / 2) }, (_, i) => {
      const [a, b] = [this.reserve[2 * i], this.reserve[2 * i + 1]];
      if (a && b) a.add(b);
      return a ?? b;
    });
    this.bucketMs *= 2;
  }
}

/** Pure: the workers' timelines into one, at the widest bucket any of them had to use. */
export function mergeTimelines(parts: (WorkerTimeline | undefined)[]): { bucketMs: number; buckets: TimelineBucket[] } {
  const present = parts.filter((p): p is WorkerTimeline => p !== undefined);
  const bucketMs = Math.max(TIMELINE_BUCKET_MS, ...present.map((p) => p.bucketMs));
  const started: number[] = [];
  const completed: number[] = [];
  const orders: number[] = [];
  const reserve: Histogram[] = [];
  const add = (into: number[], i: number, n: number) => void (into[i] = (into[i] ?? 0) + n);
  for (const p of present) {
    // every worker's width is 250 ms × 2^k, so a coarser bucket holds whole finer ones
    const factor = bucketMs / p.bucketMs;
    for (let j = 0; j < p.started.length; j++) {
      const i = Math.floor(j / factor);
      add(started, i, p.started[j] ?? 0);
      add(completed, i, p.completed[j] ?? 0);
      add(orders, i, p.orders[j] ?? 0);
      if (p.reserve[j]) (reserve[i] ??= newHistogram()).add(decodeHistogram(p.reserve[j]!));
    }
  }
  const n = Math.max(started.length, completed.length, orders.length, reserve.length);
  const buckets = Array.from({ length: n }, (_, i): TimelineBucket => {
    const h = reserve[i];
    const s = h ? latencySummary(h) : undefined;
    return {
      t: i * bucketMs,
      started: started[i] ?? 0,
      completed: completed[i] ?? 0,
      orders: orders[i] ?? 0,
      reserve: { count: h?.totalCount ?? 0, p50: s?.p50 ?? 0, p95: s?.p95 ?? 0, p99: s?.p99 ?? 0 },
    };
  });
  return { bucketMs, buckets };
}

/**
 * Reads each SKU's available units every TIMELINE_BUCKET_MS from `start` until stopped, and
 * once more at the stop. Ticks are thinned (every other one dropped, the interval doubled) when
 * a long run would keep more than MAX_STOCK_SAMPLES.
 */
export function sampleStock(
  read: (sku: string) => Promise<number>,
  allSkus: string[],
  start: number,
  clock: () => number = Date.now,
): { stop(): Promise<StockSample[]> } {
  const skus = allSkus.slice(0, MAX_STOCK_SKUS);
  const maxTicks = Math.max(20, Math.min(MAX_BUCKETS, Math.floor(MAX_STOCK_SAMPLES / Math.max(1, skus.length))));
  let every = TIMELINE_BUCKET_MS;
  let ticks: StockSample[][] = [];
  let lastAt = -Infinity;
  let pending: Promise<void> | undefined;
  const tick = async (force: boolean) => {
    const t = clock() - start;
    if (!force && (t < 0 || t - lastAt < every)) return;
    lastAt = t;
    try {
      const available = await Promise.all(skus.map(read));
      ticks.push(skus.map((sku, i) => ({ t, sku, available: available[i]! })));
    } catch {
      // A failed read costs the chart one point; it must not fail the sale being measured.
    }
    if (ticks.length > maxTicks) {
      ticks = ticks.filter((_, i) => i % 2 === 0);
      every *= 2;
    }
  };
  const timer = setInterval(() => {
    if (!pending) pending = tick(false).finally(() => (pending = undefined));
  }, TIMELINE_BUCKET_MS / 5);
  timer.unref?.();
  let stopped: Promise<StockSample[]> | undefined;
  return {
    stop() {
      clearInterval(timer);
      stopped ??= (async () => {
        await pending;
        if (skus.length) await tick(true);
        return ticks.flat();
      })();
      return stopped;
    },
  };
}
