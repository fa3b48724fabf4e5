// The open model: buyers arrive on a timetable whether or not earlier ones were served, as in a
// real sale. Latency counts from when a buyer was due, not from when the generator got round to
// it, so a slow system cannot hide its queueing by slowing the generator (coordinated omission).
// An arrival that cannot start on time is dropped and counted (k6's dropped_iterations), never
// quietly started late: a late start would shift the load the profile asked for.
import { performance } from 'node:perf_hooks';
import type * as hdr from 'hdr-histogram-js';
import { newHistogram } from '../histogram.js';
import type { Arrival } from './stages.js';

/** Time as the scheduler sees it; injectable so tests can drive it without real waits. */
export interface Clock {
  /** Epoch milliseconds, sub-millisecond precision. */
  now(): number;
  /**
   * Resolves at or just after `atMs`. Always goes through the event loop, even when `atMs` has
   * passed, so completions and I/O get a turn during a burst. Resolves early when `signal` aborts.
   */
  until(atMs: number, signal?: AbortSignal): Promise<void>;
}

/**
 * setTimeout wakes whole milliseconds late at best, often more on a busy loop; it sleeps until
 * this close to the deadline and setImmediate covers the rest, so arrivals are not released in
 * ragged millisecond batches.
 */
const SPIN_MS = 1.5;

export const realClock: Clock = {
  // timeOrigin + performance.now() is monotonic (no NTP steps mid-run) yet still an epoch value.
  now: () => performance.timeOrigin + performance.now(),
  until(atMs, signal) {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let immediate: NodeJS.Immediate | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        if (immediate) clearImmediate(immediate);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      if (signal?.aborted) return void setImmediate(resolve);
      signal?.addEventListener('abort', done, { once: true });
      const spin = () => {
        timer = undefined;
        if (signal?.aborted || realClock.now() >= atMs) done();
        else immediate = setImmediate(spin);
      };
      const coarse = Math.floor(atMs - realClock.now() - SPIN_MS);
      if (coarse >= 1) timer = setTimeout(spin, coarse);
      else immediate = setImmediate(spin);
    });
  },
};

export type DropReason = 'late' | 'inFlightCap';

export interface OpenLoopOptions {
  /** Intended arrivals in order, offsets from `start` (see stages.ts `shardArrivals`). */
  schedule: Iterable<Arrival>;
  /** Epoch ms of offset 0; workers share it so their slices line up. */
  start: number;
  /** Arrivals running at once, at most; one more is dropped rather than queued. */
  maxInFlight: number;
  fire: (arrival: Arrival) => Promise<void>;
  /** An arrival that cannot start within this many ms of its intended time is dropped. */
  maxLatenessMs?: number;
  /** How long to wait for arrivals still running after the last one started. */
  drainTimeoutMs?: number;
  /** Ctrl-C: no new arrivals; those running still finish, within drainTimeoutMs. */
  signal?: AbortSignal;
  clock?: Clock;
}

export interface OpenLoopCounts {
  /** Arrivals the loop reached: started + dropped. Short of the schedule only when interrupted. */
  due: number;
  started: number;
  /** `fire` resolved. */
  completed: number;
  /** `fire` rejected (or threw). */
  errors: number;
  /** Still running when the loop gave up waiting (drain timeout or interrupt). */
  unfinished: number;
  dropped: Record<DropReason, number>;
  /** Most arrivals running at once. */
  peakInFlight: number;
}

export interface OpenLoopResult {
  counts: OpenLoopCounts;
  /** µs from intended time to completion, of completed arrivals (errors are counted, not timed). */
  latency: hdr.Histogram;
  /** µs from intended time to actual start, of arrivals that started. */
  lateness: hdr.Histogram;
  latenessMs: { p99: number; max: number };
  startedAt: number;
  /** When the last arrival was started or dropped: the end of the arrival phase, before the drain. */
  arrivalsEndedAt: number;
  endedAt: number;
  interrupted: boolean;
  errorSamples: string[];
}

export const DEFAULT_MAX_LATENESS_MS = 100;
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
/** Back-to-back due arrivals started before the loop lets completions and I/O run. */
const BURST = 32;
/** The drain wait re-checks this often; it only sets when the result is returned, not latencies. */
const DRAIN_POLL_MS = 5;
const MAX_ERROR_SAMPLES = 5;

const toMicros = (ms: number) => Math.round(ms * 1000);

export async function runOpenLoop(opts: OpenLoopOptions): Promise<OpenLoopResult> {
  const { schedule, start, fire, signal } = opts;
  const clock = opts.clock ?? realClock;
  const maxLatenessMs = opts.maxLatenessMs ?? DEFAULT_MAX_LATENESS_MS;
  const drainTimeoutMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  if (!Number.isInteger(opts.maxInFlight) || opts.maxInFlight < 1)
    throw new RangeError(`maxInFlight: ${opts.maxInFlight}; expected a whole number >= 1`);
  if (!(maxLatenessMs >= 0)) throw new RangeError(`maxLatenessMs: ${maxLatenessMs}; expected >= 0`);

  const counts: OpenLoopCounts = {
    due: 0,
    started: 0,
    completed: 0,
    errors: 0,
    unfinished: 0,
    dropped: { late: 0, inFlightCap: 0 },
    peakInFlight: 0,
  };
  const latency = newHistogram();
  const lateness = newHistogram();
  const errorSamples: string[] = [];
  let inFlight = 0;
  // Arrivals that finish after the result is returned must not change counts the caller holds.
  let closed = false;

  const settle = (dueAt: number, err: unknown, failed: boolean) => {
    if (closed) return;
    inFlight--;
    if (failed) {
      counts.errors++;
      if (errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push(err instanceof Error ? err.message : String(err));
    } else {
      counts.completed++;
      latency.recordValue(Math.max(1, toMicros(clock.now() - dueAt)));
    }
  };

  const startedAt = clock.now();
  let burst = 0;
  for (const arrival of schedule) {
    if (signal?.aborted) break;
    const dueAt = start + arrival.atMs;
    if (clock.now() < dueAt) {
      await clock.until(dueAt, signal);
      burst = 0;
      if (signal?.aborted) break;
    } else if (++burst >= BURST) {
      await clock.until(clock.now(), signal);
      burst = 0;
      if (signal?.aborted) break;
    }
    counts.due++;
    const late = clock.now() - dueAt;
    // Lateness is judged first: a late arrival is the generator's failure whatever the slots
    // say, and it keeps the in-flight count a measure of the system under test alone.
    if (late > maxLatenessMs) {
      counts.dropped.late++;
      continue;
    }
    if (inFlight >= opts.maxInFlight) {
      counts.dropped.inFlightCap++;
      continue;
    }
    counts.started++;
    lateness.recordValue(Math.max(0, toMicros(late)));
    inFlight++;
    if (inFlight > counts.peakInFlight) counts.peakInFlight = inFlight;
    let running: Promise<void>;
    try {
      running = fire(arrival);
    } catch (err) {
      running = Promise.reject(err);
    }
    running.then(
      () => settle(dueAt, undefined, false),
      (err: unknown) => settle(dueAt, err, true),
    );
  }

  const arrivalsEndedAt = clock.now();
  const drainUntil = arrivalsEndedAt + drainTimeoutMs;
  // Also after Ctrl-C: the arrivals already running finish (within the drain bound), so the
  // records they write are complete and their buyers hear the answers the report counts.
  while (inFlight > 0 && clock.now() < drainUntil) {
    await clock.until(Math.min(drainUntil, clock.now() + DRAIN_POLL_MS));
  }
  counts.unfinished = inFlight;
  closed = true;

  return {
    counts,
    latency,
    lateness,
    latenessMs: {
      p99: lateness.totalCount ? lateness.getValueAtPercentile(99) / 1000 : 0,
      max: lateness.totalCount ? lateness.maxValue / 1000 : 0,
    },
    startedAt,
    arrivalsEndedAt,
    endedAt: clock.now(),
    interrupted: signal?.aborted ?? false,
    errorSamples,
  };
}
