// Payment recovery (docs/design.md#payment-recovery): every order whose payment outcome the
// records do not know yet is finished from what the provider says, never by charging again.
//
// An order owes recovery something from the moment a charge request may be out (beginCharge)
// until the outcome is recorded; from a decline until its units are back; from an expiry with a
// charge until the refund is confirmed. A payer that gave up, crashed or hit a store error leaves
// the mark behind, and a pass here finishes the order:
// - a charge the payer already claimed: Paid if the hold is (or can still be) sold, else the
//   units go back and the charge is refunded;
// - no claim: the charge is looked up by the order's transaction id (Stripe's charge search). A
//   live charge is claimed and finished as above, or refunded if the order is no longer pending;
//   a failed one records the decline; none at all is settled as "never charged" only once the
//   provider has had time to commit a request it was still holding (settleMs).
// Everything here is a conditional update on the order's current state, so a pass racing a late
// payer, the sweeper or another pass moves each order at most once.
import type { InvariantResult } from '../invariants.js';
import { retryConnectionLost } from '../postgres/client.js';
import type { FaultConfig } from '../provider/faults.js';
import type { Reservation, Strategy } from '../strategies/types.js';
import { reservationOf, type OrderStore, type StoredOrder } from './orders.js';
import { worstCaseMs, type PaymentClient } from './payments.js';
import type { PaymentConfig, RecoveryTally } from './types.js';

export interface RecoveryOptions {
  /** An unclaimed payment is looked up this long after it began: its payer has given up by then. */
  graceMs: number;
  /** A claimed one this long after the claim: its payer had ample time to finish it. */
  claimedGraceMs: number;
  /** "The provider has no charge" is final only this long after the payment began. */
  settleMs: number;
}

/** Orders resolved at once: each is a few round trips to the provider and the stores. */
const CONCURRENCY = 16;
/** Orders read per pass; the next pass takes the rest. */
const BATCH = 2_000;

/**
 * When a pending order recovery expires really ended: when its hold did, if that was before now.
 * Its units left it then (a sweep took them back, or they are released now, and no one else could
 * hold them in between), so its recorded life must not run on over the next holder's.
 */
function endOf(o: StoredOrder, now: number): number {
  return Math.min(now, o.expiresAt);
}

export function emptyRecoveryTally(): RecoveryTally {
  return { paid: 0, refunded: 0, released: 0, declined: 0, noCharge: 0, waiting: 0, errors: 0 };
}

export class PaymentRecovery {
  /** Totals over every pass of this instance. */
  readonly totals = emptyRecoveryTally();

  constructor(
    private readonly orders: OrderStore,
    private readonly strategy: Strategy,
    private readonly payments: PaymentClient,
    /** Run before each pass: a stock store that lost its data is written back first, so no hold reads as gone. */
    private readonly beforePass: () => Promise<void> = () => Promise.resolve(),
  ) {}

  /**
   * One pass over the orders due at `now`. Never throws: an order that cannot be finished now
   * (a store or the provider down) is counted in `errors` and tried again by the next pass.
   */
  async pass(now: number, opts: RecoveryOptions): Promise<RecoveryTally> {
    const tally = emptyRecoveryTally();
    let due: StoredOrder[];
    try {
      await this.beforePass();
      due = await this.orders.recoveryDue(now - opts.graceMs, now - opts.claimedGraceMs, BATCH);
    } catch (err) {
      this.fail(tally, err);
      return this.add(tally);
    }
    let next = 0;
    const lane = async () => {
      while (next < due.length) {
        const o = due[next++];
        try {
          await this.resolve(o, opts, tally);
        } catch (err) {
          this.fail(tally, err, o.orderId);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, due.length) }, lane));
    return this.add(tally);
  }

  /**
   * Passes until nothing is owed or `deadline` (epoch ms) passes: the run's last word before it is
   * judged, with every payer gone (graces 0). Resolves to how many orders are still owed.
   */
  async drain(deadline: number, settleMs: number, intervalMs = 200): Promise<number> {
    for (;;) {
      await this.pass(Date.now(), { graceMs: 0, claimedGraceMs: 0, settleMs });
      let owed: number;
      try {
        // A read: asked again while a connection is cut, so the run's last word is not "unknown".
        owed = await retryConnectionLost('counting what payment recovery owes', () => this.orders.recoveryOwed());
      } catch (err) {
        this.fail(this.totals, err);
        owed = Infinity;
      }
      if (owed === 0 || Date.now() + intervalMs > deadline) return owed === Infinity ? -1 : owed;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  private async resolve(o: StoredOrder, opts: RecoveryOptions, tally: RecoveryTally): Promise<void> {
    const now = Date.now();
    const res = reservationOf(o);
    if (o.recovery === 'release') {
      await this.strategy.release(res);
      if (await this.orders.settleRecovery(o.orderId, 'release')) tally.released++;
      return;
    }
    if (o.recovery === 'refund') {
      await this.refund(o, o.chargeId!, now, tally);
      return;
    }
    if (o.status === 'PendingPayment' && o.chargeId) return this.finishClaimed(o, o.chargeId, res, tally);
    const charges = await this.payments.lookup(o.transactionId);
    // The one the order was charged with: its own amount first (a provider's planted duplicate or
    // drifted charge is reconciliation's to report, not recovery's to undo).
    const live = charges
      .filter((c) => c.status === 'succeeded' && c.amountRefunded < c.amount)
      .sort(
        (a, b) => Number(b.amount === o.amountMinor) - Number(a.amount === o.amountMinor) || a.createdMs - b.createdMs,
      );
    if (live.length > 0) {
      if (o.status === 'PendingPayment') {
        // Lost to a late payer (or the sweeper): the next pass reads the order again.
        if (await this.orders.claimCharge(o.orderId, live[0].id, now))
          await this.finishClaimed(o, live[0].id, res, tally);
        return;
      }
      return this.refund(o, live[0].id, now, tally);
    }
    const refunded = charges.find((c) => c.status === 'succeeded');
    if (refunded) {
      // Someone gave the money back already (a refund that answered too late, `reconcile --fix`).
      if (o.status === 'PendingPayment' && !(await this.orders.claimCharge(o.orderId, refunded.id, now))) return;
      if (o.status === 'PendingPayment') await this.strategy.release(res);
      if (await this.orders.markExpired(o, endOf(o, now), { id: refunded.id, refunded: true })) tally.refunded++;
      return;
    }
    const failed = charges.find((c) => c.status === 'failed');
    if (failed && o.status === 'PendingPayment') {
      if (await this.orders.markDeclined(o, failed.id, 'card_declined', now)) {
        tally.declined++;
        await this.strategy.release(res);
        await this.orders.settleRecovery(o.orderId, 'release');
      }
      return;
    }
    if (failed || now - (o.recoverySince ?? o.updatedAt) >= opts.settleMs) {
      // No money moved: the order goes on as if the pay had never been tried (the sweeper expires
      // it with its hold, or a new pay charges it).
      if (await this.orders.settleRecovery(o.orderId, 'lookup')) tally.noCharge++;
      return;
    }
    tally.waiting++;
  }

  /** The order's charge is claimed: sell the hold if it still stands, else refund the charge. */
  private async finishClaimed(o: StoredOrder, chargeId: string, res: Reservation, tally: RecoveryTally) {
    const now = Date.now();
    let state = await this.strategy.holdState(res);
    if (state === 'held' && o.expiresAt > now) {
      if (await this.strategy.confirm(res, now)) state = 'sold';
      else state = await this.strategy.holdState(res);
    }
    if (state === 'sold') {
      if (await this.orders.markPaid(o, chargeId, now)) tally.paid++;
      return;
    }
    // A hold past its time that no sweep took back yet: its units go back now, before the refund.
    if (state === 'held') await this.strategy.release(res);
    await this.refund(o, chargeId, now, tally);
  }

  private async refund(o: StoredOrder, chargeId: string, now: number, tally: RecoveryTally): Promise<void> {
    await this.payments.refund(o.orderId, chargeId);
    if (await this.orders.markExpired(o, endOf(o, now), { id: chargeId, refunded: true })) tally.refunded++;
  }

  private fail(tally: RecoveryTally, err: unknown, orderId?: string): void {
    tally.errors++;
    const msg = err instanceof Error ? err.message : String(err);
    tally.lastError = orderId ? `order ${orderId}: ${msg}` : msg;
  }

  private add(t: RecoveryTally): RecoveryTally {
    for (const k of ['paid', 'refunded', 'released', 'declined', 'noCharge', 'errors'] as const) this.totals[k] += t[k];
    this.totals.waiting = t.waiting;
    if (t.lastError) this.totals.lastError = t.lastError;
    return t;
  }
}

/**
 * How long recovery waits, for a sale's payment settings. A payer has given up by the worst case
 * of its charge; a claimed order gets ten seconds more for its last store steps. "No charge" is
 * final once the provider can no longer commit a request it held: the mock's fault settings say
 * how long that is; another provider gets `externalSettleMs`.
 */
export function recoveryTimings(
  payment: PaymentConfig,
  mock?: Pick<FaultConfig, 'timeout' | 'timeoutHoldMs' | 'latency' | 'latencyMs'>,
  externalSettleMs = 10_000,
): RecoveryOptions {
  const worst = worstCaseMs(payment);
  const settleMs = mock
    ? (mock.timeout > 0 ? mock.timeoutHoldMs : 0) + (mock.latency > 0 ? mock.latencyMs : 0) + payment.timeoutMs + 1_000
    : externalSettleMs;
  return { graceMs: worst + 1_000, claimedGraceMs: worst + 10_000, settleMs };
}

/** Payment recovery's own invariant: at the end of a run, no order's payment outcome is unknown. */
export function everyPaymentResolved(owed: number, t: RecoveryTally): InvariantResult {
  const did = `recovery: ${t.paid} paid, ${t.refunded} refunded, ${t.declined} declined, ${t.released} released, ${t.noCharge} never charged`;
  if (owed === 0)
    return { name: 'every payment resolved', ok: true, detail: `no order's payment outcome unknown; ${did}` };
  return {
    name: 'every payment resolved',
    ok: false,
    detail:
      owed < 0
        ? `the orders could not be read to tell: ${t.lastError ?? 'no answer'}`
        : `${owed} orders still owe payment recovery a lookup, refund or release; ${did}${t.lastError ? `; last error: ${t.lastError}` : ''}`,
  };
}
