// The calendar day a reconciliation covers, and the durations its options take.
//
// A day is [00:00, 24:00) of a date in a named zone, turned into UTC instants once here so the
// rest of reconciliation only ever compares epoch milliseconds. The zone's offset comes from Intl
// (the tz database Node ships), never from a fixed table: offsets and DST rules change by law.
import { UsageError } from '../errors.js';
import type { DayWindow } from './types.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const formats = new Map<string, Intl.DateTimeFormat>();

/** One formatter per zone: constructing them is the slow part of Intl. */
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(tz, f);
  }
  return f;
}

/** Wall-clock fields as if they were UTC; setUTCFullYear because Date.UTC maps years 0–99 to 19xx. */
function pseudoUtc(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const d = new Date(Date.UTC(2000, 0, 1, hour, minute, second));
  d.setUTCFullYear(year, month - 1, day);
  return d.getTime();
}

/** The zone's wall clock at instant `t`, as a pseudo-UTC timestamp (whole seconds). */
function wallClock(tz: string, t: number): number {
  const p: Record<string, string> = {};
  for (const { type, value } of formatter(tz).formatToParts(t)) p[type] = value;
  const year = p.era === 'BC' || p.era === 'B' ? 1 - Number(p.year) : Number(p.year);
  // Some ICU versions still print midnight as 24 despite h23; it is 00 of the same date.
  return pseudoUtc(year, Number(p.month), Number(p.day), Number(p.hour) % 24, Number(p.minute), Number(p.second));
}

/** Zone offset at `t` in ms (wall clock minus UTC); sub-second parts of `t` do not count. */
const offsetAt = (tz: string, t: number) => wallClock(tz, t) - Math.floor(t / 1000) * 1000;

/**
 * The first instant whose wall clock reads `wall` or later. Usually `wall - offset` for the one
 * offset that agrees with itself; where a change lands on midnight there are two (a repeated
 * 00:00: the earlier wins) or none (a skipped 00:00, as in America/Havana: then the day begins
 * at the change, found by bisection between the offsets on either side).
 */
function firstInstantAt(tz: string, wall: number): number {
  // Offsets stay within ±15 h, so a change that matters lies between these samples.
  const offsets = [...new Set([offsetAt(tz, wall - 15 * HOUR), offsetAt(tz, wall), offsetAt(tz, wall + 15 * HOUR)])];
  const exact = offsets.map((o) => wall - o).filter((t) => offsetAt(tz, t) === wall - t);
  if (exact.length > 0) return Math.min(...exact);
  let lo = wall - Math.max(...offsets);
  let hi = wall - Math.min(...offsets);
  if (!(wallClock(tz, lo) < wall && wallClock(tz, hi) >= wall)) {
    throw new Error(
      `cannot place ${new Date(wall).toISOString().slice(0, 10)} 00:00 in ${tz}: offsets ${offsets.join(', ')} ms do not bracket it`,
    );
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (wallClock(tz, mid) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

function parseDate(date: string): { year: number; month: number; day: number } {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const bad = () => new UsageError(`--date: expected a calendar date YYYY-MM-DD, got ${JSON.stringify(date)}`);
  if (!m) throw bad();
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1) throw bad();
  // Day 0 of the next month is the last day of this one.
  const daysInMonth = new Date(pseudoUtc(year, month + 1, 0)).getUTCDate();
  if (day > daysInMonth) throw bad();
  return { year, month, day };
}

/** `tz` if Intl knows the zone; its canonical spelling, so `utc` and `UTC` give the same report. */
function checkZone(tz: string): string {
  try {
    if (tz.trim() === '') throw new RangeError('empty');
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    throw new UsageError(`--tz: expected an IANA time zone such as UTC or Europe/Berlin, got ${JSON.stringify(tz)}`);
  }
}

/** [00:00, 24:00) of `date` in `tz`, as UTC instants. A DST day has 23 or 25 hours. */
export function dayWindow(date: string, tz: string): DayWindow {
  const { year, month, day } = parseDate(date);
  const zone = checkZone(tz);
  const midnight = pseudoUtc(year, month, day);
  const startMs = firstInstantAt(zone, midnight);
  const endMs = firstInstantAt(zone, midnight + DAY);
  return { date, tz: zone, startMs, endMs, hours: (endMs - startMs) / HOUR };
}

const UNIT_MS = { d: DAY, h: HOUR, m: 60_000, s: 1000 } as const;

/** Milliseconds from `0`, `90s`, `15m`, `2h`, `1d` or a combination largest unit first (`1h30m`). */
export function parseDuration(text: string, option: string): number {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  const bad = () =>
    new UsageError(`${option}: expected a duration such as 0, 90s, 15m, 2h, 1d or 1h30m, got ${JSON.stringify(text)}`);
  if (text === '0') return 0;
  if (!m || text === '') throw bad();
  const ms = (['d', 'h', 'm', 's'] as const).reduce((sum, unit, i) => sum + Number(m[i + 1] ?? 0) * UNIT_MS[unit], 0);
  if (!Number.isSafeInteger(ms)) throw bad();
  return ms;
}
