// The per-user token bucket on the real Redis.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { defineScripts } from '../../../../src/core/redis/scripts.js';
import { bucketKey, RateLimiter, takeTokenCall } from '../../../../src/core/engine/rate-limit.js';
import { REDIS_URL, uniqueNamespace } from '../../../helpers/services.js';

const a = defineScripts(new Redis(REDIS_URL));
const b = defineScripts(new Redis(REDIS_URL));
afterAll(() => {
  a.disconnect();
  b.disconnect();
});
const T0 = 1_800_000_000_000;

describe('the per-user rate limit', () => {
  it('passes a burst, refuses the next request with how long to wait, and refills with time', async () => {
    const limiter = new RateLimiter(a, uniqueNamespace('rl'), { perSec: 2, burst: 3 });
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await limiter.take('bot', T0));
    expect(got.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(got[3].retryAfterMs).toBe(500);
    expect((await limiter.take('bot', T0 + 499)).allowed).toBe(false);
    expect((await limiter.take('bot', T0 + 500)).allowed).toBe(true);
    // another user is not affected
    expect((await limiter.take('human', T0)).allowed).toBe(true);
  });

  it('holds across connections: two workers together get one burst, not two', async () => {
    const ns = uniqueNamespace('rl');
    const one = new RateLimiter(a, ns, { perSec: 1, burst: 5 });
    const two = new RateLimiter(b, ns, { perSec: 1, burst: 5 });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? one : two).take('bot', T0)));
    expect(answers.filter((d) => d.allowed)).toHaveLength(5);
  });

  it('does not mint tokens for a caller whose clock lags', async () => {
    const limiter = new RateLimiter(a, uniqueNamespace('rl'), { perSec: 1, burst: 1 });
    expect((await limiter.take('u', T0 + 10_000)).allowed).toBe(true);
    expect((await limiter.take('u', T0)).allowed).toBe(false);
    expect((await limiter.take('u', T0 + 10_999)).allowed).toBe(false);
    expect((await limiter.take('u', T0 + 11_000)).allowed).toBe(true);
  });

  it('leaves no key behind once the bucket would be full again', async () => {
    const ns = uniqueNamespace('rl');
    const limiter = new RateLimiter(a, ns, { perSec: 1000, burst: 1 });
    await limiter.take('u', T0);
    const ttl = await a.pttl(bucketKey(ns, 'u'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_001);
  });

  it('keys each user on its own cluster slot and passes the limit in documented order', () => {
    expect(takeTokenCall('ns', 'alice', { perSec: 5, burst: 10 }, 42)).toEqual([
      ['fs:{ns:rl:alice}:bucket'],
      [5, 10, 42, 1],
    ]);
    expect(() => new RateLimiter(a, 'ns', { perSec: 0, burst: 1 })).toThrow(/perSec > 0/);
  });
});
