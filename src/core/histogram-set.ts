// Several named latency histograms that travel together: bench workers (reserve, confirm),
// simulate workers and the shards of one sale (reserve, pay, endToEnd, lateness). One merge for
// all of them, so a histogram added to a set is merged, encoded and summarised everywhere.
import {
  decodeHistogram,
  encodeHistogram,
  latencySummary,
  newHistogram,
  type Histogram,
  type LatencySummary,
} from './histogram.js';

export type HistogramSet<K extends string> = Record<K, Histogram>;

/** What crosses a thread or a file: name → compressed base64 ('' or absent when nothing was recorded). */
export type EncodedHistograms<K extends string> = Partial<Record<K, string>>;

/** Called when an encoded histogram does not decode; it throws what the caller wants reported. */
export type OnBadHistogram<K extends string> = (part: number, name: K, err: Error) => never;

export function newHistogramSet<K extends string>(names: readonly K[]): HistogramSet<K> {
  return Object.fromEntries(names.map((n) => [n, newHistogram()])) as HistogramSet<K>;
}

/**
 * Pure: the histograms named `names` of every part added together, exactly (HDR buckets add).
 * A part may hold other fields too (a worker's whole result); only `names` are read.
 */
export function mergeHistograms<K extends string>(
  names: readonly K[],
  parts: readonly EncodedHistograms<K>[],
  onBad?: OnBadHistogram<K>,
): HistogramSet<K> {
  const set = newHistogramSet(names);
  parts.forEach((part, i) => {
    for (const name of names) {
      const encoded = part[name];
      // a run with no samples of a kind (no arrivals late-checked, closed model) may send ''
      if (!encoded) continue;
      let h: Histogram;
      try {
        h = decodeHistogram(encoded);
      } catch (err) {
        if (onBad) onBad(i, name, err as Error);
        throw err;
      }
      set[name].add(h);
    }
  });
  return set;
}

export function encodeHistograms<K extends string>(set: HistogramSet<K>): Record<K, string> {
  return Object.fromEntries(Object.entries<Histogram>(set).map(([n, h]) => [n, encodeHistogram(h)])) as Record<
    K,
    string
  >;
}

/** Microsecond histograms → millisecond percentiles, name by name. */
export function summariseHistograms<K extends string>(set: HistogramSet<K>): Record<K, LatencySummary> {
  return Object.fromEntries(Object.entries<Histogram>(set).map(([n, h]) => [n, latencySummary(h)])) as Record<
    K,
    LatencySummary
  >;
}
