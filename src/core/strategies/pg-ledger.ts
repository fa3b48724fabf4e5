// What the Postgres strategies share: one schema per namespace holding the stock counters and
// the reservation ledger, and every operation that is not about refusing to oversell (confirm,
// release, sweep, snapshot). The strategies differ only in how reserve() decides to take units.
// The SQL itself, and the lock order it keeps, is in pg-statements.ts.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { ServiceError } from '../errors.js';
import { connectPostgres, fillPool } from '../postgres/client.js';
import {
  IDEMPOTENCY_INDEX,
  ledgerStatements,
  PER_USER_LIMIT,
  schemaDdl,
  schemaIdent,
  type GrantRow,
} from './pg-statements.js';
import type {
  LedgerEntry,
  LoadOptions,
  Reservation,
  ReservationState,
  ReserveRequest,
  ReserveResult,
  SkuStock,
  Snapshot,
  SkuSnapshot,
} from './types.js';
import type { Store, Strategy, StrategyContext, StrategyName } from './types.js';

// Where code outside the strategies (the bench's reference mode, tests) looks a schema up.
export { schemaIdent, schemaName } from './pg-statements.js';

/** Stock split as evenly as possible: the first `stock % buckets` buckets get one unit more. */
export function spread(stock: number, buckets: number): number[] {
  const base = Math.floor(stock / buckets);
  return Array.from({ length: buckets }, (_, b) => base + (b < stock % buckets ? 1 : 0));
}

export function granted(row: GrantRow, req: ReserveRequest, retries: number): ReserveResult {
  const reservation: Reservation = {
    id: row.id,
    sku: req.sku,
    qty: row.qty,
    user: row.user_id,
    idempotencyKey: req.idempotencyKey,
    expiresAt: row.expires_ms,
  };
  return { ok: true, reservation, duplicate: row.duplicate, retries };
}

function pgError(err: unknown): { code?: string; constraint?: string } {
  return typeof err === 'object' && err !== null ? (err as { code?: string; constraint?: string }) : {};
}

export interface RetryOptions {
  /** Contention retries before giving up with 'conflict'. */
  maxRetries: number;
  /** Backoff before retry n is uniform in [0, min(maxDelayMs, baseDelayMs * 2^n)) ("full jitter"). */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { maxRetries: 10, baseDelayMs: 1, maxDelayMs: 50 };

export function backoff(attempt: number, opts: RetryOptions): Promise<void> {
  return sleep(Math.random() * Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** attempt));
}

/** Retries spent so far by one reserve(), so a refusal raised as an error still reports them. */
export interface Spent {
  retries: number;
}

/** A twin that keeps rolling back is improbable; this only bounds the loop. */
const MAX_TWIN_ROUNDS = 3;

export interface LedgerLayout {
  /** Stock rows per SKU (advisory splits the hot row); 1 means bucket 0 only. */
  buckets: number;
  /** False only for the naive control: see schemaDdl. */
  guarded: boolean;
}

export abstract class PgLedgerStrategy implements Strategy {
  abstract readonly name: StrategyName;
  readonly store: Store = 'postgres';
  /** Quoted schema identifier, validated once so no call has to look anything up. */
  protected readonly s: string;
  private pool?: Promise<pg.Pool>;
  private readonly ledgerSql: { confirm: string; release: string; sweep: string; lookup: string; snapshot: string };

  constructor(
    protected readonly ctx: StrategyContext,
    protected readonly layout: LedgerLayout = { buckets: 1, guarded: true },
  ) {
    this.s = schemaIdent(ctx.namespace);
    this.ledgerSql = ledgerStatements(this.s);
  }

  /** Connects on first use: the factory constructs synchronously, and a run may never touch the store. */
  protected db(): Promise<pg.Pool> {
    if (!this.pool) {
      const url = this.ctx.databaseUrl;
      this.pool = url
        ? connectPostgres(url, `the ${this.name} strategy`, this.ctx.connections ?? 10)
        : Promise.reject(
            new ServiceError(
              'postgres',
              `the ${this.name} strategy needs Postgres but no database URL was given`,
              'pass --database-url or set DATABASE_URL',
            ),
          );
    }
    return this.pool;
  }

  /** One reserve attempt, without the idempotency-twin and per-user-limit handling reserve() adds. */
  protected abstract attempt(pool: pg.Pool, req: ReserveRequest, spent: Spent): Promise<ReserveResult>;

  async load(stock: SkuStock[], options: LoadOptions): Promise<void> {
    for (const { sku, stock: units } of stock) {
      if (!Number.isInteger(units) || units < 0)
        throw new RangeError(`stock of ${sku} must be a whole number >= 0, got ${units}`);
    }
    if (!Number.isInteger(options.perUserLimit) || options.perUserLimit < 0) {
      throw new RangeError(`perUserLimit must be a whole number >= 0, got ${options.perUserLimit}`);
    }
    const pool = await this.db();
    await pool.query(schemaDdl(this.s, this.layout.guarded));
    const rows = stock.flatMap(({ sku, stock: units }) =>
      spread(units, this.layout.buckets).map((available, bucket) => ({ sku, bucket, available })),
    );
    await pool.query(
      `INSERT INTO ${this.s}.skus (sku, initial, per_user_limit) SELECT sku, initial, $3 FROM unnest($1::text[], $2::int[]) AS u(sku, initial)`,
      [stock.map((x) => x.sku), stock.map((x) => x.stock), options.perUserLimit],
    );
    await pool.query(
      `INSERT INTO ${this.s}.stock (sku, bucket, available) SELECT * FROM unnest($1::text[], $2::int[], $3::int[])`,
      [rows.map((r) => r.sku), rows.map((r) => r.bucket), rows.map((r) => r.available)],
    );
  }

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    if (!Number.isInteger(req.qty) || req.qty < 1)
      throw new RangeError(`qty must be a whole number >= 1, got ${req.qty}`);
    const pool = await this.db();
    const spent: Spent = { retries: 0 };
    for (let round = 1; ; round++) {
      try {
        return await this.attempt(pool, req, spent);
      } catch (err) {
        const { code, constraint } = pgError(err);
        if (code === '23514' && constraint === PER_USER_LIMIT)
          return { ok: false, reason: 'limit_exceeded', retries: spent.retries };
        if (code !== '23505' || constraint !== IDEMPOTENCY_INDEX) throw err;
        // A concurrent twin with the same key committed first: answer with its reservation.
        const found = await this.lookup(pool, req);
        if (found) return found;
        if (round >= MAX_TWIN_ROUNDS) return { ok: false, reason: 'in_progress', retries: spent.retries };
      }
    }
  }

  /** The reservation the idempotency key already produced, as a duplicate grant. */
  protected async lookup(pool: pg.Pool, req: ReserveRequest, retries = 0): Promise<ReserveResult | undefined> {
    const { rows } = await pool.query<GrantRow>({
      name: 'ledger_lookup',
      text: this.ledgerSql.lookup,
      values: [req.sku, req.idempotencyKey],
    });
    return rows[0] ? granted(rows[0], req, retries) : undefined;
  }

  async confirm(reservation: Reservation, now: number = Date.now()): Promise<boolean> {
    if (!isId(reservation.id)) return false;
    const pool = await this.db();
    const { rowCount } = await pool.query({
      name: 'ledger_confirm',
      text: this.ledgerSql.confirm,
      values: [reservation.id, Math.round(now)],
    });
    return rowCount === 1;
  }

  async release(reservation: Reservation): Promise<boolean> {
    if (!isId(reservation.id)) return false;
    const pool = await this.db();
    const { rows } = await pool.query<{ n: number }>({
      name: 'ledger_release',
      text: this.ledgerSql.release,
      values: [reservation.id],
    });
    return rows[0].n === 1;
  }

  async holdState(reservation: Reservation): Promise<ReservationState | undefined> {
    if (!isId(reservation.id)) return undefined;
    const pool = await this.db();
    const { rows } = await pool.query<{ state: ReservationState }>({
      name: 'ledger_hold_state',
      text: `SELECT state FROM ${this.s}.reservations WHERE id = $1::bigint`,
      values: [reservation.id],
    });
    return rows[0]?.state;
  }

  async sweepExpired(now: number): Promise<number> {
    const pool = await this.db();
    const { rows } = await pool.query<{ units: number }>({
      name: 'ledger_sweep',
      text: this.ledgerSql.sweep,
      values: [Math.round(now)],
    });
    return rows[0].units;
  }

  async snapshot(): Promise<Snapshot> {
    const pool = await this.db();
    // One statement, so the counters and the ledger come from the same instant.
    const { rows } = await pool.query<{ skus: SkuSnapshot[]; ledger: LedgerEntry[] }>(this.ledgerSql.snapshot);
    return rows[0];
  }

  async available(sku: string): Promise<number> {
    const pool = await this.db();
    // Summed: advisory splits a SKU's stock over several bucket rows.
    const { rows } = await pool.query<{ n: number }>({
      name: 'ledger_available',
      text: `SELECT coalesce(sum(available), 0)::int AS n FROM ${this.s}.stock WHERE sku = $1`,
      values: [sku],
    });
    return rows[0].n;
  }

  /** Nothing per SKU is cached (statements carry their lookups), so this only fills the pool. */
  async connect(_skus: string[]): Promise<void> {
    await fillPool(await this.db(), this.ctx.connections ?? 10);
  }

  async destroy(): Promise<void> {
    const pool = await this.db();
    await pool.query(`DROP SCHEMA IF EXISTS ${this.s} CASCADE`);
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (!pool) return;
    // A pool that never connected has nothing to close; its error was reported where it was used.
    const opened = await pool.catch(() => undefined);
    await opened?.end();
  }
}

/** Ids are bigint identities; anything else (another strategy's id) is simply unknown here. */
function isId(id: string): boolean {
  return /^[0-9]{1,18}$/.test(id);
}
