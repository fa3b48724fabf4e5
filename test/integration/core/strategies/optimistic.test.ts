// Optimistic locking's own behaviour: it reports the retries it spent and gives up with
// 'conflict' after its bound. A trigger that silently skips the first N stock updates plays
// "another buyer changed the version first" deterministically.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { OptimisticStrategy } from '../../../../src/core/strategies/optimistic.js';
import { schemaIdent } from '../../../../src/core/strategies/pg-ledger.js';
import { connectPostgres } from '../../../../src/core/postgres/client.js';
import { checkInvariants } from '../../../../src/core/invariants.js';
import type { ReserveRequest } from '../../../../src/core/strategies/types.js';
import { DATABASE_URL, uniqueNamespace } from '../../../helpers/services.js';

const T0 = 1_800_000_000_000;
let seq = 0;
const req = (over: Partial<ReserveRequest> = {}): ReserveRequest => {
  seq += 1;
  return { sku: 'sku-1', qty: 1, user: `u${seq}`, idempotencyKey: `k${seq}`, ttlMs: 60_000, now: T0, ...over };
};

describe('optimistic strategy', () => {
  const namespace = uniqueNamespace('optimistic');
  const s = schemaIdent(namespace);
  const strategy = new OptimisticStrategy(
    { namespace, databaseUrl: DATABASE_URL, connections: 4 },
    { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 2 },
  );
  let raw: pg.Pool;

  /** The next `n` version-checked writes find the row "already changed" and update nothing. */
  const loseNext = (n: number) => raw.query(`UPDATE ${s}.losses SET n = $1`, [n]);

  beforeAll(async () => {
    await strategy.load([{ sku: 'sku-1', stock: 10 }], { perUserLimit: 0 });
    raw = await connectPostgres(DATABASE_URL, 'optimistic test', 2);
    await raw.query(`
      CREATE TABLE ${s}.losses (n int NOT NULL);
      INSERT INTO ${s}.losses VALUES (0);
      CREATE FUNCTION ${s}.lose() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE ${s}.losses SET n = n - 1 WHERE n > 0;
        IF FOUND THEN RETURN NULL; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER lose BEFORE UPDATE ON ${s}.stock FOR EACH ROW EXECUTE FUNCTION ${s}.lose();`);
  });
  afterAll(async () => {
    await raw.end();
    await strategy.destroy();
    await strategy.close();
  });

  it('wins at the first try when nobody else writes, and says it spent no retries', async () => {
    expect(await strategy.reserve(req())).toMatchObject({ ok: true, duplicate: false, retries: 0 });
  });

  it('retries a lost version race and reports how many retries it spent', async () => {
    await loseNext(2);
    expect(await strategy.reserve(req())).toMatchObject({ ok: true, retries: 2 });
  });

  it('refuses with conflict, not sold out, once its retries are spent, and takes nothing', async () => {
    await loseNext(100);
    const before = await strategy.snapshot();
    expect(await strategy.reserve(req())).toEqual({ ok: false, reason: 'conflict', retries: 3 });
    const after = await strategy.snapshot();
    expect(after.skus[0].available).toBe(before.skus[0].available);
    expect(after.ledger).toHaveLength(before.ledger.length);
    await loseNext(0);
  });

  it('sees a release that happened between its reads, because release bumps the version', async () => {
    const held = await strategy.reserve(req({ qty: 8 }));
    if (!held.ok) throw new Error(`reserve refused: ${held.reason}`);
    expect(await strategy.reserve(req({ qty: 2 }))).toMatchObject({ ok: false, reason: 'sold_out' });
    expect(await strategy.release(held.reservation)).toBe(true);
    expect(await strategy.reserve(req({ qty: 2 }))).toMatchObject({ ok: true, retries: 0 });
    const report = checkInvariants({ snapshot: await strategy.snapshot(), perUserLimit: 0 });
    expect(report.ok).toBe(true);
    expect(report.skus[0]).toMatchObject({ available: 6, held: 4 });
  });
});

describe('optimistic strategy under real contention', () => {
  it('reports the retries its buyers spent racing for one row, and still sells exactly the stock', async () => {
    const namespace = uniqueNamespace('optimistic_race');
    const strategy = new OptimisticStrategy({ namespace, databaseUrl: DATABASE_URL, connections: 16 });
    try {
      await strategy.load([{ sku: 'sku-1', stock: 100 }], { perUserLimit: 0 });
      const results = await Promise.all(Array.from({ length: 400 }, () => strategy.reserve(req())));
      expect(results.filter((r) => r.ok)).toHaveLength(100);
      expect(results.reduce((n, r) => n + r.retries, 0)).toBeGreaterThan(0);
      for (const r of results) expect(r.retries).toBeLessThanOrEqual(10);
      expect(results.filter((r) => !r.ok && r.reason === 'conflict').every((r) => r.retries === 10)).toBe(true);
      expect(checkInvariants({ snapshot: await strategy.snapshot(), perUserLimit: 0 }).ok).toBe(true);
    } finally {
      await strategy.destroy();
      await strategy.close();
    }
  });
});
