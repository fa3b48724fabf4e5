// `decr`: take units with DECRBY and give them back with INCRBY when the counter went
// negative. Never oversells, but a big request that fails briefly hides units from
// everyone else: under contention buyers are refused while stock remains (false sold-outs).
import type { RedisConnection } from '../redis/client.js';
import { PlainCommandStrategy } from './plain-command.js';
import type { SkuState } from './redis-ledger.js';
import type { StrategyContext } from './types.js';

export class DecrStrategy extends PlainCommandStrategy {
  readonly name = 'decr' as const;

  constructor(ctx: StrategyContext) {
    super(ctx, 'counter');
  }

  protected async takeUnits(r: RedisConnection, s: SkuState, qty: number): Promise<boolean> {
    if ((await r.decrby(s.keys.stock, qty)) >= 0) return true;
    await r.incrby(s.keys.stock, qty);
    return false;
  }
}
