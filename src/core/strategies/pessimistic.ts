// pessimistic: lock the stock row, then decide. SELECT … FOR UPDATE queues every buyer of a SKU
// behind the row lock for the length of a transaction, so the check and the decrement can be
// plain application logic: nobody else can change the row in between.
import type pg from 'pg';
import { inTransaction } from '../postgres/transaction.js';
import { granted, PgLedgerStrategy, type Spent } from './pg-ledger.js';
import { bucketZeroGrantSql, grantParams, probeSql, type GrantRow, type ProbeRow } from './pg-statements.js';
import type { ReserveRequest, ReserveResult, StrategyContext } from './types.js';

export class PessimisticStrategy extends PgLedgerStrategy {
  readonly name = 'pessimistic' as const;
  private readonly lockSql: string;
  private readonly grantText: string;

  constructor(ctx: StrategyContext) {
    super(ctx);
    this.lockSql = probeSql(this.s, true);
    // Unconditional on available: the row lock and the check above it are what protect the stock.
    this.grantText = bucketZeroGrantSql(this.s);
  }

  protected attempt(pool: pg.Pool, req: ReserveRequest, spent: Spent): Promise<ReserveResult> {
    return inTransaction(pool, async (client): Promise<ReserveResult> => {
      const {
        rows: [row],
      } = await client.query<ProbeRow>({
        name: 'pessimistic_lock',
        text: this.lockSql,
        values: [req.sku, req.idempotencyKey],
      });
      if (row?.id) return granted({ ...row, id: row.id }, req, spent.retries);
      if (!row || row.available < req.qty) return { ok: false, reason: 'sold_out', retries: spent.retries };
      const { rows } = await client.query<GrantRow>({
        name: 'pessimistic_grant',
        text: this.grantText,
        values: grantParams(req),
      });
      // The probe's snapshot predates the lock wait, so a twin that committed meanwhile shows up only here.
      if (!rows[0]) throw new Error(`pessimistic: the locked stock row of ${req.sku} vanished before the grant`);
      return granted(rows[0], req, spent.retries);
    });
  }
}
