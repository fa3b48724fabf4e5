import { UsageError } from '../errors.js';
import { STRATEGY_NAMES, type Store, type Strategy, type StrategyContext, type StrategyName } from './types.js';

export * from './types.js';

/** Which store a strategy needs, so only that service is started or checked. */
export function storeOf(name: StrategyName, ctx: Pick<StrategyContext, 'naiveStore'> = {}): Store {
  switch (name) {
    case 'lua':
    case 'list':
    case 'decr':
    case 'queue':
      return 'redis';
    case 'naive':
      return ctx.naiveStore ?? 'postgres';
    default:
      return 'postgres';
  }
}

export function parseStrategyName(value: string, option = '--strategy'): StrategyName {
  if ((STRATEGY_NAMES as readonly string[]).includes(value)) return value as StrategyName;
  throw new UsageError(`${option}: unknown strategy "${value}"; expected one of ${STRATEGY_NAMES.join(', ')}, all`);
}

/** Creates an instance with its own connections. Imports lazily so a Postgres run never loads Redis code. */
export async function createStrategy(name: StrategyName, ctx: StrategyContext): Promise<Strategy> {
  switch (name) {
    case 'lua':
      return new (await import('./lua.js')).LuaStrategy(ctx);
    case 'list':
      return new (await import('./list.js')).ListStrategy(ctx);
    case 'decr':
      return new (await import('./decr.js')).DecrStrategy(ctx);
    case 'queue':
      return new (await import('./queue.js')).QueueStrategy(ctx);
    case 'optimistic':
      return new (await import('./optimistic.js')).OptimisticStrategy(ctx);
    case 'pessimistic':
      return new (await import('./pessimistic.js')).PessimisticStrategy(ctx);
    case 'atomic':
      return new (await import('./atomic.js')).AtomicStrategy(ctx);
    case 'advisory':
      return new (await import('./advisory.js')).AdvisoryStrategy(ctx);
    case 'naive':
      return (ctx.naiveStore ?? 'postgres') === 'redis'
        ? new (await import('./naive-redis.js')).NaiveRedisStrategy(ctx)
        : new (await import('./naive.js')).NaiveStrategy(ctx);
  }
}
