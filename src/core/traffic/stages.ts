// The open model's load profile: an arrival rate given as stages (k6 `ramping-arrival-rate`),
// turned into the exact intended time of every arrival. Pure: the same profile gives the same
// schedule in every worker and every process, which is what lets workers and `--shard` take
// disjoint slices without talking to each other.
import { UsageError } from '../errors.js';

/** `target` is the rate (arrivals/s) at the end of the stage; it ramps linearly from the previous one. */
export interface Stage {
  durationMs: number;
  target: number;
}

export interface Profile {
  stages: Stage[];
  /** Rate at time 0; a flash sale starts from nothing, so 0 unless told. */
  startRate?: number;
  /** Total buyers: the schedule ends at the arrival that reaches it, even mid-stage. */
  maxArrivals?: number;
}

/** One arrival: its global index (0-based, stable across shards) and intended offset from the start. */
export interface Arrival {
  index: number;
  atMs: number;
}

export interface Schedule {
  readonly profile: Profile;
  /** Arrivals the profile yields before the cap: its integral, whole arrivals only. */
  readonly uncapped: number;
  /** Arrivals actually scheduled: `min(uncapped, maxArrivals)`. */
  readonly count: number;
  /** Length of the profile as written. */
  readonly durationMs: number;
  /** Intended time of the last arrival (0 when there is none); earlier than `durationMs` when capped. */
  readonly endMs: number;
  /** Intended offset (ms from the start) of arrival `index`. */
  timeOf(index: number): number;
}

/**
 * Cumulative counts are sums of floats; without a little slack a profile whose integral is exactly
 * 2,000 could come out as 1,999.9999999 and lose its last buyer.
 */
const EPS = 1e-9;

interface Segment {
  startMs: number;
  durationMs: number;
  fromRate: number;
  toRate: number;
  /** Arrivals accumulated before this segment starts. */
  before: number;
  /** Arrivals this segment adds: the area under its rate line. */
  area: number;
}

function checkRate(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new UsageError(
      `${field}: ${String(value)} is not a rate; expected arrivals per second, a finite number >= 0`,
    );
  }
  return value;
}

function segmentsOf(profile: Profile): Segment[] {
  if (!Array.isArray(profile.stages) || profile.stages.length === 0) {
    throw new UsageError('stages: expected at least one stage like {"durationMs": 1000, "target": 5000}');
  }
  let rate = checkRate(profile.startRate ?? 0, 'startRate');
  let startMs = 0;
  let before = 0;
  return profile.stages.map((s, i) => {
    const d = s.durationMs;
    // A 0 ms stage is allowed: it is how a profile jumps straight to a rate.
    if (typeof d !== 'number' || !Number.isFinite(d) || d < 0) {
      throw new UsageError(
        `stages[${i}].durationMs: ${String(d)} is not a duration; expected milliseconds, a finite number >= 0`,
      );
    }
    const target = checkRate(s.target, `stages[${i}].target`);
    const seg: Segment = {
      startMs,
      durationMs: d,
      fromRate: rate,
      toRate: target,
      before,
      area: ((rate + target) / 2) * (d / 1000),
    };
    startMs += d;
    before += seg.area;
    rate = target;
    return seg;
  });
}

/**
 * Seconds into a segment at which it has accumulated `k` arrivals. The accumulated count is
 * a·τ + s·τ²/2; the root is written as 2k / (a + √(a² + 2sk)) rather than the textbook
 * (−a + √…)/s because that form stays exact when the slope is 0 (a hold) and does not cancel
 * catastrophically when the start rate is large and the slope small.
 */
function secondsToReach(seg: Segment, k: number): number {
  const D = seg.durationMs / 1000;
  if (k <= 0) return 0;
  const a = seg.fromRate;
  const slope = (seg.toRate - seg.fromRate) / D;
  const disc = Math.max(0, a * a + 2 * slope * k);
  const tau = (2 * k) / (a + Math.sqrt(disc));
  return Math.min(D, Math.max(0, tau));
}

function checkCap(cap: unknown): number {
  if (cap === undefined) return Number.POSITIVE_INFINITY;
  if (typeof cap !== 'number' || !Number.isInteger(cap) || cap < 0) {
    throw new UsageError(`maxArrivals: ${String(cap)} is not a count; expected a whole number >= 0`);
  }
  return cap;
}

/** Validates a profile (throws UsageError naming the field) and precomputes its segments. */
export function compileProfile(profile: Profile): Schedule {
  const segments = segmentsOf(profile);
  const cap = checkCap(profile.maxArrivals);
  const last = segments[segments.length - 1];
  const integral = last.before + last.area;
  const uncapped = Math.floor(integral + EPS);
  const count = Math.min(uncapped, cap);
  const durationMs = last.startMs + last.durationMs;
  // Only segments that add arrivals can hold one; 0 ms jumps and 0-rate pauses are skipped.
  const live = segments.filter((s) => s.area > 0);

  const timeOf = (index: number): number => {
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      throw new RangeError(`arrival ${index} is outside the schedule (0..${count - 1})`);
    }
    // Arrival i is due when the integral reaches i + 1: the first buyer arrives once a whole
    // buyer's worth of rate has accumulated, so a ramp from 0 does not fire one at t = 0 and a
    // profile of exactly N arrivals places its last one at the end of the ramp, not before it.
    const k = index + 1;
    let lo = 0;
    let hi = live.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (live[mid].before + live[mid].area + EPS < k) lo = mid + 1;
      else hi = mid;
    }
    const seg = live[lo];
    return seg.startMs + secondsToReach(seg, k - seg.before) * 1000;
  };

  return { profile, uncapped, count, durationMs, endMs: count > 0 ? timeOf(count - 1) : 0, timeOf };
}

/** A deterministic slice of the arrivals: those whose index ≡ `index` (mod `count`). */
export interface Shard {
  index: number;
  count: number;
}

export const WHOLE: Shard = { index: 0, count: 1 };

export function checkShard(shard: Shard, field = 'shard'): Shard {
  const { index, count } = shard;
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new UsageError(`${field}: ${index}/${count} is not a slice; expected i/n with whole numbers 0 <= i < n`);
  }
  return shard;
}

/**
 * A slice of a slice, so `--shard i/n` across processes and worker w of W inside one compose
 * without either knowing the other: indices ≡ i (mod n), then every W-th of those from the w-th.
 */
export function subShard(outer: Shard, inner: Shard): Shard {
  checkShard(outer);
  checkShard(inner);
  return { index: outer.index + outer.count * inner.index, count: outer.count * inner.count };
}

/** Parses the `i/n` of `--shard`. */
export function parseShard(text: string, field = '--shard'): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new UsageError(`${field}: "${text}" is not a slice; expected i/n, e.g. 0/4`);
  return checkShard({ index: Number(m[1]), count: Number(m[2]) }, field);
}

/**
 * The shard's arrivals in order, computed one at a time as the generator asks for them: a
 * 100,000-buyer sale never holds its whole timetable in memory.
 */
export function* shardArrivals(schedule: Schedule, shard: Shard = WHOLE): Generator<Arrival, void, undefined> {
  checkShard(shard);
  for (let i = shard.index; i < schedule.count; i += shard.count) {
    yield { index: i, atMs: schedule.timeOf(i) };
  }
}

/** Arrivals a shard will get, without iterating: for progress bars and for checking a run's totals. */
export function shardCount(schedule: Schedule, shard: Shard = WHOLE): number {
  checkShard(shard);
  return schedule.count > shard.index ? Math.ceil((schedule.count - shard.index) / shard.count) : 0;
}
