// Seeded randomness: the same seed draws the same sale, and child seeds do not overlap.
import { describe, expect, it } from 'vitest';
import { falseSoldOuts, split } from '../../../src/core/bench/run.js';
import { childSeed, picker, prng } from '../../../src/core/random.js';

describe('seeded load shape', () => {
  it('repeats the same sequence for the same seed and differs across workers', () => {
    const x = prng(childSeed(1, 0));
    const y = prng(childSeed(1, 0));
    const z = prng(childSeed(1, 1));
    const xs = [x(), x(), x()];
    expect([y(), y(), y()]).toEqual(xs);
    expect([z(), z(), z()]).not.toEqual(xs);
  });
  it('zipf makes the first SKU the hottest; uniform spreads evenly', () => {
    const count = (skew: 'zipf' | 'uniform') => {
      const pick = picker(10, skew, prng(3));
      const n = new Array(10).fill(0);
      for (let i = 0; i < 20000; i++) n[pick()]++;
      return n;
    };
    const z = count('zipf');
    expect(z[0]).toBeGreaterThan(z[9] * 5);
    const u = count('uniform');
    expect(Math.max(...u) / Math.min(...u)).toBeLessThan(1.2);
  });
  it('counts false sold-outs as the refusals the leftover stock could have served', () => {
    const skus = [
      { sku: 'A', available: 1 },
      { sku: 'B', available: 0 },
      { sku: 'C', available: 10 },
    ];
    expect(falseSoldOuts(skus, { A: 4000, B: 50, C: 3 }, 1)).toBe(1 + 0 + 3);
    expect(falseSoldOuts(skus, { A: 4000, C: 30 }, 4)).toBe(0 + 2);
  });
  it('splits attempts and concurrency exactly', () => {
    expect(split(10, 3)).toEqual([4, 3, 3]);
    expect(split(5000, 2).reduce((a, b) => a + b)).toBe(5000);
  });
});
