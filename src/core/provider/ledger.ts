// The mock provider's books: charges, refunds and idempotency keys in a Postgres schema of their
// own, so a later `reconcile` in another process reads what the provider recorded, not what the
// engine believes. Every write that answers a request also completes that request's idempotency
// key in the same statement or transaction: a crash never leaves a charge whose key would let a
// retry charge again.
import type pg from 'pg';
import { UsageError } from '../errors.js';
import { connectPostgres, fillPool, retryConnectionLost } from '../postgres/client.js';
import { inTransaction } from '../postgres/transaction.js';
import { msToTs } from '../postgres/sql-time.js';

/**
 * Not `flashsale_`: the strategies own every schema with that prefix (one per namespace), and a
 * provider namespace must not be able to name, or drop, one of theirs.
 */
const SCHEMA_PREFIX = 'mockpay_';
/** Postgres truncates identifiers beyond 63 bytes, which could silently merge two namespaces. */
const MAX_IDENTIFIER = 63;

export function providerSchemaName(namespace: string): string {
  if (!/^[a-z0-9_]+$/.test(namespace))
    throw new UsageError(`provider namespace "${namespace}" may only contain a-z, 0-9 and _`);
  const name = SCHEMA_PREFIX + namespace;
  if (name.length > MAX_IDENTIFIER) {
    throw new UsageError(
      `provider namespace "${namespace}" is too long: at most ${MAX_IDENTIFIER - SCHEMA_PREFIX.length} characters`,
    );
  }
  return name;
}

/** Quoted; safe to splice into SQL because providerSchemaName validated it. */
export function providerSchemaIdent(namespace: string): string {
  return `"${providerSchemaName(namespace)}"`;
}

export type ChargeStatus = 'succeeded' | 'failed' | 'pending';

/** The charge as the API shows it (Stripe's shape: `created` and `settled_at` in Unix seconds). */
export interface Charge {
  id: string;
  object: 'charge';
  status: ChargeStatus;
  amount: number;
  amount_refunded: number;
  currency: string;
  created: number;
  settled_at: number | null;
  failure_code: string | null;
  metadata: Record<string, string>;
}

export interface Refund {
  id: string;
  object: 'refund';
  status: 'succeeded';
  amount: number;
  charge: string;
  currency: string;
  created: number;
}

/** A charge row to write; times in epoch ms from the provider's clock. */
export interface ChargeRow {
  id: string;
  amount: number;
  currency: string;
  status: ChargeStatus;
  failure_code: string | null;
  metadata: Record<string, string>;
  created_ms: number;
  settled_ms: number | null;
  idempotency_key: string | null;
}

export type KeyClaim =
  | { kind: 'acquired' }
  | { kind: 'in_use' }
  | { kind: 'mismatch' }
  | { kind: 'replay'; statusCode: number; response: unknown };

export interface Answer {
  statusCode: number;
  body: unknown;
}

function ddl(s: string): string {
  // COLLATE "C" on ids: pages are ordered by (created, id), and that order must not depend on the
  // server's locale. amount_refunded <= amount is the last word on "refunds never exceed the charge".
  return `
SET LOCAL client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.charges (
  id text COLLATE "C" PRIMARY KEY,
  transaction_id text NOT NULL,
  order_id text,
  amount int NOT NULL CHECK (amount > 0),
  amount_refunded int NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0 AND amount_refunded <= amount),
  currency text NOT NULL,
  status text NOT NULL CHECK (status IN ('succeeded', 'failed', 'pending')),
  failure_code text,
  metadata jsonb NOT NULL,
  created timestamptz NOT NULL,
  settled_at timestamptz,
  idempotency_key text
);
CREATE INDEX IF NOT EXISTS charges_created_id ON ${s}.charges (created, id);
CREATE INDEX IF NOT EXISTS charges_transaction ON ${s}.charges (transaction_id);
CREATE TABLE IF NOT EXISTS ${s}.refunds (
  id text COLLATE "C" PRIMARY KEY,
  charge text NOT NULL REFERENCES ${s}.charges (id),
  amount int NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  created timestamptz NOT NULL,
  idempotency_key text
);
CREATE TABLE IF NOT EXISTS ${s}.idempotency_keys (
  key text PRIMARY KEY,
  path text NOT NULL,
  fingerprint text NOT NULL,
  state text NOT NULL CHECK (state IN ('processing', 'done')),
  status_code int,
  response jsonb,
  created timestamptz NOT NULL
);`;
}

const seconds = (column: string) => `floor(extract(epoch FROM ${column}))::float8`;
const CHARGE_COLUMNS = `id, 'charge' AS object, status, amount, amount_refunded, currency, ${seconds('created')} AS created,
  ${seconds('settled_at')} AS settled_at, failure_code, metadata`;

export interface ListQuery {
  /** Epoch seconds, inclusive. */
  createdGte?: number;
  /** Epoch seconds, exclusive. */
  createdLt?: number;
  limit: number;
  startingAfter?: string;
}

/**
 * Every charge of a ledger, read without opening it (`open` also clears what a dead provider left
 * in flight, which a live one still needs): what `flashsale check` reads.
 */
export async function allCharges(db: Pick<pg.Pool, 'query'>, schema: string): Promise<Charge[]> {
  const { rows } = await db.query(`SELECT ${CHARGE_COLUMNS} FROM ${schema}.charges ORDER BY created, id`);
  return rows as Charge[];
}

export class ProviderLedger {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly s: string,
  ) {}

  /**
   * Creates the schema if needed (`reset` drops it first). Keys left 'processing' by a previous
   * process are dropped: their requests died with it, and keeping them would answer every retry
   * with 409 forever. So one namespace is served by one provider at a time.
   */
  static async open(
    databaseUrl: string,
    namespace: string,
    opts: { connections: number; reset: boolean },
  ): Promise<ProviderLedger> {
    const s = providerSchemaIdent(namespace);
    const pool = await connectPostgres(databaseUrl, 'the mock payment provider', opts.connections);
    try {
      // Safe to run twice if a connection is cut under it: every statement is idempotent.
      await retryConnectionLost("creating the provider's ledger", () =>
        inTransaction(pool, async (c) => {
          if (opts.reset) await c.query(`SET LOCAL client_min_messages = warning; DROP SCHEMA IF EXISTS ${s} CASCADE`);
          await c.query(ddl(s));
          await c.query(`DELETE FROM ${s}.idempotency_keys WHERE state = 'processing'`);
        }),
      );
      await fillPool(pool, opts.connections);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return new ProviderLedger(pool, s);
  }

  /** Takes `key` for this request, or says why not. A key is scoped to one path and one request body. */
  async claim(key: string, path: string, fingerprint: string, nowMs: number): Promise<KeyClaim> {
    const sql = `WITH ins AS (
  INSERT INTO ${this.s}.idempotency_keys (key, path, fingerprint, state, created)
  VALUES ($1, $2, $3, 'processing', ${msToTs('$4')}) ON CONFLICT (key) DO NOTHING RETURNING key
)
SELECT true AS acquired, NULL::text AS path, NULL::text AS fingerprint, NULL::text AS state, NULL::int AS status_code, NULL::jsonb AS response FROM ins
UNION ALL
SELECT false, path, fingerprint, state, status_code, response FROM ${this.s}.idempotency_keys WHERE key = $1`;
    // Zero rows: the key's holder released it between our insert and our read. Ask again.
    for (let round = 0; round < 5; round++) {
      const { rows } = await this.pool.query(sql, [key, path, fingerprint, nowMs]);
      const row = rows[0];
      if (!row) continue;
      if (row.acquired) return { kind: 'acquired' };
      if (row.path !== path || row.fingerprint !== fingerprint) return { kind: 'mismatch' };
      if (row.state === 'processing') return { kind: 'in_use' };
      return { kind: 'replay', statusCode: row.status_code, response: row.response };
    }
    return { kind: 'in_use' };
  }

  /** Gives a key back unanswered (5xx, a timeout that did not commit, a refused refund) so a retry starts afresh. */
  async release(key: string): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.s}.idempotency_keys WHERE key = $1 AND state = 'processing'`, [key]);
  }

  /**
   * Writes `rows` (possibly none: a dropped record) and completes `key` with the answer, in one
   * statement. Nothing is written unless this request still holds the key.
   */
  async recordCharges(key: string, rows: ChargeRow[], answer: Answer): Promise<void> {
    const { rowCount } = await this.pool.query(
      `WITH r AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id text, amount int, currency text, status text, failure_code text,
    metadata jsonb, created_ms bigint, settled_ms bigint, idempotency_key text)
), held AS (
  SELECT FROM ${this.s}.idempotency_keys WHERE key = $2 AND state = 'processing'
), ins AS (
  INSERT INTO ${this.s}.charges (id, transaction_id, order_id, amount, currency, status, failure_code, metadata, created, settled_at, idempotency_key)
  SELECT id, metadata->>'transaction_id', metadata->>'order_id', amount, currency, status, failure_code, metadata,
    ${msToTs('created_ms')}, ${msToTs('settled_ms')}, idempotency_key
  FROM r WHERE EXISTS (SELECT FROM held)
)
UPDATE ${this.s}.idempotency_keys SET state = 'done', status_code = $3, response = $4::jsonb WHERE key = $2 AND state = 'processing'`,
      [JSON.stringify(rows), key, answer.statusCode, JSON.stringify(answer.body)],
    );
    if (rowCount !== 1) throw new Error(`idempotency key ${key} was no longer held when its charge was recorded`);
  }

  /**
   * Refunds `amount` (the whole remainder when undefined) of `chargeId`. The charge row is locked
   * so two concurrent refunds cannot both fit in the remainder. Completes `key` when it succeeds;
   * a refusal is returned, not recorded, and the caller releases the key.
   */
  async refund(
    key: string,
    chargeId: string,
    amount: number | undefined,
    refundId: string,
    nowMs: number,
  ): Promise<Answer> {
    return inTransaction(this.pool, async (c) => {
      const { rows } = await c.query(
        `SELECT amount, amount_refunded, status, currency FROM ${this.s}.charges WHERE id = $1 FOR UPDATE`,
        [chargeId],
      );
      const charge = rows[0] as
        { amount: number; amount_refunded: number; status: string; currency: string } | undefined;
      const refuse = (statusCode: number, code: string, param: string, message: string): Answer => ({
        statusCode,
        body: { error: { type: 'invalid_request_error', code, param, message } },
      });
      if (!charge) return refuse(404, 'resource_missing', 'charge', `charge: no such charge: ${chargeId}`);
      if (charge.status !== 'succeeded')
        return refuse(
          400,
          'charge_not_refundable',
          'charge',
          `charge: ${chargeId} is ${charge.status}; only a succeeded charge can be refunded`,
        );
      const remaining = charge.amount - charge.amount_refunded;
      if (remaining === 0)
        return refuse(400, 'charge_already_refunded', 'charge', `charge: ${chargeId} is already fully refunded`);
      const take = amount ?? remaining;
      if (take > remaining)
        return refuse(
          400,
          'amount_too_large',
          'amount',
          `amount: ${take} exceeds what is left to refund on ${chargeId} (${remaining})`,
        );
      await c.query(`UPDATE ${this.s}.charges SET amount_refunded = amount_refunded + $2 WHERE id = $1`, [
        chargeId,
        take,
      ]);
      const inserted = await c.query(
        `INSERT INTO ${this.s}.refunds (id, charge, amount, currency, created, idempotency_key) VALUES ($1, $2, $3, $4, ${msToTs('$5')}, $6)
RETURNING id, 'refund' AS object, 'succeeded' AS status, amount, charge, currency, ${seconds('created')} AS created`,
        [refundId, chargeId, take, charge.currency, nowMs, key],
      );
      const answer: Answer = { statusCode: 200, body: inserted.rows[0] as Refund };
      await c.query(
        `UPDATE ${this.s}.idempotency_keys SET state = 'done', status_code = $2, response = $3::jsonb WHERE key = $1`,
        [key, answer.statusCode, JSON.stringify(answer.body)],
      );
      return answer;
    });
  }

  /** One page in (created, id) order; `undefined` when `startingAfter` names no charge. */
  async list(q: ListQuery): Promise<{ data: Charge[]; has_more: boolean } | undefined> {
    if (q.startingAfter !== undefined) {
      const { rowCount } = await this.pool.query(`SELECT FROM ${this.s}.charges WHERE id = $1`, [q.startingAfter]);
      if (rowCount === 0) return undefined;
    }
    // One row more than asked for tells whether there is another page without counting them all.
    const { rows } = await this.pool.query(
      `SELECT ${CHARGE_COLUMNS} FROM ${this.s}.charges c
WHERE ($1::float8 IS NULL OR c.created >= to_timestamp($1::float8))
  AND ($2::float8 IS NULL OR c.created < to_timestamp($2::float8))
  AND ($3::text IS NULL OR (c.created, c.id) > (SELECT a.created, a.id FROM ${this.s}.charges a WHERE a.id = $3))
ORDER BY c.created, c.id LIMIT $4`,
      [q.createdGte ?? null, q.createdLt ?? null, q.startingAfter ?? null, q.limit + 1],
    );
    return { data: rows.slice(0, q.limit) as Charge[], has_more: rows.length > q.limit };
  }

  /** The charges whose metadata `field` is `value`, newest first (Stripe's search order). */
  async search(field: 'transaction_id' | 'order_id', value: string, limit: number): Promise<Charge[]> {
    const { rows } = await this.pool.query(
      `SELECT ${CHARGE_COLUMNS} FROM ${this.s}.charges WHERE ${field} = $1 ORDER BY created DESC, id DESC LIMIT $2`,
      [value, limit],
    );
    return rows as Charge[];
  }

  /** Every charge of the namespace: the provider's side of the run's money = orders check. */
  all(): Promise<Charge[]> {
    return allCharges(this.pool, this.s);
  }

  async get(id: string): Promise<Charge | undefined> {
    const { rows } = await this.pool.query(`SELECT ${CHARGE_COLUMNS} FROM ${this.s}.charges WHERE id = $1`, [id]);
    return rows[0] as Charge | undefined;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
