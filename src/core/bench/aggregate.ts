// Merging what the workers return, in one pure function (autocannon's aggregateResult habit).
import type { Counters, GeneratorReport, WorkerResult } from './types.js';
import { emptyCounters } from './worker.js';
import type { Histogram } from '../histogram.js';
import { mergeHistograms } from '../histogram-set.js';

/** The histograms a bench worker sends, by their field in WorkerResult. */
export const BENCH_HISTOGRAMS = ['histogram', 'confirmHistogram'] as const;

export interface Merged {
  counters: Counters;
  buyerUnits: Record<string, number>;
  soldOutBySku: Record<string, number>;
  histogram: Histogram;
  confirmHistogram: Histogram;
  startedAt: number;
  endedAt: number;
  durationSec: number;
  errorSamples: string[];
  generator: GeneratorReport;
}

function addInto(target: Record<string, number>, src: Record<string, number>): void {
  for (const [k, v] of Object.entries(src)) target[k] = (target[k] ?? 0) + v;
}

/** A worker whose event loop was busier than this could not issue requests as fast as asked. */
export const ELU_LIMIT = 0.9;
/** A next request that started this late (p99, ms) means buyers waited on the generator. */
export const LOOP_DELAY_LIMIT_MS = 20;
/** Runs shorter than this get a note that their rates include warm-up. */
export const MIN_JUDGED_SEC = 1;

/** A worker that began its buyers this late after the common start ran a shorter window. */
export const START_LAG_LIMIT_MS = 100;

/** `limits`: reasons the caller already knows the generator could not issue what was asked. */
export function mergeWorkerResults(
  results: WorkerResult[],
  targetConcurrency: number,
  startAt?: number,
  limits: string[] = [],
): Merged {
  const counters = emptyCounters();
  const buyerUnits: Record<string, number> = {};
  const soldOutBySku: Record<string, number> = {};
  const { histogram, confirmHistogram } = mergeHistograms(BENCH_HISTOGRAMS, results);
  const errorSamples: string[] = [];
  let startedAt = Number.POSITIVE_INFINITY;
  let endedAt = 0;
  let eluMax = 0;
  let loopDelayP99Ms = 0;
  for (const r of results) {
    for (const k of Object.keys(counters) as (keyof Counters)[]) counters[k] += r.counters[k];
    addInto(buyerUnits, r.buyerUnits);
    addInto(soldOutBySku, r.soldOutBySku);
    for (const e of r.errorSamples) if (errorSamples.length < 5 && !errorSamples.includes(e)) errorSamples.push(e);
    startedAt = Math.min(startedAt, r.startedAt);
    endedAt = Math.max(endedAt, r.endedAt);
    eluMax = Math.max(eluMax, r.elu);
    loopDelayP99Ms = Math.max(loopDelayP99Ms, r.loopDelayP99Ms);
  }
  if (results.length === 0) startedAt = endedAt = 0;
  const durationSec = Math.max(0.001, (endedAt - startedAt) / 1000);
  const reasons: string[] = [...limits];
  // Under a second, JIT warm-up and the first GC weigh on the worker's loop: still reported
  // (the rates did suffer), with a note that the run was too short to quote rates from.
  const short = durationSec < MIN_JUDGED_SEC;
  const startLagMs =
    startAt !== undefined && results.length ? Math.max(0, Math.max(...results.map((r) => r.startedAt)) - startAt) : 0;
  if (startLagMs > START_LAG_LIMIT_MS)
    reasons.push(`a worker began ${startLagMs} ms after the common start (slow to connect)`);
  if (eluMax > ELU_LIMIT) reasons.push(`a worker's event loop was ${(eluMax * 100).toFixed(0)}% busy`);
  if (loopDelayP99Ms > LOOP_DELAY_LIMIT_MS)
    reasons.push(`requests started up to ${loopDelayP99Ms.toFixed(1)} ms late (p99 event-loop delay)`);
  const limited = reasons.length > 0;
  return {
    counters,
    buyerUnits,
    soldOutBySku,
    histogram,
    confirmHistogram,
    startedAt,
    endedAt,
    durationSec,
    errorSamples,
    generator: {
      workers: results.length,
      targetConcurrency,
      eluMax: Math.round(eluMax * 1000) / 1000,
      loopDelayP99Ms: Math.round(loopDelayP99Ms * 100) / 100,
      startLagMs,
      limited,
      shortRun: short,
      note: [
        limited
          ? `generator-bound: ${reasons.join('; ')} — the figures understate the store; add --workers or lower --concurrency`
          : `the generator kept ${targetConcurrency} requests in flight`,
        short
          ? `the run lasted ${durationSec.toFixed(2)} s, so its rates include warm-up: use --duration 10 and a large --stock for throughput figures`
          : '',
      ]
        .filter(Boolean)
        .join('; '),
    },
  };
}
