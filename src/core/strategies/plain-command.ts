// The reserve `list` and `decr` share: plain Redis commands with compensation instead of one
// atomic script, the two differing only in how they take units.
import type { RedisConnection } from '../redis/client.js';
import { RedisLedgerStrategy, type SkuState } from './redis-ledger.js';
import type { Reservation, ReserveRequest, ReserveResult } from './types.js';

/**
 * Reserve with plain commands and compensation instead of atomicity: claim the idempotency
 * key (HSETNX) and count the user's units (HINCRBY) in one round trip, take the units,
 * then write the ledger; every refusal undoes what was done before it, and so does an error
 * (best effort, then the error is rethrown). `list` and `decr` differ only in `takeUnits`.
 * The price of no atomicity: a process dying between steps, or a connection dropping while a
 * step's reply is on its way, leaves a claimed key without a reservation (later retries see
 * in_progress), units counted against the user, or units taken but never recorded
 * (conservation reports them); the ledger never records more than was taken, so it cannot
 * hide an oversell.
 */
export abstract class PlainCommandStrategy extends RedisLedgerStrategy {
  /**
   * Takes qty units all-or-nothing; on false, nothing was taken (or it was put back). When it
   * throws, what it took is unknown and stays taken: leaked units show in conservation, units
   * given back twice would be an oversell.
   */
  protected abstract takeUnits(r: RedisConnection, s: SkuState, qty: number): Promise<boolean>;

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    const r = this.redis ?? (await this.client());
    const s = this.known(req.sku) ?? (await this.sku(req.sku));
    const id = this.nextId();
    const [claim, count] = await Promise.allSettled([
      r.hsetnx(s.keys.idem, req.idempotencyKey, id),
      r.hincrby(s.keys.users, req.user, req.qty),
    ]);
    if (claim.status === 'rejected' || count.status === 'rejected') {
      // Undo only the step known to have been applied; the other one's fate is unknown.
      await this.undo(r, s, req, id, {
        claimed: claim.status === 'fulfilled' && claim.value === 1,
        counted: count.status === 'fulfilled',
        taken: false,
      });
      throw claim.status === 'rejected' ? claim.reason : (count as PromiseRejectedResult).reason;
    }
    if (!claim.value) {
      await r.hincrby(s.keys.users, req.user, -req.qty);
      return this.duplicateOf(s, req.idempotencyKey);
    }
    // From here on the key is ours and the user's units are counted: any error gives them back.
    let taken = false;
    let refused = false;
    try {
      const limited = s.perUserLimit > 0 && count.value > s.perUserLimit;
      taken = !limited && (await this.takeUnits(r, s, req.qty));
      if (!taken) {
        refused = true;
        await Promise.all([r.hincrby(s.keys.users, req.user, -req.qty), r.hdel(s.keys.idem, req.idempotencyKey)]);
        return { ok: false, reason: limited ? 'limit_exceeded' : 'sold_out', retries: 0 };
      }
      const reservation: Reservation = {
        id,
        sku: req.sku,
        qty: req.qty,
        user: req.user,
        idempotencyKey: req.idempotencyKey,
        expiresAt: (req.now ?? Date.now()) + req.ttlMs,
      };
      await this.recordHold(r, s, reservation);
      return { ok: true, reservation, duplicate: false, retries: 0 };
    } catch (err) {
      // A refusal's own undo that failed is not run again: half of it may have been applied.
      if (!refused) await this.undo(r, s, req, id, { claimed: true, counted: true, taken });
      throw err;
    }
  }

  /**
   * Best-effort undo after an error, in one MULTI so it applies whole or not at all. Units are
   * given back only if the hold is not in the ledger: a ledger write whose reply was lost did
   * happen, and that hold stands (it expires like any other).
   */
  private async undo(
    r: RedisConnection,
    s: SkuState,
    req: ReserveRequest,
    id: string,
    done: { claimed: boolean; counted: boolean; taken: boolean },
  ): Promise<void> {
    try {
      if (!done.counted && !done.claimed) return;
      if (done.taken && (await r.hexists(s.keys.ledger, id))) return;
      const m = r.multi();
      if (done.counted) m.hincrby(s.keys.users, req.user, -req.qty);
      if (done.claimed) m.hdel(s.keys.idem, req.idempotencyKey);
      if (done.taken) this.giveBack(m, s, req.qty);
      await m.exec();
    } catch {
      // The caller gets the first error; what could not be undone shows in the invariants.
    }
  }
}
