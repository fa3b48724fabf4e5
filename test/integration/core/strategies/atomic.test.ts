// The atomic strategy's statement is also the bench's pgbench reference: these tests pin that
// the exported text and parameters are exactly what the strategy runs, and that the statement
// alone (no transaction around it) is all-or-nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import {
  AtomicStrategy,
  ATOMIC_RESERVE_PARAMS,
  ATOMIC_RESERVE_STATEMENT,
  atomicReserveParams,
  atomicReserveSql,
} from '../../../../src/core/strategies/atomic.js';
import { schemaName } from '../../../../src/core/strategies/pg-ledger.js';
import { connectPostgres } from '../../../../src/core/postgres/client.js';
import type { ReserveRequest } from '../../../../src/core/strategies/types.js';
import { DATABASE_URL, uniqueNamespace } from '../../../helpers/services.js';

const T0 = 1_800_000_000_000;

/** Exposes the instance's own pool: prepared statements are visible only in their session. */
class InspectableAtomic extends AtomicStrategy {
  ownPool(): Promise<pg.Pool> {
    return this.db();
  }
}

describe('atomic reserve statement', () => {
  const namespace = uniqueNamespace('atomic_sql');
  const strategy = new InspectableAtomic({ namespace, databaseUrl: DATABASE_URL, connections: 1 });
  let raw: pg.Pool;
  const req = (over: Partial<ReserveRequest>): ReserveRequest => ({
    sku: 'hot',
    qty: 1,
    user: 'u1',
    idempotencyKey: 'k1',
    ttlMs: 60_000,
    now: T0,
    ...over,
  });

  beforeAll(async () => {
    await strategy.load([{ sku: 'hot', stock: 5 }], { perUserLimit: 3 });
    raw = await connectPostgres(DATABASE_URL, 'atomic test', 2);
  });
  afterAll(async () => {
    await strategy.destroy();
    await strategy.close();
    await raw.end();
  });

  it('builds parameters in the documented order, with the expiry on the caller clock', () => {
    expect(ATOMIC_RESERVE_PARAMS).toEqual(['sku', 'qty', 'user', 'idempotencyKey', 'expiresAtMs']);
    expect(atomicReserveParams(req({ qty: 2, user: 'ann', idempotencyKey: 'x', ttlMs: 1_500 }))).toEqual([
      'hot',
      2,
      'ann',
      'x',
      T0 + 1_500,
    ]);
  });

  it('is the very text the strategy prepares and runs, schema-qualified by the namespace', async () => {
    const r = await strategy.reserve(req({ idempotencyKey: 'via-strategy' }));
    expect(r.ok).toBe(true);
    const pool = await strategy.ownPool();
    const { rows } = await pool.query<{ statement: string }>(
      'SELECT statement FROM pg_prepared_statements WHERE name = $1',
      [ATOMIC_RESERVE_STATEMENT],
    );
    expect(rows.map((x) => x.statement)).toEqual([atomicReserveSql(namespace)]);
    expect(atomicReserveSql(namespace)).toContain(`"${schemaName(namespace)}".stock`);
  });

  it('grants, records and answers duplicates when run on its own, as pgbench runs it', async () => {
    const sql = atomicReserveSql(namespace);
    const first = await raw.query(sql, atomicReserveParams(req({ idempotencyKey: 'bench-1', user: 'b1', qty: 2 })));
    expect(first.rows).toEqual([
      { id: expect.any(String), qty: 2, user_id: 'b1', expires_ms: T0 + 60_000, duplicate: false },
    ]);
    const again = await raw.query(sql, atomicReserveParams(req({ idempotencyKey: 'bench-1', user: 'b1', qty: 2 })));
    expect(again.rows).toEqual([{ ...first.rows[0], duplicate: true }]);
    const snap = await strategy.snapshot();
    expect(snap.ledger.find((e) => e.idempotencyKey === 'bench-1')).toMatchObject({
      id: first.rows[0].id,
      qty: 2,
      state: 'held',
      expiresAt: T0 + 60_000,
    });
    expect(snap.skus).toEqual([{ sku: 'hot', initial: 5, available: 2 }]);
  });

  it('rolls the decrement back with the statement when the per-user limit refuses', async () => {
    const sql = atomicReserveSql(namespace);
    const err = await raw
      .query(sql, atomicReserveParams(req({ idempotencyKey: 'greedy', user: 'b1', qty: 2 })))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: '23514', constraint: 'per_user_limit' });
    expect((await strategy.snapshot()).skus[0].available).toBe(2);
  });

  it('returns no row and takes nothing when the stock is short', async () => {
    const { rows } = await raw.query(
      atomicReserveSql(namespace),
      atomicReserveParams(req({ idempotencyKey: 'big', user: 'c1', qty: 3 })),
    );
    expect(rows).toEqual([]);
    const snap = await strategy.snapshot();
    expect(snap.skus[0].available).toBe(2);
    expect(snap.ledger.some((e) => e.idempotencyKey === 'big')).toBe(false);
  });
});

describe('connect', () => {
  it('opens the whole pool up front, so the first buyers do not pay for connection setup', async () => {
    const strategy = new InspectableAtomic({
      namespace: uniqueNamespace('atomic_connect'),
      databaseUrl: DATABASE_URL,
      connections: 6,
    });
    try {
      await strategy.connect(['hot']);
      const pool = await strategy.ownPool();
      expect(pool.totalCount).toBe(6);
      expect(pool.idleCount).toBe(6);
    } finally {
      await strategy.close();
    }
  });
});
