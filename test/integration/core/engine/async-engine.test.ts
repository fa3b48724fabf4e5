// The sale engine in async mode (Redis Streams, consumer groups) on the real Redis and Postgres,
// against the mock provider in-process.
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createAsyncEngine,
  type AsyncEngine,
  type AsyncEngineOptions,
} from '../../../../src/core/engine/async-engine.js';
import {
  asyncStreams,
  consumerNow,
  eventFields,
  ORDER_GROUP,
  orderCreatedAt,
  parseEvent,
  parseGroupInfo,
  PAYMENT_GROUP,
} from '../../../../src/core/engine/async-events.js';
import type { EngineConfig } from '../../../../src/core/engine/types.js';
import type { Provider } from '../../../../src/core/provider/index.js';
import { REDIS_URL } from '../../../helpers/services.js';
import { expectInvariantsHold, granted, providerFixtures, until as untilHolds } from '../../../helpers/engine.js';

const fx = providerFixtures('a');
const providers = fx.started;
const provider = fx.provider;
const config = fx.config;
const stopProviders = fx.stop;
const engines: AsyncEngine[] = [];
let redis: Redis;

/** An async engine with its sale set up (consumers running unless told otherwise); destroyed and closed after the test. */
async function sale(cfg: EngineConfig, options: AsyncEngineOptions = {}): Promise<AsyncEngine> {
  const engine = await createAsyncEngine(cfg, { replyTimeoutMs: 8_000, ...options });
  engines.push(engine);
  await engine.setup();
  return engine;
}

/** The provider's charges for one transaction, from its list endpoint (every page). */
async function chargesOf(
  p: Provider,
  transactionId: string,
): Promise<{ id: string; status: string; amount: number; amount_refunded: number }[]> {
  type Charge = {
    id: string;
    status: string;
    amount: number;
    amount_refunded: number;
    metadata: { transaction_id: string };
  };
  const all: Charge[] = [];
  let after = '';
  for (;;) {
    const res = await fetch(`${p.url}/v1/charges?limit=100${after ? `&starting_after=${after}` : ''}`);
    const page = (await res.json()) as { data: Charge[]; has_more: boolean };
    all.push(...page.data);
    if (!page.has_more || page.data.length === 0) break;
    after = page.data[page.data.length - 1].id;
  }
  return all.filter((c) => c.metadata.transaction_id === transactionId);
}

const until = (what: string, check: () => Promise<boolean>, ms = 8_000) => untilHolds(what, check, ms);

/** Nothing pending or undelivered in either consumer group. */
async function expectSettled(engine: AsyncEngine): Promise<void> {
  await until('the consumer groups have nothing pending', async () =>
    ((await engine.audit()).events ?? []).every((e) => e.pending === 0 && (e.lag ?? 0) === 0),
  );
}

let honest: Provider;
beforeAll(async () => {
  redis = new Redis(REDIS_URL);
  honest = await provider();
});

afterEach(async () => {
  for (const e of engines.splice(0)) {
    await e.destroy();
    await e.close();
  }
  await stopProviders(providers.splice(1));
});

afterAll(async () => {
  await stopProviders(providers);
  redis.disconnect();
});

describe('async events (pure)', () => {
  it('keeps every stream of a sale under the namespace hash tag', () => {
    const s = asyncStreams('sale1');
    expect(Object.values(s).every((k) => k.startsWith('fs:{sale1}:ev:'))).toBe(true);
    expect(new Set(Object.values(s)).size).toBe(4);
    expect(() => asyncStreams('a:b')).toThrow();
  });

  it('round-trips an event and ignores what is not one', () => {
    expect(parseEvent(eventFields('Order.Created', { corr: 'x', created: true }))).toEqual({
      type: 'Order.Created',
      data: { corr: 'x', created: true },
    });
    expect(parseEvent(null)).toBeUndefined();
    expect(parseEvent(['type', 'Order.Created', 'data', '{nope'])).toBeUndefined();
  });

  it("moves the buyer's clock on by the time a message waited, and creates a hold that ran out meanwhile as of then", () => {
    expect(consumerNow(1_000, 50_000, 50_300)).toBe(1_300);
    expect(consumerNow(1_000, 50_000, 49_000)).toBe(1_000);
    // Order created at the click while the hold lasts, at the consumer's time once it ran out.
    expect(orderCreatedAt({ now: 1_000, sentAt: 50_000, expiresAt: 5_000 }, 50_300)).toBe(1_000);
    expect(orderCreatedAt({ now: 1_000, sentAt: 50_000, expiresAt: 5_000 }, 60_000)).toBe(11_000);
  });

  it('reads a consumer group out of XINFO GROUPS', () => {
    const reply = [
      ['name', 'other', 'pending', 3],
      ['name', ORDER_GROUP, 'consumers', 1, 'pending', 2, 'last-delivered-id', '1-0', 'entries-read', 5, 'lag', 0],
    ];
    expect(parseGroupInfo(reply, ORDER_GROUP)).toEqual({ pending: 2, lag: 0 });
    expect(parseGroupInfo(reply, PAYMENT_GROUP)).toBeUndefined();
  });
});

describe.each(['lua', 'atomic'] as const)('the async %s engine', (strategy) => {
  it('sells the whole stock when every buyer pays: every order Paid, the records agree', async () => {
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
    expect(outcomes.filter((r) => !r.ok).map((r) => (r.ok ? '' : r.reason))).toEqual(Array(5).fill('sold_out'));

    const paid = await Promise.all(holds.map((h) => engine.pay({ orderId: granted(h).orderId })));
    expect(paid.map((p) => p.status)).toEqual(Array(8).fill('paid'));

    const audit = await engine.audit();
    expect(audit.orders.map((o) => o.status)).toEqual(Array(8).fill('Paid'));
    expect(audit.soldBySku).toEqual({ A: 6, B: 4 });
    expect(audit.finality).toMatchObject({ orders: 8, final: 8, pending: 0 });
    expect(audit.finality!.maxMs).toBeGreaterThanOrEqual(audit.finality!.p50Ms);
    expect(await engine.availability('A')).toEqual({ sku: 'A', available: 0 });
    // The steps went over the streams: 8 carts and 8 payment requests, all acknowledged.
    expect(await redis.xlen(engine.streams.carts)).toBe(8);
    expect(await redis.xlen(engine.streams.payRequests)).toBe(8);
    const types = (await redis.xrange(engine.streams.payments, '-', '+')).map(([, f]) => parseEvent(f)?.type);
    expect(types).toEqual(Array(8).fill('Payment.Succeeded'));
    await expectSettled(engine);
    await expectInvariantsHold(engine);
  });
});

describe('async mode', () => {
  it('a worker that only publishes and waits is served by the consumers of the process that set the sale up', async () => {
    const cfg = config('lua', honest.url);
    await sale(cfg);
    const worker = await createAsyncEngine(cfg, { replyTimeoutMs: 8_000 });
    try {
      expect(worker.consumers()).toEqual([]);
      const hold = granted(await worker.reserve({ sku: 'A', qty: 2, user: 'w', clickId: 'w-1' }));
      expect(await worker.pay({ orderId: hold.orderId })).toMatchObject({ status: 'paid', duplicate: false });
    } finally {
      await worker.close();
    }
    await expectInvariantsHold(engines[0]);
  });

  it('a burst of 300 buyers through two workers sells exactly the stock, every order Paid', async () => {
    // A provider of its own: a hundred charges would crowd the shared one's first page.
    const own = await provider();
    const cfg = config('lua', own.url, {
      skus: [
        { sku: 'A', stock: 60, priceMinor: 1250, currency: 'EUR' },
        { sku: 'B', stock: 40, priceMinor: 500, currency: 'EUR' },
      ],
    });
    const main = await sale(cfg);
    const workers = await Promise.all([createAsyncEngine(cfg), createAsyncEngine(cfg)]);
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const w = workers[i % 2];
          const r = await w.reserve({ sku: i % 3 === 0 ? 'B' : 'A', qty: 1, user: `u${i}`, clickId: `c${i}` });
          return r.ok ? (await w.pay({ orderId: r.orderId })).status : r.reason;
        }),
      );
      expect(outcomes.filter((o) => o === 'paid')).toHaveLength(100);
      expect(outcomes.filter((o) => o !== 'paid').every((o) => o === 'sold_out')).toBe(true);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
    }
    const audit = await main.audit();
    expect(audit.soldBySku).toEqual({ A: 60, B: 40 });
    expect(audit.orders.every((o) => o.status === 'Paid')).toBe(true);
    expect(audit.finality).toMatchObject({ orders: 100, final: 100, pending: 0 });
    await expectSettled(main);
    await expectInvariantsHold(main);
  });

  it('makes one order of a double click, and a concurrent double pay charges once', async () => {
    const engine = await sale(config('lua', honest.url));
    const click = { sku: 'A', qty: 1, user: 'u1', clickId: 'click-1' };
    const both = await Promise.all([engine.reserve(click), engine.reserve(click)]);
    const again = await engine.reserve(click);
    const ids = new Set([...both, again].map((r) => granted(r).orderId));
    expect(ids.size).toBe(1);
    expect([...both, again].filter((r) => granted(r).duplicate)).toHaveLength(2);
    const [orderId] = ids;
    const pays = await Promise.all([engine.pay({ orderId }), engine.pay({ orderId })]);
    expect(pays.map((p) => p.status)).toEqual(['paid', 'paid']);
    expect(new Set(pays.map((p) => (p.status === 'paid' ? p.chargeId : ''))).size).toBe(1);
    const audit = await engine.audit();
    expect(audit.orders).toHaveLength(1);
    expect(await chargesOf(honest, audit.orders[0].transactionId)).toHaveLength(1);
    await expectInvariantsHold(engine);
  });

  it('a redelivered cart or payment request changes nothing: no second order, no second charge', async () => {
    const engine = await sale(config('atomic', honest.url));
    const hold = granted(await engine.reserve({ sku: 'B', qty: 1, user: 'u', clickId: 'c' }));
    expect(await engine.pay({ orderId: hold.orderId })).toMatchObject({ status: 'paid' });
    const before = await engine.audit();

    // The very messages again, as a broker redelivers them (same payload, new entries).
    const [[, cart]] = await redis.xrange(engine.streams.carts, '-', '+');
    const [[, payReq]] = await redis.xrange(engine.streams.payRequests, '-', '+');
    for (let i = 0; i < 3; i++) {
      await redis.xadd(engine.streams.carts, '*', ...cart);
      await redis.xadd(engine.streams.payRequests, '*', ...payReq);
    }
    await until(
      'the duplicates were handled',
      async () => (await redis.xlen(engine.streams.payments)) === 4 && (await redis.xlen(engine.streams.orders)) === 4,
    );
    await expectSettled(engine);

    const after = await engine.audit();
    expect(after.orders).toEqual(before.orders);
    expect(after.sales).toEqual(before.sales);
    expect(await chargesOf(honest, after.orders[0].transactionId)).toHaveLength(1);
    // The replays say so.
    const orderEvents = (await redis.xrange(engine.streams.orders, '-', '+')).map(
      ([, f]) => parseEvent<{ created: boolean }>(f)!.data.created,
    );
    expect(orderEvents).toEqual([true, false, false, false]);
    const payEvents = (await redis.xrange(engine.streams.payments, '-', '+')).map(
      ([, f]) => parseEvent<{ outcome: { duplicate: boolean } }>(f)!.data.outcome.duplicate,
    );
    expect(payEvents).toEqual([false, true, true, true]);
    await expectInvariantsHold(engine);
  });

  it('a message a dead consumer left pending is claimed by a restarted consumer, and the order completes', async () => {
    const engine = await sale(config('lua', honest.url), { consumersOnSetup: false, claimIdleMs: 300 });
    const s = engine.streams;
    /** A consumer that reads what is waiting and dies before acknowledging it. */
    const dieWith = async (stream: string, group: string) => {
      await until(`a message is on ${stream}`, async () => (await redis.xlen(stream)) > 0);
      const got = (await redis.xreadgroup('GROUP', group, 'dead-consumer', 'COUNT', 10, 'STREAMS', stream, '>')) as [
        string,
        [string, string[]][],
      ][];
      expect(got[0][1]).toHaveLength(1);
      const [pending] = (await redis.xpending(stream, group)) as [number];
      expect(pending).toBe(1);
    };

    const reserving = engine.reserve({ sku: 'A', qty: 1, user: 'u', clickId: 'c' });
    await dieWith(s.carts, ORDER_GROUP);
    let stop = await engine.startBackground();
    const hold = granted(await reserving);
    expect(engine.consumers()[0].stats.claimed).toBe(1);
    await stop();

    const paying = engine.pay({ orderId: hold.orderId });
    await dieWith(s.payRequests, PAYMENT_GROUP);
    stop = await engine.startBackground();
    expect(await paying).toMatchObject({ status: 'paid', orderId: hold.orderId });
    expect(engine.consumers()[1].stats.claimed).toBe(1);
    await expectSettled(engine);
    await stop();

    const audit = await engine.audit();
    expect(audit.orders.map((o) => o.status)).toEqual(['Paid']);
    expect(await chargesOf(honest, audit.orders[0].transactionId)).toHaveLength(1);
    // The dead consumer holds nothing any more.
    const consumers = (await redis.xinfo('CONSUMERS', s.payRequests, PAYMENT_GROUP)) as unknown[][];
    const dead = consumers.find((c) => c[1] === 'dead-consumer')!;
    expect(dead[3]).toBe(0);
    await expectInvariantsHold(engine);
  });

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
    expect(await engine.pay({ orderId: hold.orderId })).toMatchObject({ status: 'declined', attempts: 0 });
    const audit = await engine.audit();
    expect(audit.orders[0].status).toBe('PaymentFailed');
    expect(audit.soldBySku.A).toBe(0);
    expect(await chargesOf(declining, audit.orders[0].transactionId)).toMatchObject([{ status: 'failed' }]);
    const [[, f]] = await redis.xrange(engine.streams.payments, '-', '+');
    expect(parseEvent(f)?.type).toBe('Payment.Failed');
    await expectInvariantsHold(engine);
  });

  it('refuses a payment the hold would not outlast, gives the units back; the sweeper expires abandoned holds', async () => {
    const engine = await sale(config('atomic', honest.url, { holdTtlMs: 1_000 }));
    const stop = engine.startSweeper();
    try {
      const hold = granted(await engine.reserve({ sku: 'B', qty: 1, user: 'u', clickId: 'c' }));
      expect(await engine.pay({ orderId: hold.orderId })).toEqual({
        status: 'expired',
        orderId: hold.orderId,
        refunded: false,
      });
      const abandoned = granted(await engine.reserve({ sku: 'B', qty: 2, user: 'v', clickId: 'd' }));
      await until(
        'the abandoned order expired',
        async () => (await engine.audit()).orders.find((o) => o.orderId === abandoned.orderId)?.status === 'Expired',
      );
      expect(await engine.availability('B')).toEqual({ sku: 'B', available: 4 });
    } finally {
      await stop();
    }
    expect((await engine.audit()).finality).toMatchObject({ final: 2, pending: 0 });
    await expectInvariantsHold(engine);
  });

  it('answers an unknown order as sync mode does, and needs Redis', async () => {
    const engine = await sale(config('atomic', honest.url));
    await expect(engine.pay({ orderId: 'ord_nope' })).rejects.toMatchObject({ code: 'unknown_order' });
    await expect(createAsyncEngine({ ...config('atomic', honest.url), redisUrl: undefined })).rejects.toThrow(/Redis/);
  });
});
