// What sets each plain Redis strategy apart, on the real Redis.
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createStrategy, type ReserveRequest, type ReserveResult, type Strategy, type StrategyName } from '../src/core/strategies/index.js';
import { checkInvariants } from '../src/core/invariants.js';
import { skuKeys } from '../src/core/redis/keys.js';
import { ScriptCode } from '../src/core/redis/scripts.js';
import { REDIS_URL, uniqueNamespace } from './services.js';

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

async function open(name: StrategyName, stock: number, namespace = uniqueNamespace(name)): Promise<Strategy> {
  const s = await createStrategy(name, { namespace, redisUrl: REDIS_URL, naiveStore: 'redis' });
  opened.push(s);
  await s.load([{ sku: 'a', stock }], { perUserLimit: 0 });
  return s;
}

let seq = 0;
function req(over: Partial<ReserveRequest> = {}): ReserveRequest {
  seq += 1;
  return { sku: 'a', qty: 1, user: `u${seq}`, idempotencyKey: `k${seq}`, ttlMs: 60_000, now: T0, ...over };
}

/** Buyers refused as sold out for a quantity that was still on sale when the run settled. */
function falseSoldOuts(reqs: ReserveRequest[], results: ReserveResult[], availableAtEnd: number): number {
  return results.filter((r, i) => !r.ok && r.reason === 'sold_out' && reqs[i].qty <= availableAtEnd).length;
}

describe('decr', () => {
  // One buyer asks for more than there is while five ask for one each, all at once: decr's
  // DECRBY takes the stock below zero for an instant and the small buyers see "sold out".
  const burst = () => [req({ qty: 6 }), ...Array.from({ length: 5 }, () => req())];

  it('refuses buyers as sold out while stock remains, under contention with a multi-unit request', async () => {
    const s = await open('decr', 5);
    const reqs = burst();
    const results = await Promise.all(reqs.map((r) => s.reserve(r)));
    const snap = await s.snapshot();
    expect(snap.skus[0].available).toBeGreaterThan(0);
    expect(falseSoldOuts(reqs, results, snap.skus[0].available)).toBeGreaterThan(0);
    // it undersells, it never oversells
    expect(checkInvariants({ snapshot: snap, perUserLimit: 0 }).ok).toBe(true);
  });

  it('where lua, deciding atomically, sells every unit of the same burst', async () => {
    const s = await open('lua', 5);
    const reqs = burst();
    const results = await Promise.all(reqs.map((r) => s.reserve(r)));
    expect(results.filter((r) => r.ok)).toHaveLength(5);
    expect(falseSoldOuts(reqs, results, (await s.snapshot()).skus[0].available)).toBe(0);
  });
});

describe('list', () => {
  it('hands out tokens and takes them back on refusal, release and sweep', async () => {
    const ns = uniqueNamespace('list');
    const s = await open('list', 5, ns);
    const tokens = skuKeys(ns, 'a').tokens;
    const held = await s.reserve(req({ qty: 3 }));
    const expiring = await s.reserve(req({ qty: 1, ttlMs: 1_000 }));
    if (!held.ok || !expiring.ok) throw new Error('refused');
    expect(await raw.llen(tokens)).toBe(1);
    // a short pop goes back: the one token left is still there
    expect(await s.reserve(req({ qty: 2 }))).toMatchObject({ ok: false, reason: 'sold_out' });
    expect(await raw.llen(tokens)).toBe(1);
    expect(await s.release(held.reservation)).toBe(true);
    expect(await raw.llen(tokens)).toBe(4);
    expect(await s.sweepExpired(T0 + 1_000)).toBe(1);
    expect(await raw.llen(tokens)).toBe(5);
    expect((await s.snapshot()).skus[0].available).toBe(5);
  });
});

describe('lua', () => {
  it('refuses a SKU that was never loaded with the UnknownSku code', async () => {
    const s = await open('lua', 1);
    await expect(s.reserve(req({ sku: 'never-loaded' }))).rejects.toMatchObject({ code: ScriptCode.UnknownSku });
  });
});

describe('naive on Redis (the negative control)', () => {
  it('oversells under concurrency, and the invariants catch it from its honest ledger', async () => {
    const ns = uniqueNamespace('naive');
    const s = await open('naive', 100, ns);
    const others = await Promise.all([1, 2, 3].map(() => createStrategy('naive', { namespace: ns, redisUrl: REDIS_URL, naiveStore: 'redis' })));
    const all = [s, ...others];
    const results = await Promise.all(Array.from({ length: 1_000 }, (_, i) => all[i % all.length].reserve(req())));
    await Promise.all(others.map((o) => o.close()));
    const granted = results.filter((r) => r.ok).length;
    const snap = await s.snapshot();
    expect(granted).toBeGreaterThan(100);
    expect(snap.ledger).toHaveLength(granted);
    const report = checkInvariants({ snapshot: snap, perUserLimit: 0 });
    expect(report.ok).toBe(false);
    expect(report.invariants.find((i) => i.name === 'no oversell')).toMatchObject({ ok: false, detail: expect.stringMatching(/^a: oversold by \d+/) });
  });
});
