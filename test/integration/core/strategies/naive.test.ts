// The negative control must be caught: if the naive Postgres store ever stops overselling, the
// harness has lost its proof that it can see an oversell.
import { afterAll, describe, expect, it } from 'vitest';
import { createStrategy } from '../../../../src/core/strategies/index.js';
import { checkInvariants } from '../../../../src/core/invariants.js';
import type { Strategy } from '../../../../src/core/strategies/types.js';
import { DATABASE_URL, uniqueNamespace } from '../../../helpers/services.js';

const T0 = 1_800_000_000_000;

describe('naive strategy on Postgres', () => {
  const opened: Strategy[] = [];
  const fresh = async (stock: number, connections: number, perUserLimit = 0) => {
    const s = await createStrategy('naive', {
      namespace: uniqueNamespace('naive'),
      databaseUrl: DATABASE_URL,
      connections,
      naiveStore: 'postgres',
    });
    opened.push(s);
    await s.load([{ sku: 'sku-1', stock }], { perUserLimit });
    return s;
  };
  afterAll(async () => {
    for (const s of opened) {
      await s.destroy();
      await s.close();
    }
  });

  it('is caught overselling: 64 concurrent buyers for stock 10 over a pool of 16', async () => {
    const s = await fresh(10, 16);
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        s.reserve({ sku: 'sku-1', qty: 1, user: `u${i}`, idempotencyKey: `k${i}`, ttlMs: 60_000, now: T0 }),
      ),
    );
    const granted = results.filter((r) => r.ok).length;
    const report = checkInvariants({ snapshot: await s.snapshot(), perUserLimit: 0, buyerUnits: { 'sku-1': granted } });
    const noOversell = report.invariants.find((i) => i.name === 'no oversell');
    expect(noOversell?.ok).toBe(false);
    expect(noOversell?.detail).toMatch(/^sku-1: oversold by \d+ \(stock 10/);
    // The ledger is honest about what it granted: every buyer told yes is in it.
    expect(report.invariants.find((i) => i.name === 'ledger = buyers')?.ok).toBe(true);
    expect(report.skus[0].held).toBe(granted);
    expect(granted).toBeGreaterThan(10);
  });

  it('behaves correctly when nobody races it, so an oversell is the race and nothing else', async () => {
    const s = await fresh(3, 1, 2);
    const reserve = (user: string, key: string, qty = 1) =>
      s.reserve({ sku: 'sku-1', qty, user, idempotencyKey: key, ttlMs: 60_000, now: T0 });
    const a = await reserve('ann', 'a1');
    expect(a).toMatchObject({ ok: true, duplicate: false });
    expect(await reserve('ann', 'a1')).toMatchObject({ ok: true, duplicate: true });
    expect(await reserve('ann', 'a2', 2)).toMatchObject({ ok: false, reason: 'limit_exceeded' });
    expect(await reserve('bob', 'b1', 2)).toMatchObject({ ok: true });
    expect(await reserve('cat', 'c1')).toMatchObject({ ok: false, reason: 'sold_out' });
    const report = checkInvariants({ snapshot: await s.snapshot(), perUserLimit: 2 });
    expect(report.ok).toBe(true);
    expect(report.skus[0]).toMatchObject({ available: 0, held: 3 });
  });
});
