// A day of payments written straight into both ledgers (the sale's transactions and the mock
// provider's charges), with a known number of each kind of break: what the reconcile benchmark
// times and what its answer is checked against. Set-based SQL, so a million rows take seconds.
import pg from 'pg';
import { OrderStore, orderSchemaIdent } from '../engine/orders.js';
import { ProviderLedger, providerSchemaIdent } from '../provider/ledger.js';
import type { ReconCategory } from './types.js';
import { dayWindow } from './day.js';

export interface GenerateOptions {
  databaseUrl: string;
  namespace: string;
  date: string;
  tz?: string;
  /** Local transactions of the day. */
  n: number;
  /** Share of them that are breaks, split evenly over the six local-side kinds. */
  anomalyRate: number;
  /** Orphan charges (no local transaction), as a share of n. */
  orphanRate: number;
  currency?: string;
  amountMinor?: number;
}

/** Per-ten-thousand slots, in this order, each `width` wide; the rest are clean. */
const KINDS: ReconCategory[] = [
  'MISSING_AT_PROVIDER',
  'AMOUNT_MISMATCH',
  'DUPLICATE_CHARGE',
  'SETTLED_OTHER_DAY',
  'STATUS_MISMATCH',
  'CURRENCY_MISMATCH',
];
const SLOTS = 10_000;

/** What reconcile must report for the generated day: the count of each category. */
export type Expected = Partial<Record<ReconCategory, number>>;

export async function generateDay(opts: GenerateOptions): Promise<Expected> {
  const w = dayWindow(opts.date, opts.tz ?? 'UTC');
  const width = Math.floor((opts.anomalyRate * SLOTS) / KINDS.length);
  const currency = opts.currency ?? 'EUR';
  const amount = opts.amountMinor ?? 19_900;
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: 2 });
  try {
    await new OrderStore(pool, orderSchemaIdent(opts.namespace)).create();
    const ledger = await ProviderLedger.open(opts.databaseUrl, opts.namespace, { connections: 1, reset: true });
    await ledger.close();
    const s = orderSchemaIdent(opts.namespace);
    const p = providerSchemaIdent(opts.namespace);
    const params = [opts.n, w.startMs, w.endMs - w.startMs, width, SLOTS, amount, currency];
    // kind: 0..5 as KINDS, 6 = clean; a failed-and-declined payment every 50th clean one.
    const gen = `SELECT i, 'txn_' || md5('t' || i) AS txid, 'ord_' || md5('o' || i) AS oid, 'ch_' || md5('c' || i) AS cid,
  -- a second clear of either midnight, so a charge made just before its transaction is the same day
  ($2::bigint + 1000 + (i - 1) * ($3::bigint - 2000) / $1::bigint) AS at_ms,
  CASE WHEN (i % $5) < 6 * $4 THEN (i % $5) / greatest($4, 1) ELSE 6 END AS kind,
  (i % 50 = 0) AS declined
FROM generate_series(1, $1::int) i`;
    await pool.query(
      `INSERT INTO ${s}.orders (order_id, reservation_id, click_id, sku, qty, user_id, amount_minor, currency, status, transaction_id, expires_at, charge_id, created_at, updated_at)
SELECT oid, 'res_' || i, 'clk_' || i, 'sku-' || (i % 10), 1, 'user-' || i, $6, $7,
  CASE WHEN kind = 6 AND declined THEN 'PaymentFailed' ELSE 'Paid' END, txid,
  to_timestamp(at_ms / 1000.0) + interval '10 minutes', cid, to_timestamp(at_ms / 1000.0), to_timestamp(at_ms / 1000.0)
FROM (${gen}) g`,
      params,
    );
    await pool.query(
      `INSERT INTO ${s}.transactions (transaction_id, order_id, amount_minor, currency, status, charge_id, created_at)
SELECT txid, oid, $6, $7, CASE WHEN kind = 6 AND declined THEN 'failed' ELSE 'succeeded' END, cid, to_timestamp(at_ms / 1000.0)
FROM (${gen}) g`,
      params,
    );
    // The provider charged a moment before the sale recorded it; settled at once unless SETTLED_OTHER_DAY.
    await pool.query(
      `INSERT INTO ${p}.charges (id, transaction_id, order_id, amount, currency, status, failure_code, metadata, created, settled_at)
SELECT cid, txid, oid,
  CASE WHEN kind = 1 THEN $6 + 1 + i % 100 ELSE $6 END,
  CASE WHEN kind = 5 THEN 'USD' ELSE $7 END,
  CASE WHEN kind = 4 OR (kind = 6 AND declined) THEN 'failed' ELSE 'succeeded' END,
  CASE WHEN kind = 4 OR (kind = 6 AND declined) THEN 'generic_decline' END,
  jsonb_build_object('transaction_id', txid, 'order_id', oid),
  to_timestamp((at_ms - 50) / 1000.0),
  CASE WHEN kind = 4 OR (kind = 6 AND declined) THEN NULL WHEN kind = 3 THEN to_timestamp((at_ms - 50) / 1000.0) + interval '1 day' ELSE to_timestamp((at_ms - 50) / 1000.0) END
FROM (${gen}) g WHERE kind <> 0
UNION ALL
SELECT 'ch_dup_' || md5('d' || i), txid, oid, $6, $7, 'succeeded', NULL, jsonb_build_object('transaction_id', txid, 'order_id', oid),
  to_timestamp((at_ms - 40) / 1000.0), to_timestamp((at_ms - 40) / 1000.0)
FROM (${gen}) g WHERE kind = 2`,
      params,
    );
    const orphans = Math.floor(opts.n * opts.orphanRate);
    if (orphans > 0) {
      await pool.query(
        `INSERT INTO ${p}.charges (id, transaction_id, order_id, amount, currency, status, metadata, created, settled_at)
SELECT 'ch_orphan_' || md5('x' || i), 'orphan_' || md5('x' || i), NULL, $3, $4, 'succeeded', jsonb_build_object('transaction_id', 'orphan_' || md5('x' || i)),
  to_timestamp(($1::bigint + (i * 7919 % $5::bigint) * $2::bigint / $5::bigint) / 1000.0), to_timestamp(($1::bigint + (i * 7919 % $5::bigint) * $2::bigint / $5::bigint) / 1000.0)
FROM generate_series(1, $5::int) i`,
        [w.startMs, w.endMs - w.startMs, amount, currency, orphans],
      );
    }
    await pool.query(`ANALYZE ${s}.transactions; ANALYZE ${p}.charges`);
    // The same arithmetic as the SQL, for the expected answer.
    const expected: Expected = { ORPHAN_CHARGE: orphans };
    let matched = 0;
    for (let k = 0; k < SLOTS; k++) {
      // how many i in 1..n have i % SLOTS === k
      const count = k === 0 ? Math.floor(opts.n / SLOTS) : opts.n >= k ? Math.floor((opts.n - k) / SLOTS) + 1 : 0;
      const kind = k < 6 * width ? Math.floor(k / Math.max(width, 1)) : 6;
      if (kind === 6) matched += count;
      else expected[KINDS[kind]] = (expected[KINDS[kind]] ?? 0) + count;
    }
    expected.MATCHED = matched;
    for (const k of Object.keys(expected) as ReconCategory[]) if (!expected[k]) delete expected[k];
    return expected;
  } finally {
    await pool.end();
  }
}
