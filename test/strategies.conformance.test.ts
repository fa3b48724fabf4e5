// Every safe strategy, on the real Redis and Postgres, held to the same contract.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createStrategy, SAFE_STRATEGIES, type ReserveRequest, type Reservation, type Strategy, type StrategyName } from '../src/core/strategies/index.js';
import { checkInvariants } from '../src/core/invariants.js';
import { DATABASE_URL, REDIS_URL, uniqueNamespace } from './services.js';

const T0 = 1_800_000_000_000;

interface Harness {
  strategy: Strategy;
  namespace: string;
  stop?: () => Promise<void>;
}

function instance(name: StrategyName, namespace: string): Promise<Strategy> {
  return createStrategy(name, { namespace, redisUrl: REDIS_URL, databaseUrl: DATABASE_URL, connections: 8 });
}

async function open(name: StrategyName, stock: number, perUserLimit = 0, skus = ['sku-1']): Promise<Harness> {
  const namespace = uniqueNamespace(name);
  const strategy = await instance(name, namespace);
  await strategy.load(
    skus.map((sku) => ({ sku, stock })),
    { perUserLimit },
  );
  const stop = strategy.startBackground ? await strategy.startBackground() : undefined;
  return { strategy, namespace, stop };
}

async function shut(h: Harness): Promise<void> {
  await h.stop?.();
  await h.strategy.destroy();
  await h.strategy.close();
}

let seq = 0;
function req(over: Partial<ReserveRequest> = {}): ReserveRequest {
  seq += 1;
  return { sku: 'sku-1', qty: 1, user: `u${seq}`, idempotencyKey: `k${seq}`, ttlMs: 60_000, now: T0, ...over };
}

async function units(s: Strategy) {
  const snap = await s.snapshot();
  const report = checkInvariants({ snapshot: snap, perUserLimit: 0 });
  return { snap, report, sku: report.skus[0] };
}

describe.each(SAFE_STRATEGIES.map((s) => [s]))('strategy %s', (name) => {
  let h: Harness;
  afterAll(async () => {
    if (h) await shut(h);
  });

  it('sells exactly the stock to 1,000 concurrent buyers and conserves every unit', async () => {
    h = await open(name, 100);
    // Several instances, each with its own connections, as separate buyers' processes would have.
    const instances = [h.strategy, ...(await Promise.all([1, 2, 3].map(() => instance(name, h.namespace))))];
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => instances[i % instances.length].reserve(req())),
    );
    await Promise.all(instances.slice(1).map((s) => s.close()));
    const granted = results.filter((r) => r.ok).length;
    expect(granted).toBe(100);
    // optimistic / advisory may give up on contention ('conflict') instead of seeing sold out
    expect(results.filter((r) => !r.ok && (r.reason === 'sold_out' || r.reason === 'conflict')).length).toBe(900);
    const { report, sku } = await units(h.strategy);
    expect(sku.held).toBe(100);
    expect(sku.available).toBe(0);
    expect(report.ok).toBe(true);
  });
});

describe.each(SAFE_STRATEGIES.map((s) => [s]))('strategy %s semantics', (name) => {
  const opened: Harness[] = [];
  const fresh = async (stock: number, perUserLimit = 0) => {
    const h = await open(name, stock, perUserLimit);
    opened.push(h);
    return h.strategy;
  };
  afterAll(async () => {
    await Promise.all(opened.map(shut));
  });

  it('grants a multi-unit request whole or not at all', async () => {
    const s = await fresh(5);
    expect((await s.reserve(req({ qty: 3 }))).ok).toBe(true);
    const refused = await s.reserve(req({ qty: 3 }));
    expect(refused).toMatchObject({ ok: false, reason: 'sold_out' });
    expect((await units(s)).sku.available).toBe(2);
    expect((await s.reserve(req({ qty: 2 }))).ok).toBe(true);
    const { sku, report } = await units(s);
    expect(sku.available).toBe(0);
    expect(sku.held).toBe(5);
    expect(report.ok).toBe(true);
  });

  it('refuses a buyer past the per-user limit and lets others buy', async () => {
    const s = await fresh(10, 2);
    expect((await s.reserve(req({ user: 'alice' }))).ok).toBe(true);
    expect(await s.reserve(req({ user: 'alice', qty: 2 }))).toMatchObject({ ok: false, reason: 'limit_exceeded' });
    expect((await s.reserve(req({ user: 'alice' }))).ok).toBe(true);
    expect(await s.reserve(req({ user: 'alice' }))).toMatchObject({ ok: false, reason: 'limit_exceeded' });
    expect((await s.reserve(req({ user: 'bob', qty: 2 }))).ok).toBe(true);
    const snap = await s.snapshot();
    expect(checkInvariants({ snapshot: snap, perUserLimit: 2 }).ok).toBe(true);
    expect(snap.skus[0].available).toBe(6);
  });

  it('turns the same idempotency key twice into one reservation', async () => {
    const s = await fresh(10);
    const first = await s.reserve(req({ idempotencyKey: 'click-1', user: 'carol', qty: 2 }));
    const again = await s.reserve(req({ idempotencyKey: 'click-1', user: 'carol', qty: 2 }));
    expect(first.ok && again.ok).toBe(true);
    if (!first.ok || !again.ok) return;
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    expect(again.reservation.id).toBe(first.reservation.id);
    const { snap, sku } = await units(s);
    expect(snap.ledger.filter((e) => e.idempotencyKey === 'click-1')).toHaveLength(1);
    expect(sku.available).toBe(8);
  });

  it('gives an expired hold back to stock on sweep, and not before', async () => {
    const s = await fresh(3, 1);
    const r = await s.reserve(req({ qty: 1, ttlMs: 1_000, now: T0, user: 'dave' }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(await s.sweepExpired(T0 + 999)).toBe(0);
    expect((await units(s)).sku.available).toBe(2);
    expect(await s.sweepExpired(T0 + 1_000)).toBe(1);
    const { sku, snap } = await units(s);
    expect(sku.available).toBe(3);
    expect(snap.ledger.find((e) => e.id === r.reservation.id)?.state).toBe('expired');
    expect(await s.confirm(r.reservation, T0 + 1_001)).toBe(false);
    // the per-user allowance came back with the units
    expect((await s.reserve(req({ user: 'dave', now: T0 + 2_000 }))).ok).toBe(true);
  });

  it('does not confirm a hold that expired but was not swept yet', async () => {
    const s = await fresh(3);
    const r = await s.reserve(req({ ttlMs: 1_000, now: T0 }));
    if (!r.ok) throw new Error('reserve refused');
    expect(await s.confirm(r.reservation, T0 + 1_000)).toBe(false);
    expect((await units(s)).sku.held).toBe(1);
    expect(await s.sweepExpired(T0 + 1_000)).toBe(1);
    expect((await units(s)).sku.available).toBe(3);
  });

  it('returns released units to stock once, and never releases a sale', async () => {
    const s = await fresh(4, 2);
    const a = await s.reserve(req({ qty: 2, user: 'erin' }));
    const b = await s.reserve(req({ qty: 1, user: 'frank' }));
    if (!a.ok || !b.ok) throw new Error('reserve refused');
    expect(await s.release(a.reservation)).toBe(true);
    expect(await s.release(a.reservation)).toBe(false);
    expect(await s.confirm(b.reservation, T0 + 1)).toBe(true);
    expect(await s.release(b.reservation)).toBe(false);
    const { sku, snap, report } = await units(s);
    expect(sku.available).toBe(3);
    expect(sku.sold).toBe(1);
    expect(snap.ledger.find((e) => e.id === a.reservation.id)?.state).toBe('released');
    expect(report.ok).toBe(true);
    expect((await s.reserve(req({ qty: 2, user: 'erin' }))).ok).toBe(true);
  });
});

type Op =
  | { kind: 'reserve'; user: number; qty: number; key: number; ttl: number }
  | { kind: 'confirm'; pick: number }
  | { kind: 'release'; pick: number }
  | { kind: 'tick'; ms: number }
  | { kind: 'sweep' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('reserve' as const), user: fc.nat(5), qty: fc.integer({ min: 1, max: 3 }), key: fc.nat(30), ttl: fc.integer({ min: 100, max: 2_000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('confirm' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 1_500 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'sweep' as const }) },
);

describe.each(SAFE_STRATEGIES.map((s) => [s]))('strategy %s under random interleavings', (name) => {
  it('keeps every invariant after each sequence of reserve/confirm/release/expire', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 }), async (batches) => {
        run += 1;
        const h = await open(name, 6, 4);
        const s = h.strategy;
        try {
          let now = T0;
          const got: Reservation[] = [];
          for (const batch of batches) {
            // The ops of one batch run concurrently: the store sees them interleaved.
            await Promise.all(
              batch.map(async (op) => {
                switch (op.kind) {
                  case 'reserve': {
                    const r = await s.reserve({ sku: 'sku-1', qty: op.qty, user: `u${op.user}`, idempotencyKey: `r${run}-k${op.key}`, ttlMs: op.ttl, now });
                    if (r.ok && !r.duplicate) got.push(r.reservation);
                    return;
                  }
                  case 'confirm':
                    if (got.length) await s.confirm(got[op.pick % got.length], now);
                    return;
                  case 'release':
                    if (got.length) await s.release(got[op.pick % got.length]);
                    return;
                  case 'tick':
                    now += op.ms;
                    return;
                  case 'sweep':
                    await s.sweepExpired(now);
                    return;
                }
              }),
            );
            const report = checkInvariants({ snapshot: await s.snapshot(), perUserLimit: 4 });
            expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
          }
          // Once every hold has expired and been swept, nothing is lost: available + sold = initial.
          await s.sweepExpired(now + 10_000);
          const end = checkInvariants({ snapshot: await s.snapshot(), perUserLimit: 4 });
          expect(end.ok).toBe(true);
          expect(end.skus[0].held).toBe(0);
          expect(end.skus[0].available + end.skus[0].sold).toBe(6);
        } finally {
          await shut(h);
        }
      }),
      { numRuns: 15 },
    );
  });
});
