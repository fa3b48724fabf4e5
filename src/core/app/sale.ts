// What simulate and serve share before a sale starts: the default scenario, and which strategy
// `auto` means given the Redis the user has (one server, a cluster, or none).
import { fileURLToPath } from 'node:url';
import { redisAvailable } from '../services/resolve.js';
import { parseStrategyName, type StrategyName } from '../strategies/index.js';

/** The default run: the smoke scenario, under a minute on this machine. */
export const DEFAULT_SCENARIO = fileURLToPath(new URL('../../../scenarios/smoke.json', import.meta.url));

export interface StrategyChoice {
  strategy: StrategyName;
  /** Said in the report: "asked for", or why `auto` chose it. */
  why: string;
}

/** `auto`: lua when a Redis can be had, else atomic — and the report says which. */
export function chooseStrategy(asked: string, redisUrl: string | undefined): StrategyChoice {
  if (asked !== 'auto') return { strategy: parseStrategyName(asked), why: 'asked for' };
  return redisAvailable({ redisUrl })
    ? { strategy: 'lua', why: 'auto: Redis is available' }
    : { strategy: 'atomic', why: 'auto: no Redis configured or on PATH, so a Postgres strategy' };
}

/** The strategy of a sale given the Redis it may use; a cluster makes `auto` mean lua. */
export function chooseSaleStrategy(
  asked: string,
  redis: { redisUrl?: string; redisCluster?: string[] },
): StrategyChoice {
  if (redis.redisCluster && asked === 'auto') return { strategy: 'lua', why: 'auto: a Redis Cluster was given' };
  return chooseStrategy(asked, redis.redisUrl);
}
