// `naive` on Redis, the negative control: GET the stock, decide in the client, SET the
// result. Nothing makes the read and the write atomic, so concurrent buyers read the same
// stock and each writes its own answer: it oversells, and the harness must catch it.
// Every grant is still recorded in the ledger honestly, which is how it gets caught.
import { duplicateResult, RedisLedgerStrategy } from './redis-ledger.js';
import type { Reservation, ReserveRequest, ReserveResult, StrategyContext } from './types.js';

export class NaiveRedisStrategy extends RedisLedgerStrategy {
  readonly name = 'naive' as const;

  constructor(ctx: StrategyContext) {
    super(ctx, 'counter');
  }

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    const r = this.redis ?? (await this.client());
    const s = this.known(req.sku) ?? (await this.sku(req.sku));
    const [existing, stock, mine] = await Promise.all([
      r.hget(s.keys.idem, req.idempotencyKey),
      r.get(s.keys.stock),
      r.hget(s.keys.users, req.user),
    ]);
    if (existing !== null) {
      const entry = await r.hget(s.keys.ledger, existing);
      if (entry === null) return { ok: false, reason: 'in_progress', retries: 0 };
      return duplicateResult(existing, s.sku, entry);
    }
    if (s.perUserLimit > 0 && Number(mine ?? 0) + req.qty > s.perUserLimit)
      return { ok: false, reason: 'limit_exceeded', retries: 0 };
    const left = Number(stock ?? 0);
    if (left < req.qty) return { ok: false, reason: 'sold_out', retries: 0 };
    await r.set(s.keys.stock, left - req.qty);
    const reservation: Reservation = {
      id: this.nextId(),
      sku: req.sku,
      qty: req.qty,
      user: req.user,
      idempotencyKey: req.idempotencyKey,
      expiresAt: (req.now ?? Date.now()) + req.ttlMs,
    };
    await Promise.all([
      this.recordHold(r, s, reservation),
      r.hset(s.keys.idem, req.idempotencyKey, reservation.id),
      r.hincrby(s.keys.users, req.user, req.qty),
    ]);
    return { ok: true, reservation, duplicate: false, retries: 0 };
  }
}
