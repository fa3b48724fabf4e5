// `list`: a ticket dispenser. The list holds one token per unit and LPOP with a count hands
// units out, so no counter can go below zero; a short pop is pushed back and refused, which
// keeps multi-unit requests all-or-nothing. No Lua on the reserve path: that is the point.
import type { RedisConnection } from '../redis/client.js';
import { PlainCommandStrategy } from './plain-command.js';
import type { SkuState } from './redis-ledger.js';
import type { StrategyContext } from './types.js';

export class ListStrategy extends PlainCommandStrategy {
  readonly name = 'list' as const;

  constructor(ctx: StrategyContext) {
    super(ctx, 'list');
  }

  protected async takeUnits(r: RedisConnection, s: SkuState, qty: number): Promise<boolean> {
    const tokens = await r.lpop(s.keys.tokens, qty);
    if (tokens && tokens.length === qty) return true;
    if (tokens?.length) await r.rpush(s.keys.tokens, ...tokens);
    return false;
  }
}
