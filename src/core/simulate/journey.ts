// One buyer's journey through the sale: look at the stock, reserve (maybe twice, as double
// clicks and client retries do), then pay or walk away. Bots hammer reserve instead. Pure
// orchestration over a SaleApi, so the direct and HTTP transports run the same journeys.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Histogram } from '../histogram.js';
import { newHistogram } from '../histogram.js';
import type { SaleApi, ReserveOutcome } from '../engine/types.js';
import type { Scenario } from '../scenario.js';
import { TimelineRecorder } from './timeline.js';
import type { JourneyCounters } from '../documents/simulate.js';

/** What the journeys count: the document's counters (documents/simulate.ts describes each). */
export type { JourneyCounters };

export function emptyJourneyCounters(): JourneyCounters {
  return {
    journeys: 0,
    availabilityChecks: 0,
    sawSoldOut: 0,
    reserveCalls: 0,
    orders: 0,
    duplicatesSuppressed: 0,
    soldOut: 0,
    limitExceeded: 0,
    rateLimited: 0,
    conflicts: 0,
    abandoned: 0,
    paid: 0,
    declined: 0,
    expired: 0,
    payFailed: 0,
    errors: 0,
    botCalls: 0,
    botOrders: 0,
  };
}

/** Fairness: per SKU, when (ms into the run) buyers were refused as sold out, and the last arrival that got stock. */
export interface FairnessTrace {
  /** sku → { bucket (FAIRNESS_BUCKET_MS wide) → sold-out refusals of arrivals in it } */
  refusals: Record<string, Record<number, number>>;
  /** sku → the latest arrival offset (ms) that was granted stock. */
  lastGrantMs: Record<string, number>;
}

export const FAIRNESS_BUCKET_MS = 10;

/**
 * What the buyers were told, tallied from the answers alone: how an external target is judged
 * (docs/design.md#a-target-judged-from-the-buyers-side), where the records are not ours to read.
 */
export interface BuyersTally {
  /** sku → units of the distinct orders the target granted, and of those it answered paid. */
  granted: Record<string, number>;
  paid: Record<string, number>;
  /** Clicks answered with more than one order (double clicks and retries carry the same click id). */
  clickConflicts: number;
  firstClickConflict?: string;
  /** The charge of every order answered paid (a charge paying two orders is a double payment). */
  charges: [orderId: string, chargeId: string][];
}

export interface JourneyRecorder {
  counters: JourneyCounters;
  reserve: Histogram;
  pay: Histogram;
  endToEnd: Histogram;
  fairness: FairnessTrace;
  errorSamples: string[];
  tally: BuyersTally;
  /** What the last payment the provider gave no answer to was told (its status and body excerpt). */
  lastPayFailure?: string;
  /** The same events per time bucket, for the report's charts. */
  timeline: TimelineRecorder;
}

export function newRecorder(): JourneyRecorder {
  return {
    counters: emptyJourneyCounters(),
    reserve: newHistogram(),
    pay: newHistogram(),
    endToEnd: newHistogram(),
    fairness: { refusals: {}, lastGrantMs: {} },
    errorSamples: [],
    tally: { granted: {}, paid: {}, clickConflicts: 0, charges: [] },
    timeline: new TimelineRecorder(),
  };
}

export interface Buyer {
  /** Arrival index (unique across workers): makes click ids unique. */
  index: number;
  /** Intended arrival, ms from the run's start (latency of the whole journey counts from it). */
  atMs: number;
  user: string;
  sku: string;
  qty: number;
  bot: boolean;
  abandon: boolean;
  /** The buyer's own pause between the hold and paying, ms. */
  payAfterMs: number;
  doubleClick: boolean;
  retry: boolean;
}

/** Draws buyer `index`'s traits from the seeded stream (the same seed gives the same buyers). */
export function drawBuyer(
  index: number,
  atMs: number,
  scenario: Scenario,
  rand: () => number,
  pickSku: () => number,
): Buyer {
  const b = scenario.buyers;
  const bot = rand() < b.bots.fraction;
  // bots come from a small pool so the per-user rate limit sees the same "user" hammering
  const user = bot
    ? `bot${Math.floor(rand() * Math.max(1, Math.ceil(b.users * b.bots.fraction)))}`
    : `u${Math.floor(rand() * b.users)}`;
  return {
    index,
    atMs,
    user,
    sku: scenario.skus[pickSku()].sku,
    qty: b.qty.min + Math.floor(rand() * (b.qty.max - b.qty.min + 1)),
    bot,
    abandon: rand() < b.abandonRate,
    // Drawn only when it varies, so scenarios without a pause keep the buyers they always had.
    payAfterMs:
      b.payAfterMs.max > b.payAfterMs.min
        ? b.payAfterMs.min + Math.floor(rand() * (b.payAfterMs.max - b.payAfterMs.min + 1))
        : b.payAfterMs.min,
    doubleClick: rand() < b.doubleClickRate,
    retry: rand() < b.retryRate,
  };
}

const us = (ms: number) => Math.max(1, Math.round(ms * 1000));

function noteError(rec: JourneyRecorder, err: unknown): void {
  rec.counters.errors++;
  if (rec.errorSamples.length < 5) rec.errorSamples.push((err as Error)?.message ?? String(err));
}

function noteTurnedAway(rec: JourneyRecorder, buyer: Buyer): void {
  const bucket = Math.floor(buyer.atMs / FAIRNESS_BUCKET_MS);
  const perSku = (rec.fairness.refusals[buyer.sku] ??= {});
  perSku[bucket] = (perSku[bucket] ?? 0) + 1;
}

function addUnits(into: Record<string, number>, sku: string, qty: number): void {
  into[sku] = (into[sku] ?? 0) + qty;
}

/** One click's answers: the units of each distinct order granted, and a conflict if there are two. */
function tallyGrants(tally: BuyersTally, clickId: string, answers: ReserveOutcome[]): void {
  const orders = new Map<string, Extract<ReserveOutcome, { ok: true }>>();
  for (const a of answers) if (a.ok) orders.set(a.orderId, a);
  for (const a of orders.values()) addUnits(tally.granted, a.sku, a.qty);
  if (orders.size > 1) {
    tally.clickConflicts++;
    tally.firstClickConflict ??= `click ${clickId} was answered with ${orders.size} orders (${[...orders.keys()].join(', ')})`;
  }
}

function noteRefusal(rec: JourneyRecorder, buyer: Buyer, out: Extract<ReserveOutcome, { ok: false }>): void {
  const c = rec.counters;
  if (out.reason === 'sold_out') {
    c.soldOut++;
    noteTurnedAway(rec, buyer);
  } else if (out.reason === 'limit_exceeded') c.limitExceeded++;
  else if (out.reason === 'rate_limited') c.rateLimited++;
  else c.conflicts++;
}

/**
 * Runs one journey. `startedAt` is the epoch ms the run's offsets count from; `now` the clock.
 * Never throws: every failure is counted, so one bad request cannot end a worker's run.
 */
export async function runJourney(
  api: SaleApi,
  buyer: Buyer,
  scenario: Scenario,
  rec: JourneyRecorder,
  startedAt: number,
  now: () => number,
  runId = '',
): Promise<void> {
  const c = rec.counters;
  c.journeys++;
  rec.timeline.noteStarted(now() - startedAt);
  // The run's id keeps two runs against one system (--target, serve) from sending each other's
  // click ids: the second would be all double clicks of the first.
  const clickId = `${runId}c${buyer.index}`;
  try {
    if (buyer.bot) {
      // A bot fires its requests back to back with fresh click ids; the rate limit must stop it.
      for (let i = 0; i < scenario.buyers.bots.requestsPerArrival; i++) {
        c.reserveCalls++;
        c.botCalls++;
        const out = await api.reserve({ sku: buyer.sku, qty: buyer.qty, user: buyer.user, clickId: `${clickId}.${i}` });
        if (out.ok) {
          if (!out.duplicate) addUnits(rec.tally.granted, out.sku, out.qty);
          c.botOrders++;
          c.orders++;
          rec.timeline.noteOrder(now() - startedAt);
        } else noteRefusal(rec, buyer, out);
      }
      return;
    }
    if (scenario.buyers.checkAvailability) {
      c.availabilityChecks++;
      // A person who sees "sold out" on the product page does not click buy. (Bots, above, do
      // not look.) They were turned away all the same, so fairness counts them.
      const { available } = await api.availability(buyer.sku);
      if (available < buyer.qty) {
        c.sawSoldOut++;
        noteTurnedAway(rec, buyer);
        return;
      }
    }
    const t0 = now();
    const call = () => api.reserve({ sku: buyer.sku, qty: buyer.qty, user: buyer.user, clickId });
    c.reserveCalls += buyer.doubleClick ? 2 : 1;
    const answers = buyer.doubleClick ? await Promise.all([call(), call()]) : [await call()];
    if (buyer.retry) {
      // the client lost the answer and sends the same click again
      c.reserveCalls++;
      answers.push(await call());
    }
    const answered = now();
    rec.reserve.recordValue(us(answered - t0));
    rec.timeline.noteReserve(t0 - startedAt, us(answered - t0));
    const granted = answers.find((a): a is Extract<ReserveOutcome, { ok: true }> => a.ok);
    for (const a of answers) if (a.ok && a.duplicate) c.duplicatesSuppressed++;
    tallyGrants(rec.tally, clickId, answers);
    if (!granted) {
      noteRefusal(rec, buyer, answers[0] as Extract<ReserveOutcome, { ok: false }>);
      return;
    }
    if (answers.some((a) => a.ok && !a.duplicate)) {
      c.orders++;
      rec.timeline.noteOrder(answered - startedAt);
    }
    rec.fairness.lastGrantMs[buyer.sku] = Math.max(rec.fairness.lastGrantMs[buyer.sku] ?? 0, buyer.atMs);
    if (buyer.abandon) {
      c.abandoned++;
      return;
    }
    if (buyer.payAfterMs > 0) await sleep(buyer.payAfterMs);
    const t1 = now();
    const paid = await api.pay({ orderId: granted.orderId });
    rec.pay.recordValue(us(now() - t1));
    if (paid.status === 'paid') {
      c.paid++;
      addUnits(rec.tally.paid, granted.sku, granted.qty);
      rec.tally.charges.push([granted.orderId, paid.chargeId]);
    } else if (paid.status === 'declined') c.declined++;
    else if (paid.status === 'expired') c.expired++;
    else {
      c.payFailed++;
      rec.lastPayFailure = paid.error;
    }
    // The system's time from the intended arrival to the final answer; the buyer's pause is theirs.
    rec.endToEnd.recordValue(us(now() - (startedAt + buyer.atMs) - buyer.payAfterMs));
  } catch (err) {
    noteError(rec, err);
  } finally {
    rec.timeline.noteCompleted(now() - startedAt);
  }
}
