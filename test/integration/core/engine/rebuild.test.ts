// The engine's side of a stock store that lost its data (docs/design.md#a-store-that-lost-its-data):
// the sweep finds the loss and writes the store back from the orders, then for a while compares
// what the orders say with the rebuilt ledger: an order made meanwhile from a hold of the lost
// store is recorded as ended, a payment confirmed in the lost store is confirmed again.
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openSaleEngine, type SaleEngine } from '../../../../src/core/engine/engine.js';
import { reservationOf } from '../../../../src/core/engine/orders.js';
import { namespacePattern } from '../../../../src/core/redis/keys.js';
import { expectInvariantsHold, granted, providerFixtures } from '../../../helpers/engine.js';
import { REDIS_URL } from '../../../helpers/services.js';

const fx = providerFixtures('rb');
const engines: SaleEngine[] = [];
const raw = new Redis(REDIS_URL);

afterEach(async () => {
  for (const e of engines.splice(0)) {
    await e.destroy();
    await e.close();
  }
  await fx.stop(fx.started.splice(0));
});
afterAll(() => raw.disconnect());

async function wipe(namespace: string): Promise<void> {
  const keys = await raw.keys(namespacePattern(namespace));
  if (keys.length) await raw.del(...keys);
}

describe('a Redis that lost its data mid-sale', () => {
  it('is rebuilt from the orders by the next sweep: paid stays sold, holds stay held, the stock is right', async () => {
    const p = await fx.provider();
    const cfg = fx.config('lua', p.url);
    const engine = await openSaleEngine(cfg);
    engines.push(engine);
    await engine.setup();
    const paid = granted(await engine.reserve({ sku: 'A', qty: 2, user: 'u1', clickId: 'c1' }));
    expect((await engine.pay({ orderId: paid.orderId })).status).toBe('paid');
    granted(await engine.reserve({ sku: 'A', qty: 1, user: 'u2', clickId: 'c2' }));
    await wipe(cfg.namespace);
    // Before the sweep the store has nothing: a reserve errs rather than answering sold out.
    await expect(engine.reserve({ sku: 'A', qty: 1, user: 'u3', clickId: 'c3' })).rejects.toThrow();
    await engine.sweep(Date.now());
    expect(engine.storeRebuilds()).toMatchObject([{ skus: ['A', 'B'], held: 1, sold: 1, ended: 0 }]);
    expect((await engine.availability('A')).available).toBe(3);
    expect((await engine.availability('B')).available).toBe(4);
    // The replayed click gets its order back; the user limit still counts u1's two units.
    const again = granted(await engine.reserve({ sku: 'A', qty: 2, user: 'u1', clickId: 'c1' }));
    expect(again.orderId).toBe(paid.orderId);
    expect(await engine.reserve({ sku: 'A', qty: 1, user: 'u1', clickId: 'c4' })).toMatchObject({
      ok: false,
      reason: 'limit_exceeded',
    });
    await expectInvariantsHold(engine);
    // Found once: an intact store is not rebuilt again.
    await engine.sweep(Date.now());
    expect(engine.storeRebuilds()).toHaveLength(1);
  });

  it('what the orders said after the rebuild read them is brought in by the following sweeps', async () => {
    const p = await fx.provider();
    const cfg = fx.config('lua', p.url);
    const engine = await openSaleEngine(cfg);
    engines.push(engine);
    await engine.setup();
    const paying = granted(await engine.reserve({ sku: 'A', qty: 1, user: 'u1', clickId: 'c1' }));
    await wipe(cfg.namespace);
    await engine.sweep(Date.now());
    // A payer that had confirmed the hold in the lost store records the sale only now.
    const order = (await engine.order(paying.orderId))!;
    expect(await engine.orders.claimCharge(order.orderId, 'ch_late', Date.now())).toBe(true);
    expect(await engine.orders.markPaid(order, 'ch_late', Date.now())).toBe(true);
    // And an order made now from a hold the lost store had granted (its reservation is unknown).
    const { created } = await engine.orderFor({
      reservationId: 'lost-hold',
      clickId: 'c9',
      sku: 'B',
      qty: 1,
      user: 'u9',
      amountMinor: 500,
      currency: 'EUR',
      expiresAt: Date.now() + 60_000,
      now: Date.now(),
    });
    expect(created).toBe(true);
    await engine.sweep(Date.now());
    expect(engine.storeRebuilds()[0]).toMatchObject({ lateSold: 1, lateEnded: 1 });
    expect(await engine.strategy.holdState(reservationOf(order))).toBe('sold');
    // The lost hold's unit is not taken from the rebuilt stock: B still has all 4 on sale.
    expect((await engine.availability('B')).available).toBe(4);
    expect(
      await engine.strategy.holdState({
        id: 'lost-hold',
        sku: 'B',
        qty: 1,
        user: 'u9',
        idempotencyKey: 'c9',
        expiresAt: 0,
      }),
    ).toBe('expired');
  });
});
