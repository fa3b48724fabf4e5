// The money = orders invariant (docs/design.md#money--orders), read from the provider's side:
// every live charge (succeeded, not wholly refunded) belongs to exactly one Paid order with the
// same amount and currency, and every Paid order has exactly one. Pure: the caller brings the
// provider's charges (the mock's ledger, or another provider's list API) and the orders.
import type { InvariantResult } from '../invariants.js';
import type { Fault } from '../provider/faults.js';
import type { ProviderCharge } from '../reconcile/types.js';
import type { OrderRecord } from './types.js';

/** Planted on purpose for reconciliation to find; money = orders does not judge these transactions. */
const PLANTED: ReadonlySet<Fault['kind']> = new Set<Fault['kind']>(['amountDrift', 'duplicate', 'dropped', 'orphan']);

/** One way the money and the orders disagree. */
export interface MoneyBreak {
  transactionId: string;
  orderId: string | null;
  chargeId: string | null;
  /** What reconcile will report for it. */
  expected: 'ORPHAN_CHARGE' | 'DUPLICATE_CHARGE' | 'AMOUNT_MISMATCH' | 'MISSING_AT_PROVIDER';
  detail: string;
}

export interface MoneyCheck {
  invariant: InvariantResult;
  breaks: MoneyBreak[];
}

export interface MoneyOptions {
  /** Faults the mock planted on purpose (its provider-faults.json): those transactions are explained. */
  planted?: Fault[];
  /**
   * The provider may hold charges of other sales (an external one): a charge whose transaction
   * is none of this sale's orders is not judged. With the sale's own mock, every charge is.
   */
  foreignCharges?: boolean;
}

const live = (c: ProviderCharge) => c.status === 'succeeded' && c.amountRefunded < c.amount;
const money = (minor: number, currency: string) => `${(minor / 100).toFixed(2)} ${currency}`;

export function moneyMatchesOrders(
  charges: ProviderCharge[],
  orders: OrderRecord[],
  opts: MoneyOptions = {},
): MoneyCheck {
  const explained = new Set((opts.planted ?? []).filter((f) => PLANTED.has(f.kind)).map((f) => f.transaction_id));
  const byTxn = new Map(orders.map((o) => [o.transactionId, o]));
  const liveByTxn = new Map<string, ProviderCharge[]>();
  let judged = 0;
  let skippedForeign = 0;
  for (const c of charges) {
    if (!live(c) || explained.has(c.transactionId)) continue;
    if (!byTxn.has(c.transactionId) && opts.foreignCharges) {
      skippedForeign++;
      continue;
    }
    judged++;
    const list = liveByTxn.get(c.transactionId) ?? [];
    list.push(c);
    liveByTxn.set(c.transactionId, list);
  }
  const breaks: MoneyBreak[] = [];
  for (const [txn, list] of liveByTxn) {
    const o = byTxn.get(txn);
    for (const c of list) {
      const base = { transactionId: txn, orderId: o?.orderId ?? c.orderId, chargeId: c.id };
      const amount = money(c.amount - c.amountRefunded, c.currency);
      if (!o || o.status !== 'Paid')
        breaks.push({
          ...base,
          expected: 'ORPHAN_CHARGE',
          detail: `charge ${c.id} (${amount}) is live but its order ${o ? `${o.orderId} is ${o.status}` : 'does not exist'}`,
        });
      else if (o.chargeId !== c.id)
        breaks.push({
          ...base,
          expected: 'DUPLICATE_CHARGE',
          detail: `charge ${c.id} (${amount}) is live beside ${o.chargeId ?? 'no charge'}, the one Paid order ${o.orderId} was sold with`,
        });
      else if (c.amount !== o.amountMinor || c.currency !== o.currency)
        breaks.push({
          ...base,
          expected: 'AMOUNT_MISMATCH',
          detail: `charge ${c.id} is ${money(c.amount, c.currency)}, its Paid order ${o.orderId} ${money(o.amountMinor, o.currency)}`,
        });
    }
  }
  let paid = 0;
  for (const o of orders) {
    if (o.status !== 'Paid' || explained.has(o.transactionId)) continue;
    paid++;
    if (!(liveByTxn.get(o.transactionId) ?? []).some((c) => c.id === o.chargeId))
      breaks.push({
        transactionId: o.transactionId,
        orderId: o.orderId,
        chargeId: o.chargeId ?? null,
        expected: 'MISSING_AT_PROVIDER',
        detail: `Paid order ${o.orderId} has no live charge at the provider (recorded: ${o.chargeId ?? 'none'})`,
      });
  }
  const notes = [
    explained.size ? `${explained.size} transactions with planted provider faults left to reconcile` : '',
    skippedForeign ? `${skippedForeign} charges of other sales not judged` : '',
  ].filter(Boolean);
  const tail = notes.length ? `; ${notes.join('; ')}` : '';
  const orphanMinor = breaks
    .filter((b) => b.expected === 'ORPHAN_CHARGE')
    .reduce((n, b) => n + (charges.find((c) => c.id === b.chargeId)?.amount ?? 0), 0);
  return {
    breaks,
    invariant: {
      name: 'money = orders',
      ok: breaks.length === 0,
      detail:
        breaks.length === 0
          ? `${judged} live charges, ${paid} Paid orders: one each, same amounts${tail}`
          : `${breaks.length} disagreements (${breaks.filter((b) => b.expected === 'ORPHAN_CHARGE').length} live charges with no Paid order, ${(orphanMinor / 100).toFixed(2)} taken): ${breaks
              .slice(0, 3)
              .map((b) => b.detail)
              .join('; ')}${breaks.length > 3 ? '; …' : ''}${tail}`,
    },
  };
}

/**
 * provider-faults.json made true at the end of a run: a charge the engine gave up on and nobody
 * recovered is a break reconcile must report, whatever the transient fault behind it was labelled.
 */
export function faultsAfterRun(planted: Fault[], breaks: MoneyBreak[]): Fault[] {
  const broken = new Map(breaks.map((b) => [b.transactionId, b]));
  const kept = planted.filter((f) => !(broken.has(f.transaction_id) && f.expected === 'MATCHED'));
  for (const b of broken.values())
    kept.push({
      transaction_id: b.transactionId,
      expected: b.expected,
      kind: 'unrecovered',
      attempt: 0,
      detail: { ...(b.orderId ? { order_id: b.orderId } : {}), ...(b.chargeId ? { charge: b.chargeId } : {}) },
    });
  return kept;
}
