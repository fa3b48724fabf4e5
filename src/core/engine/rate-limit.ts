// Per-user request rate for the sale (docs/design.md#sale-engine): a token bucket in Redis, so the limit holds
// across worker threads and processes; the bots of a scenario must be stopped by it.
import type { ScriptedRedis } from '../redis/scripts.js';

export interface RateLimit {
  /** Sustained requests per second per user. */
  perSec: number;
  /** Requests a user may make at once after being idle. */
  burst: number;
}

export interface RateDecision {
  allowed: boolean;
  /** When refused: ms until the user may try again (a Retry-After). */
  retryAfterMs: number;
}

/** The bucket key of a user, hash-tagged by user so it lives on one Redis Cluster slot. */
export function bucketKey(namespace: string, user: string): string {
  return `fs:{${namespace}:rl:${user}}:bucket`;
}

export function takeTokenCall(
  namespace: string,
  user: string,
  limit: RateLimit,
  now: number,
  cost = 1,
): [string[], (string | number)[]] {
  return [[bucketKey(namespace, user)], [limit.perSec, limit.burst, now, cost]];
}

export class RateLimiter {
  constructor(
    private readonly redis: ScriptedRedis,
    private readonly namespace: string,
    private readonly limit: RateLimit,
  ) {
    if (!(limit.perSec > 0) || !(limit.burst >= 1))
      throw new RangeError(`rate limit needs perSec > 0 and burst >= 1, got ${JSON.stringify(limit)}`);
  }

  async take(user: string, now = Date.now()): Promise<RateDecision> {
    const [keys, argv] = takeTokenCall(this.namespace, user, this.limit, now);
    const [allowed, wait] = await this.redis.takeToken(keys, argv);
    return { allowed: allowed === 1, retryAfterMs: wait };
  }
}
