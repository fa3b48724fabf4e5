// Seeded randomness: the same --seed gives the same buyers, SKUs and fault decisions.

/** A 32-bit PRNG (mulberry32 construction) returning floats in [0, 1). Small and fast; not crypto. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Derives independent seeds for workers / streams from one user seed. */
export function childSeed(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}

export type Skew = 'uniform' | 'zipf';

/**
 * Picks an index in [0, n): uniformly, or Zipf-distributed (rank k with weight 1/k^s) so the first
 * SKUs are hot, as demand is in a real sale.
 */
export function picker(n: number, skew: Skew, rand: () => number, s = 1.1): () => number {
  if (n <= 1) return () => 0;
  if (skew === 'uniform') return () => Math.floor(rand() * n);
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += 1 / Math.pow(k + 1, s);
    cdf[k] = total;
  }
  return () => {
    const x = rand() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
