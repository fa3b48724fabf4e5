// advisory: for a hot SKU, one stock row is one queue. Split the SKU's stock over N bucket rows
// and guard each with a transaction-scoped advisory lock that is only ever *tried*: a buyer takes
// units from buckets nobody else holds right now and never waits behind another buyer. It is
// sold out only when every bucket was examined and together they lack the units; when it had to
// skip buckets that others held, it retries a bounded number of times, then reports 'conflict'.
import type pg from 'pg';
import { tsToMs } from '../postgres/sql-time.js';
import { inTransaction } from '../postgres/transaction.js';
import { backoff, DEFAULT_RETRY, granted, PgLedgerStrategy, type RetryOptions, type Spent } from './pg-ledger.js';
import { grantParams, grantSql, schemaName, type GrantRow } from './pg-statements.js';
import type { ReserveRequest, ReserveResult, StrategyContext } from './types.js';

export const DEFAULT_BUCKETS = 8;

export interface AdvisoryOptions extends RetryOptions {
  /** Stock rows per SKU. Every instance of one namespace must use the value load() used. */
  buckets: number;
}

interface Examined {
  bucket: number;
  available: number;
  locked: boolean;
}

/** The plan went stale between locking and writing (see grant's `took`): roll back and retry. */
class StalePlan extends Error {}

/** Which locked buckets to take from, in walk order, until the request is covered. */
export function planTakes(
  locked: { bucket: number; available: number }[],
  qty: number,
): { buckets: number[]; takes: number[] } {
  const buckets: number[] = [];
  const takes: number[] = [];
  let left = qty;
  for (const b of locked) {
    if (left === 0) break;
    const take = Math.min(left, b.available);
    if (take > 0) {
      buckets.push(b.bucket);
      takes.push(take);
      left -= take;
    }
  }
  return { buckets, takes };
}

function lockSql(s: string): string {
  // Walks the buckets that had stock, starting at a random one ($3) so buyers spread out, trying
  // each one's lock and stopping as soon as the locked ones cover the request: a one-unit buyer
  // holds one bucket, not all of them. The lock key hashes schema, sku and bucket into a bigint,
  // so namespaces never share a lock. Locks are taken while the statement runs, after its
  // snapshot, so `available` can be stale by a just-committed buyer: the grant re-checks it.
  return `WITH RECURSIVE existing AS (
  SELECT id::text AS id, qty, user_id, ${tsToMs('expires_at')} AS expires_ms, true AS duplicate
  FROM ${s}.reservations WHERE sku = $1::text AND idem_key = $2::text
), candidates AS MATERIALIZED (
  SELECT bucket, available, row_number() OVER (ORDER BY bucket < $3::int, bucket) AS ord
  FROM ${s}.stock WHERE sku = $1 AND available > 0 AND NOT EXISTS (SELECT FROM existing)
), walk (ord, bucket, available, locked, got) AS (
  SELECT 0::bigint, -1, 0, true, 0
  UNION ALL
  SELECT c.ord, c.bucket, c.available, l.locked, w.got + CASE WHEN l.locked THEN c.available ELSE 0 END
  FROM walk w
  JOIN candidates c ON c.ord = w.ord + 1
  CROSS JOIN LATERAL (SELECT pg_try_advisory_xact_lock(hashtextextended($4::text || c.bucket, 0)) AS locked) l
  WHERE w.got < $5::int
)
SELECT (SELECT row_to_json(e) FROM existing e) AS existing,
  coalesce((SELECT json_agg(json_build_object('bucket', bucket, 'available', available, 'locked', locked) ORDER BY ord)
    FROM walk WHERE ord > 0), '[]') AS examined`;
}

function advisoryGrantSql(s: string): string {
  // $6 buckets (ascending) and $7 units to take from each. The advisory locks keep other buyers
  // off these buckets; `available >= take` only catches a plan made from a stale read. Rows are
  // locked in bucket order, as sweepExpired does, so the two cannot deadlock. The ledger records
  // the lowest bucket; release returns the units there (only the SKU's sum matters).
  return grantSql(
    s,
    `plan AS (
  SELECT * FROM unnest($6::int[], $7::int[]) AS p(bucket, take)
), locked AS (
  SELECT t.bucket FROM ${s}.stock t JOIN plan p USING (bucket)
  WHERE t.sku = $1::text AND NOT EXISTS (SELECT FROM existing)
  ORDER BY t.bucket FOR UPDATE OF t
), dec AS (
  UPDATE ${s}.stock t SET available = t.available - p.take, version = t.version + 1
  FROM plan p JOIN locked l USING (bucket)
  WHERE t.sku = $1 AND t.bucket = p.bucket AND t.available >= p.take
  RETURNING t.bucket
), took AS (
  SELECT min(bucket) AS bucket FROM dec HAVING count(*) = cardinality($6::int[])
)`,
  );
}

export class AdvisoryStrategy extends PgLedgerStrategy {
  readonly name = 'advisory' as const;
  private readonly options: AdvisoryOptions;
  private readonly lockText: string;
  private readonly grantText: string;
  private readonly lockPrefix: string;

  constructor(ctx: StrategyContext, options: Partial<AdvisoryOptions> = {}) {
    const buckets = options.buckets ?? DEFAULT_BUCKETS;
    if (!Number.isInteger(buckets) || buckets < 1)
      throw new RangeError(`buckets must be a whole number >= 1, got ${buckets}`);
    super(ctx, { buckets, guarded: true });
    this.options = { ...DEFAULT_RETRY, ...options, buckets };
    this.lockText = lockSql(this.s);
    this.grantText = advisoryGrantSql(this.s);
    this.lockPrefix = `${schemaName(ctx.namespace)}:`;
  }

  protected async attempt(pool: pg.Pool, req: ReserveRequest, spent: Spent): Promise<ReserveResult> {
    for (;;) {
      let outcome: ReserveResult | 'contended';
      try {
        outcome = await inTransaction(pool, (client) => this.tryBuckets(client, req, spent));
      } catch (err) {
        if (!(err instanceof StalePlan)) throw err;
        outcome = 'contended';
      }
      if (outcome !== 'contended') return outcome;
      if (spent.retries >= this.options.maxRetries) return { ok: false, reason: 'conflict', retries: spent.retries };
      await backoff(spent.retries, this.options);
      spent.retries += 1;
    }
  }

  private async tryBuckets(
    client: pg.PoolClient,
    req: ReserveRequest,
    spent: Spent,
  ): Promise<ReserveResult | 'contended'> {
    const start = Math.floor(Math.random() * this.options.buckets);
    const {
      rows: [probe],
    } = await client.query<{ existing: GrantRow | null; examined: Examined[] }>({
      name: 'advisory_lock',
      text: this.lockText,
      values: [req.sku, req.idempotencyKey, start, `${this.lockPrefix}${req.sku}:`, req.qty],
    });
    if (probe.existing) return granted(probe.existing, req, spent.retries);
    const locked = probe.examined.filter((b) => b.locked);
    const { buckets, takes } = planTakes(locked, req.qty);
    if (takes.reduce((a, b) => a + b, 0) < req.qty) {
      return probe.examined.some((b) => !b.locked)
        ? 'contended'
        : { ok: false, reason: 'sold_out', retries: spent.retries };
    }
    const order = buckets.map((_, i) => i).sort((a, b) => buckets[a] - buckets[b]);
    const { rows } = await client.query<GrantRow>({
      name: 'advisory_grant',
      text: this.grantText,
      values: [...grantParams(req), order.map((i) => buckets[i]), order.map((i) => takes[i])],
    });
    if (!rows[0]) throw new StalePlan();
    return granted(rows[0], req, spent.retries);
  }
}
