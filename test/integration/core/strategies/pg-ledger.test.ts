// What every Postgres strategy shares: the schema per namespace, and confirm / release / sweep /
// snapshot on the ledger. Run through the pessimistic strategy; the conformance suite runs the
// same code under every strategy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { PessimisticStrategy } from '../../../../src/core/strategies/pessimistic.js';
import { schemaIdent, schemaName } from '../../../../src/core/strategies/pg-ledger.js';
import { connectPostgres } from '../../../../src/core/postgres/client.js';
import { UsageError } from '../../../../src/core/errors.js';
import { checkInvariants } from '../../../../src/core/invariants.js';
import type { ReserveRequest, ReserveResult } from '../../../../src/core/strategies/types.js';
import { DATABASE_URL, uniqueNamespace } from '../../../helpers/services.js';

const T0 = 1_800_000_000_000;

function held(r: ReserveResult) {
  if (!r.ok) throw new Error(`reserve refused: ${r.reason}`);
  return r.reservation;
}

describe('schema names', () => {
  it.each([
    ['run_42', 'flashsale_run_42'],
    ['public', 'flashsale_public'],
  ])('puts namespace %s in schema %s', (namespace, schema) => {
    expect(schemaName(namespace)).toBe(schema);
  });

  it.each([['Run'], ['a-b'], ['x"; DROP SCHEMA public; --'], [''], ['n'.repeat(54)]])(
    'refuses namespace %j',
    (namespace) => {
      expect(() => schemaName(namespace)).toThrow(UsageError);
    },
  );
});

describe('the shared Postgres ledger', () => {
  const namespace = uniqueNamespace('ledger');
  const s = new PessimisticStrategy({ namespace, databaseUrl: DATABASE_URL, connections: 4 });
  let raw: pg.Pool;
  let seq = 0;
  const reserve = (over: Partial<ReserveRequest>) => {
    seq += 1;
    return s.reserve({ sku: 'a', qty: 1, user: `u${seq}`, idempotencyKey: `k${seq}`, ttlMs: 1_000, now: T0, ...over });
  };

  beforeAll(async () => {
    raw = await connectPostgres(DATABASE_URL, 'ledger test', 2);
    await s.load(
      [
        { sku: 'a', stock: 5 },
        { sku: 'b', stock: 5 },
      ],
      { perUserLimit: 2 },
    );
  });
  afterAll(async () => {
    await raw.end();
    await s.close();
  });

  it('records expiry on the caller clock, to the millisecond', async () => {
    const r = held(await reserve({ ttlMs: 1_234, now: T0 + 7 }));
    expect(r.expiresAt).toBe(T0 + 1_241);
    expect((await s.snapshot()).ledger.find((e) => e.id === r.id)?.expiresAt).toBe(T0 + 1_241);
    expect(await s.release(r)).toBe(true);
  });

  it('sweeps expired holds of several SKUs and users at once, giving each user the allowance back', async () => {
    const ann = [
      held(await reserve({ sku: 'a', user: 'ann', qty: 2 })),
      held(await reserve({ sku: 'b', user: 'ann', qty: 1, ttlMs: 5_000 })),
    ];
    held(await reserve({ sku: 'b', user: 'bob', qty: 2 }));
    expect(await reserve({ sku: 'a', user: 'ann' })).toMatchObject({ ok: false, reason: 'limit_exceeded' });
    expect(await s.sweepExpired(T0 + 1_000)).toBe(4);
    expect(await s.sweepExpired(T0 + 1_000)).toBe(0);
    const snap = await s.snapshot();
    expect(snap.skus).toEqual([
      { sku: 'a', initial: 5, available: 5 },
      { sku: 'b', initial: 5, available: 4 },
    ]);
    expect(snap.ledger.find((e) => e.id === ann[1].id)?.state).toBe('held');
    expect(await reserve({ sku: 'a', user: 'ann', qty: 2, now: T0 + 2_000 })).toMatchObject({ ok: true });
    expect(await reserve({ sku: 'b', user: 'bob', qty: 2, now: T0 + 2_000 })).toMatchObject({ ok: true });
    expect(checkInvariants({ snapshot: await s.snapshot(), perUserLimit: 2 }).ok).toBe(true);
  });

  it('answers false for a reservation it never made, without touching anything', async () => {
    const before = await s.snapshot();
    const foreign = { id: 'lua:123', sku: 'a', qty: 1, user: 'x', idempotencyKey: 'x', expiresAt: T0 + 9_999 };
    expect(await s.confirm(foreign, T0)).toBe(false);
    expect(await s.release(foreign)).toBe(false);
    expect(await s.release({ ...foreign, id: '999999999' })).toBe(false);
    expect(await s.snapshot()).toEqual(before);
  });

  it('does not sell a released hold', async () => {
    const r = held(await reserve({ sku: 'b', user: 'cat', now: T0 + 3_000 }));
    expect(await s.release(r)).toBe(true);
    expect(await s.confirm(r, T0 + 3_001)).toBe(false);
    expect((await s.snapshot()).ledger.find((e) => e.id === r.id)?.state).toBe('released');
  });

  it('drops the whole schema on destroy', async () => {
    await s.destroy();
    const { rows } = await raw.query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [
      schemaName(namespace),
    ]);
    expect(rows[0].n).toBe(0);
    await expect(raw.query(`SELECT 1 FROM ${schemaIdent(namespace)}.stock`)).rejects.toMatchObject({ code: '42P01' });
  });
});

describe('pessimistic strategy', () => {
  it('queues concurrent buyers behind the row lock: exactly the stock sold, nobody gives up', async () => {
    const namespace = uniqueNamespace('pessimistic');
    const s = new PessimisticStrategy({ namespace, databaseUrl: DATABASE_URL, connections: 16 });
    try {
      await s.load([{ sku: 'a', stock: 50 }], { perUserLimit: 0 });
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          s.reserve({ sku: 'a', qty: 1, user: `u${i}`, idempotencyKey: `k${i}`, ttlMs: 60_000, now: T0 }),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(50);
      expect(results.filter((r) => !r.ok && r.reason === 'sold_out')).toHaveLength(250);
      expect(results.every((r) => r.retries === 0)).toBe(true);
      expect(checkInvariants({ snapshot: await s.snapshot(), perUserLimit: 0 }).ok).toBe(true);
    } finally {
      await s.destroy();
      await s.close();
    }
  });
});
