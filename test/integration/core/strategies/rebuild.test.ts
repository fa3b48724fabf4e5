// A Redis that lost its data is written back from the sale's records (docs/design.md#a-store-that-lost-its-data):
// each Redis strategy, given its own ledger back, stands exactly where it stood, and goes on
// behaving as before: idempotent replays, the per-user limit, the units on sale, the sweep.
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { namespacePattern } from '../../../../src/core/redis/keys.js';
import { createStrategy } from '../../../../src/core/strategies/index.js';
import type { Strategy, StrategyName } from '../../../../src/core/strategies/types.js';
import { REDIS_URL, uniqueNamespace } from '../../../helpers/services.js';

const raw = new Redis(REDIS_URL);
const opened: { s: Strategy; stop?: () => Promise<void> }[] = [];
afterAll(async () => {
  for (const { s, stop } of opened) {
    await stop?.();
    await s.destroy();
    await s.close();
  }
  raw.disconnect();
});

/** What a Redis restarted empty does to a namespace: every key gone. */
async function wipe(namespace: string): Promise<number> {
  const keys = await raw.keys(namespacePattern(namespace));
  if (keys.length) await raw.del(...keys);
  return keys.length;
}

const STOCK = [
  { sku: 'a', stock: 5 },
  { sku: 'b', stock: 3 },
];
const T0 = Date.now();

describe.each(['lua', 'list', 'decr', 'queue'] as StrategyName[])('%s rebuilt from its records', (name) => {
  it('stands where it stood and goes on: replays, the limit, the units on sale, the sweep', async () => {
    const namespace = uniqueNamespace(`rb${name}`);
    const s = await createStrategy(name, { namespace, redisUrl: REDIS_URL });
    await s.load(STOCK, { perUserLimit: 2 });
    const stop = await s.startBackground?.();
    opened.push({ s, stop });
    const reserve = (sku: string, user: string, key: string, qty = 1, ttlMs = 60_000) =>
      s.reserve({ sku, qty, user, idempotencyKey: key, ttlMs, now: T0 });
    const sold = await reserve('a', 'u1', 'k1', 2);
    const held = await reserve('a', 'u2', 'k2');
    const released = await reserve('b', 'u3', 'k3', 2);
    const shortHold = await reserve('b', 'u4', 'k4', 1, 1_000);
    for (const r of [sold, held, released, shortHold]) expect(r.ok).toBe(true);
    if (!sold.ok || !released.ok || !shortHold.ok) return;
    expect(await s.confirm(sold.reservation, T0)).toBe(true);
    expect(await s.release(released.reservation)).toBe(true);
    const before = await s.snapshot();

    expect(await wipe(namespace)).toBeGreaterThan(0);
    const loss = await s.lostKeys!(STOCK.map((k) => k.sku));
    expect(loss).toEqual({ skus: ['a', 'b'], list: true });
    const ledgers = new Map(STOCK.map(({ sku }) => [sku, before.ledger.filter((e) => e.sku === sku)]));
    await s.rebuild!(STOCK, { perUserLimit: 2 }, ledgers, true);
    expect(await s.lostKeys!(STOCK.map((k) => k.sku))).toEqual({ skus: [], list: false });

    const after = await s.snapshot();
    const byId = (l: typeof before.ledger) => [...l].sort((x, y) => x.id.localeCompare(y.id));
    expect(byId(after.ledger)).toEqual(byId(before.ledger));
    expect(after.skus).toEqual(before.skus);
    // A replayed click finds its reservation, whichever index the strategy keeps.
    const replay = await reserve('a', 'u2', 'k2');
    expect(replay.ok && replay.duplicate && replay.reservation.id).toBe(held.ok && held.reservation.id);
    // u1 bought 2 of a: the limit still counts them.
    expect(await reserve('a', 'u1', 'k5')).toMatchObject({ ok: false, reason: 'limit_exceeded' });
    // a: 5 - 2 sold - 1 held = 2 left, and no more.
    expect((await reserve('a', 'u6', 'k6', 2)).ok).toBe(true);
    expect(await reserve('a', 'u7', 'k7')).toMatchObject({ ok: false, reason: 'sold_out' });
    // The short hold of b is still scheduled to expire: the sweep gives its unit back.
    expect(await s.sweepExpired(T0 + 2_000)).toBe(1);
    expect((await s.snapshot()).skus.find((k) => k.sku === 'b')?.available).toBe(3);
  });

  it('restoreEnded adds only what the ledger lacks, as ended, holding no units', async () => {
    const namespace = uniqueNamespace(`re${name}`);
    const s = await createStrategy(name, { namespace, redisUrl: REDIS_URL });
    await s.load(STOCK, { perUserLimit: 0 });
    const stop = await s.startBackground?.();
    opened.push({ s, stop });
    const r = await s.reserve({ sku: 'a', qty: 1, user: 'u1', idempotencyKey: 'k1', ttlMs: 60_000, now: T0 });
    if (!r.ok) throw new Error('reserve refused');
    const known = { ...r.reservation, state: 'held' as const };
    const foreign = {
      id: 'lost-1',
      sku: 'a',
      qty: 2,
      user: 'u9',
      idempotencyKey: 'k9',
      state: 'held' as const,
      expiresAt: T0,
    };
    expect(await s.restoreEnded!([known, foreign])).toBe(1);
    const snap = await s.snapshot();
    expect(snap.ledger.find((e) => e.id === r.reservation.id)?.state).toBe('held');
    expect(snap.ledger.find((e) => e.id === 'lost-1')?.state).toBe('expired');
    expect(snap.skus.find((k) => k.sku === 'a')?.available).toBe(4);
  });
});
