// The open model's timetable: counts equal the profile's integral, times invert it exactly,
// and shards split it without gaps or overlaps.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { UsageError } from '../../../../src/core/errors.js';
import {
  compileProfile,
  parseShard,
  shardArrivals,
  shardCount,
  subShard,
  type Profile,
  type Shard,
} from '../../../../src/core/traffic/stages.js';

// Spike 0 → 1,000/s in 1 s (500 buyers), hold 2 s (2,000), decay to 0 in 1 s (500).
const spike: Profile = {
  stages: [
    { durationMs: 1000, target: 1000 },
    { durationMs: 2000, target: 1000 },
    { durationMs: 1000, target: 0 },
  ],
};

const all = (p: Profile, shard?: Shard) => [...shardArrivals(compileProfile(p), shard)];

describe('a staged arrival profile', () => {
  it('yields as many arrivals as the area under its rate', () => {
    const s = compileProfile(spike);
    expect(s.uncapped).toBe(3000);
    expect(s.count).toBe(3000);
    expect(s.durationMs).toBe(4000);
    expect(all(spike)).toHaveLength(3000);
  });

  it('places each stage’s share of arrivals inside that stage', () => {
    const times = all(spike).map((a) => a.atMs);
    const within = (from: number, to: number) => times.filter((t) => t > from && t <= to).length;
    expect(within(0, 1000)).toBe(500);
    expect(within(1000, 3000)).toBe(2000);
    expect(within(3000, 4000)).toBe(500);
    expect(times[0]).toBeGreaterThan(0);
  });

  it('solves each arrival’s time from the integral, not by stepping time', () => {
    const s = compileProfile(spike);
    // On the ramp the count so far is 500·t² (t in s), so buyer k (1-based) is due at √(k/500) s.
    expect(s.timeOf(0)).toBeCloseTo(Math.sqrt(1 / 500) * 1000, 9);
    expect(s.timeOf(124)).toBeCloseTo(500, 9);
    expect(s.timeOf(499)).toBeCloseTo(1000, 9);
    // The hold adds one buyer per ms after the ramp's 500.
    expect(s.timeOf(500)).toBeCloseTo(1001, 9);
    expect(s.timeOf(2499)).toBeCloseTo(3000, 9);
    // The decay mirrors the ramp: the last buyer is due exactly when the rate reaches 0.
    expect(s.timeOf(2999)).toBeCloseTo(4000, 9);
    // Half-way down it has added 375 of its 500, leaving the last 125 for the second half.
    expect(s.timeOf(2874)).toBeCloseTo(3500, 9);
    expect(s.endMs).toBeCloseTo(4000, 9);
  });

  it('ends early at the buyer cap, with the same times up to it', () => {
    const capped = compileProfile({ ...spike, maxArrivals: 1000 });
    const full = compileProfile(spike);
    expect(capped.uncapped).toBe(3000);
    expect(capped.count).toBe(1000);
    expect(all({ ...spike, maxArrivals: 1000 })).toHaveLength(1000);
    expect(capped.timeOf(999)).toBe(full.timeOf(999));
    expect(capped.endMs).toBeCloseTo(1500, 9);
    expect(() => capped.timeOf(1000)).toThrow(RangeError);
  });

  it('jumps to a rate through a 0 ms stage and pauses through a 0-rate stage', () => {
    const p: Profile = {
      stages: [
        { durationMs: 0, target: 100 },
        { durationMs: 1000, target: 100 },
        { durationMs: 0, target: 0 },
        { durationMs: 5000, target: 0 },
        { durationMs: 0, target: 10 },
        { durationMs: 1000, target: 10 },
      ],
    };
    const times = all(p).map((a) => a.atMs);
    expect(times).toHaveLength(110);
    expect(times.filter((t) => t > 1000 && t <= 6000)).toEqual([]);
    expect(times[0]).toBeCloseTo(10, 9);
    expect(times[100]).toBeCloseTo(6100, 9);
  });

  it('starts from startRate when given one', () => {
    const s = compileProfile({ startRate: 1000, stages: [{ durationMs: 1000, target: 1000 }] });
    expect(s.count).toBe(1000);
    expect(s.timeOf(0)).toBeCloseTo(1, 9);
  });

  it('keeps arrivals in order and inside the profile for any profile', () => {
    const stage = fc.record({
      durationMs: fc.integer({ min: 0, max: 5000 }),
      target: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: 3000 }),
        fc.double({ min: 0, max: 2000, noNaN: true }),
      ),
    });
    fc.assert(
      fc.property(fc.array(stage, { minLength: 1, maxLength: 6 }), (stages) => {
        const s = compileProfile({ stages });
        // The count is the integral of the rate, computed here stage by stage from the definition.
        let rate = 0;
        let area = 0;
        const ends: number[] = [];
        let t = 0;
        for (const st of stages) {
          area += ((rate + st.target) / 2) * (st.durationMs / 1000);
          rate = st.target;
          t += st.durationMs;
          ends.push(area);
        }
        expect(Math.abs(s.count - area)).toBeLessThan(1 + 1e-6);
        expect(s.count).toBeLessThanOrEqual(area + 1e-6);
        let prev = 0;
        for (const a of shardArrivals(s)) {
          expect(a.atMs).toBeGreaterThanOrEqual(prev);
          expect(a.atMs).toBeLessThanOrEqual(t);
          prev = a.atMs;
        }
      }),
      { numRuns: 60 },
    );
  });

  it.each([
    ['no stages', { stages: [] }, /^stages: /],
    ['a negative target', { stages: [{ durationMs: 10, target: -5 }] }, /^stages\[0\]\.target: -5 /],
    [
      'a NaN duration',
      {
        stages: [
          { durationMs: 10, target: 5 },
          { durationMs: NaN, target: 5 },
        ],
      },
      /^stages\[1\]\.durationMs: NaN /,
    ],
    [
      'an infinite start rate',
      { startRate: Infinity, stages: [{ durationMs: 10, target: 5 }] },
      /^startRate: Infinity /,
    ],
    ['a fractional buyer cap', { maxArrivals: 2.5, stages: [{ durationMs: 10, target: 5 }] }, /^maxArrivals: 2.5 /],
  ])('rejects %s, naming the field', (_name, profile, message) => {
    expect(() => compileProfile(profile as Profile)).toThrow(UsageError);
    expect(() => compileProfile(profile as Profile)).toThrow(message);
  });
});

describe('sharding the arrivals', () => {
  it.each([1, 2, 3, 7, 16])('splits 3,000 arrivals among %i workers with none lost or repeated', (W) => {
    const s = compileProfile(spike);
    const seen = new Map<number, number>();
    for (let w = 0; w < W; w++) {
      const mine = [...shardArrivals(s, { index: w, count: W })];
      expect(mine).toHaveLength(shardCount(s, { index: w, count: W }));
      for (const a of mine) {
        expect(a.index % W).toBe(w);
        expect(a.atMs).toBe(s.timeOf(a.index));
        expect(seen.has(a.index)).toBe(false);
        seen.set(a.index, w);
      }
    }
    expect(seen.size).toBe(3000);
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
  });

  it('composes a process shard with its workers into one partition', () => {
    const s = compileProfile({ ...spike, maxArrivals: 1001 });
    const indices: number[] = [];
    for (let p = 0; p < 3; p++) {
      for (let w = 0; w < 4; w++) {
        for (const a of shardArrivals(s, subShard({ index: p, count: 3 }, { index: w, count: 4 }))) {
          expect(a.index % 3).toBe(p);
          indices.push(a.index);
        }
      }
    }
    expect(indices.sort((a, b) => a - b)).toEqual(Array.from({ length: 1001 }, (_, i) => i));
  });

  it('gives an empty slice to a shard beyond the last arrival', () => {
    const s = compileProfile({ stages: [{ durationMs: 1000, target: 6 }] });
    expect(s.count).toBe(3);
    expect([...shardArrivals(s, { index: 4, count: 5 })]).toEqual([]);
    expect(shardCount(s, { index: 4, count: 5 })).toBe(0);
  });

  it('computes arrivals as they are asked for, not up front', () => {
    // A billion arrivals: materialising them would not finish; taking three must be instant.
    const s = compileProfile({
      stages: [
        { durationMs: 1_000_000, target: 1_000_000 },
        { durationMs: 1_000_000, target: 1_000_000 },
      ],
    });
    expect(s.count).toBe(1_500_000_000);
    const it = shardArrivals(s, { index: 1, count: 4 });
    const first = [it.next().value, it.next().value, it.next().value];
    expect(first.map((a) => a && a.index)).toEqual([1, 5, 9]);
  });

  it.each([
    ['0/4', { index: 0, count: 4 }],
    [' 3 / 4 ', { index: 3, count: 4 }],
  ])('parses --shard %j', (text, shard) => {
    expect(parseShard(text)).toEqual(shard);
  });

  it.each(['4/4', '1/0', '-1/2', 'a/b', '1.5/3'])('rejects --shard %j, naming the option', (text) => {
    expect(() => parseShard(text)).toThrow(/^--shard: /);
  });
});
