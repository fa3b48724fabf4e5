// optimistic: no locks held while deciding. Read (available, version) outside any transaction,
// then write only if the version is still the one read; a changed version means someone else
// got there first, so read again after a jittered pause, a bounded number of times.
import type pg from 'pg';
import { backoff, DEFAULT_RETRY, granted, PgLedgerStrategy, type RetryOptions, type Spent } from './pg-ledger.js';
import { bucketZeroGrantSql, grantParams, probeSql, type GrantRow, type ProbeRow } from './pg-statements.js';
import type { ReserveRequest, ReserveResult, StrategyContext } from './types.js';

export class OptimisticStrategy extends PgLedgerStrategy {
  readonly name = 'optimistic' as const;
  private readonly readSql: string;
  private readonly writeSql: string;
  private readonly retry: RetryOptions;

  constructor(ctx: StrategyContext, retry: Partial<RetryOptions> = {}) {
    super(ctx);
    this.retry = { ...DEFAULT_RETRY, ...retry };
    this.readSql = probeSql(this.s, false);
    // The version match is the whole protection: the stock check was made on what we read.
    this.writeSql = bucketZeroGrantSql(this.s, 'version = $6::bigint');
  }

  protected async attempt(pool: pg.Pool, req: ReserveRequest, spent: Spent): Promise<ReserveResult> {
    for (;;) {
      // Read and write on one connection, without a transaction: going back to the pool between
      // them would put the write behind every queued request, and the version would be stale.
      const client = await pool.connect();
      let rows: GrantRow[];
      try {
        const {
          rows: [row],
        } = await client.query<ProbeRow>({
          name: 'optimistic_read',
          text: this.readSql,
          values: [req.sku, req.idempotencyKey],
        });
        if (row?.id) return granted({ ...row, id: row.id }, req, spent.retries);
        if (!row || row.available < req.qty) return { ok: false, reason: 'sold_out', retries: spent.retries };
        ({ rows } = await client.query<GrantRow>({
          name: 'optimistic_write',
          text: this.writeSql,
          values: [...grantParams(req), row.version],
        }));
      } finally {
        client.release();
      }
      if (rows[0]) return granted(rows[0], req, spent.retries);
      if (spent.retries >= this.retry.maxRetries) return { ok: false, reason: 'conflict', retries: spent.retries };
      await backoff(spent.retries, this.retry);
      spent.retries += 1;
    }
  }
}
