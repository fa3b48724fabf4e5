// The sale's invariants on hand-made audits: each broken record must be named, SKU and ids.
import { describe, expect, it } from 'vitest';
import { checkSaleInvariants } from '../../../../src/core/engine/invariants.js';
import type { OrderRecord, SaleAudit } from '../../../../src/core/engine/types.js';
import type { LedgerEntry } from '../../../../src/core/strategies/types.js';

const entry = (id: string, state: LedgerEntry['state'], qty = 1): LedgerEntry => ({
  id,
  sku: 'A',
  qty,
  user: `u${id}`,
  idempotencyKey: `c${id}`,
  state,
  expiresAt: 1,
});
const order = (
  id: string,
  reservationId: string,
  status: OrderRecord['status'],
  extra: Partial<OrderRecord> = {},
): OrderRecord => ({
  orderId: id,
  reservationId,
  clickId: `c${reservationId}`,
  sku: 'A',
  qty: 1,
  user: `u${reservationId}`,
  amountMinor: 100,
  currency: 'EUR',
  status,
  transactionId: `t${id}`,
  createdAt: 0,
  updatedAt: 0,
  ...(status === 'Paid' ? { chargeId: `ch${id}` } : {}),
  ...extra,
});
const sale = (o: OrderRecord) => ({
  orderId: o.orderId,
  sku: o.sku,
  qty: o.qty,
  amountMinor: o.amountMinor,
  currency: o.currency,
  chargeId: o.chargeId!,
  at: 0,
});

function consistent(): SaleAudit {
  const orders = [order('o1', '1', 'Paid'), order('o2', '2', 'Expired'), order('o3', '3', 'PendingPayment')];
  return {
    orders,
    strategy: {
      skus: [{ sku: 'A', initial: 5, available: 3 }],
      ledger: [entry('1', 'sold'), entry('2', 'expired'), entry('3', 'held')],
    },
    soldBySku: { A: 1 },
    sales: [sale(orders[0])],
  };
}

const failing = (audit: SaleAudit) =>
  Object.fromEntries(
    checkSaleInvariants(audit, { perUserLimit: 0 })
      .filter((r) => !r.ok)
      .map((r) => [r.name, r.detail]),
  );

describe('the sale invariants', () => {
  it('all hold on consistent records', () => {
    const results = checkSaleInvariants(consistent(), { perUserLimit: 1 });
    expect(results.map((r) => r.name)).toEqual([
      'no oversell',
      'conservation',
      'exactly once',
      'per-user limit',
      'one order per reservation',
      'paid = sold',
      'cache = record',
      'paid once',
    ]);
    expect(results.filter((r) => !r.ok)).toEqual([]);
  });

  it('a second order for the same click is named with both order ids', () => {
    const audit = consistent();
    audit.orders.push(order('o9', '9', 'Expired', { clickId: 'c3' }));
    audit.strategy.ledger.push(entry('9', 'expired'));
    expect(failing(audit)['one order per reservation']).toBe('A: click c3 made 2 orders (o3, o9)');
  });

  it('a Paid order whose hold was never confirmed breaks paid = sold and cache = record', () => {
    const audit = consistent();
    audit.orders[2] = order('o3', '3', 'Paid');
    audit.sales!.push(sale(audit.orders[2]));
    audit.soldBySku.A = 2;
    const f = failing(audit);
    expect(f['paid = sold']).toBe('A: order o3 is Paid but reservation 3 is held');
    expect(f['cache = record']).toBe("A: the strategy's store sold 1 units, the sales ledger records 2 (+1)");
  });

  it('a sold reservation without a Paid order is named', () => {
    const audit = consistent();
    audit.strategy.ledger[2] = entry('3', 'sold');
    expect(failing(audit)['paid = sold']).toBe('A: reservation 3 is sold without a Paid order');
  });

  it('a sale row twice and one charge on two orders are caught', () => {
    const audit = consistent();
    audit.sales!.push({ ...audit.sales![0], chargeId: 'ch_other' });
    audit.orders[1] = order('o2', '2', 'Expired', { chargeId: 'cho1' });
    const detail = failing(audit)['paid once'];
    expect(detail).toContain('charge cho1 is bound to 2 orders (o1, o2)');
    expect(detail).toContain('A: order o1 has 2 sale rows (charges cho1, ch_other)');
  });
});
