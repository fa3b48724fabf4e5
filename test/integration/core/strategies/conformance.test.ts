// Every safe strategy, on the real Redis and Postgres, held to the same contract.
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  createStrategy,
  SAFE_STRATEGIES,
  type LedgerEntry,
  type ReservationState,
  type ReserveRequest,
  type ReserveResult,
  type Reservation,
  type Strategy,
  type StrategyName,
} from '../../../../src/core/strategies/index.js';
import { checkInvariants } from '../../../../src/core/invariants.js';
import { DATABASE_URL, REDIS_URL, uniqueNamespace } from '../../../helpers/services.js';

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
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('reserve' as const),
      user: fc.nat(5),
      qty: fc.integer({ min: 1, max: 3 }),
      key: fc.nat(30),
      ttl: fc.integer({ min: 100, max: 2_000 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('confirm' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 1_500 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'sweep' as const }) },
);

/** What the holder was told, and what the ledger must say about the same reservation. */
const told = (r: Reservation | LedgerEntry) => ({
  id: r.id,
  sku: r.sku,
  qty: r.qty,
  user: r.user,
  idempotencyKey: r.idempotencyKey,
  expiresAt: r.expiresAt,
});

interface Answered {
  key: string;
  op: Extract<Op, { kind: 'reserve' }>;
  at: number;
  result: ReserveResult;
}

type Outcome =
  | { kind: 'confirm'; target: Reservation; at: number; ok: boolean }
  | { kind: 'release'; target: Reservation; ok: boolean }
  | { kind: 'sweep'; at: number; units: number };

/**
 * Everything one concurrent batch's answers and the ledger after it must agree on, as a list of
 * violations (empty when they agree). `before` is each reservation's state after the previous
 * batch; `known` the first answer each idempotency key got in earlier batches (updated here).
 * The ops of a batch race, so an answer is checked against what the batch as a whole could
 * legitimately have done to its reservation: of a confirm, a release and a sweep of the same
 * hold exactly one may win, and a refusal is fine only when the hold was not held, was expired
 * at the op's `now`, or another op of the batch took it.
 */
function violations(
  answers: Answered[],
  outcomes: Outcome[],
  before: Map<string, ReservationState>,
  known: Map<string, Reservation>,
  fresh: Reservation[],
  ledger: LedgerEntry[],
): string[] {
  const bad: string[] = [];
  const earlier = new Set(known.keys());
  for (const { key, op, at, result } of answers) {
    if (!result.ok) {
      if (earlier.has(key))
        bad.push(
          `reserve ${key} was refused (${result.reason}) though the key already has reservation ${known.get(key)!.id}`,
        );
      continue;
    }
    const r = result.reservation;
    const first = known.get(key);
    if (first) {
      if (JSON.stringify(told(r)) !== JSON.stringify(told(first)))
        bad.push(
          `reserve ${key} answered ${JSON.stringify(told(r))}, its first answer was ${JSON.stringify(told(first))}`,
        );
    } else known.set(key, r);
    if (earlier.has(key) && !result.duplicate)
      bad.push(`reserve ${key} did not say duplicate, though the key was used in an earlier batch`);
    if (!result.duplicate) {
      const asked = {
        id: r.id,
        sku: 'sku-1',
        qty: op.qty,
        user: `u${op.user}`,
        idempotencyKey: key,
        expiresAt: at + op.ttl,
      };
      if (JSON.stringify(told(r)) !== JSON.stringify(asked))
        bad.push(`reserve ${key} granted ${JSON.stringify(told(r))} for ${JSON.stringify(asked)}`);
      if (fresh.some((f) => f.idempotencyKey === key)) bad.push(`reserve ${key} was granted as new twice`);
      fresh.push(r);
    }
  }
  // The ledger holds exactly the grants answered as new: nothing answered ok but unrecorded,
  // nothing recorded but refused, nothing recorded twice.
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const recorded = JSON.stringify(ledger.map(told).sort(byId));
  const granted = JSON.stringify(fresh.map(told).sort(byId));
  if (recorded !== granted) bad.push(`ledger ${recorded} is not the grants answered ${granted}`);

  const sweeps = outcomes.flatMap((o) => (o.kind === 'sweep' ? [o] : []));
  const sweptAt = (e: LedgerEntry) => sweeps.some((s) => s.at >= e.expiresAt);
  let expiredNow = 0;
  for (const e of ledger) {
    const pre = before.get(e.id);
    const on = outcomes.filter(
      (o): o is Exclude<Outcome, { kind: 'sweep' }> => o.kind !== 'sweep' && o.target.id === e.id,
    );
    const confirmed = on.filter((o) => o.kind === 'confirm' && o.ok);
    const released = on.filter((o) => o.kind === 'release' && o.ok);
    const what = `${e.id} (${pre ?? 'new'} → ${e.state}, expires ${e.expiresAt}) after ${JSON.stringify(on.map((o) => ({ ...o, target: undefined })))}`;
    if (e.state === 'expired' && pre !== 'expired') expiredNow += e.qty;
    if (confirmed.length + released.length > 1) bad.push(`more than one confirm/release won on ${what}`);
    if (pre === undefined) {
      // Made in this batch, so no confirm or release could name it; only a sweep could expire it.
      if (!(e.state === 'held' || (e.state === 'expired' && sweptAt(e)))) bad.push(`new reservation ${what}`);
      continue;
    }
    if (pre !== 'held') {
      if (e.state !== pre || confirmed.length + released.length > 0) bad.push(`a ${pre} reservation changed: ${what}`);
      continue;
    }
    const ok =
      e.state === 'sold'
        ? confirmed.length === 1 && confirmed[0].kind === 'confirm' && confirmed[0].at < e.expiresAt
        : e.state === 'released'
          ? released.length === 1
          : e.state === 'expired'
            ? confirmed.length + released.length === 0 && sweptAt(e)
            : // Still held: nothing took it, so every op that could have taken it must have.
              on.every((o) => !o.ok && o.kind === 'confirm' && o.at >= e.expiresAt) && !sweptAt(e);
    if (!ok) bad.push(`held reservation ${what}`);
  }
  const swept = sweeps.reduce((n, s) => n + s.units, 0);
  if (swept !== expiredNow) bad.push(`sweeps returned ${swept} units, but ${expiredNow} units expired in this batch`);
  return bad;
}

describe.each(SAFE_STRATEGIES.map((s) => [s]))('strategy %s under random interleavings', (name) => {
  it('answers every reserve/confirm/release/expire truthfully and keeps every invariant', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 }),
        async (batches) => {
          run += 1;
          const h = await open(name, 6, 4);
          const s = h.strategy;
          try {
            let now = T0;
            const fresh: Reservation[] = [];
            const known = new Map<string, Reservation>();
            let before = new Map<string, ReservationState>();
            for (const batch of batches) {
              // Confirms and releases name holds granted in earlier batches, so which hold an op
              // names does not depend on how this batch's reserves happen to interleave.
              const targets = [...fresh];
              const answers: Answered[] = [];
              const outcomes: Outcome[] = [];
              // The ops of one batch run concurrently: the store sees them interleaved. A tick
              // moves the clock for the ops after it in the batch.
              await Promise.all(
                batch.map(async (op) => {
                  const at = now;
                  switch (op.kind) {
                    case 'reserve': {
                      const key = `r${run}-k${op.key}`;
                      const result = await s.reserve({
                        sku: 'sku-1',
                        qty: op.qty,
                        user: `u${op.user}`,
                        idempotencyKey: key,
                        ttlMs: op.ttl,
                        now: at,
                      });
                      answers.push({ key, op, at, result });
                      return;
                    }
                    case 'confirm': {
                      if (!targets.length) return;
                      const target = targets[op.pick % targets.length];
                      outcomes.push({ kind: 'confirm', target, at, ok: await s.confirm(target, at) });
                      return;
                    }
                    case 'release': {
                      if (!targets.length) return;
                      const target = targets[op.pick % targets.length];
                      outcomes.push({ kind: 'release', target, ok: await s.release(target) });
                      return;
                    }
                    case 'tick':
                      now += op.ms;
                      return;
                    case 'sweep':
                      outcomes.push({ kind: 'sweep', at, units: await s.sweepExpired(at) });
                      return;
                  }
                }),
              );
              const snapshot = await s.snapshot();
              expect(violations(answers, outcomes, before, known, fresh, snapshot.ledger)).toEqual([]);
              const report = checkInvariants({ snapshot, perUserLimit: 4 });
              expect(report.invariants.filter((i) => !i.ok)).toEqual([]);
              before = new Map(snapshot.ledger.map((e) => [e.id, e.state]));
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
        },
      ),
      { numRuns: 15 },
    );
  });
});
