// The SQL of the Postgres strategies' shared schema, one namespace per schema: the DDL, the
// grant statement every safe reserve ends with, and the ledger's confirm / release / sweep /
// lookup / snapshot. Builders only: nothing here opens a connection (see pg-ledger.ts).
//
// Row locks are always taken in one order, reservation → stock rows (ascending sku, bucket) →
// user_holds, so these statements cannot deadlock with each other or with a reserve (which only
// inserts reservation rows, after its stock rows).
import { UsageError } from '../errors.js';
import { msToTs, tsToMs } from '../postgres/sql-time.js';
import type { ReserveRequest } from './types.js';

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
    throw new UsageError(
      `namespace "${namespace}" is too long: at most ${MAX_IDENTIFIER - SCHEMA_PREFIX.length} characters`,
    );
  }
  return name;
}

/** The quoted, schema-qualifying identifier; safe to splice into SQL because schemaName validated it. */
export function schemaIdent(namespace: string): string {
  return `"${schemaName(namespace)}"`;
}

export const IDEMPOTENCY_INDEX = 'reservations_idempotency';
export const PER_USER_LIMIT = 'per_user_limit';

/**
 * `guarded: false` is the naive control's schema: no unique idempotency key, no per-user CHECK and
 * no floor on stock, so nothing but its own (unprotected) code stands between it and an oversell.
 */
export function schemaDdl(s: string, guarded: boolean): string {
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

/**
 * grantSql whose `took` is one conditional decrement of the SKU's single stock row (bucket 0).
 * `guard` is the strategy's own condition on that row: `available >= $2::int` (atomic),
 * `version = $6::bigint` (optimistic), none when a row lock already decided (pessimistic).
 */
export function bucketZeroGrantSql(s: string, guard?: string): string {
  return grantSql(
    s,
    `took AS (
  UPDATE ${s}.stock SET available = available - $2::int, version = version + 1
  WHERE sku = $1::text AND bucket = 0${guard ? ` AND ${guard}` : ''} AND NOT EXISTS (SELECT FROM existing)
  RETURNING bucket
)`,
  );
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

/** The ledger's own statements for schema `s`; PgLedgerStrategy prepares each under a fixed name. */
export function ledgerStatements(s: string) {
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
