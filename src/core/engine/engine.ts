// The sale engine in sync mode: reserve → order → pay → finalize, by direct calls. One instance
// per worker thread, each with its own connections; setup() runs once, in the main process.
// One file past 400 lines on purpose: every step's crash-safety argument below refers to the
// others, and split across files it could no longer be checked in one reading.
//
// Crash safety comes from ordering, not from a distributed transaction:
// - reserve takes the hold first and writes the order second. A crash in between leaves a hold
//   with no order; it expires and the sweeper puts its units back, and a retried click finds the
//   hold (same idempotency key) and creates the missing order then.
// - pay binds the provider's charge to the order (claimCharge) before confirming the hold, so the
//   sweeper never expires an order whose money is on its way, and exactly one of several
//   concurrent pays of an order confirms or refunds it.
import type pg from 'pg';
import { UsageError } from '../errors.js';
import { connectPostgres, fillPool, retryConnectionLost } from '../postgres/client.js';
import { connectRedis, connectRedisCluster, type RedisConnection } from '../redis/client.js';
import { defineScripts } from '../redis/scripts.js';
import {
  createStrategy,
  type LedgerEntry,
  type Reservation,
  type ReservationState,
  type Strategy,
} from '../strategies/index.js';
import { OrderStore, orderSchemaIdent, reservationOf, type NewOrder, type StoredOrder } from './orders.js';
import { PaymentClient, worstCaseMs, type ChargeAnswer } from './payments.js';
import { RateLimiter } from './rate-limit.js';
import { PaymentRecovery, type RecoveryOptions } from './recovery.js';
import { startSweepLoop, type LoopFailures } from './sweeper.js';
import type {
  Engine,
  EngineConfig,
  OrderFinality,
  OrderRecord,
  OrderStatus,
  PayOutcome,
  PayRequest,
  RecoveryTally,
  ReserveOutcome,
  ReserveRequest,
  SaleAudit,
  SkuConfig,
  StoreRebuild,
} from './types.js';

/** A buyer's request the engine cannot act on (unknown SKU or order, bad quantity): a 4xx over HTTP. */
export class SaleRequestError extends Error {
  constructor(
    readonly code: 'unknown_sku' | 'unknown_order' | 'bad_request',
    message: string,
  ) {
    super(message);
    this.name = 'SaleRequestError';
  }
}

const ORDER_POOL = 10;
/**
 * After a rebuild, orders changed from this long before it are compared with the rebuilt ledger
 * (a status written while the orders were being read, stamped by its writer's clock a moment
 * before), until this long past the slowest payment.
 */
const RESYNC_MARGIN_MS = 10_000;

const STATE_OF: Record<OrderStatus, ReservationState> = {
  PendingPayment: 'held',
  Paid: 'sold',
  PaymentFailed: 'released',
  Expired: 'expired',
};

/** The ledger entry an order's reservation has where the order's status is the truth. */
function ledgerEntryOf(o: StoredOrder): LedgerEntry {
  return { ...reservationOf(o), state: STATE_OF[o.status] };
}
/** How often a pay that lost the race for an order looks whether the winner has finished. */
const AWAIT_POLL_MS = 20;

function validate(config: EngineConfig): void {
  orderSchemaIdent(config.namespace);
  const seen = new Set<string>();
  if (config.skus.length === 0) throw new UsageError('skus: expected at least one SKU');
  for (const [i, s] of config.skus.entries()) {
    if (seen.has(s.sku)) throw new UsageError(`skus[${i}].sku: "${s.sku}" appears twice`);
    seen.add(s.sku);
    if (!Number.isInteger(s.stock) || s.stock < 0)
      throw new UsageError(`skus[${i}].stock: expected a whole number >= 0, got ${s.stock}`);
    if (!Number.isInteger(s.priceMinor) || s.priceMinor < 0)
      throw new UsageError(`skus[${i}].priceMinor: expected whole minor units >= 0, got ${s.priceMinor}`);
    if (!/^[A-Z]{3}$/.test(s.currency))
      throw new UsageError(
        `skus[${i}].currency: expected an ISO 4217 code in upper case, got ${JSON.stringify(s.currency)}`,
      );
  }
  if (!(config.holdTtlMs > 0)) throw new UsageError(`holdTtlMs: expected > 0, got ${config.holdTtlMs}`);
  const p = config.payment;
  if (!(p.timeoutMs > 0) || !Number.isInteger(p.retries) || p.retries < 0 || !(p.backoffMs >= 0)) {
    throw new UsageError(
      `payment: expected timeoutMs > 0, whole retries >= 0 and backoffMs >= 0, got ${JSON.stringify(p)}`,
    );
  }
  if (config.rateLimit && !config.redisUrl && !config.redisCluster?.length)
    throw new UsageError('rateLimit: the per-user rate limit lives in Redis; give a Redis URL or drop the rate limit');
}

export async function createEngine(config: EngineConfig): Promise<Engine> {
  return openSaleEngine(config);
}

/** createEngine's engine as its class, for the async engine (async-engine.ts), which reuses its parts. */
export async function openSaleEngine(config: EngineConfig): Promise<SaleEngine> {
  validate(config);
  // Thousands of buyers in flight per worker: one socket write per tick instead of one per
  // command (profiled: socket writes were over a third of a black-friday worker's CPU).
  const strategy = await createStrategy(config.strategy, {
    namespace: config.namespace,
    redisUrl: config.redisUrl,
    redisCluster: config.redisCluster,
    databaseUrl: config.databaseUrl,
    autoPipelining: true,
  });
  const opened: { close(): Promise<unknown> }[] = [strategy];
  try {
    // SKUs are read lazily: this instance may be the one that is about to load them.
    await strategy.connect([]);
    const pool = await connectPostgres(config.databaseUrl, 'the sale engine', ORDER_POOL);
    opened.push({ close: () => pool.end() });
    await fillPool(pool, ORDER_POOL);
    let redis: RedisConnection | undefined;
    if (config.rateLimit) {
      // One key per user, so one slot per call: the token bucket runs on a cluster as it is.
      redis = config.redisCluster?.length
        ? await connectRedisCluster(config.redisCluster, 'the per-user rate limit', { enableAutoPipelining: true })
        : await connectRedis(config.redisUrl!, 'the per-user rate limit', { enableAutoPipelining: true });
      const r = redis;
      opened.push({ close: () => r.quit() });
    }
    return new SaleEngine(config, strategy, pool, redis);
  } catch (err) {
    await Promise.allSettled(opened.map((c) => c.close()));
    throw err;
  }
}

/** What a reserve's hold came to: a refusal to answer at once, or a hold that needs its order. */
export type HoldResult =
  | { ok: false; outcome: ReserveOutcome }
  | { ok: true; sku: SkuConfig; reservation: Reservation; duplicate: boolean; now: number };

/**
 * What the async engine needs of the sync one: the hold, the order and the pay path as
 * methods, so it never reaches into the sync engine's parts.
 */
export interface SaleSteps extends Omit<Engine, 'reserve'> {
  hold(req: ReserveRequest): Promise<HoldResult>;
  /** The order of a hold, created once (idempotent by reservation and by click). */
  orderFor(o: NewOrder): Promise<{ order: StoredOrder; created: boolean }>;
  order(orderId: string): Promise<StoredOrder | undefined>;
}

export class SaleEngine implements Engine, SaleSteps {
  readonly orders: OrderStore;
  private readonly payments: PaymentClient;
  private readonly recovery: PaymentRecovery;
  private readonly limiter?: RateLimiter;
  private readonly skus: Map<string, SkuConfig>;
  private readonly sweepers = new Set<() => Promise<unknown>>();
  private stopBackground?: () => Promise<void>;
  private readonly rebuilds: StoreRebuild[] = [];
  /** After a rebuild: the SKUs whose orders are compared with the rebuilt ledger, changed since `since`, until `until`. */
  private resync?: { skus: Set<string>; since: number; until: number; rebuild: StoreRebuild };
  private restoring?: Promise<void>;

  constructor(
    readonly config: EngineConfig,
    readonly strategy: Strategy,
    private readonly pool: pg.Pool,
    private readonly redis?: RedisConnection,
  ) {
    this.orders = new OrderStore(pool, orderSchemaIdent(config.namespace));
    this.payments = new PaymentClient(config.providerUrl, config.providerSecret, config.payment);
    if (redis && config.rateLimit)
      this.limiter = new RateLimiter(defineScripts(redis), config.namespace, config.rateLimit);
    this.skus = new Map(config.skus.map((s) => [s.sku, s]));
    this.recovery = new PaymentRecovery(this.orders, strategy, this.payments, () => this.restoreStore());
  }

  async setup(): Promise<void> {
    // Each step may run twice when a connection is cut under it: no buyer is in yet, the schemas
    // are dropped and made again, the sale row is an upsert, the stock is loaded afresh.
    await retryConnectionLost('creating the order tables', () => this.orders.create());
    const { providerSecret: _secret, redisUrl: _r, redisCluster, databaseUrl: _d, ...rest } = this.config;
    await retryConnectionLost('recording the sale', () =>
      this.orders.openSale({ ...rest, cluster: Boolean(redisCluster?.length) }, Date.now()),
    );
    await retryConnectionLost('loading the stock', () =>
      this.strategy.load(
        this.config.skus.map(({ sku, stock }) => ({ sku, stock })),
        { perUserLimit: this.config.perUserLimit },
      ),
    );
    // The queue strategy's consumers run once per sale, in the process that loaded the stock.
    this.stopBackground = await this.strategy.startBackground?.();
  }

  private sku(sku: string): SkuConfig {
    const s = this.skus.get(sku);
    if (!s) throw new SaleRequestError('unknown_sku', `no SKU "${sku}" in this sale`);
    return s;
  }

  async availability(sku: string): Promise<{ sku: string; available: number }> {
    this.sku(sku);
    if (this.strategy.available) return { sku, available: await this.strategy.available(sku) };
    const snap = await this.strategy.snapshot();
    return { sku, available: snap.skus.find((s) => s.sku === sku)?.available ?? 0 };
  }

  async reserve(req: ReserveRequest): Promise<ReserveOutcome> {
    const h = await this.hold(req);
    if (!h.ok) return h.outcome;
    const { order } = await this.orders.orderFor(newOrderOf(h, req.clickId, h.now));
    return reserveOutcome(order, h.duplicate);
  }

  /** The first half of a reserve: the rate limit and the strategy's hold, no order yet. */
  async hold(req: ReserveRequest): Promise<HoldResult> {
    const sku = this.sku(req.sku);
    if (!Number.isInteger(req.qty) || req.qty < 1)
      throw new SaleRequestError('bad_request', `qty: expected a whole number >= 1, got ${req.qty}`);
    const now = req.now ?? Date.now();
    if (this.limiter) {
      // Before the strategy: a refused bot must cost the stock store nothing.
      const d = await this.limiter.take(req.user, now);
      if (!d.allowed)
        return { ok: false, outcome: { ok: false, reason: 'rate_limited', retryAfterMs: d.retryAfterMs } };
    }
    const r = await this.strategy.reserve({
      sku: req.sku,
      qty: req.qty,
      user: req.user,
      idempotencyKey: req.clickId,
      ttlMs: this.config.holdTtlMs,
      now,
    });
    if (!r.ok) return { ok: false, outcome: { ok: false, reason: r.reason } };
    // A click id is one buyer's: another buyer replaying it is refused, never handed that order.
    if (r.duplicate && r.reservation.user !== req.user)
      throw new SaleRequestError('bad_request', `clickId: "${req.clickId}" is another buyer's click on ${req.sku}`);
    // The order's life starts when the units were granted, not when the request arrived: a
    // request that waited while an expiring hold was swept must not look as if it overlapped it
    // (the "no oversell at any moment" sweep over order lifetimes would see a phantom oversell).
    return { ok: true, sku, reservation: r.reservation, duplicate: r.duplicate, now: req.now ?? Date.now() };
  }

  orderFor(o: NewOrder): Promise<{ order: StoredOrder; created: boolean }> {
    return this.orders.orderFor(o);
  }

  order(orderId: string): Promise<StoredOrder | undefined> {
    return this.orders.get(orderId);
  }

  async pay(req: PayRequest): Promise<PayOutcome> {
    // The caller's clock moves on with real time, so a test's frozen `now` still sees time pass.
    const t0 = req.now ?? Date.now();
    const started = performance.now();
    const now = () => Math.round(t0 + (performance.now() - started));
    // The common case in one round trip: the order is opened for payment (payment recovery's mark
    // goes on before the charge request can go out) and read.
    const worst = worstCaseMs(this.config.payment);
    const begun = await this.orders.beginCharge(req.orderId, t0, t0 + worst);
    const order = begun ?? (await this.orders.get(req.orderId));
    if (!order) throw new SaleRequestError('unknown_order', `no order "${req.orderId}" in this sale`);
    if (!begun) {
      if (order.status !== 'PendingPayment') return settled(order);
      if (order.chargeId) return this.awaitFinal(order.orderId);
      // Pending and unclaimed, yet not opened: the hold ends before a charge started now surely
      // would. Charging could outlast it: the buyer would be charged for units back on sale.
      if (!(await this.orders.markExpired(order, t0))) return this.answerFromRecord(order.orderId);
      await this.strategy.release(reservationOf(order));
      return { status: 'expired', orderId: order.orderId, refunded: false };
    }
    // The whole charge, every retry included, ends by the worst case counted from the start of
    // this pay, which the check above put before the hold's end: the time spent reading the order
    // counts against it. Real time, not the caller's clock (tests move theirs). An answer that
    // never comes leaves the order to payment recovery (its mark is on).
    const answer = await this.payments.charge(order, Date.now() + worst - (performance.now() - started));
    if (answer.kind === 'failed')
      return { status: 'failed', orderId: order.orderId, error: answer.error, attempts: answer.attempts };
    if (answer.kind === 'declined') {
      if (!(await this.orders.markDeclined(order, answer.chargeId, answer.code, now())))
        return this.answerFromRecord(order.orderId);
      // The decline is the buyer's answer whatever happens next; units a failed release leaves
      // held are payment recovery's to give back.
      await this.strategy
        .release(reservationOf(order))
        .then(() => this.orders.settleRecovery(order.orderId, 'release'))
        .catch(() => undefined);
      return { status: 'declined', orderId: order.orderId, code: answer.code, attempts: answer.attempts };
    }
    return this.finalizeCharge(order, answer, now);
  }

  /** The provider took the money: confirm the hold and record the sale, or give the money back. */
  private async finalizeCharge(
    order: StoredOrder,
    answer: Extract<ChargeAnswer, { kind: 'paid' }>,
    now: () => number,
  ): Promise<PayOutcome> {
    const { chargeId, attempts } = answer;
    if (!(await this.orders.claimCharge(order.orderId, chargeId, now()))) {
      const current = await this.orders.get(order.orderId);
      if (current?.status === 'Paid')
        return {
          status: 'paid',
          orderId: order.orderId,
          chargeId: current.chargeId ?? chargeId,
          attempts,
          duplicate: true,
        };
      if (current?.status === 'PendingPayment') return this.awaitFinal(order.orderId);
      // Expired by the sweeper (or a refused pay) while the charge was on its way.
      return this.refund(order, chargeId, now);
    }
    if (await this.strategy.confirm(reservationOf(order), now())) {
      if (await this.orders.markPaid(order, chargeId, now()))
        return { status: 'paid', orderId: order.orderId, chargeId, attempts, duplicate: false };
      // Payment recovery may have finished the order while this payer was slow: the record says.
      const current = await this.orders.get(order.orderId);
      if (current?.status === 'Paid' && current.chargeId === chargeId)
        return { status: 'paid', orderId: order.orderId, chargeId, attempts, duplicate: false };
      // Otherwise unreachable while we hold the claim; if it happens the records must say so.
      throw new Error(
        `order ${order.orderId}: hold confirmed and charge ${chargeId} claimed, but the order could not be marked Paid`,
      );
    }
    // The hold ran out between the provider's answer and the confirm; give its units back now
    // rather than at the next sweep (false if the sweeper already did). The order's end is
    // stamped before the units go back, so its recorded life never ends after someone else's
    // order on the same units begins.
    const endedAt = now();
    await this.strategy.release(reservationOf(order));
    return this.refund(order, chargeId, () => endedAt);
  }

  private async refund(order: StoredOrder, chargeId: string, now: () => number): Promise<PayOutcome> {
    let refunded = true;
    try {
      await this.payments.refund(order.orderId, chargeId);
    } catch {
      // The order still ends Expired and bound to the charge; the unrefunded charge is
      // reconciliation's to find (the local books have no succeeded transaction for it).
      refunded = false;
    }
    await this.orders.markExpired(order, now(), { id: chargeId, refunded });
    return { status: 'expired', orderId: order.orderId, refunded };
  }

  /** Another pay of the same order holds its charge: wait (bounded) for it to finish. */
  private async awaitFinal(orderId: string): Promise<PayOutcome> {
    const deadline = performance.now() + worstCaseMs(this.config.payment);
    for (;;) {
      const order = await this.orders.get(orderId);
      if (order && order.status !== 'PendingPayment') return settled(order);
      if (performance.now() > deadline)
        return { status: 'failed', orderId, error: 'another payment of this order is still in progress', attempts: 0 };
      await new Promise((r) => setTimeout(r, AWAIT_POLL_MS));
    }
  }

  private async answerFromRecord(orderId: string): Promise<PayOutcome> {
    const order = await this.orders.get(orderId);
    if (!order) throw new SaleRequestError('unknown_order', `no order "${orderId}" in this sale`);
    return order.status === 'PendingPayment' ? this.awaitFinal(orderId) : settled(order);
  }

  async sweep(now: number): Promise<{ units: number; orders: number }> {
    await this.restoreStore();
    const units = await this.strategy.sweepExpired(now);
    const orders = await this.orders.expireDue(now);
    return { units, orders };
  }

  storeRebuilds(): StoreRebuild[] {
    return this.rebuilds.map((r) => ({ ...r, skus: [...r.skus] }));
  }

  /**
   * A stock store that lost its data (a Redis restarted empty) is written back from the orders,
   * the sale's record (docs/design.md#a-store-that-lost-its-data). One at a time: the sweeper and
   * payment recovery both ask before they read a hold.
   */
  private restoreStore(): Promise<void> {
    if (!this.strategy.lostKeys) return Promise.resolve();
    this.restoring ??= this.restore().finally(() => (this.restoring = undefined));
    return this.restoring;
  }

  private async restore(): Promise<void> {
    const s = this.strategy;
    const loss = await s.lostKeys!(this.config.skus.map((k) => k.sku));
    if (loss.skus.length || loss.list) {
      const at = Date.now();
      const ledgers = new Map(loss.skus.map((sku) => [sku, [] as LedgerEntry[]]));
      const rebuild: StoreRebuild = { at, skus: loss.skus, held: 0, sold: 0, ended: 0, lateEnded: 0, lateSold: 0 };
      for (const o of loss.skus.length ? await this.orders.ofSkus(loss.skus) : []) {
        const e = ledgerEntryOf(o);
        ledgers.get(o.sku)!.push(e);
        if (e.state === 'held') rebuild.held++;
        else if (e.state === 'sold') rebuild.sold++;
        else rebuild.ended++;
      }
      const stock = this.config.skus.map(({ sku, stock: n }) => ({ sku, stock: n }));
      await s.rebuild!(stock, { perUserLimit: this.config.perUserLimit }, ledgers, loss.list);
      this.rebuilds.push(rebuild);
      if (loss.skus.length) {
        const skus = new Set([...(this.resync?.skus ?? []), ...loss.skus]);
        const until = Date.now() + worstCaseMs(this.config.payment) + RESYNC_MARGIN_MS;
        this.resync = { skus, since: Math.min(this.resync?.since ?? at, at) - RESYNC_MARGIN_MS, until, rebuild };
      }
    }
    if (this.resync && Date.now() > this.resync.until) this.resync = undefined;
    if (this.resync) await this.resyncWithOrders(this.resync);
  }

  /**
   * What the orders changed while the lost store was being rebuilt: an order made from a hold of
   * the lost store is recorded as ended (it holds no units of the rebuilt one: its pay will find
   * the hold gone and refund), and a hold a payer confirmed in the lost store whose order became
   * Paid after the orders were read is confirmed again (it was confirmed before its end).
   */
  private async resyncWithOrders(r: NonNullable<SaleEngine['resync']>): Promise<void> {
    const changed = await this.orders.ofSkus([...r.skus], r.since);
    const ended: LedgerEntry[] = [];
    for (const o of changed) {
      if (o.status !== 'Paid') ended.push(ledgerEntryOf(o));
      else if ((await this.strategy.holdState(reservationOf(o))) === 'held') {
        if (await this.strategy.confirm(reservationOf(o), o.expiresAt - 1)) r.rebuild.lateSold++;
      }
    }
    r.rebuild.lateEnded += ended.length ? await this.strategy.restoreEnded!(ended) : 0;
  }

  startRecovery(opts: RecoveryOptions & { intervalMs: number }): () => Promise<LoopFailures> {
    const stop = startSweepLoop({ intervalMs: opts.intervalMs, sweep: (now) => this.recovery.pass(now, opts) });
    this.sweepers.add(stop);
    return async () => {
      this.sweepers.delete(stop);
      return stop();
    };
  }

  async drainRecovery(deadline: number, settleMs: number): Promise<{ owed: number; tally: RecoveryTally }> {
    const owed = await this.recovery.drain(deadline, settleMs);
    return { owed, tally: { ...this.recovery.totals } };
  }

  recoveryOwed(): Promise<number> {
    return this.orders.recoveryOwed();
  }

  endSale(): Promise<void> {
    return this.orders.endSale(Date.now());
  }

  startSweeper(): () => Promise<LoopFailures> {
    const stop = startSweepLoop({ intervalMs: this.config.sweepIntervalMs, sweep: (now) => this.sweep(now) });
    this.sweepers.add(stop);
    return async () => {
      this.sweepers.delete(stop);
      return stop();
    };
  }

  async audit(): Promise<SaleAudit> {
    const [orders, snapshot, sales] = await Promise.all([
      this.orders.all(),
      this.strategy.snapshot(),
      this.orders.sales(),
    ]);
    const soldBySku: Record<string, number> = Object.fromEntries(this.config.skus.map((s) => [s.sku, 0]));
    for (const s of sales) soldBySku[s.sku] = (soldBySku[s.sku] ?? 0) + s.qty;
    return {
      orders,
      strategy: { skus: snapshot.skus, ledger: snapshot.ledger },
      soldBySku,
      sales,
      finality: orderFinality(orders),
    };
  }

  async destroy(): Promise<void> {
    await this.orders.drop();
    await this.strategy.destroy();
    if (this.redis) {
      // Rate-limit buckets of a Postgres strategy's sale: nothing else would remove them.
      let cursor = '0';
      do {
        const [next, keys] = await this.redis.scan(cursor, 'MATCH', `fs:{${this.config.namespace}:rl:*`, 'COUNT', 1000);
        if (keys.length) await this.redis.unlink(...keys);
        cursor = next;
      } while (cursor !== '0');
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.sweepers].map((stop) => stop()));
    this.sweepers.clear();
    await this.stopBackground?.();
    this.stopBackground = undefined;
    await Promise.allSettled([this.strategy.close(), this.pool.end(), this.redis?.quit(), this.payments.close()]);
  }
}

/** What the order of a hold is created with; `now` is its creation time (and decides whether it is born Expired). */
export function newOrderOf(h: Extract<HoldResult, { ok: true }>, clickId: string, now: number): NewOrder {
  const res = h.reservation;
  // A duplicate click gets the first click's reservation, quantity included.
  return {
    reservationId: res.id,
    clickId,
    sku: res.sku,
    qty: res.qty,
    user: res.user,
    amountMinor: h.sku.priceMinor * res.qty,
    currency: h.sku.currency,
    expiresAt: res.expiresAt,
    now,
  };
}

export function reserveOutcome(order: StoredOrder, duplicate: boolean): ReserveOutcome {
  return {
    ok: true,
    orderId: order.orderId,
    reservationId: order.reservationId,
    sku: order.sku,
    qty: order.qty,
    amountMinor: order.amountMinor,
    currency: order.currency,
    expiresAt: order.expiresAt,
    // The strategy knows which of two racing clicks came first; the order insert may have lost
    // the race to the second one, which does not make the first click a duplicate.
    duplicate,
  };
}

/** How long orders took from creation to their final status (Paid, PaymentFailed, Expired). */
export function orderFinality(orders: OrderRecord[]): OrderFinality {
  const spans: number[] = [];
  let lastFinalAt = 0;
  for (const o of orders) {
    if (o.status === 'PendingPayment') continue;
    spans.push(Math.max(0, o.updatedAt - o.createdAt));
    lastFinalAt = Math.max(lastFinalAt, o.updatedAt);
  }
  spans.sort((a, b) => a - b);
  const at = (q: number) => (spans.length ? spans[Math.min(spans.length - 1, Math.ceil(q * spans.length) - 1)] : 0);
  return {
    orders: orders.length,
    final: spans.length,
    pending: orders.length - spans.length,
    p50Ms: at(0.5),
    p95Ms: at(0.95),
    maxMs: spans.length ? spans[spans.length - 1] : 0,
    ...(spans.length ? { lastFinalAt } : {}),
  };
}

/** The answer of a pay that finds the order already final: the same outcome, without a charge. */
export function settled(o: StoredOrder): PayOutcome {
  switch (o.status) {
    case 'Paid':
      return { status: 'paid', orderId: o.orderId, chargeId: o.chargeId ?? '', attempts: 0, duplicate: true };
    case 'PaymentFailed':
      return { status: 'declined', orderId: o.orderId, code: o.declineCode ?? 'card_declined', attempts: 0 };
    default:
      return { status: 'expired', orderId: o.orderId, refunded: o.refunded };
  }
}
