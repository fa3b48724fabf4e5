// Payment recovery (docs/design.md#payment-recovery) on the real Redis and Postgres, against the
// mock provider: each way a payment's outcome can be lost is set up by hand, then recovery must
// finish the order from what the provider says, and money = orders must hold.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { openSaleEngine, type SaleEngine } from '../../../../src/core/engine/engine.js';
import { moneyMatchesOrders } from '../../../../src/core/engine/money.js';
import { reservationOf } from '../../../../src/core/engine/orders.js';
import { PaymentClient } from '../../../../src/core/engine/payments.js';
import type { EngineConfig } from '../../../../src/core/engine/types.js';
import type { Provider } from '../../../../src/core/provider/index.js';
import { toProviderCharge } from '../../../../src/core/reconcile/provider-client.js';
import { granted, providerFixtures } from '../../../helpers/engine.js';

const fx = providerFixtures('rc');
const engines: SaleEngine[] = [];

afterEach(async () => {
  for (const e of engines.splice(0)) {
    await e.destroy();
    await e.close();
  }
  await fx.stop(fx.started.splice(0));
});

async function sale(cfg: EngineConfig): Promise<SaleEngine> {
  const engine = await openSaleEngine(cfg);
  engines.push(engine);
  await engine.setup();
  return engine;
}

/** money = orders over the provider's whole ledger and the sale's orders. */
async function money(engine: SaleEngine, p: Provider) {
  const charges = (await p.charges()).map((c) => toProviderCharge(c as unknown as Record<string, unknown>));
  return { charges, check: moneyMatchesOrders(charges, (await engine.audit()).orders) };
}

/** A payer's first steps, by hand: open the order for payment, charge it, and then (the caller) crash. */
async function chargeByHand(engine: SaleEngine, cfg: EngineConfig, orderId: string) {
  const order = (await engine.orders.beginCharge(orderId, Date.now(), Date.now()))!;
  const client = new PaymentClient(cfg.providerUrl, fx.secret, cfg.payment);
  const answer = await client.charge(order);
  await client.close();
  if (answer.kind !== 'paid') throw new Error(`expected a charge, got ${answer.kind}`);
  return { order, chargeId: answer.chargeId };
}

const quick = { timeoutMs: 100, retries: 0, backoffMs: 10 };

describe('payment recovery', () => {
  it('a charge that commits after the engine gave up is found by its transaction id: Paid, the hold sold', async () => {
    const slow = await fx.provider({ timeout: 1, timeoutCommit: 1, timeoutHoldMs: 400 });
    const engine = await sale(fx.config('lua', slow.url, { payment: quick }));
    const hold = granted(await engine.reserve({ sku: 'A', qty: 1, user: 'u', clickId: 'c' }));
    expect((await engine.pay({ orderId: hold.orderId })).status).toBe('failed');
    expect(await engine.recoveryOwed()).toBe(1);
    // Without recovery the money is taken and the order is still pending: the invariant sees it.
    await sleep(600);
    expect((await money(engine, slow)).check.invariant.ok).toBe(false);
    const { owed, tally } = await engine.drainRecovery(Date.now() + 5_000, 1_000);
    expect(owed).toBe(0);
    expect(tally).toMatchObject({ paid: 1, refunded: 0, errors: 0 });
    const audit = await engine.audit();
    expect(audit.orders[0]).toMatchObject({ status: 'Paid' });
    expect(audit.soldBySku.A).toBe(1);
    const m = await money(engine, slow);
    expect(m.charges).toHaveLength(1);
    expect(m.check.invariant).toMatchObject({ ok: true });
  });

  it('the same late charge on a hold that ran out meanwhile is refunded, and the units are back', async () => {
    const slow = await fx.provider({ timeout: 1, timeoutCommit: 1, timeoutHoldMs: 400 });
    const engine = await sale(fx.config('atomic', slow.url, { payment: quick, holdTtlMs: 700 }));
    const hold = granted(await engine.reserve({ sku: 'A', qty: 1, user: 'u', clickId: 'c' }));
    expect((await engine.pay({ orderId: hold.orderId })).status).toBe('failed');
    await sleep(800);
    expect(await engine.sweep(Date.now())).toEqual({ units: 1, orders: 1 });
    const { owed, tally } = await engine.drainRecovery(Date.now() + 5_000, 1_000);
    expect(owed).toBe(0);
    expect(tally).toMatchObject({ paid: 0, refunded: 1 });
    const audit = await engine.audit();
    expect(audit.orders[0]).toMatchObject({ status: 'Expired', refunded: true });
    expect(await engine.availability('A')).toEqual({ sku: 'A', available: 6 });
    const m = await money(engine, slow);
    expect(m.charges[0]).toMatchObject({ status: 'succeeded', amount: 1250, amountRefunded: 1250 });
    expect(m.check.invariant.ok).toBe(true);
  });

  it('a payer that died after claiming the charge and confirming the hold: recovery records the sale', async () => {
    const p = await fx.provider();
    const cfg = fx.config('pessimistic', p.url);
    const engine = await sale(cfg);
    const hold = granted(await engine.reserve({ sku: 'B', qty: 2, user: 'u', clickId: 'c' }));
    // The payer's steps up to the crash, by hand: open, charge, claim, confirm; no markPaid.
    const { order, chargeId } = await chargeByHand(engine, cfg, hold.orderId);
    expect(await engine.orders.claimCharge(order.orderId, chargeId, Date.now())).toBe(true);
    expect(await engine.strategy.confirm(reservationOf(order), Date.now())).toBe(true);
    // A retried pay of that order cannot finish it: it waits for the dead payer, then says so.
    expect((await engine.pay({ orderId: order.orderId })).status).toBe('failed');
    const { owed, tally } = await engine.drainRecovery(Date.now() + 5_000, 1_000);
    expect(owed).toBe(0);
    expect(tally.paid).toBe(1);
    const audit = await engine.audit();
    expect(audit.orders[0]).toMatchObject({ status: 'Paid', chargeId: chargeId });
    expect(audit.sales).toHaveLength(1);
    expect((await money(engine, p)).check.invariant.ok).toBe(true);
  });

  it('a payer that died after the claim but before the confirm, its hold gone: refunded, not sold', async () => {
    const p = await fx.provider();
    const cfg = fx.config('lua', p.url, { holdTtlMs: 500, payment: quick });
    const engine = await sale(cfg);
    const hold = granted(await engine.reserve({ sku: 'A', qty: 1, user: 'u', clickId: 'c' }));
    const { order, chargeId } = await chargeByHand(engine, cfg, hold.orderId);
    await engine.orders.claimCharge(order.orderId, chargeId, Date.now());
    await sleep(600);
    await engine.sweep(Date.now());
    const { owed, tally } = await engine.drainRecovery(Date.now() + 5_000, 1_000);
    expect(owed).toBe(0);
    expect(tally).toMatchObject({ paid: 0, refunded: 1 });
    expect((await engine.audit()).orders[0]).toMatchObject({ status: 'Expired', refunded: true });
    expect(await engine.availability('A')).toEqual({ sku: 'A', available: 6 });
    expect((await money(engine, p)).check.invariant.ok).toBe(true);
  });

  it('a decline whose release never happened: recovery gives the units back', async () => {
    const p = await fx.provider();
    const engine = await sale(fx.config('optimistic', p.url));
    const hold = granted(await engine.reserve({ sku: 'A', qty: 2, user: 'u', clickId: 'c' }));
    const order = (await engine.orders.get(hold.orderId))!;
    // The decline recorded, then the payer's release lost (a store error, a crash).
    expect(await engine.orders.markDeclined(order, undefined, 'card_declined', Date.now())).toBe(true);
    expect(await engine.availability('A')).toEqual({ sku: 'A', available: 4 });
    const { owed, tally } = await engine.drainRecovery(Date.now() + 5_000, 1_000);
    expect(owed).toBe(0);
    expect(tally.released).toBe(1);
    expect(await engine.availability('A')).toEqual({ sku: 'A', available: 6 });
  });

  it('a payment the provider never saw is settled once the provider cannot commit it any more; the order can be paid then', async () => {
    const p = await fx.provider();
    const engine = await sale(fx.config('lua', p.url));
    const hold = granted(await engine.reserve({ sku: 'A', qty: 1, user: 'u', clickId: 'c' }));
    await engine.orders.beginCharge(hold.orderId, Date.now(), Date.now());
    // Too early to call it "never charged": the order stays owed.
    const early = await engine.drainRecovery(Date.now() + 100, 60_000);
    expect(early.owed).toBe(1);
    expect(early.tally.waiting).toBe(1);
    await sleep(300);
    const { owed, tally } = await engine.drainRecovery(Date.now() + 5_000, 200);
    expect(owed).toBe(0);
    expect(tally.noCharge).toBe(1);
    expect((await engine.order(hold.orderId))?.status).toBe('PendingPayment');
    expect((await engine.pay({ orderId: hold.orderId })).status).toBe('paid');
    expect((await money(engine, p)).check.invariant.ok).toBe(true);
  });

  it('a provider that cannot be reached: nothing is decided, the order stays owed, the error is named', async () => {
    const engine = await sale(fx.config('lua', 'http://127.0.0.1:1'));
    const hold = granted(await engine.reserve({ sku: 'A', qty: 1, user: 'u', clickId: 'c' }));
    await engine.orders.beginCharge(hold.orderId, Date.now(), Date.now());
    const { owed, tally } = await engine.drainRecovery(Date.now() + 300, 0);
    expect(owed).toBe(1);
    expect(tally.errors).toBeGreaterThan(0);
    expect(tally.lastError).toMatch(/ECONNREFUSED|connect/);
    expect((await engine.order(hold.orderId))?.recovery).toBe('lookup');
  });
});
