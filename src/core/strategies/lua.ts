// `lua`: the whole reserve is one script (reserveStock-4.lua), so idempotency, the per-user
// limit, the stock check and the ledger write happen atomically in one EVALSHA. The
// reservation id is the idempotency key: the ledger doubles as the idempotency index.
import { reserveStockArgv, reserveStockKeys } from '../redis/keys.js';
import { ScriptCode, scriptError } from '../redis/scripts.js';
import { duplicateResult, RedisLedgerStrategy, type SkuState } from './redis-ledger.js';
import type { ReserveRequest, ReserveResult, StrategyContext } from './types.js';

export class LuaStrategy extends RedisLedgerStrategy {
  readonly name = 'lua' as const;
  // The script's KEYS never change for a SKU; built once instead of on every reserve.
  private readonly reserveKeys = new Map<string, string[]>();

  constructor(ctx: StrategyContext) {
    super(ctx, 'counter');
  }

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    const r = this.redis ?? (await this.client());
    const s = this.known(req.sku) ?? (await this.sku(req.sku));
    const id = req.idempotencyKey;
    const expiresAt = (req.now ?? Date.now()) + req.ttlMs;
    const reply = await r.reserveStock(
      this.keysOf(s),
      reserveStockArgv({
        qty: req.qty,
        user: req.user,
        idempotencyKey: req.idempotencyKey,
        expiresAt,
        perUserLimit: s.perUserLimit,
      }),
    );
    if (reply === 1) {
      const reservation = {
        id,
        sku: req.sku,
        qty: req.qty,
        user: req.user,
        idempotencyKey: req.idempotencyKey,
        expiresAt,
      };
      return { ok: true, reservation, duplicate: false, retries: 0 };
    }
    if (Array.isArray(reply)) return duplicateResult(reply[0], req.sku, reply[1]);
    if (reply === ScriptCode.SoldOut) return { ok: false, reason: 'sold_out', retries: 0 };
    if (reply === ScriptCode.LimitExceeded) return { ok: false, reason: 'limit_exceeded', retries: 0 };
    throw scriptError(reply, 'reserveStock');
  }

  private keysOf(s: SkuState): string[] {
    let keys = this.reserveKeys.get(s.sku);
    if (!keys) this.reserveKeys.set(s.sku, (keys = reserveStockKeys(s.keys)));
    return keys;
  }
}
