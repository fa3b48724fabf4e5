// Pure parts of simulate: oversell over the orders' lifetimes, merging workers, orders = buyers.
import { describe, expect, it } from 'vitest';
import { peakOversell } from '../../../../src/core/engine/invariants.js';
import type { OrderRecord, OrderStatus } from '../../../../src/core/engine/types.js';
import { emptyJourneyCounters, type BuyersTally } from '../../../../src/core/simulate/journey.js';
import { buyersTallyInvariants, mergeSimResults, ordersMatchBuyers } from '../../../../src/core/simulate/run.js';
import { encodeHistogram, newHistogram } from '../../../../src/core/histogram.js';
import type { SimWorkerResult } from '../../../../src/core/simulate/worker.js';

let n = 0;
const order = (createdAt: number, updatedAt: number, status: OrderStatus, qty = 1, sku = 'A'): OrderRecord => ({
  orderId: `o${++n}`,
  reservationId: `r${n}`,
  clickId: `c${n}`,
  sku,
  qty,
  user: `u${n}`,
  amountMinor: 100,
  currency: 'EUR',
  status,
  transactionId: `t${n}`,
  createdAt,
  updatedAt,
});

describe('no oversell at any moment', () => {
  it('passes units handed on as holds expire, even in the same millisecond', () => {
    const orders = [
      order(0, 10, 'Expired'),
      order(10, 20, 'Paid'),
      order(5, 10, 'PaymentFailed'),
      order(10, 10, 'Paid'),
    ];
    expect(peakOversell(orders, { A: 2 })).toMatchObject({ ok: true });
  });
  it('catches holds that overlapped beyond the stock although they all ended', () => {
    const orders = [order(0, 50, 'Expired', 2), order(10, 60, 'Expired'), order(20, 30, 'PaymentFailed')];
    const r = peakOversell(orders, { A: 2 });
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/^A: 4 units held or sold at once at 1970-01-01T00:00:00.020Z, stock 2 \(oversold by 2\)/);
  });
  it('keeps paid units for good', () => {
    expect(peakOversell([order(0, 1, 'Paid'), order(5, 6, 'Paid'), order(100, 200, 'Expired')], { A: 2 }).ok).toBe(
      false,
    );
  });
});

describe('orders = buyers', () => {
  it('must match exactly when nothing errored, and may exceed by the errors otherwise', () => {
    const c = { ...emptyJourneyCounters(), orders: 10 };
    expect(ordersMatchBuyers(c, 10).ok).toBe(true);
    expect(ordersMatchBuyers(c, 11)).toMatchObject({
      ok: false,
      detail: '11 orders recorded but buyers were told of 10 new ones',
    });
    expect(ordersMatchBuyers({ ...c, errors: 2 }, 12).ok).toBe(true);
    expect(ordersMatchBuyers({ ...c, errors: 2 }, 13).ok).toBe(false);
  });
});

describe('merging simulate workers', () => {
  const worker = (
    i: number,
    values: number[],
    refusals: Record<number, number>,
    lastGrantMs: number,
  ): SimWorkerResult => {
    const h = newHistogram();
    for (const v of values) h.recordValue(v);
    return {
      workerIndex: i,
      counters: { ...emptyJourneyCounters(), journeys: values.length, soldOut: 3 },
      reserve: encodeHistogram(h),
      pay: encodeHistogram(newHistogram()),
      endToEnd: encodeHistogram(h),
      lateness: encodeHistogram(newHistogram()),
      droppedLate: 1,
      droppedInFlightCap: 2,
      peakInFlight: 5,
      fairness: { refusals: { A: refusals }, lastGrantMs: { A: lastGrantMs } },
      startedAt: 1000 + i,
      endedAt: 2000 + i,
      errorSamples: [],
      tally: {
        granted: { A: values.length },
        paid: { A: 1 },
        clickConflicts: i,
        ...(i ? { firstClickConflict: `click c${i}` } : {}),
        charges: [[`o${i}`, `ch_${i}`]],
      },
    };
  };
  it('adds counters and drops, merges histograms, and counts refusals before a later grant as unfair', () => {
    const m = mergeSimResults([worker(0, [100, 200, 300], { 0: 2, 5: 1 }, 40), worker(1, [400], { 3: 4 }, 55)]);
    expect(m.counters.journeys).toBe(4);
    expect(m.droppedLate + m.droppedInFlightCap).toBe(6);
    expect(m.h.reserve.totalCount).toBe(4);
    expect(m.h.reserve.maxValue).toBeGreaterThanOrEqual(400);
    // buckets 0 and 3 (0-10 ms, 30-40 ms) lie wholly before the last grant at 55 ms; bucket 5 (50-60) does not
    expect(m.unfairRefusals).toBe(2 + 4);
    // the buyers' tallies add up (what an external --target is judged by)
    expect(m.tally).toEqual({
      granted: { A: 4 },
      paid: { A: 2 },
      clickConflicts: 1,
      firstClickConflict: 'click c1',
      charges: [
        ['o0', 'ch_0'],
        ['o1', 'ch_1'],
      ],
    });
  });
});

describe("an external target's buyers' tally", () => {
  const skus = [{ sku: 'A', stock: 2 }];
  const tally = (over: Partial<BuyersTally> = {}): BuyersTally => ({
    granted: { A: 3 },
    paid: { A: 2 },
    clickConflicts: 0,
    charges: [
      ['o1', 'ch_1'],
      ['o2', 'ch_2'],
    ],
    ...over,
  });
  const failedOf = (t: BuyersTally) => buyersTallyInvariants(t, skus).filter((i) => !i.ok);
  it('holds when the units answered paid are within the stock, each order with its own charge', () => {
    expect(failedOf(tally())).toEqual([]);
  });
  it('names the SKU and the amount when more was answered paid than there is stock', () => {
    expect(failedOf(tally({ paid: { A: 5 } }))).toEqual([
      expect.objectContaining({ detail: 'A: the target took payment for 5 units of 2 (oversold by 3)' }),
    ]);
  });
  it('catches a click answered with two orders and a charge answered for two orders', () => {
    const t = tally({
      clickConflicts: 1,
      firstClickConflict: 'click c1 was answered with 2 orders (o1, o3)',
      charges: [
        ['o1', 'ch_1'],
        ['o2', 'ch_1'],
      ],
    });
    expect(failedOf(t).map((i) => i.name)).toEqual(['one order per click', 'paid once']);
  });
});

describe('a buyer journey', () => {
  const scenario = {
    buyers: { checkAvailability: true, bots: { fraction: 0, requestsPerArrival: 1 }, qty: { min: 1, max: 1 } },
  } as unknown as import('../../../../src/core/scenario.js').Scenario;
  const buyer = {
    index: 1,
    atMs: 5,
    user: 'u1',
    sku: 'A',
    qty: 1,
    bot: false,
    abandon: false,
    doubleClick: false,
    retry: false,
  };
  it('leaves without reserving when the page shows the SKU sold out, and counts as turned away', async () => {
    const { newRecorder, runJourney } = await import('../../../../src/core/simulate/journey.js');
    const calls: string[] = [];
    const api = {
      availability: async () => (calls.push('availability'), { sku: 'A', available: 0 }),
      reserve: async () => (calls.push('reserve'), { ok: false as const, reason: 'sold_out' as const }),
      pay: async () => ({ status: 'failed' as const, orderId: '', error: '', attempts: 0 }),
      close: async () => {},
    };
    const rec = newRecorder();
    await runJourney(api, buyer, scenario, rec, 0, () => 0);
    expect(calls).toEqual(['availability']);
    expect(rec.counters).toMatchObject({ journeys: 1, sawSoldOut: 1, reserveCalls: 0, soldOut: 0 });
    expect(rec.fairness.refusals.A).toEqual({ 0: 1 });
  });

  it('sends click ids prefixed with its run id, so two runs against one system never share one', async () => {
    const { newRecorder, runJourney } = await import('../../../../src/core/simulate/journey.js');
    const clicks: string[] = [];
    const api = {
      availability: async () => ({ sku: 'A', available: 5 }),
      reserve: async (r: { clickId: string }) => (
        clicks.push(r.clickId),
        { ok: false as const, reason: 'sold_out' as const }
      ),
      pay: async () => ({ status: 'failed' as const, orderId: '', error: '', attempts: 0 }),
      close: async () => {},
    };
    await runJourney(api as never, buyer, scenario, newRecorder(), 0, () => 0, 'run1-');
    await runJourney(api as never, buyer, scenario, newRecorder(), 0, () => 0, 'run2-');
    expect(clicks).toEqual(['run1-c1', 'run2-c1']);
  });
});
