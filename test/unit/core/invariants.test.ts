// The bench invariant checker on hand-made ledgers: each broken rule is named.
import { describe, expect, it } from 'vitest';
import { checkInvariants } from '../../../src/core/invariants.js';
import type { LedgerEntry, Snapshot } from '../../../src/core/strategies/types.js';

const entry = (id: number, over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  id: `r${id}`,
  sku: 'A',
  qty: 1,
  user: `u${id}`,
  idempotencyKey: `k${id}`,
  state: 'held',
  expiresAt: 0,
  ...over,
});

const snap = (available: number, ledger: LedgerEntry[], initial = 3): Snapshot => ({
  skus: [{ sku: 'A', initial, available }],
  ledger,
});

const broken = (s: Snapshot, perUserLimit = 0, buyerUnits?: Record<string, number>) =>
  checkInvariants({ snapshot: s, perUserLimit, buyerUnits })
    .invariants.filter((i) => !i.ok)
    .map((i) => `${i.name}: ${i.detail}`);

describe('the invariant checker', () => {
  it('passes a ledger that adds up', () => {
    expect(broken(snap(1, [entry(1), entry(2, { state: 'sold' }), entry(3, { state: 'released' })]))).toEqual([]);
  });
  it('names the SKU and the amount of an oversell', () => {
    const out = broken(
      snap(
        0,
        [1, 2, 3, 4, 5].map((i) => entry(i)),
      ),
    );
    expect(out[0]).toMatch(/^no oversell: A: oversold by 2 \(stock 3, ledger holds 5 units; reservations r1\(key k1\)/);
  });
  it('catches an oversell that only the buyers saw (a grant missing from the ledger)', () => {
    const out = broken(snap(0, [entry(1), entry(2), entry(3)]), 0, { A: 4 });
    expect(out.some((l) => /no oversell: A: oversold by 1 \(stock 3, buyers were told 4 units/.test(l))).toBe(true);
    expect(out.some((l) => /ledger = buyers: A: buyers hold 4 units, the ledger records 3/.test(l))).toBe(true);
  });
  it('catches leaked stock (conservation)', () => {
    expect(broken(snap(0, [entry(1)]))).toEqual([
      'conservation: A: available 0 + held 1 + sold 0 = 1, initial 3 (-2 units)',
    ]);
  });
  it('catches one idempotency key granted twice', () => {
    expect(broken(snap(1, [entry(1), entry(2, { idempotencyKey: 'k1' })]))[0]).toMatch(
      /^exactly once: key k1 on A: 2 reservations/,
    );
  });
  it('catches a user above the per-user limit, and ignores released units', () => {
    const ledger = [entry(1, { user: 'x', qty: 2 }), entry(2, { user: 'x', state: 'released' })];
    expect(broken(snap(1, ledger), 2)).toEqual([]);
    expect(broken(snap(1, ledger), 1)).toEqual(['per-user limit: A: user x holds 2 units, limit 1']);
  });
});
