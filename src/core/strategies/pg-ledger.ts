// What the Postgres strategies share: one schema per namespace holding the stock counters and
// the reservation ledger, and every operation that is not about refusing to oversell (confirm,
// release, sweep, snapshot). The strategies differ only in how reserve() decides to take units.
//
// Row locks are always taken in one order, reservation → stock rows (ascending sku, bucket) →
// user_holds, so these statements cannot deadlock with each other or with a reserve (which only
// inserts reservation rows, after its stock rows).
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { ServiceError, UsageError } from '../errors.js';
import { connectPostgres } from '../postgres/client.js';
import type { LedgerEntry, LoadOptions, Reservation, ReserveRequest, ReserveResult, SkuStock, Snapshot, SkuSnapshot } from './types.js';
import type { Store, Strategy, StrategyContext, StrategyName } from './types.js';

const SCHEMA_PREFIX = 'flashsale_';
/** Postgres truncates identifiers beyond 63 bytes, which could silently merge two namespaces. */
const MAX_IDENTIFIER = 63;

/**
 * The schema a namespace lives in: `flashsale_<namespace>`. The prefix keeps a namespace such as
 * "public" from dropping a schema flashsale does not own.
 */
export function schemaName(namespace: string): string {
  if (!/^[a-z0-9_]+$/.test(namespace)) {
    throw new UsageError(`namespace "${namespace}" may only contain a-z, 0-9 and _`);
  }
  const name = SCHEMA_PREFIX + namespace;
  if (name.length > MAX_IDENTIFIER) {
    throw new UsageError(`namespace "${namespace}" is too long: at most ${MAX_IDENTIFIER - SCHEMA_PREFIX.length} characters`);
  }
  return name;
}

/** The quoted, schema-qualifying identifier; safe to splice into SQL because schemaName validated it. */
export function schemaIdent(namespace: string): string {
  return `"${schemaName(namespace)}"`;
}

/** Epoch ms (the caller's clock, never the database's now()) as a timestamptz, exact to the ms. */
export const msToTs = (param: string): string => `(timestamptz 'epoch' + ${param}::bigint * interval '1 millisecond')`;
export const tsToMs = (column: string): string => `(extract(epoch FROM ${column}) * 1000)::float8`;

export const IDEMPOTENCY_INDEX = 'reservations_idempotency';
export const PER_USER_LIMIT = 'per_user_limit';

/**
 * `guarded: false` is the naive control's schema: no unique idempotency key, no per-user CHECK and
 * no floor on stock, so nothing but its own (unprotected) code stands between it and an oversell.
 */
function schemaDdl(s: string, guarded: boolean): string {
  return `
SET LOCAL client_min_messages = warning; -- no NOTICE per table the DROP cascades to
DROP SCHEMA IF EXISTS ${s} CASCADE;
CREATE SCHEMA ${s};
CREATE TABLE ${s}.skus (
  sku text PRIMARY KEY,
  initial int NOT NULL,
  per_user_limit int NOT NULL
);
-- fillfactor leaves room on the page so the hot row's updates stay HOT (no index churn)
CREATE TABLE ${s}.stock (
  sku text NOT NULL,
  bucket int NOT NULL,
  available int NOT NULL ${guarded ? 'CHECK (available >= 0)' : ''},
  version bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (sku, bucket)
) WITH (fillfactor = 50);
CREATE TABLE ${s}.reservations (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sku text NOT NULL,
  bucket int NOT NULL,
  qty int NOT NULL,
  user_id text NOT NULL,
  idem_key text NOT NULL,
  state text NOT NULL CHECK (state IN ('held', 'sold', 'released', 'expired')),
  expires_at timestamptz NOT NULL
);
CREATE ${guarded ? 'UNIQUE' : ''} INDEX ${IDEMPOTENCY_INDEX} ON ${s}.reservations (sku, idem_key);
CREATE TABLE ${s}.user_holds (
  sku text NOT NULL,
  user_id text NOT NULL,
  qty int NOT NULL,
  lim int NOT NULL,
  PRIMARY KEY (sku, user_id)
  ${guarded ? `, CONSTRAINT ${PER_USER_LIMIT} CHECK (lim = 0 OR qty <= lim)` : ''}
);`;
}

/** Stock split as evenly as possible: the first `stock % buckets` buckets get one unit more. */
export function spread(stock: number, buckets: number): number[] {
  const base = Math.floor(stock / buckets);
  return Array.from({ length: buckets }, (_, b) => base + (b < stock % buckets ? 1 : 0));
}

/**
 * The grant statement every safe strategy ends with, in one round trip and all-or-nothing:
 * `took` (the strategy's own stock decrement, at most one row naming the bucket to record)
 * drives the per-user upsert and the ledger insert. A per-user CHECK violation or a duplicate
 * idempotency key aborts the whole statement, decrement included. An idempotency key already
 * in the ledger skips the decrement (`took` must test NOT EXISTS (SELECT FROM existing)) and
 * comes back as the one row, duplicate = true.
 *
 * Parameters: $1 sku, $2 qty, $3 user, $4 idempotency key, $5 expiresAt (epoch ms); a
 * strategy's `took` may use $6 onwards.
 */
export function grantSql(s: string, took: string): string {
  return `WITH existing AS (
  SELECT id, qty, user_id, expires_at FROM ${s}.reservations WHERE sku = $1::text AND idem_key = $4::text
), ${took}, allowance AS (
  INSERT INTO ${s}.user_holds AS h (sku, user_id, qty, lim)
  SELECT $1, $3::text, $2::int, k.per_user_limit FROM ${s}.skus k, took WHERE k.sku = $1 AND k.per_user_limit > 0
  ON CONFLICT (sku, user_id) DO UPDATE SET qty = h.qty + EXCLUDED.qty
), granted AS (
  INSERT INTO ${s}.reservations (sku, bucket, qty, user_id, idem_key, state, expires_at)
  SELECT $1, took.bucket, $2, $3, $4, 'held', ${msToTs('$5')} FROM took
  RETURNING id, qty, user_id, expires_at
)
SELECT id::text AS id, qty, user_id, ${tsToMs('expires_at')} AS expires_ms, false AS duplicate FROM granted
UNION ALL
SELECT id::text, qty, user_id, ${tsToMs('expires_at')}, true FROM existing`;
}

/** The parameters $1..$5 of grantSql, in order. */
export function grantParams(req: ReserveRequest): [string, number, string, string, number] {
  return [req.sku, req.qty, req.user, req.idempotencyKey, Math.round((req.now ?? Date.now()) + req.ttlMs)];
}

/** A row of grantSql's result, or of any lookup of an existing reservation. */
export interface GrantRow {
  id: string;
  qty: number;
  user_id: string;
  expires_ms: number;
  duplicate: boolean;
}

/**
 * Reads the stock row (bucket 0) and any reservation already made with the idempotency key,
 * in one round trip. Parameters: $1 sku, $2 idempotency key.
 */
export function probeSql(s: string, forUpdate: boolean): string {
  return `SELECT t.available, t.version::text AS version,
  e.id::text AS id, e.qty, e.user_id, ${tsToMs('e.expires_at')} AS expires_ms, true AS duplicate
FROM ${s}.stock t LEFT JOIN ${s}.reservations e ON e.sku = t.sku AND e.idem_key = $2::text
WHERE t.sku = $1::text AND t.bucket = 0
LIMIT 1${forUpdate ? ' FOR UPDATE OF t' : ''}`;
}

export interface ProbeRow extends Omit<GrantRow, 'id'> {
  available: number;
  version: string;
  id: string | null;
}

export function granted(row: GrantRow, req: ReserveRequest, retries: number): ReserveResult {
  const reservation: Reservation = { id: row.id, sku: req.sku, qty: row.qty, user: row.user_id, idempotencyKey: req.idempotencyKey, expiresAt: row.expires_ms };
  return { ok: true, reservation, duplicate: row.duplicate, retries };
}

function pgError(err: unknown): { code?: string; constraint?: string } {
  return typeof err === 'object' && err !== null ? (err as { code?: string; constraint?: string }) : {};
}

/** Runs `work` in a transaction on one pooled client: COMMIT if it returns, ROLLBACK if it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const value = await work(client);
    await client.query('COMMIT');
    return value;
  } catch (err) {
    // A client whose ROLLBACK failed is in an unknown state: destroy it rather than reuse it.
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.release(broken);
  }
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
        : Promise.reject(new ServiceError('postgres', `the ${this.name} strategy needs Postgres but no database URL was given`, 'pass --database-url or set DATABASE_URL'));
    }
    return this.pool;
  }

  /** One reserve attempt, without the idempotency-twin and per-user-limit handling reserve() adds. */
  protected abstract attempt(pool: pg.Pool, req: ReserveRequest, spent: Spent): Promise<ReserveResult>;

  async load(stock: SkuStock[], options: LoadOptions): Promise<void> {
    for (const { sku, stock: units } of stock) {
      if (!Number.isInteger(units) || units < 0) throw new RangeError(`stock of ${sku} must be a whole number >= 0, got ${units}`);
    }
    if (!Number.isInteger(options.perUserLimit) || options.perUserLimit < 0) {
      throw new RangeError(`perUserLimit must be a whole number >= 0, got ${options.perUserLimit}`);
    }
    const pool = await this.db();
    await pool.query(schemaDdl(this.s, this.layout.guarded));
    const rows = stock.flatMap(({ sku, stock: units }) => spread(units, this.layout.buckets).map((available, bucket) => ({ sku, bucket, available })));
    await pool.query(`INSERT INTO ${this.s}.skus (sku, initial, per_user_limit) SELECT sku, initial, $3 FROM unnest($1::text[], $2::int[]) AS u(sku, initial)`, [
      stock.map((x) => x.sku),
      stock.map((x) => x.stock),
      options.perUserLimit,
    ]);
    await pool.query(`INSERT INTO ${this.s}.stock (sku, bucket, available) SELECT * FROM unnest($1::text[], $2::int[], $3::int[])`, [
      rows.map((r) => r.sku),
      rows.map((r) => r.bucket),
      rows.map((r) => r.available),
    ]);
  }

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    if (!Number.isInteger(req.qty) || req.qty < 1) throw new RangeError(`qty must be a whole number >= 1, got ${req.qty}`);
    const pool = await this.db();
    const spent: Spent = { retries: 0 };
    for (let round = 1; ; round++) {
      try {
        return await this.attempt(pool, req, spent);
      } catch (err) {
        const { code, constraint } = pgError(err);
        if (code === '23514' && constraint === PER_USER_LIMIT) return { ok: false, reason: 'limit_exceeded', retries: spent.retries };
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
    const { rows } = await pool.query<GrantRow>({ name: 'ledger_lookup', text: this.ledgerSql.lookup, values: [req.sku, req.idempotencyKey] });
    return rows[0] ? granted(rows[0], req, retries) : undefined;
  }

  async confirm(reservation: Reservation, now: number = Date.now()): Promise<boolean> {
    if (!isId(reservation.id)) return false;
    const pool = await this.db();
    const { rowCount } = await pool.query({ name: 'ledger_confirm', text: this.ledgerSql.confirm, values: [reservation.id, Math.round(now)] });
    return rowCount === 1;
  }

  async release(reservation: Reservation): Promise<boolean> {
    if (!isId(reservation.id)) return false;
    const pool = await this.db();
    const { rows } = await pool.query<{ n: number }>({ name: 'ledger_release', text: this.ledgerSql.release, values: [reservation.id] });
    return rows[0].n === 1;
  }

  async sweepExpired(now: number): Promise<number> {
    const pool = await this.db();
    const { rows } = await pool.query<{ units: number }>({ name: 'ledger_sweep', text: this.ledgerSql.sweep, values: [Math.round(now)] });
    return rows[0].units;
  }

  async snapshot(): Promise<Snapshot> {
    const pool = await this.db();
    // One statement, so the counters and the ledger come from the same instant.
    const { rows } = await pool.query<{ skus: SkuSnapshot[]; ledger: LedgerEntry[] }>(this.ledgerSql.snapshot);
    return rows[0];
  }

  /** Nothing per SKU is cached (statements carry their lookups), so this only fills the pool. */
  async connect(_skus: string[]): Promise<void> {
    const pool = await this.db();
    const clients = await Promise.all(Array.from({ length: this.ctx.connections ?? 10 }, () => pool.connect()));
    for (const client of clients) client.release();
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

function ledgerStatements(s: string) {
  // release and sweep each flip the state, put the units back on the recorded bucket (bumping
  // version so optimistic readers notice) and give the user's allowance back, in one statement.
  // `count(*) > 0` (not EXISTS, which stops at the first row) makes every stock row locked and
  // updated before any user_holds row is touched: the lock order the header promises.
  const release = `WITH gone AS (
  UPDATE ${s}.reservations SET state = 'released' WHERE id = $1::bigint AND state = 'held'
  RETURNING sku, bucket, qty, user_id
), restocked AS (
  UPDATE ${s}.stock t SET available = t.available + g.qty, version = t.version + 1
  FROM gone g WHERE t.sku = g.sku AND t.bucket = g.bucket
  RETURNING t.sku
), allowance AS (
  UPDATE ${s}.user_holds h SET qty = h.qty - g.qty
  FROM gone g WHERE h.sku = g.sku AND h.user_id = g.user_id AND (SELECT count(*) FROM restocked) > 0
)
SELECT count(*)::int AS n FROM gone`;

  // Several stock and user rows at once: lock them in key order (ORDER BY is applied before
  // FOR UPDATE) so two sweeps, or a sweep and a multi-bucket reserve, cannot deadlock.
  const sweep = `WITH gone AS (
  UPDATE ${s}.reservations SET state = 'expired' WHERE state = 'held' AND expires_at <= ${msToTs('$1')}
  RETURNING sku, bucket, qty, user_id
), per_bucket AS (
  SELECT sku, bucket, sum(qty)::int AS qty FROM gone GROUP BY sku, bucket
), stock_locked AS (
  SELECT t.sku, t.bucket FROM ${s}.stock t JOIN per_bucket p USING (sku, bucket)
  ORDER BY t.sku, t.bucket FOR UPDATE OF t
), restocked AS (
  UPDATE ${s}.stock t SET available = t.available + p.qty, version = t.version + 1
  FROM per_bucket p JOIN stock_locked l USING (sku, bucket)
  WHERE t.sku = p.sku AND t.bucket = p.bucket
  RETURNING t.sku
), per_user AS (
  SELECT sku, user_id, sum(qty)::int AS qty FROM gone GROUP BY sku, user_id
), users_locked AS (
  SELECT h.sku, h.user_id FROM ${s}.user_holds h JOIN per_user u USING (sku, user_id)
  WHERE (SELECT count(*) FROM restocked) > 0
  ORDER BY h.sku, h.user_id FOR UPDATE OF h
), allowance AS (
  UPDATE ${s}.user_holds h SET qty = h.qty - u.qty
  FROM per_user u JOIN users_locked l USING (sku, user_id)
  WHERE h.sku = u.sku AND h.user_id = u.user_id
)
SELECT coalesce(sum(qty), 0)::int AS units FROM gone`;

  return {
    confirm: `UPDATE ${s}.reservations SET state = 'sold' WHERE id = $1::bigint AND state = 'held' AND expires_at > ${msToTs('$2')}`,
    release,
    sweep,
    lookup: `SELECT id::text AS id, qty, user_id, ${tsToMs('expires_at')} AS expires_ms, true AS duplicate
FROM ${s}.reservations WHERE sku = $1 AND idem_key = $2 ORDER BY id LIMIT 1`,
    snapshot: `SELECT
  coalesce((SELECT json_agg(json_build_object('sku', k.sku, 'initial', k.initial,
      'available', (SELECT coalesce(sum(t.available), 0) FROM ${s}.stock t WHERE t.sku = k.sku)) ORDER BY k.sku)
    FROM ${s}.skus k), '[]') AS skus,
  coalesce((SELECT json_agg(json_build_object('id', r.id::text, 'sku', r.sku, 'qty', r.qty, 'user', r.user_id,
      'idempotencyKey', r.idem_key, 'state', r.state, 'expiresAt', ${tsToMs('r.expires_at')}) ORDER BY r.id)
    FROM ${s}.reservations r), '[]') AS ledger`,
  };
}
