// The sale engine's contract (docs/design.md#sale-engine): what a buyer can do (SaleApi — called in-process by the
// direct transport, or over HTTP by `flashsale serve` clients) and what the harness needs to run
// and judge a sale (Engine).
import type { StrategyName, LedgerEntry, SkuSnapshot } from '../strategies/types.js';
import type { RecoveryOptions } from './recovery.js';
import type { LoopFailures } from './sweeper.js';

export interface SkuConfig {
  sku: string;
  stock: number;
  /** Price of one unit, integer minor units. */
  priceMinor: number;
  /** ISO 4217, upper case. */
  currency: string;
}

export interface PaymentConfig {
  /** Per attempt: a charge without an answer by then counts as a timeout. */
  timeoutMs: number;
  /** Attempts after the first, on 5xx, 409 (in use) and timeouts; always with the same Idempotency-Key. */
  retries: number;
  /** First backoff; doubled each retry, with jitter. */
  backoffMs: number;
}

export interface EngineConfig {
  /** Every key / schema / order of the sale lives under it. [a-z0-9_]. */
  namespace: string;
  strategy: StrategyName;
  redisUrl?: string;
  /** Seed nodes of a Redis Cluster instead of redisUrl (sync mode): the strategy and the rate limit run on it. */
  redisCluster?: string[];
  databaseUrl: string;
  /** The payment provider (the bundled mock or any Stripe-shaped API). */
  providerUrl: string;
  /** HMAC secret of the payment tokens, shared with the provider. */
  providerSecret: string;
  skus: SkuConfig[];
  holdTtlMs: number;
  /** Units per user per SKU, 0 = none. */
  perUserLimit: number;
  /** Per-user request rate (token bucket in Redis); absent = none. */
  rateLimit?: { perSec: number; burst: number };
  payment: PaymentConfig;
  /** How often the background sweeper runs while the sale is on. */
  sweepIntervalMs: number;
}

export type OrderStatus = 'PendingPayment' | 'Paid' | 'PaymentFailed' | 'Expired';

export interface ReserveRequest {
  sku: string;
  qty: number;
  user: string;
  /** One per click: a double click or a client retry sends the same one. It is the idempotency key. */
  clickId: string;
  /** Epoch ms; the caller's clock (tests move time). */
  now?: number;
}

export type ReserveOutcome =
  | {
      ok: true;
      orderId: string;
      reservationId: string;
      sku: string;
      qty: number;
      amountMinor: number;
      currency: string;
      expiresAt: number;
      /** The click was seen before: this is the order it made then. */
      duplicate: boolean;
    }
  | {
      ok: false;
      reason: 'sold_out' | 'limit_exceeded' | 'rate_limited' | 'conflict' | 'in_progress';
      /** With rate_limited: when the user may try again. */
      retryAfterMs?: number;
    };

export interface PayRequest {
  orderId: string;
  now?: number;
}

export type PayOutcome =
  | { status: 'paid'; orderId: string; chargeId: string; attempts: number; duplicate: boolean }
  | { status: 'declined'; orderId: string; code: string; attempts: number }
  /** The hold ran out before the payment finished; a charge that went through was refunded. */
  | { status: 'expired'; orderId: string; refunded: boolean }
  /** The provider could not be reached within the retries; the order stays pending and expires with its hold. */
  | { status: 'failed'; orderId: string; error: string; attempts: number };

/** What a buyer can do; the same shape in-process and over HTTP. */
export interface SaleApi {
  availability(sku: string): Promise<{ sku: string; available: number }>;
  reserve(req: ReserveRequest): Promise<ReserveOutcome>;
  pay(req: PayRequest): Promise<PayOutcome>;
  close(): Promise<void>;
}

export interface OrderRecord {
  orderId: string;
  reservationId: string;
  clickId: string;
  sku: string;
  qty: number;
  user: string;
  amountMinor: number;
  currency: string;
  status: OrderStatus;
  /** The provider charge that paid it, if any. */
  chargeId?: string;
  /** The transaction id sent to the provider (one per order). */
  transactionId: string;
  createdAt: number;
  updatedAt: number;
  /** When the hold behind it runs out (epoch ms). */
  expiresAt?: number;
  /** PaymentFailed: the provider's decline code. */
  declineCode?: string;
  /** Expired after its charge went through: the charge was refunded. */
  refunded?: boolean;
}

/** One row of the Postgres sales ledger: a paid order. */
export interface SaleRecord {
  orderId: string;
  sku: string;
  qty: number;
  amountMinor: number;
  currency: string;
  chargeId: string;
  at: number;
}

/** Everything the invariants are computed from, read from the records (not from counters). */
export interface SaleAudit {
  orders: OrderRecord[];
  /** The strategy's own ledger and counters (Redis or Postgres). */
  strategy: { skus: SkuSnapshot[]; ledger: LedgerEntry[] };
  /** Units sold per SKU according to the Postgres sales ledger (paid orders). */
  soldBySku: Record<string, number>;
  /** The sales ledger's rows, for the exactly-once checks (soldBySku is their sum per SKU). */
  sales?: SaleRecord[];
  /** How long orders took to become final (the modes' "time until every order is final"). */
  finality?: OrderFinality;
  /** Async mode: what is still on the event streams (a settled sale has nothing pending). */
  events?: { stream: string; group: string; length: number; pending: number; lag?: number }[];
}

/** Over the orders: createdAt (the buyer's click) to updatedAt of the final status. */
export interface OrderFinality {
  orders: number;
  final: number;
  /** Still PendingPayment. */
  pending: number;
  p50Ms: number;
  p95Ms: number;
  /** The longest an order took from creation to final. */
  maxMs: number;
  /** When the last order became final (epoch ms); absent when none is. */
  lastFinalAt?: number;
}

/** What payment recovery did (docs/design.md#payment-recovery); `waiting`: owed, not final yet. */
export interface RecoveryTally {
  /** Charges found or claimed whose hold still stood: the order is Paid. */
  paid: number;
  /** Charges refunded (the order did not keep its units): the order is Expired. */
  refunded: number;
  /** Units of failed orders given back. */
  released: number;
  /** Charges the provider failed: the order is PaymentFailed. */
  declined: number;
  /** Payments the provider has no charge for: nothing moved, the order goes on. */
  noCharge: number;
  waiting: number;
  /** Attempts that could not finish an order (a store or the provider did not answer); retried. */
  errors: number;
  lastError?: string;
}

/** A stock store found without its data (a Redis restarted empty) and written back from the orders. */
export interface StoreRebuild {
  /** Epoch ms the loss was found. */
  at: number;
  skus: string[];
  /** Reservations written back: live holds, sold, ended. */
  held: number;
  sold: number;
  ended: number;
  /** Reservations added after the rebuild: orders made meanwhile from holds of the lost store. */
  lateEnded: number;
  /** Holds written back as held whose orders were found Paid after the rebuild read the orders. */
  lateSold: number;
}

export interface Engine extends SaleApi {
  /** Once per sale, in one process: load stock, create the order tables. */
  setup(): Promise<void>;
  /**
   * Expires holds and their orders while the sale runs; the returned function stops it and says
   * how many sweeps failed (a store unreachable for a while), which the next sweep made up for.
   */
  startSweeper(): () => Promise<LoopFailures>;
  /**
   * Payment recovery beside the sweeper: every `intervalMs`, a pass over the orders whose payment
   * outcome is unknown (docs/design.md#payment-recovery). The returned function stops it; never
   * rejects (what a pass could not finish waits for the next one).
   */
  startRecovery(opts: RecoveryOptions & { intervalMs: number }): () => Promise<LoopFailures>;
  /**
   * Recovery's last word, with every payer gone: passes until nothing is owed or `deadline`.
   * Resolves to the orders still owed (-1: the records could not be read) and the totals so far.
   */
  drainRecovery(deadline: number, settleMs: number): Promise<{ owed: number; tally: RecoveryTally }>;
  /** How many orders payment recovery still owes a lookup, a refund or a release. */
  recoveryOwed(): Promise<number>;
  /** Marks the sale's run as finished with its recovery: `flashsale recover` has nothing to do for it. */
  endSale(): Promise<void>;
  /**
   * One sweep at `now`: a stock store that lost its data is rebuilt from the orders first
   * (docs/design.md#a-store-that-lost-its-data), then expired holds go back to stock and their
   * pending orders to Expired.
   */
  sweep(now: number): Promise<{ units: number; orders: number }>;
  /** The times the stock store was found without its data and written back from the orders, in order. */
  storeRebuilds(): StoreRebuild[];
  audit(): Promise<SaleAudit>;
  /** Drops the sale's keys / schemas. */
  destroy(): Promise<void>;
  /**
   * Async mode: starts this process's event consumers (orders, payments), which also claim what
   * a dead consumer left pending; the returned function stops them (close() does too). setup()
   * starts one set already; call this in another process to add consumers or replace dead ones.
   * Absent in sync mode.
   */
  startBackground?(): Promise<() => Promise<void>>;
}
