// The ledger the Redis strategies share: its encoding (read by Lua and TypeScript alike),
// big hashes and sweeps that take more than one call, and destroy() staying in its namespace.
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { decodeEntry, encodeEntry } from '../../../../src/core/strategies/redis-ledger.js';
import { skuKeys, skuListKey } from '../../../../src/core/redis/keys.js';
import { LuaStrategy } from '../../../../src/core/strategies/lua.js';
import { ListStrategy } from '../../../../src/core/strategies/list.js';
import { DecrStrategy } from '../../../../src/core/strategies/decr.js';
import type { SkuState } from '../../../../src/core/strategies/redis-ledger.js';
import type { Reservation, Strategy } from '../../../../src/core/strategies/types.js';
import { REDIS_URL, uniqueNamespace } from '../../../helpers/services.js';

const T0 = 1_800_000_000_000;
const raw = new Redis(REDIS_URL);
const opened: Strategy[] = [];
afterAll(async () => {
  for (const s of opened) {
    await s.destroy();
    await s.close();
  }
  raw.disconnect();
});

function lua(namespace = uniqueNamespace('ledger')): LuaStrategy {
  const s = new LuaStrategy({ namespace, redisUrl: REDIS_URL });
  opened.push(s);
  return s;
}

describe('ledger entry encoding', () => {
  it.each([
    ['plain ids', 'u1', 'k1'],
    ['a user with the separator in it', 'a:b:3:', 'k:9'],
    ['a non-ASCII user', 'zoë 🛒', 'clé-1'],
    ['an empty idempotency key', 'u', ''],
  ])('round-trips %s', (_, user, key) => {
    const e = decodeEntry('r1', 'sku', encodeEntry('sold', 3, T0, user, key));
    expect(e).toEqual({ id: 'r1', sku: 'sku', qty: 3, user, idempotencyKey: key, state: 'sold', expiresAt: T0 });
  });

  it('refuses an entry it cannot read instead of inventing one', () => {
    expect(() => decodeEntry('r1', 'sku', 'garbage')).toThrow(/r1 of sku is malformed/);
  });

  it('is read the same way by the Lua scripts: a non-ASCII user gets the allowance back', async () => {
    const s = lua();
    await s.load([{ sku: 'a', stock: 5 }], { perUserLimit: 2 });
    const user = 'zoë:🛒';
    const r = await s.reserve({ sku: 'a', qty: 2, user, idempotencyKey: 'k', ttlMs: 1_000, now: T0 });
    if (!r.ok) throw new Error('refused');
    expect(r.reservation.user).toBe(user);
    expect((await s.snapshot()).ledger[0]).toMatchObject({ user, idempotencyKey: 'k', qty: 2, state: 'held' });
    expect(await s.release(r.reservation)).toBe(true);
    expect((await s.reserve({ sku: 'a', qty: 2, user, idempotencyKey: 'k2', ttlMs: 1_000, now: T0 })).ok).toBe(true);
  });
});

describe('big namespaces', () => {
  it('snapshots a ledger larger than one HSCAN page and sweeps more holds than one script call takes', async () => {
    const s = new ListStrategy({ namespace: uniqueNamespace('big'), redisUrl: REDIS_URL });
    opened.push(s);
    await s.load([{ sku: 'a', stock: 3_000 }], { perUserLimit: 0 });
    const results = await Promise.all(
      Array.from({ length: 2_500 }, (_, i) =>
        s.reserve({ sku: 'a', qty: 1, user: `u${i}`, idempotencyKey: `k${i}`, ttlMs: 1_000, now: T0 }),
      ),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    const snap = await s.snapshot();
    expect(new Set(snap.ledger.map((e) => e.id)).size).toBe(2_500);
    expect(snap.skus).toEqual([{ sku: 'a', initial: 3_000, available: 500 }]);
    expect(await s.sweepExpired(T0 + 1_000)).toBe(2_500);
    const after = await s.snapshot();
    expect(after.skus[0].available).toBe(3_000);
    expect(after.ledger.every((e) => e.state === 'expired')).toBe(true);
  });
});

describe('destroy', () => {
  it('deletes every key of its namespace and none of a namespace it is a prefix of', async () => {
    const ns = uniqueNamespace('d');
    const mine = lua(ns);
    const neighbour = lua(`${ns}x`);
    await mine.load(
      [
        { sku: 'a', stock: 2 },
        { sku: 'b', stock: 2 },
      ],
      { perUserLimit: 0 },
    );
    await neighbour.load([{ sku: 'a', stock: 2 }], { perUserLimit: 0 });
    await mine.reserve({ sku: 'a', qty: 1, user: 'u', idempotencyKey: 'k', ttlMs: 1_000, now: T0 });
    expect(await raw.exists(skuKeys(ns, 'a').ledger, skuListKey(ns))).toBe(2);
    await mine.destroy();
    expect(
      await raw.exists(...Object.values(skuKeys(ns, 'a')), ...Object.values(skuKeys(ns, 'b')), skuListKey(ns)),
    ).toBe(0);
    expect((await neighbour.snapshot()).skus).toEqual([{ sku: 'a', initial: 2, available: 2 }]);
  });

  it('load() drops what the namespace held before', async () => {
    const s = lua();
    await s.load([{ sku: 'old', stock: 1 }], { perUserLimit: 0 });
    await s.reserve({ sku: 'old', qty: 1, user: 'u', idempotencyKey: 'k', ttlMs: 1_000, now: T0 });
    await s.load([{ sku: 'new', stock: 4 }], { perUserLimit: 0 });
    expect(await s.snapshot()).toEqual({ skus: [{ sku: 'new', initial: 4, available: 4 }], ledger: [] });
  });
});

// A step failing after the idempotency key was claimed and the user's units counted must not
// leave the key in_progress forever, the allowance spent, or the units taken.
describe.each([
  ['decr', DecrStrategy],
  ['list', ListStrategy],
] as const)('%s reserve failing part way', (_, Base) => {
  class Failing extends Base {
    fail?: 'take' | 'record' | 'reply';
    protected override async takeUnits(r: Redis, s: SkuState, qty: number): Promise<boolean> {
      if (this.fail === 'take') throw new Error('take failed');
      return super.takeUnits(r, s, qty);
    }
    protected override async recordHold(r: Redis, s: SkuState, res: Reservation): Promise<void> {
      if (this.fail === 'record') throw new Error('record failed');
      await super.recordHold(r, s, res);
      if (this.fail === 'reply') throw new Error('reply lost');
    }
  }

  it.each(['take', 'record'] as const)(
    'gives back the key, the allowance and any units taken when %s fails',
    async (step) => {
      const ns = uniqueNamespace('undo');
      const s = new Failing({ namespace: ns, redisUrl: REDIS_URL });
      opened.push(s);
      await s.load([{ sku: 'a', stock: 3 }], { perUserLimit: 2 });
      const req = { sku: 'a', qty: 2, user: 'ann', idempotencyKey: 'k', ttlMs: 1_000, now: T0 };
      s.fail = step;
      await expect(s.reserve(req)).rejects.toThrow(`${step} failed`);
      const k = skuKeys(ns, 'a');
      expect(await raw.hget(k.idem, 'k')).toBeNull();
      expect(Number(await raw.hget(k.users, 'ann'))).toBe(0);
      expect(await s.snapshot()).toMatchObject({ skus: [{ available: 3 }], ledger: [] });
      // the same key, retried, is decided afresh (not in_progress) within the whole allowance
      s.fail = undefined;
      expect(await s.reserve(req)).toMatchObject({ ok: true, duplicate: false, reservation: { qty: 2 } });
      expect((await s.snapshot()).skus[0].available).toBe(1);
    },
  );

  it('leaves a hold that was written before its reply got lost, and gives nothing back twice', async () => {
    const ns = uniqueNamespace('undo');
    const s = new Failing({ namespace: ns, redisUrl: REDIS_URL });
    opened.push(s);
    await s.load([{ sku: 'a', stock: 3 }], { perUserLimit: 2 });
    s.fail = 'reply';
    await expect(
      s.reserve({ sku: 'a', qty: 2, user: 'ann', idempotencyKey: 'k', ttlMs: 1_000, now: T0 }),
    ).rejects.toThrow('reply lost');
    const snap = await s.snapshot();
    expect(snap.skus[0].available).toBe(1);
    expect(snap.ledger).toMatchObject([{ qty: 2, user: 'ann', state: 'held' }]);
    expect(Number(await raw.hget(skuKeys(ns, 'a').users, 'ann'))).toBe(2);
    // it expires like any other hold
    expect(await s.sweepExpired(T0 + 1_000)).toBe(2);
    expect((await s.snapshot()).skus[0].available).toBe(3);
  });
});
