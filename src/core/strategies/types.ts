// The one contract every oversell-prevention strategy implements. The bench, the property
// tests and (later) the simulate engine only ever talk to this interface.

export const STRATEGY_NAMES = [
  'lua',
  'list',
  'decr',
  'optimistic',
  'pessimistic',
  'atomic',
  'advisory',
  'queue',
  'naive',
] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** Every strategy except the negative control; what `--strategy all` runs. */
export const SAFE_STRATEGIES: readonly StrategyName[] = STRATEGY_NAMES.filter((s) => s !== 'naive');

export type Store = 'redis' | 'postgres';

export interface SkuStock {
  sku: string;
  stock: number;
}

export interface LoadOptions {
  /** Max units one user may hold + buy per SKU; 0 means no limit. */
  perUserLimit: number;
}

export interface ReserveRequest {
  sku: string;
  qty: number;
  user: string;
  idempotencyKey: string;
  ttlMs: number;
  /** Epoch ms used as "now"; the caller's clock, so tests can move time. Defaults to Date.now(). */
  now?: number;
}

export interface Reservation {
  id: string;
  sku: string;
  qty: number;
  user: string;
  idempotencyKey: string;
  /** Epoch ms. */
  expiresAt: number;
}

export type RefusalReason =
  /** Not enough stock for the whole request (multi-unit requests are all-or-nothing). */
  | 'sold_out'
  /** The per-user limit would be exceeded. */
  | 'limit_exceeded'
  /** Gave up after bounded retries on contention (optimistic, advisory); not a sold-out. */
  | 'conflict'
  /** The same idempotency key is being processed by a concurrent request right now. */
  | 'in_progress';

export type ReserveResult =
  | {
      ok: true;
      reservation: Reservation;
      /** True when the idempotency key had already produced this reservation. */
      duplicate: boolean;
      /** Contention retries spent (optimistic/advisory), 0 otherwise. */
      retries: number;
    }
  | { ok: false; reason: RefusalReason; retries: number };

export type ReservationState = 'held' | 'sold' | 'released' | 'expired';

/** One row of a strategy's ledger: what it granted, as recorded in its own store. */
export interface LedgerEntry {
  id: string;
  sku: string;
  qty: number;
  user: string;
  idempotencyKey: string;
  state: ReservationState;
  expiresAt: number;
}

/** What lostKeys() found gone. */
export interface StoreLoss {
  skus: string[];
  list: boolean;
}

export interface SkuSnapshot {
  sku: string;
  initial: number;
  /** The store's counter of units still on sale (what the strategy itself believes). */
  available: number;
}

export interface Snapshot {
  skus: SkuSnapshot[];
  /** Every reservation the strategy recorded. Invariants are computed from this. */
  ledger: LedgerEntry[];
}

export interface Strategy {
  readonly name: StrategyName;
  readonly store: Store;
  /**
   * Creates the strategy's keys / tables in its namespace (dropping what was there) and loads
   * stock. Called once per run, from one process, before any reserve.
   */
  load(stock: SkuStock[], options: LoadOptions): Promise<void>;
  reserve(req: ReserveRequest): Promise<ReserveResult>;
  /** Turns a live hold into a sale. False if the hold is unknown, no longer held, or expired at `now`. */
  confirm(reservation: Reservation, now?: number): Promise<boolean>;
  /** Gives a live hold's units back to stock. False if it was not held. */
  release(reservation: Reservation): Promise<boolean>;
  /**
   * Where a reservation stands in the ledger (undefined: the ledger has no such reservation). What
   * payment recovery reads to finish an order whose payer died between confirming its hold and
   * recording the sale: a hold already sold is kept, anything else is refunded
   * (docs/design.md#payment-recovery).
   */
  holdState(reservation: Reservation): Promise<ReservationState | undefined>;
  /**
   * A store that can lose what it was given (a Redis restarted empty, a cluster node back without
   * its slots): which of `skus` lost their keys, and whether the namespace's SKU list is gone.
   * Absent for the Postgres strategies, whose store is the sale's record
   * (docs/design.md#a-store-that-lost-its-data).
   */
  lostKeys?(skus: string[]): Promise<StoreLoss>;
  /**
   * Writes each lost SKU of `ledgers` back, whole and at once, as the sale's records say it stands:
   * the ledger (every reservation with an order, in its state), the live holds, the idempotency
   * keys, the units each user holds, and the units on sale (`initial` less what is held or sold).
   * The SKU list is written again when `list` is set.
   */
  rebuild?(stock: SkuStock[], options: LoadOptions, ledgers: Map<string, LedgerEntry[]>, list: boolean): Promise<void>;
  /**
   * After a rebuild: records the reservations the ledger does not have yet (orders made while it
   * was being rebuilt, from holds of the lost store), ended and holding no units; the ledger keeps
   * what it has. Resolves to how many were added.
   */
  restoreEnded?(entries: LedgerEntry[]): Promise<number>;
  /** Returns holds with expiresAt <= now to stock; resolves to the number of units returned. */
  sweepExpired(now: number): Promise<number>;
  snapshot(): Promise<Snapshot>;
  /**
   * Units of `sku` on sale now, read from the store's counter in one round trip: what a buyer's
   * availability check needs, where a snapshot (the whole ledger) would be far too heavy.
   */
  available?(sku: string): Promise<number>;
  /**
   * Opens this instance's connections (the whole pool) and reads what the hot path caches for
   * `skus`, so that connection setup is not measured as the first buyers' latency.
   */
  connect(skus: string[]): Promise<void>;
  /**
   * Background work a strategy needs exactly once per run (the `queue` consumers). Called in the
   * process that called load(); the returned function stops it. Absent for most strategies.
   */
  startBackground?(): Promise<() => Promise<void>>;
  /** Drops keys / schema of the namespace. */
  destroy(): Promise<void>;
  /** Closes this instance's connections. */
  close(): Promise<void>;
}

export interface StrategyContext {
  /** Unique per run; every key / schema of the run lives under it, so runs and tests never collide. */
  namespace: string;
  redisUrl?: string;
  /**
   * Redis strategies: seed nodes (`host:port`) of a Redis Cluster, used instead of redisUrl when
   * given. Every script call and MULTI of a strategy touches one SKU's keys, which share the
   * hash tag {<namespace>:<sku>} and so one slot (src/core/redis/keys.ts).
   */
  redisCluster?: string[];
  databaseUrl?: string;
  /** Connections this instance may open to its store (a pool size for Postgres). */
  connections?: number;
  /**
   * Redis strategies: batch the commands of one event-loop tick into one socket write. Worth it
   * with hundreds of requests in flight (the sale engine); a loss at bench concurrency (16-64).
   */
  autoPipelining?: boolean;
  /** naive only: which store the unprotected read-then-write targets. */
  naiveStore?: Store;
}
