// atomic: the database refuses to oversell for us. One conditional UPDATE (`available >= qty`)
// takes the units, and the same statement records the ledger row and the user's allowance, so
// a reserve is one round trip with no transaction around it: the statement is the transaction.
// The bench's --reference mode runs exactly this statement with `pgbench -M prepared`.
import type pg from 'pg';
import { granted, PgLedgerStrategy, type Spent } from './pg-ledger.js';
import { bucketZeroGrantSql, grantParams, schemaIdent, type GrantRow } from './pg-statements.js';
import type { ReserveRequest, ReserveResult, StrategyContext } from './types.js';

/** Name of the prepared statement on each connection. */
export const ATOMIC_RESERVE_STATEMENT = 'atomic_reserve';

/** What $1..$5 of atomicReserveSql stand for, in order (for writing the pgbench script). */
export const ATOMIC_RESERVE_PARAMS = ['sku', 'qty', 'user', 'idempotencyKey', 'expiresAtMs'] as const;

function sqlFor(s: string): string {
  return bucketZeroGrantSql(s, 'available >= $2::int');
}

/**
 * The reserve statement for a namespace's schema (see schemaName). It returns one row
 * `(id, qty, user_id, expires_ms, duplicate)` when granted or when the idempotency key was
 * already used, and no row when the stock is short; it fails with SQLSTATE 23514 (constraint
 * per_user_limit) past the per-user limit.
 */
export function atomicReserveSql(namespace: string): string {
  return sqlFor(schemaIdent(namespace));
}

/** The parameter array of atomicReserveSql for one request, in ATOMIC_RESERVE_PARAMS order. */
export function atomicReserveParams(req: ReserveRequest): (string | number)[] {
  return grantParams(req);
}

export class AtomicStrategy extends PgLedgerStrategy {
  readonly name = 'atomic' as const;
  private readonly text: string;

  constructor(ctx: StrategyContext) {
    super(ctx);
    this.text = sqlFor(this.s);
  }

  protected async attempt(pool: pg.Pool, req: ReserveRequest, spent: Spent): Promise<ReserveResult> {
    const { rows } = await pool.query<GrantRow>({
      name: ATOMIC_RESERVE_STATEMENT,
      text: this.text,
      values: grantParams(req),
    });
    return rows[0] ? granted(rows[0], req, spent.retries) : { ok: false, reason: 'sold_out', retries: spent.retries };
  }
}
