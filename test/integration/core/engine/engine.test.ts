// The sale engine (sync mode) on the real Redis and Postgres, against the mock provider in-process.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type SaleEngine } from '../../../../src/core/engine/engine.js';
import { peakOversell } from '../../../../src/core/engine/invariants.js';
import type { Engine, EngineConfig } from '../../../../src/core/engine/types.js';
import { decide, parseFaultConfig, type Provider } from '../../../../src/core/provider/index.js';

import { expectInvariantsHold, granted, providerFixtures, until } from '../../../helpers/engine.js';

const fx = providerFixtures('e');
const providers = fx.started;
const provider = fx.provider;
const config = fx.config;
const stopProviders = fx.stop;
const engines: Engine[] = [];

/** An engine with its sale set up; destroyed and closed after the file. */
async function sale(cfg: EngineConfig): Promise<Engine> {
  const engine = await createEngine(cfg);
  engines.push(engine);
  await engine.setup();
  return engine;
}

/** The provider's charges for one transaction, from its list endpoint (its books, not its answers). */
async function chargesOf(
  p: Provider,
  transactionId: string,
): Promise<{ id: string; status: string; amount: number; amount_refunded: number }[]> {
  const res = await fetch(`${p.url}/v1/charges?limit=100`);
  const page = (await res.json()) as {
    data: {
      id: string;
      status: string;
      amount: number;
      amount_refunded: number;
      metadata: { transaction_id: string };
    }[];
  };
  return page.data.filter((c) => c.metadata.transaction_id === transactionId);
}

async function transactionOf(engine: Engine, orderId: string): Promise<string> {
  return (await engine.audit()).orders.find((o) => o.orderId === orderId)!.transactionId;
}

let honest: Provider;
beforeAll(async () => {
  honest = await provider();
});

// Each engine holds two connection pools: release them per test, the server's slots are shared.
afterEach(async () => {
  for (const e of engines.splice(0)) {
    await e.destroy();
    await e.close();
  }
  await stopProviders(providers.splice(1));
});

afterAll(() => stopProviders(providers));

describe.each(['lua', 'atomic'] as const)('the %s engine', (strategy) => {
  it('sells the whole stock when every buyer pays, and the records agree', async () => {
    const engine = await sale(config(strategy, honest.url));
    const onA = Array.from({ length: 10 }, (_, i) =>
      engine.reserve({ sku: 'A', qty: 1, user: `a${i}`, clickId: `a${i}` }),
    );
    const onB = Array.from({ length: 3 }, (_, i) =>
      engine.reserve({ sku: 'B', qty: 2, user: `b${i}`, clickId: `b${i}` }),
    );
    const outcomes = await Promise.all([...onA, ...onB]);
    const holds = outcomes.filter((r) => r.ok);
    expect(holds).toHaveLength(8);
    expect(outcomes.filter((r) => !r.ok).map((r) => (r.ok ? '' : r.reason))).toEqual([
      'sold_out',
      'sold_out',
      'sold_out',
      'sold_out',
      'sold_out',
    ]);

    const paid = await Promise.all(holds.map((h) => engine.pay({ orderId: granted(h).orderId })));
    expect(paid.map((p) => p.status)).toEqual(Array(8).fill('paid'));

    const audit = await engine.audit();
    expect(audit.orders.map((o) => o.status)).toEqual(Array(8).fill('Paid'));
    expect(audit.soldBySku).toEqual({ A: 6, B: 4 });
    const soldInStore = (sku: string) =>
      audit.strategy.ledger.filter((e) => e.sku === sku && e.state === 'sold').reduce((n, e) => n + e.qty, 0);
    expect({ A: soldInStore('A'), B: soldInStore('B') }).toEqual(audit.soldBySku);
    expect(audit.orders.filter((o) => o.sku === 'B').map((o) => o.amountMinor)).toEqual([1000, 1000]);
    expect(await engine.availability('A')).toEqual({ sku: 'A', available: 0 });
    await expectInvariantsHold(engine);
  });

  it('makes one order of a double click, and paying it twice charges once', async () => {
    const engine = await sale(config(strategy, honest.url));
    const click = { sku: 'A', qty: 1, user: 'u1', clickId: 'click-1' };
    const both = await Promise.all([engine.reserve(click), engine.reserve(click)]);
    const again = await engine.reserve(click);
    const orderIds = new Set([...both, again].map((r) => granted(r).orderId));
    expect(orderIds.size).toBe(1);
    expect([...both, again].filter((r) => granted(r).duplicate)).toHaveLength(2);
    expect(await engine.availability('A')).toEqual({ sku: 'A', available: 5 });

    const [orderId] = orderIds;
    const pays = await Promise.all([engine.pay({ orderId }), engine.pay({ orderId })]);
    expect(pays.map((p) => p.status)).toEqual(['paid', 'paid']);
    const chargeIds = new Set(pays.map((p) => (p.status === 'paid' ? p.chargeId : '')));
    expect(chargeIds.size).toBe(1);
    expect(await chargesOf(honest, await transactionOf(engine, orderId))).toHaveLength(1);
    expect((await engine.audit()).orders).toHaveLength(1);
    await expectInvariantsHold(engine);
  });

  it("refuses another buyer's replay of a click id instead of answering with the first buyer's order", async () => {
    const engine = await sale(config(strategy, honest.url));
    granted(await engine.reserve({ sku: 'A', qty: 1, user: 'u1', clickId: 'click-1' }));
    await expect(engine.reserve({ sku: 'A', qty: 1, user: 'u2', clickId: 'click-1' })).rejects.toMatchObject({
      code: 'bad_request',
      message: 'clickId: "click-1" is another buyer\'s click on A',
    });
    expect((await engine.audit()).orders.map((o) => o.user)).toEqual(['u1']);
  });

  it('expires an abandoned hold while the sale runs and puts its units back on sale', async () => {
    const engine = await sale(
      config(strategy, honest.url, { holdTtlMs: 400, payment: { timeoutMs: 100, retries: 1, backoffMs: 10 } }),
    );
    const stop = engine.startSweeper();
    try {
      const abandoned = granted(await engine.reserve({ sku: 'B', qty: 2, user: 'gone', clickId: 'gone-1' }));
      const buyer = granted(await engine.reserve({ sku: 'B', qty: 2, user: 'keen', clickId: 'keen-1' }));
      expect((await engine.pay({ orderId: buyer.orderId })).status).toBe('paid');
      expect(await engine.availability('B')).toEqual({ sku: 'B', available: 0 });
      await until('the abandoned units are back', async () => (await engine.availability('B')).available === 2);
      const order = (await engine.audit()).orders.find((o) => o.orderId === abandoned.orderId)!;
      expect(order.status).toBe('Expired');
      expect(await engine.pay({ orderId: abandoned.orderId })).toEqual({
        status: 'expired',
        orderId: abandoned.orderId,
        refunded: false,
      });
      // The units are for sale again, during the sale.
      expect(granted(await engine.reserve({ sku: 'B', qty: 2, user: 'late', clickId: 'late-1' })).qty).toBe(2);
    } finally {
      await stop();
    }
    expect((await engine.audit()).soldBySku.B).toBe(2);
    await expectInvariantsHold(engine);
  });
});

describe('payments', () => {
  it('a declined payment fails the order and returns its units', async () => {
    const declining = await provider({ decline: 1 });
    const engine = await sale(config('lua', declining.url));
    const hold = granted(await engine.reserve({ sku: 'A', qty: 2, user: 'u', clickId: 'c' }));
    expect(await engine.availability('A')).toEqual({ sku: 'A', available: 4 });
    expect(await engine.pay({ orderId: hold.orderId })).toEqual({
      status: 'declined',
      orderId: hold.orderId,
      code: 'generic_decline',
      attempts: 1,
    });
    expect(await engine.availability('A')).toEqual({ sku: 'A', available: 6 });
    // Asked again, the order answers from its record, without another charge.
    expect(await engine.pay({ orderId: hold.orderId })).toMatchObject({
      status: 'declined',
      code: 'generic_decline',
      attempts: 0,
    });
    const audit = await engine.audit();
    expect(audit.orders[0].status).toBe('PaymentFailed');
    expect(audit.soldBySku.A).toBe(0);
    expect(await chargesOf(declining, audit.orders[0].transactionId)).toMatchObject([{ status: 'failed' }]);
    await expectInvariantsHold(engine);
  });

  it('a charge that timed out but committed is found again with the same key: charged once, order Paid', async () => {
    const slow = await provider({ timeout: 1, timeoutCommit: 1, timeoutHoldMs: 400 });
    const engine = await sale(config('lua', slow.url, { payment: { timeoutMs: 150, retries: 6, backoffMs: 30 } }));
    const hold = granted(await engine.reserve({ sku: 'A', qty: 1, user: 'u', clickId: 'c' }));
    const paid = await engine.pay({ orderId: hold.orderId });
    expect(paid).toMatchObject({ status: 'paid', duplicate: false });
    expect(paid.status === 'paid' && paid.attempts).toBeGreaterThan(1);
    const txid = await transactionOf(engine, hold.orderId);
    expect(await chargesOf(slow, txid)).toMatchObject([{ status: 'succeeded', amount: 1250 }]);
    expect(slow.faults()).toMatchObject([{ transaction_id: txid, kind: 'timeout', detail: { committed: true } }]);
    expect((await engine.audit()).orders[0].status).toBe('Paid');
    await expectInvariantsHold(engine);
  });

  it('a 5xx is retried with the same key into exactly one charge (second worker pays)', async () => {
    // The first instance takes the order; its provider URL is never called.
    const cfg = config('atomic', 'http://127.0.0.1:9');
    const first = await sale(cfg);
    const hold = granted(await first.reserve({ sku: 'A', qty: 1, user: 'u', clickId: 'c' }));
    const txid = await transactionOf(first, hold.orderId);
    // Fault decisions are a pure function of (seed, transaction, attempt): pick the seed that
    // fails the first attempt with a 5xx and lets the second through.
    const faults = { serverError: 0.5 };
    const parsed = parseFaultConfig(faults);
    let seed = 1;
    while (!(
      decide(parsed, seed, txid, 1, 1250).outcome === 'serverError' &&
      decide(parsed, seed, txid, 2, 1250).outcome === 'none'
    ))
      seed++;
    const flaky = await provider(faults, seed);
    const second = await createEngine({ ...cfg, providerUrl: flaky.url });
    try {
      expect(await second.pay({ orderId: hold.orderId })).toMatchObject({
        status: 'paid',
        attempts: 2,
        duplicate: false,
      });
    } finally {
      await second.close();
    }
    expect(await chargesOf(flaky, txid)).toMatchObject([{ status: 'succeeded' }]);
    expect(flaky.faults().map((f) => f.kind)).toEqual(['serverError']);
    await expectInvariantsHold(first);
  });

  it('refuses to start a payment the hold would not outlast, and gives the units back', async () => {
    const engine = await sale(config('atomic', honest.url, { holdTtlMs: 1_000 }));
    const hold = granted(await engine.reserve({ sku: 'B', qty: 1, user: 'u', clickId: 'c' }));
    expect(await engine.pay({ orderId: hold.orderId })).toEqual({
      status: 'expired',
      orderId: hold.orderId,
      refunded: false,
    });
    expect(await engine.availability('B')).toEqual({ sku: 'B', available: 4 });
    const audit = await engine.audit();
    expect(audit.orders[0].status).toBe('Expired');
    expect(await chargesOf(honest, audit.orders[0].transactionId)).toEqual([]);
    await expectInvariantsHold(engine);
  });

  it('refunds a charge that lands after the sweeper expired its order', async () => {
    const slow = await provider({ timeout: 1, timeoutCommit: 1, timeoutHoldMs: 600 });
    const engine = await sale(config('lua', slow.url, { payment: { timeoutMs: 200, retries: 5, backoffMs: 50 } }));
    const hold = granted(await engine.reserve({ sku: 'A', qty: 1, user: 'u', clickId: 'c' }));
    const paying = engine.pay({ orderId: hold.orderId });
    await sleep(100);
    // The clock of a sweep far in the future: the hold and its order are due while the charge is held.
    expect(await engine.sweep(Date.now() + 3_600_000)).toEqual({ units: 1, orders: 1 });
    expect(await paying).toEqual({ status: 'expired', orderId: hold.orderId, refunded: true });
    const audit = await engine.audit();
    expect(audit.orders[0]).toMatchObject({ status: 'Expired', refunded: true });
    const [charge] = await chargesOf(slow, audit.orders[0].transactionId);
    expect(charge).toMatchObject({ status: 'succeeded', amount: 1250, amount_refunded: 1250 });
    expect(audit.soldBySku.A).toBe(0);
    expect(await engine.availability('A')).toEqual({ sku: 'A', available: 6 });
    await expectInvariantsHold(engine);
  });
});

describe('the rate limit', () => {
  it('refuses a bot past its burst, with when to retry, and lets other buyers through', async () => {
    const cfg = config('atomic', honest.url, { rateLimit: { perSec: 1, burst: 3 }, perUserLimit: 0 });
    const engine = await sale(cfg);
    const now = Date.now();
    const bot = [];
    for (let i = 0; i < 10; i++)
      bot.push(await engine.reserve({ sku: 'A', qty: 1, user: 'bot', clickId: `bot-${i}`, now }));
    expect(bot.filter((r) => r.ok)).toHaveLength(3);
    const refused = bot.filter((r) => !r.ok);
    expect(refused).toHaveLength(7);
    for (const r of refused) expect(r).toMatchObject({ ok: false, reason: 'rate_limited', retryAfterMs: 1_000 });
    expect((await engine.reserve({ sku: 'A', qty: 1, user: 'human', clickId: 'h-1', now })).ok).toBe(true);
    // Refused requests never reached the stock: 3 + 1 units held.
    expect(await engine.availability('A')).toEqual({ sku: 'A', available: 2 });
    await expectInvariantsHold(engine, 0);
  });
});

describe.each(['lua', 'atomic'] as const)('the %s engine swept late', (strategy) => {
  it("an order expired by a sweep that came late ends with its hold, not after the next holder's start", async () => {
    const engine = await sale(config(strategy, honest.url, { holdTtlMs: 300 }));
    granted(await engine.reserve({ sku: 'B', qty: 2, user: 'u1', clickId: 'c1' }));
    granted(await engine.reserve({ sku: 'B', qty: 2, user: 'u2', clickId: 'c2' }));
    await sleep(400);
    // The strategy's half of a sweep gives the units back and the orders' half fails (a cut
    // connection): a new buyer takes the units before the next sweep expires the two orders.
    expect(await (engine as SaleEngine).strategy.sweepExpired(Date.now())).toBe(4);
    granted(await engine.reserve({ sku: 'B', qty: 2, user: 'u3', clickId: 'c3' }));
    await sleep(100);
    expect(await engine.sweep(Date.now())).toEqual({ units: 0, orders: 2 });
    const { orders } = await engine.audit();
    expect(peakOversell(orders, { A: 6, B: 4 })).toMatchObject({ ok: true });
  });
});
