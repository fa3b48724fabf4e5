// naive (Postgres): the negative control. Read the counter, decide in JavaScript, write the new
// value back as an absolute number: no transaction, no lock, no conditional UPDATE and no
// constraint to lean on (its schema has none, see schemaDdl). Two buyers who read the same value
// both win, and one write is lost. It MUST oversell under concurrency; the harness proves itself
// by catching it. Every grant is still recorded honestly in the ledger.
import type pg from 'pg';
import { msToTs, tsToMs } from '../postgres/sql-time.js';
import { granted, PgLedgerStrategy, type Spent } from './pg-ledger.js';
import { grantParams, type GrantRow } from './pg-statements.js';
import type { ReserveRequest, ReserveResult, StrategyContext } from './types.js';

interface NaiveRead {
  available: number;
  per_user_limit: number;
  user_qty: number;
  existing: GrantRow | null;
}

export class NaiveStrategy extends PgLedgerStrategy {
  readonly name = 'naive' as const;
  private readonly sql: { read: string; write: string; record: string; allowance: string };

  constructor(ctx: StrategyContext) {
    super(ctx, { buckets: 1, guarded: false });
    const s = this.s;
    this.sql = {
      read: `SELECT t.available, k.per_user_limit, coalesce(h.qty, 0) AS user_qty,
  (SELECT row_to_json(e) FROM (
    SELECT id::text AS id, qty, user_id, ${tsToMs('expires_at')} AS expires_ms, true AS duplicate
    FROM ${s}.reservations WHERE sku = $1 AND idem_key = $3 ORDER BY id LIMIT 1) e) AS existing
FROM ${s}.stock t JOIN ${s}.skus k USING (sku)
LEFT JOIN ${s}.user_holds h ON h.sku = t.sku AND h.user_id = $2
WHERE t.sku = $1 AND t.bucket = 0`,
      write: `UPDATE ${s}.stock SET available = $2 WHERE sku = $1 AND bucket = 0`,
      record: `INSERT INTO ${s}.reservations (sku, bucket, qty, user_id, idem_key, state, expires_at)
VALUES ($1, 0, $2, $3, $4, 'held', ${msToTs('$5')})
RETURNING id::text AS id, qty, user_id, ${tsToMs('expires_at')} AS expires_ms, false AS duplicate`,
      allowance: `INSERT INTO ${s}.user_holds (sku, user_id, qty, lim) VALUES ($1, $2, $3, $4)
ON CONFLICT (sku, user_id) DO UPDATE SET qty = EXCLUDED.qty`,
    };
  }

  protected async attempt(pool: pg.Pool, req: ReserveRequest, spent: Spent): Promise<ReserveResult> {
    const {
      rows: [row],
    } = await pool.query<NaiveRead>({
      name: 'naive_read',
      text: this.sql.read,
      values: [req.sku, req.user, req.idempotencyKey],
    });
    if (row?.existing) return granted(row.existing, req, spent.retries);
    if (!row || row.available < req.qty) return { ok: false, reason: 'sold_out', retries: spent.retries };
    const limit = row.per_user_limit;
    if (limit > 0 && row.user_qty + req.qty > limit)
      return { ok: false, reason: 'limit_exceeded', retries: spent.retries };
    // The bug on purpose: values computed from a read that may already be stale.
    await pool.query({ name: 'naive_write', text: this.sql.write, values: [req.sku, row.available - req.qty] });
    const { rows } = await pool.query<GrantRow>({
      name: 'naive_record',
      text: this.sql.record,
      values: grantParams(req),
    });
    if (limit > 0) {
      await pool.query({
        name: 'naive_allowance',
        text: this.sql.allowance,
        values: [req.sku, req.user, row.user_qty + req.qty, limit],
      });
    }
    return granted(rows[0], req, spent.retries);
  }
}
