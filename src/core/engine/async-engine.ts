// The sale engine in async mode: the same Engine, with its steps travelling as events on
// Redis Streams (see async-events.ts for the flow). Past 400 lines on purpose: each event's
// producer, consumer and give-up path sit together so the at-least-once argument reads in one place.
//
// It reuses the sync engine through the narrow SaleSteps it holds (methods only): the
// strategy's hold and the rate limit (hold), the order (orderFor, order), the sync pay path
// (pay) and the sweeper. Waiting by correlation id and the answer reader are core/redis/request-reply.ts.
// - reserve() takes the hold itself, synchronously (a buyer learns "sold out" at once), then
//   publishes Reservation.CartCreated and waits (bounded) for the Order.Created of its
//   correlation id. The order-service consumer creates the order with OrderStore.orderFor,
//   idempotent by (sku, reservation) and (sku, click).
// - pay() publishes Payment.Requested and waits (bounded) for Payment.Succeeded / Failed. The
//   payment-service consumer runs the sync pay path: same Idempotency-Key per order, the
//   conditional claimCharge / markPaid transitions, refunds; a redelivered request finds the
//   order final (or its charge claimed) and charges nothing.
// Consumers run in the process that calls setup() (or startBackground()); an engine that only
// publishes and waits (a worker thread's) starts none.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { UsageError } from '../errors.js';
import { connectRedis } from '../redis/client.js';
import { BlockingConnection, BlockingReader, Waiters } from '../redis/request-reply.js';
import { StreamConsumer } from './async-consumer.js';
import {
  asyncStreams,
  consumerNow,
  eventFields,
  ORDER_GROUP,
  orderCreatedAt,
  parseEvent,
  parseGroupInfo,
  PAYMENT_GROUP,
  type AsyncStreams,
  type CartCreated,
  type EventType,
  type OrderCreated,
  type PaymentAnswered,
  type PaymentRequested,
} from './async-events.js';
import { newOrderOf, openSaleEngine, reserveOutcome, SaleRequestError, settled, type SaleSteps } from './engine.js';
import { worstCaseMs } from './payments.js';
import type { RecoveryOptions } from './recovery.js';
import type { LoopFailures } from './sweeper.js';
import type {
  Engine,
  EngineConfig,
  PayOutcome,
  PayRequest,
  RecoveryTally,
  ReserveOutcome,
  ReserveRequest,
  SaleAudit,
  StoreRebuild,
} from './types.js';

export interface AsyncEngineOptions {
  /** setup() starts this process's consumers (default true); false leaves that to startBackground(). */
  consumersOnSetup?: boolean;
  /** A pending message idle this long is taken from its (presumed dead) consumer. Default max(30 s, 2 × a payment's worst case + 5 s). */
  claimIdleMs?: number;
  /** How long reserve() waits for its order, and pay() beyond the payment's own worst case. Default 15 s. */
  replyTimeoutMs?: number;
  /** Approximate stream length kept (XADD MAXLEN ~). Must exceed what can be pending at once. Default 200,000. */
  maxLen?: number;
  /** Messages one consumer handles at once: order-service default 64 (Postgres inserts), payment-service default 256 (provider calls that may take seconds each). */
  concurrency?: { orders?: number; payments?: number };
}

const DEFAULT_REPLY_TIMEOUT_MS = 15_000;
const DEFAULT_MAXLEN = 200_000;
const DEFAULT_CONCURRENCY = { orders: 64, payments: 256 };
const READ_COUNT = 1_000;
const READ_BLOCK_MS = 1_000;
const REREAD_MS = 100;

/** The async engine, as its class: createAsyncEngine's answer, with what tests and simulate may inspect. */
export interface AsyncEngine extends Engine {
  readonly streams: AsyncStreams;
  startBackground(): Promise<() => Promise<void>>;
  /** This process's consumers (empty when none run here). */
  consumers(): StreamConsumer[];
}

export async function createAsyncEngine(config: EngineConfig, options: AsyncEngineOptions = {}): Promise<AsyncEngine> {
  if (config.redisCluster?.length)
    throw new UsageError(
      '--redis-cluster: mode async is not cluster-ready yet (its event streams and consumer groups assume one server); use --mode sync on a cluster, or --redis-url',
    );
  if (!config.redisUrl)
    throw new UsageError(
      'mode async: the events travel on Redis Streams; give a Redis URL (--redis-url / REDIS_URL) or use --mode sync',
    );
  const inner = await openSaleEngine(config);
  let pub: Redis | undefined;
  try {
    pub = await connectRedis(config.redisUrl, 'async mode (event streams)');
    return new AsyncSaleEngine(config, options, inner, pub);
  } catch (err) {
    pub?.disconnect();
    await inner.close();
    throw err;
  }
}

class AsyncSaleEngine implements AsyncEngine {
  readonly streams: AsyncStreams;
  private readonly instanceId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private seq = 0;
  private readonly claimIdleMs: number;
  private readonly replyTimeoutMs: number;
  private readonly maxLen: number;
  private readonly concurrency: { orders: number; payments: number };
  private readonly orderWaiters = new Waiters<OrderCreated | undefined>();
  private readonly payWaiters = new Waiters<PaymentAnswered | undefined>();
  private reader?: BlockingReader;
  private readerReady?: Promise<void>;
  private readonly running = new Set<{ consumers: StreamConsumer[]; stop: () => Promise<void> }>();
  private stopOnSetup?: () => Promise<void>;
  private closed = false;

  constructor(
    private readonly config: EngineConfig,
    private readonly options: AsyncEngineOptions,
    private readonly inner: SaleSteps,
    private readonly pub: Redis,
  ) {
    this.streams = asyncStreams(config.namespace);
    this.claimIdleMs = options.claimIdleMs ?? Math.max(30_000, 2 * worstCaseMs(config.payment) + 5_000);
    this.replyTimeoutMs = options.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS;
    this.maxLen = options.maxLen ?? DEFAULT_MAXLEN;
    this.concurrency = { ...DEFAULT_CONCURRENCY, ...options.concurrency };
  }

  // --- setup, background --------------------------------------------------------------

  async setup(): Promise<void> {
    await this.inner.setup();
    const s = this.streams;
    await this.pub.del(s.carts, s.orders, s.payRequests, s.payments);
    await this.pub.xgroup('CREATE', s.carts, ORDER_GROUP, '0', 'MKSTREAM');
    await this.pub.xgroup('CREATE', s.payRequests, PAYMENT_GROUP, '0', 'MKSTREAM');
    if (this.options.consumersOnSetup !== false) this.stopOnSetup = await this.startBackground();
  }

  async startBackground(): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('async engine: closed');
    const tag = `${this.instanceId}:${++this.seq}`;
    const reader = async (what: string) => {
      const open = () => connectRedis(this.config.redisUrl!, what, { enableAutoPipelining: false });
      return new BlockingConnection(open, await open());
    };
    const [cartReader, payReader] = await Promise.all([
      reader('the order-service consumer'),
      reader('the payment-service consumer'),
    ]);
    const common = { writer: this.pub, claimIdleMs: this.claimIdleMs };
    const consumers = [
      new StreamConsumer({
        ...common,
        stream: this.streams.carts,
        group: ORDER_GROUP,
        name: `orders:${tag}`,
        concurrency: this.concurrency.orders,
        reader: cartReader,
        handle: (_id, fields) => this.createOrder(fields),
        onGiveUp: (_id, fields, err) => this.orderGaveUp(fields, err),
      }),
      new StreamConsumer({
        ...common,
        stream: this.streams.payRequests,
        group: PAYMENT_GROUP,
        name: `payments:${tag}`,
        concurrency: this.concurrency.payments,
        reader: payReader,
        handle: (_id, fields) => this.takePayment(fields),
        onGiveUp: (_id, fields, err) => this.paymentGaveUp(fields, err),
      }),
    ];
    const entry = {
      consumers,
      stop: async () => {
        this.running.delete(entry);
        await Promise.all(consumers.map((c) => c.stop()));
      },
    };
    this.running.add(entry);
    return entry.stop;
  }

  consumers(): StreamConsumer[] {
    return [...this.running].flatMap((r) => r.consumers);
  }

  /** order-service: Reservation.CartCreated → the order (created once) → Order.Created. */
  private async createOrder(fields: string[] | null): Promise<void> {
    const ev = parseEvent<CartCreated>(fields);
    if (!ev || ev.type !== 'Reservation.CartCreated') return; // not ours to handle: acknowledged and left
    const c = ev.data;
    const { order, created } = await this.inner.orderFor({
      reservationId: c.reservationId,
      clickId: c.clickId,
      sku: c.sku,
      qty: c.qty,
      user: c.user,
      amountMinor: c.amountMinor,
      currency: c.currency,
      expiresAt: c.expiresAt,
      now: orderCreatedAt(c),
    });
    const outcome = reserveOutcome(order, c.duplicate) as Extract<ReserveOutcome, { ok: true }>;
    await this.publish(this.streams.orders, 'Order.Created', { corr: c.corr, outcome, created } satisfies OrderCreated);
  }

  private async orderGaveUp(fields: string[] | null, err: unknown): Promise<void> {
    const ev = parseEvent<CartCreated>(fields);
    if (!ev) return;
    await this.publish(this.streams.orders, 'Order.Failed', {
      corr: ev.data.corr,
      error: errorText(err),
    } satisfies OrderCreated);
  }

  /** payment-service: Payment.Requested → the sync pay path → Payment.Succeeded / Payment.Failed. */
  private async takePayment(fields: string[] | null): Promise<void> {
    const ev = parseEvent<PaymentRequested>(fields);
    if (!ev || ev.type !== 'Payment.Requested') return;
    const r = ev.data;
    let outcome: PayOutcome;
    try {
      outcome = await this.inner.pay({ orderId: r.orderId, now: consumerNow(r.now, r.sentAt) });
    } catch (err) {
      if (err instanceof SaleRequestError && err.code === 'unknown_order') {
        await this.publish(this.streams.payments, 'Payment.Failed', {
          corr: r.corr,
          orderId: r.orderId,
          error: err.message,
          errorCode: 'unknown_order',
        } satisfies PaymentAnswered);
        return;
      }
      throw err;
    }
    await this.publish(this.streams.payments, outcome.status === 'paid' ? 'Payment.Succeeded' : 'Payment.Failed', {
      corr: r.corr,
      orderId: r.orderId,
      outcome,
    } satisfies PaymentAnswered);
  }

  private async paymentGaveUp(fields: string[] | null, err: unknown): Promise<void> {
    const ev = parseEvent<PaymentRequested>(fields);
    if (!ev) return;
    const r = ev.data;
    await this.publish(this.streams.payments, 'Payment.Failed', {
      corr: r.corr,
      orderId: r.orderId,
      error: errorText(err),
      errorCode: 'consumer_failed',
    } satisfies PaymentAnswered);
  }

  private async publish(stream: string, type: EventType, data: object): Promise<string> {
    return (await this.pub.xadd(stream, 'MAXLEN', '~', this.maxLen, '*', ...eventFields(type, data)))!;
  }

  // --- the buyer's side: publish and wait -----------------------------------------------

  availability(sku: string): Promise<{ sku: string; available: number }> {
    return this.inner.availability(sku);
  }

  async reserve(req: ReserveRequest): Promise<ReserveOutcome> {
    const h = await this.inner.hold(req);
    if (!h.ok) return h.outcome;
    await this.startReader();
    const corr = this.corr();
    const res = h.reservation;
    const answer = this.orderWaiters.wait(corr, this.replyTimeoutMs, undefined, ({ resolve }) => resolve(undefined));
    const cart: CartCreated = {
      corr,
      ...newOrderOf(h, req.clickId, h.now),
      sentAt: Date.now(),
      duplicate: h.duplicate,
    };
    try {
      await this.publish(this.streams.carts, 'Reservation.CartCreated', cart);
    } catch (err) {
      this.orderWaiters.cancel(corr);
      throw err;
    }
    const got = await answer;
    if (!got) {
      throw new Error(
        `async: no Order.Created for ${res.sku} (click ${req.clickId}) within ${this.replyTimeoutMs} ms; are the consumers running (setup()/startBackground())? ` +
          'The hold stands; retrying the click is safe.',
      );
    }
    if (!got.outcome)
      throw new Error(`async: the order of ${res.sku} (click ${req.clickId}) could not be created: ${got.error}`);
    return got.outcome;
  }

  async pay(req: PayRequest): Promise<PayOutcome> {
    const order = await this.inner.order(req.orderId);
    if (!order) throw new SaleRequestError('unknown_order', `no order "${req.orderId}" in this sale`);
    // A pay of an order already final is answered from its record, as in sync mode.
    if (order.status !== 'PendingPayment') return settled(order);
    await this.startReader();
    const corr = this.corr();
    const timeoutMs = worstCaseMs(this.config.payment) + this.replyTimeoutMs;
    const answer = this.payWaiters.wait(corr, timeoutMs, undefined, ({ resolve }) => resolve(undefined));
    try {
      await this.publish(this.streams.payRequests, 'Payment.Requested', {
        corr,
        orderId: req.orderId,
        now: req.now ?? Date.now(),
        sentAt: Date.now(),
      } satisfies PaymentRequested);
    } catch (err) {
      this.payWaiters.cancel(corr);
      throw err;
    }
    const got = await answer;
    if (got?.outcome) return got.outcome;
    if (got?.errorCode === 'unknown_order')
      throw new SaleRequestError('unknown_order', got.error ?? `no order "${req.orderId}" in this sale`);
    // No answer in time (or the consumer gave up): what the record says now.
    const now = await this.inner.order(req.orderId);
    if (now && now.status !== 'PendingPayment') return settled(now);
    return {
      status: 'failed',
      orderId: req.orderId,
      error: got?.error ?? `no payment answer within ${timeoutMs} ms; the payment may still complete`,
      attempts: 0,
    };
  }

  private corr(): string {
    return `${this.instanceId}:${++this.seq}`;
  }

  /** The reader's last connection error, for a person debugging; it reads on regardless. */
  get readerError(): Error | undefined {
    return this.reader?.lastError;
  }

  /**
   * One blocking connection per instance tails the answer streams from where they stood before
   * this instance published anything, so no answer can pass unseen; after a dropped connection
   * it reads on from the last id it saw (streams keep what lists would lose).
   */
  private startReader(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('async engine: closed'));
    this.readerReady ??= (async () => {
      const conn = await connectRedis(this.config.redisUrl!, 'async mode (answer reader)', {
        enableAutoPipelining: false,
      });
      try {
        const last = async (key: string) =>
          ((await conn.xrevrange(key, '+', '-', 'COUNT', 1)) as [string, string[]][])[0]?.[0] ?? '0-0';
        const from = { orders: await last(this.streams.orders), payments: await last(this.streams.payments) };
        if (this.closed) throw new Error('async engine: closed');
        this.reader = new BlockingReader({
          conn: new BlockingConnection(
            () => connectRedis(this.config.redisUrl!, 'async mode (answer reader)', { enableAutoPipelining: false }),
            conn,
          ),
          read: (c) => this.readAnswers(c, from),
          rereadMs: REREAD_MS,
        });
      } catch (err) {
        conn.disconnect();
        throw err;
      }
    })().catch((err: unknown) => {
      // The next reserve / pay tries again.
      this.readerReady = undefined;
      throw err;
    });
    return this.readerReady;
  }

  private async readAnswers(conn: Redis, from: { orders: string; payments: string }): Promise<void> {
    const s = this.streams;
    const got = (await conn.xread(
      'COUNT',
      READ_COUNT,
      'BLOCK',
      READ_BLOCK_MS,
      'STREAMS',
      s.orders,
      s.payments,
      from.orders,
      from.payments,
    )) as [string, [string, string[]][]][] | null;
    for (const [key, entries] of got ?? []) {
      const orders = key === s.orders;
      for (const [id, fields] of entries) {
        from[orders ? 'orders' : 'payments'] = id;
        const ev = parseEvent<OrderCreated & PaymentAnswered>(fields);
        // another instance's, answered already (a redelivery), or given up: no waiter
        if (ev) (orders ? this.orderWaiters : this.payWaiters).take(ev.data.corr)?.resolve(ev.data);
      }
    }
  }

  // --- the rest, as in sync mode --------------------------------------------------------

  sweep(now: number): Promise<{ units: number; orders: number }> {
    return this.inner.sweep(now);
  }

  startRecovery(opts: RecoveryOptions & { intervalMs: number }): () => Promise<LoopFailures> {
    return this.inner.startRecovery(opts);
  }

  drainRecovery(deadline: number, settleMs: number): Promise<{ owed: number; tally: RecoveryTally }> {
    return this.inner.drainRecovery(deadline, settleMs);
  }

  recoveryOwed(): Promise<number> {
    return this.inner.recoveryOwed();
  }

  endSale(): Promise<void> {
    return this.inner.endSale();
  }

  storeRebuilds(): StoreRebuild[] {
    return this.inner.storeRebuilds();
  }

  startSweeper(): () => Promise<LoopFailures> {
    return this.inner.startSweeper();
  }

  async audit(): Promise<SaleAudit> {
    const audit = await this.inner.audit();
    const s = this.streams;
    const events: NonNullable<SaleAudit['events']> = [];
    for (const [stream, group] of [
      [s.carts, ORDER_GROUP],
      [s.payRequests, PAYMENT_GROUP],
    ] as const) {
      const [length, info] = await Promise.all([
        this.pub.xlen(stream),
        this.pub.xinfo('GROUPS', stream).catch(() => []),
      ]);
      const g = parseGroupInfo(info, group);
      events.push({ stream, group, length, pending: g?.pending ?? 0, ...(g?.lag !== undefined ? { lag: g.lag } : {}) });
    }
    return { ...audit, events };
  }

  async destroy(): Promise<void> {
    await this.inner.destroy();
    const s = this.streams;
    await this.pub.unlink(s.carts, s.orders, s.payRequests, s.payments);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Consumers first: they finish (and acknowledge) what they hold, using the inner engine.
    this.stopOnSetup = undefined;
    await Promise.allSettled([...this.running].map((r) => r.stop()));
    this.closed = true;
    await this.reader?.stop();
    for (const waiters of [this.orderWaiters, this.payWaiters]) waiters.settleAll((w) => w.resolve(undefined));
    await Promise.allSettled([this.pub.quit(), this.inner.close()]);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
