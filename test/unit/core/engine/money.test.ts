// money = orders, pure: the provider's live charges against the Paid orders.
import { describe, expect, it } from 'vitest';
import { faultsAfterRun, moneyMatchesOrders } from '../../../../src/core/engine/money.js';
import type { OrderRecord } from '../../../../src/core/engine/types.js';
import type { Fault } from '../../../../src/core/provider/faults.js';
import type { ProviderCharge } from '../../../../src/core/reconcile/types.js';

const order = (n: number, over: Partial<OrderRecord> = {}): OrderRecord => ({
  orderId: `o${n}`,
  reservationId: `r${n}`,
  clickId: `c${n}`,
  sku: 'A',
  qty: 1,
  user: `u${n}`,
  amountMinor: 1000,
  currency: 'EUR',
  status: 'Paid',
  transactionId: `t${n}`,
  chargeId: `ch${n}`,
  createdAt: 0,
  updatedAt: 1,
  ...over,
});
const charge = (n: number, over: Partial<ProviderCharge> = {}): ProviderCharge => ({
  id: `ch${n}`,
  transactionId: `t${n}`,
  orderId: `o${n}`,
  amount: 1000,
  amountRefunded: 0,
  currency: 'EUR',
  status: 'succeeded',
  createdMs: 0,
  settledMs: null,
  ...over,
});

describe('money = orders', () => {
  it('holds when every live charge is the one charge of its Paid order; refunded and failed charges are not money', () => {
    const orders = [order(1), order(2), order(3, { status: 'Expired', chargeId: 'ch3' })];
    const charges = [
      charge(1),
      charge(2),
      charge(3, { amountRefunded: 1000 }),
      charge(4, { transactionId: 't3', status: 'failed' }),
    ];
    const r = moneyMatchesOrders(charges, orders);
    expect(r.breaks).toEqual([]);
    expect(r.invariant).toMatchObject({ name: 'money = orders', ok: true });
    expect(r.invariant.detail).toMatch(/^2 live charges, 2 Paid orders/);
  });

  it('a live charge on an Expired or pending order is money taken with no sale', () => {
    const orders = [order(1, { status: 'Expired' }), order(2, { status: 'PendingPayment', chargeId: undefined })];
    const r = moneyMatchesOrders([charge(1), charge(2)], orders);
    expect(r.invariant.ok).toBe(false);
    expect(r.breaks.map((b) => [b.transactionId, b.expected])).toEqual([
      ['t1', 'ORPHAN_CHARGE'],
      ['t2', 'ORPHAN_CHARGE'],
    ]);
    expect(r.invariant.detail).toMatch(/2 live charges with no Paid order, 20\.00 taken/);
  });

  it('a second live charge, another amount, and a Paid order without a charge are each a break', () => {
    const orders = [order(1), order(2), order(3)];
    const charges = [charge(1), charge(9, { transactionId: 't1' }), charge(2, { amount: 999 })];
    expect(moneyMatchesOrders(charges, orders).breaks.map((b) => [b.transactionId, b.expected])).toEqual([
      ['t1', 'DUPLICATE_CHARGE'],
      ['t2', 'AMOUNT_MISMATCH'],
      ['t3', 'MISSING_AT_PROVIDER'],
    ]);
  });

  it("planted faults are reconcile's, not breaks; another sale's charges are not judged at an external provider", () => {
    const planted: Fault[] = [
      { transaction_id: 't1', expected: 'DUPLICATE_CHARGE', kind: 'duplicate', attempt: 1 },
      { transaction_id: 't2', expected: 'MATCHED', kind: 'timeout', attempt: 1 },
    ];
    const orders = [order(1), order(2, { status: 'Expired' })];
    const charges = [
      charge(1),
      charge(9, { transactionId: 't1' }),
      charge(2),
      charge(7, { transactionId: 'elsewhere' }),
    ];
    const own = moneyMatchesOrders(charges, orders, { planted });
    // The timeout is not planted for reconcile: its charge with no sale is a break, and so is the
    // unknown transaction at the sale's own mock.
    expect(own.breaks.map((b) => b.transactionId)).toEqual(['t2', 'elsewhere']);
    const external = moneyMatchesOrders(charges, orders, { planted, foreignCharges: true });
    expect(external.breaks.map((b) => b.transactionId)).toEqual(['t2']);
    expect(external.invariant.detail).toMatch(/1 charges of other sales not judged/);
    // provider-faults.json afterwards: the unrecovered charge replaces the MATCHED label.
    expect(faultsAfterRun(planted, own.breaks).map((f) => [f.transaction_id, f.kind, f.expected])).toEqual([
      ['t1', 'duplicate', 'DUPLICATE_CHARGE'],
      ['t2', 'unrecovered', 'ORPHAN_CHARGE'],
      ['elsewhere', 'unrecovered', 'ORPHAN_CHARGE'],
    ]);
  });
});
