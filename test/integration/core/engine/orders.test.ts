// OrderStore.orderFor batches the orders asked for in one event-loop turn into one INSERT. The
// batch must keep the one-order-per-reservation guarantee of the single-row insert it replaced.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderStore, orderSchemaIdent, type NewOrder } from '../../../../src/core/engine/orders.js';
import { DATABASE_URL, uniqueNamespace } from '../../../helpers/services.js';

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
const store = new OrderStore(pool, orderSchemaIdent(uniqueNamespace('batch')));
const now = Date.now();
const order = (i: number, click = `c${i}`, reservation = `r${i}`): NewOrder => ({
  reservationId: reservation,
  clickId: click,
  sku: `sku-${i % 3}`,
  qty: 1,
  user: `u${i}`,
  amountMinor: 1000,
  currency: 'EUR',
  expiresAt: now + 60_000,
  now,
});

beforeAll(() => store.create());
afterAll(async () => {
  await store.drop();
  await pool.end();
});

describe('orders asked for in one turn go in one INSERT', () => {
  it('600 orders at once (more than one batch), 60 of them double clicks: exactly one order per reservation', async () => {
    const asks = Array.from({ length: 540 }, (_, i) => order(i));
    // the same click again (same reservation) and a second click on the same reservation
    for (let i = 0; i < 30; i++) asks.push(order(i), order(i, `c${i}-again`, `r${i}`));
    const got = await Promise.all(asks.map((o) => store.orderFor(o)));
    expect(got.filter((g) => g.created)).toHaveLength(540);
    const byReservation = new Map<string, Set<string>>();
    for (const g of got) {
      const key = `${g.order.sku}/${g.order.reservationId}`;
      byReservation.set(key, (byReservation.get(key) ?? new Set()).add(g.order.orderId));
    }
    expect(byReservation.size).toBe(540);
    for (const ids of byReservation.values()) expect(ids.size).toBe(1);
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n, count(DISTINCT transaction_id)::int AS t FROM ${store.s}.orders`,
    );
    expect(rows[0]).toEqual({ n: 540, t: 540 });
  });

  it('an order asked for again later is found, not made twice', async () => {
    const again = await store.orderFor(order(7));
    expect(again.created).toBe(false);
    expect(again.order.reservationId).toBe('r7');
  });

  it('a hold already expired gets an order that is final at once', async () => {
    const late = await store.orderFor({ ...order(10_001), expiresAt: now - 1 });
    expect(late.created).toBe(true);
    expect(late.order.status).toBe('Expired');
  });

  it('a row the database refuses fails its own caller only, not the others of its turn', async () => {
    const asks = [order(20_001), { ...order(20_002), qty: 0 }, order(20_003)];
    const got = await Promise.allSettled(asks.map((o) => store.orderFor(o)));
    expect(got.map((g) => g.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((got[1] as PromiseRejectedResult).reason.code).toBe('23514');
  });
});
