// Advisory locks over stock buckets: the hot SKU is spread over buckets, a buyer takes from the
// buckets it can lock, skipped buckets lead to retries and then 'conflict' (never a false
// sold-out), and no interleaving oversells. Another session holding the same advisory locks
// plays the "other buyers" deterministically.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { AdvisoryStrategy, planTakes } from '../../../../src/core/strategies/advisory.js';
import { schemaIdent, schemaName, spread } from '../../../../src/core/strategies/pg-ledger.js';
import { connectPostgres } from '../../../../src/core/postgres/client.js';
import { checkInvariants } from '../../../../src/core/invariants.js';
import type { ReserveRequest } from '../../../../src/core/strategies/types.js';
import { DATABASE_URL, uniqueNamespace } from '../../../helpers/services.js';

const T0 = 1_800_000_000_000;
let seq = 0;
const req = (over: Partial<ReserveRequest> = {}): ReserveRequest => {
  seq += 1;
  return { sku: 'hot', qty: 1, user: `u${seq}`, idempotencyKey: `k${seq}`, ttlMs: 60_000, now: T0, ...over };
};

describe('spreading stock over buckets', () => {
  it.each([
    [100, 8, [13, 13, 13, 13, 12, 12, 12, 12]],
    [3, 8, [1, 1, 1, 0, 0, 0, 0, 0]],
    [16, 8, [2, 2, 2, 2, 2, 2, 2, 2]],
    [7, 1, [7]],
  ])('puts %i units in %i buckets as evenly as possible', (stock, buckets, expected) => {
    expect(spread(stock, buckets)).toEqual(expected);
  });

  it('takes from locked buckets in walk order until the request is covered', () => {
    const locked = [
      { bucket: 5, available: 1 },
      { bucket: 2, available: 4 },
      { bucket: 7, available: 9 },
    ];
    expect(planTakes(locked, 1)).toEqual({ buckets: [5], takes: [1] });
    expect(planTakes(locked, 3)).toEqual({ buckets: [5, 2], takes: [1, 2] });
    expect(planTakes(locked, 6)).toEqual({ buckets: [5, 2, 7], takes: [1, 4, 1] });
  });
});

describe('advisory strategy', () => {
  const opened: AdvisoryStrategy[] = [];
  const namespaceOf = new Map<AdvisoryStrategy, string>();
  const holders: pg.PoolClient[] = [];
  let raw: pg.Pool;

  const fresh = async (stock: number, buckets = 8, perUserLimit = 0) => {
    const namespace = uniqueNamespace('advisory');
    const strategy = new AdvisoryStrategy(
      { namespace, databaseUrl: DATABASE_URL, connections: 8 },
      { buckets, maxRetries: 2, baseDelayMs: 1, maxDelayMs: 2 },
    );
    opened.push(strategy);
    namespaceOf.set(strategy, namespace);
    await strategy.load([{ sku: 'hot', stock }], { perUserLimit });
    return strategy;
  };

  /** Holds the advisory locks of these buckets from another session until the test ends. */
  const holdBuckets = async (namespace: string, sku: string, buckets: number[]) => {
    const client = await raw.connect();
    holders.push(client);
    await client.query('BEGIN');
    for (const b of buckets) {
      const { rows } = await client.query('SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS ok', [
        `${schemaName(namespace)}:${sku}:${b}`,
      ]);
      expect(rows[0].ok).toBe(true);
    }
  };

  const bucketRows = async (namespace: string) =>
    (
      await raw.query<{ bucket: number; available: number }>(
        `SELECT bucket, available FROM ${schemaIdent(namespace)}.stock ORDER BY bucket`,
      )
    ).rows.map((r) => r.available);

  beforeAll(async () => {
    raw = await connectPostgres(DATABASE_URL, 'advisory test', 4);
  });
  afterEach(async () => {
    for (const client of holders.splice(0)) {
      await client.query('ROLLBACK');
      client.release();
    }
  });
  afterAll(async () => {
    for (const s of opened) {
      await s.destroy();
      await s.close();
    }
    await raw.end();
  });

  it('loads a hot SKU as 8 bucket rows holding the whole stock', async () => {
    const s = await fresh(100);
    expect(await bucketRows(namespaceOf.get(s)!)).toEqual([13, 13, 13, 13, 12, 12, 12, 12]);
    expect((await s.snapshot()).skus).toEqual([{ sku: 'hot', initial: 100, available: 100 }]);
  });

  it('takes a multi-unit request from several buckets at once, and release puts it all back', async () => {
    const s = await fresh(8);
    const r = await s.reserve(req({ qty: 3 }));
    if (!r.ok) throw new Error(`refused: ${r.reason}`);
    expect((await bucketRows(namespaceOf.get(s)!)).filter((n) => n === 0)).toHaveLength(3);
    expect((await s.snapshot()).skus[0].available).toBe(5);
    expect(await s.release(r.reservation)).toBe(true);
    expect((await s.snapshot()).skus[0].available).toBe(8);
    expect(checkInvariants({ snapshot: await s.snapshot(), perUserLimit: 0 }).ok).toBe(true);
  });

  it('is sold out only when every bucket was examined, even when the units are scattered one per bucket', async () => {
    const s = await fresh(8);
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await s.reserve(req()));
    expect(results.every((r) => r.ok && r.retries === 0)).toBe(true);
    expect(await s.reserve(req())).toEqual({ ok: false, reason: 'sold_out', retries: 0 });
  });

  it('refuses a request larger than all buckets together as sold out', async () => {
    const s = await fresh(8);
    expect(await s.reserve(req({ qty: 9 }))).toEqual({ ok: false, reason: 'sold_out', retries: 0 });
    expect((await s.snapshot()).skus[0].available).toBe(8);
  });

  it('takes from the buckets it can lock and leaves the ones another buyer holds alone', async () => {
    const s = await fresh(16);
    const ns = namespaceOf.get(s)!;
    await holdBuckets(ns, 'hot', [0, 1, 2, 3, 4, 5]);
    const r = await s.reserve(req({ qty: 3 }));
    expect(r).toMatchObject({ ok: true, retries: 0 });
    const rows = await bucketRows(ns);
    expect(rows.slice(0, 6)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(rows[6] + rows[7]).toBe(1);
  });

  it('retries while the buckets it needs are held, then says conflict, not sold out', async () => {
    const s = await fresh(16);
    await holdBuckets(namespaceOf.get(s)!, 'hot', [0, 1, 2, 3, 4, 5, 6, 7]);
    expect(await s.reserve(req())).toEqual({ ok: false, reason: 'conflict', retries: 2 });
    expect((await s.snapshot()).ledger).toEqual([]);
  });

  it('does not share lock keys between namespaces', async () => {
    const a = await fresh(16);
    const b = await fresh(16);
    await holdBuckets(namespaceOf.get(a)!, 'hot', [0, 1, 2, 3, 4, 5, 6, 7]);
    expect(await b.reserve(req())).toMatchObject({ ok: true, retries: 0 });
  });

  it('never oversells a hot SKU to 600 concurrent multi-unit buyers on four instances', async () => {
    const s = await fresh(50, 8, 4);
    const ns = namespaceOf.get(s)!;
    const others = [1, 2, 3].map(
      () => new AdvisoryStrategy({ namespace: ns, databaseUrl: DATABASE_URL, connections: 8 }),
    );
    const all = [s, ...others];
    try {
      const results = await Promise.all(
        Array.from({ length: 600 }, (_, i) =>
          all[i % all.length].reserve(req({ qty: 1 + (i % 3), user: `buyer${i % 150}` })),
        ),
      );
      const grantedUnits = results.reduce((n, r) => n + (r.ok ? r.reservation.qty : 0), 0);
      const report = checkInvariants({
        snapshot: await s.snapshot(),
        perUserLimit: 4,
        buyerUnits: { hot: grantedUnits },
      });
      expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
      expect(report.skus[0].held).toBeLessThanOrEqual(50);
      expect(report.skus[0].available + report.skus[0].held).toBe(50);
      expect(Math.min(...(await bucketRows(ns)))).toBeGreaterThanOrEqual(0);
    } finally {
      await Promise.all(others.map((o) => o.close()));
    }
  });
});
