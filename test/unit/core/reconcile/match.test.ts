// reconcile: the matching rules (each category), break ids, and orphans reported on one day only.
import { describe, expect, it } from 'vitest';
import { dayWindow } from '../../../../src/core/reconcile/day.js';
import { type Group } from '../../../../src/core/reconcile/join.js';
import { breakId, classify, type ClassifyContext } from '../../../../src/core/reconcile/match.js';
import type { LocalTxn, MismatchRow, ProviderCharge, ReconCategory } from '../../../../src/core/reconcile/types.js';
import { at, local, charge, g1 } from '../../../helpers/reconcile.js';

describe('classify', () => {
  const window = dayWindow('2026-11-21', 'UTC');
  const ctx: ClassifyContext = { window, nowMs: at('2026-11-22T06:00:00Z'), graceMs: 15 * 60_000 };
  const created = local().createdMs;
  const group = (l: LocalTxn | undefined, charges: ProviderCharge[] = []): Group => ({
    transactionId: 't1',
    local: l,
    charges,
  });

  const cases: {
    name: string;
    group: Group;
    ctx?: Partial<ClassifyContext>;
    category: ReconCategory;
    action: MismatchRow['suggested_action'];
    delta: number;
  }[] = [
    {
      name: 'a paid sale with its settled charge matches',
      group: group(local(), [charge()]),
      category: 'MATCHED',
      action: 'none',
      delta: 0,
    },
    {
      name: 'a failed sale with no charge matches',
      group: group(local({ status: 'failed', chargeId: null })),
      category: 'MATCHED',
      action: 'none',
      delta: 0,
    },
    {
      name: 'a failed sale with a failed charge matches',
      group: group(local({ status: 'failed' }), [charge({ status: 'failed', settledMs: null })]),
      category: 'MATCHED',
      action: 'none',
      delta: 0,
    },
    {
      name: 'a refunded sale whose charge was refunded in full and settled that day matches',
      group: group(local({ status: 'refunded' }), [charge({ amountRefunded: 1000 })]),
      category: 'MATCHED',
      action: 'none',
      delta: 0,
    },
    {
      name: 'a paid sale with no charge one millisecond inside the grace period is pending',
      group: group(local()),
      ctx: { nowMs: created + 15 * 60_000 - 1 },
      category: 'PENDING',
      action: 'wait',
      delta: -1000,
    },
    {
      name: 'a paid sale with no charge exactly at the end of the grace period is missing at the provider',
      group: group(local()),
      ctx: { nowMs: created + 15 * 60_000 },
      category: 'MISSING_AT_PROVIDER',
      action: 'release_stock_and_fail_order',
      delta: -1000,
    },
    {
      name: 'a refunded sale with no charge is missing at the provider and needs a person',
      group: group(local({ status: 'refunded' })),
      category: 'MISSING_AT_PROVIDER',
      action: 'investigate_status',
      delta: 0,
    },
    {
      name: 'a charge with no sale is an orphan to refund',
      group: group(undefined, [charge()]),
      category: 'ORPHAN_CHARGE',
      action: 'refund_charge',
      delta: 1000,
    },
    {
      name: 'a charge with no sale yet, younger than the grace, is pending (its order may be being marked paid)',
      group: group(undefined, [charge()]),
      ctx: { nowMs: charge().createdMs + 60_000 },
      category: 'PENDING',
      action: 'wait',
      delta: 1000,
    },
    {
      name: 'a partly refunded orphan still owes the rest',
      group: group(undefined, [charge({ amountRefunded: 400 })]),
      category: 'ORPHAN_CHARGE',
      action: 'refund_charge',
      delta: 600,
    },
    {
      name: 'two live charges for one sale are a duplicate',
      group: group(local(), [charge(), charge({ id: 'ch_2', createdMs: charge().createdMs + 5 })]),
      category: 'DUPLICATE_CHARGE',
      action: 'refund_duplicates',
      delta: 1000,
    },
    {
      name: 'a duplicate wins over a currency difference (rule a before c)',
      group: group(local(), [charge({ currency: 'USD' }), charge({ id: 'ch_2' })]),
      category: 'DUPLICATE_CHARGE',
      action: 'refund_duplicates',
      delta: 1000,
    },
    {
      name: 'a second charge refunded in full is not a duplicate',
      group: group(local(), [charge(), charge({ id: 'ch_2', amountRefunded: 1000 })]),
      category: 'MATCHED',
      action: 'none',
      delta: 0,
    },
    {
      name: 'a failed retry next to the bound charge is not a duplicate',
      group: group(local({ chargeId: 'ch_2' }), [
        charge({ status: 'failed', settledMs: null }),
        charge({ id: 'ch_2' }),
      ]),
      category: 'MATCHED',
      action: 'none',
      delta: 0,
    },
    {
      name: 'without a bound charge id the first live charge is the primary',
      group: group(local({ chargeId: null }), [
        charge({ id: 'ch_0', status: 'failed', amount: 7, settledMs: null }),
        charge(),
      ]),
      category: 'MATCHED',
      action: 'none',
      delta: 0,
    },
    {
      name: 'a charge in another currency is a currency mismatch with no delta',
      group: group(local(), [charge({ currency: 'USD' })]),
      category: 'CURRENCY_MISMATCH',
      action: 'investigate_currency',
      delta: 0,
    },
    {
      name: 'a charge of another amount is an amount mismatch',
      group: group(local(), [charge({ amount: 1100 })]),
      category: 'AMOUNT_MISMATCH',
      action: 'investigate_amount',
      delta: 100,
    },
    {
      name: 'an amount difference wins over a status difference (rule d before e)',
      group: group(local(), [charge({ amount: 1100, status: 'failed' })]),
      category: 'AMOUNT_MISMATCH',
      action: 'investigate_amount',
      delta: -1000,
    },
    {
      name: 'a paid sale whose charge failed is a status mismatch',
      group: group(local(), [charge({ status: 'failed', settledMs: null })]),
      category: 'STATUS_MISMATCH',
      action: 'investigate_status',
      delta: -1000,
    },
    {
      name: 'a paid sale whose charge was refunded is a status mismatch',
      group: group(local(), [charge({ amountRefunded: 1000 })]),
      category: 'STATUS_MISMATCH',
      action: 'investigate_status',
      delta: -1000,
    },
    {
      name: 'a refunded sale whose charge still holds the money is a status mismatch',
      group: group(local({ status: 'refunded' }), [charge()]),
      category: 'STATUS_MISMATCH',
      action: 'investigate_status',
      delta: 1000,
    },
    {
      name: 'a failed sale whose charge succeeded is a status mismatch',
      group: group(local({ status: 'failed', chargeId: null }), [charge()]),
      category: 'STATUS_MISMATCH',
      action: 'investigate_status',
      delta: 1000,
    },
    {
      name: 'a paid sale whose charge is still pending inside the grace period is pending',
      group: group(local(), [charge({ status: 'pending', settledMs: null })]),
      ctx: { nowMs: created + 60_000 },
      category: 'PENDING',
      action: 'wait',
      delta: -1000,
    },
    {
      name: 'a failed sale bound to its failed charge, with a second charge that succeeded beside it, is a status mismatch',
      group: group(local({ status: 'failed', chargeId: 'ch_1' }), [
        charge({ status: 'failed', settledMs: null }),
        charge({ id: 'ch_2', createdMs: at('2026-11-21T10:00:05Z') }),
      ]),
      category: 'STATUS_MISMATCH',
      action: 'investigate_status',
      delta: 1000,
    },
    {
      name: 'a paid sale whose charge is still pending after the grace period is a status mismatch',
      group: group(local(), [charge({ status: 'pending', settledMs: null })]),
      category: 'STATUS_MISMATCH',
      action: 'investigate_status',
      delta: -1000,
    },
    {
      name: 'a failed sale whose charge is pending is a status mismatch even inside the grace period',
      group: group(local({ status: 'failed' }), [charge({ status: 'pending', settledMs: null })]),
      ctx: { nowMs: created + 60_000 },
      category: 'STATUS_MISMATCH',
      action: 'investigate_status',
      delta: 0,
    },
    {
      name: 'a charge settled the next day is settled on another day',
      group: group(local(), [charge({ settledMs: window.endMs })]),
      category: 'SETTLED_OTHER_DAY',
      action: 'expect_settlement_other_day',
      delta: 0,
    },
    {
      name: 'a charge not settled yet is settled on another day',
      group: group(local(), [charge({ settledMs: null })]),
      category: 'SETTLED_OTHER_DAY',
      action: 'expect_settlement_other_day',
      delta: 0,
    },
    {
      name: 'a charge settled in the last millisecond of the day matches',
      group: group(local(), [charge({ settledMs: window.endMs - 1 })]),
      category: 'MATCHED',
      action: 'none',
      delta: 0,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = classify(c.group, { ...ctx, ...c.ctx });
      expect(out && { category: out.category, action: out.row.suggested_action, delta: out.row.delta_minor }).toEqual({
        category: c.category,
        action: c.action,
        delta: c.delta,
      });
      expect(out!.row.category).toBe(c.category);
      expect(out!.row.break_id).toBe(breakId('2026-11-21', 't1', c.category));
    });
  }

  const nulls: { name: string; group: Group; ctx?: Partial<ClassifyContext> }[] = [
    {
      name: 'an orphan refunded in full owes nobody anything',
      group: group(undefined, [charge({ amountRefunded: 1000 })]),
    },
    {
      name: 'a failed charge with no sale owes nobody anything',
      group: group(undefined, [charge({ status: 'failed' })]),
    },
    {
      name: 'a pending charge with no sale holds no money yet',
      group: group(undefined, [charge({ status: 'pending' })]),
    },
    {
      name: 'a sale made the day before belongs to that day, even with its charge in this one',
      group: group(local({ createdMs: window.startMs - 1 }), [charge({ createdMs: window.startMs })]),
    },
    {
      name: 'a sale made at the end instant belongs to the next day',
      group: group(local({ createdMs: window.endMs })),
    },
    {
      name: 'an orphan charged the next day belongs to that day',
      group: group(undefined, [charge({ createdMs: window.endMs })]),
    },
  ];
  for (const c of nulls) {
    it(`${c.name} (null)`, () => expect(classify(c.group, { ...ctx, ...c.ctx })).toBeNull());
  }

  it("keeps a sale made at 23:59:59.999 whose charge came after midnight on the sale's day", () => {
    const g = group(local({ createdMs: window.endMs - 1 }), [
      charge({ createdMs: window.endMs + 1000, settledMs: window.endMs + 5000 }),
    ]);
    expect(classify(g, ctx)?.category).toBe('SETTLED_OTHER_DAY');
    expect(classify(g, { ...ctx, window: dayWindow('2026-11-22', 'UTC') })).toBeNull();
  });

  it('reports an orphan charged at 23:30 Berlin time on the Berlin day, not the next', () => {
    const g = group(undefined, [charge({ createdMs: at('2026-11-21T22:30:00Z') })]);
    expect(classify(g, { ...ctx, window: dayWindow('2026-11-21', 'Europe/Berlin') })?.category).toBe('ORPHAN_CHARGE');
    expect(classify(g, { ...ctx, window: dayWindow('2026-11-22', 'Europe/Berlin') })).toBeNull();
  });

  it('fills a duplicate row with every charge in creation order and the bound charge as primary', () => {
    const g = group(local({ chargeId: 'ch_b' }), [
      charge({ id: 'ch_b', createdMs: at('2026-11-21T10:00:02Z'), amountRefunded: 100 }),
      charge({ id: 'ch_a', createdMs: at('2026-11-21T10:00:02Z') }),
      charge({ id: 'ch_z', createdMs: at('2026-11-21T10:00:01Z'), status: 'failed' }),
    ]);
    expect(classify(g, ctx)?.row).toEqual({
      break_id: breakId('2026-11-21', 't1', 'DUPLICATE_CHARGE'),
      category: 'DUPLICATE_CHARGE',
      transaction_id: 't1',
      order_id: 'o1',
      provider_charge_ids: ['ch_z', 'ch_a', 'ch_b'],
      local_status: 'succeeded',
      provider_status: 'succeeded+partially_refunded',
      currency: 'EUR',
      local_amount_minor: 1000,
      provider_amount_minor: 1000,
      delta_minor: 900,
      local_time: '2026-11-21T10:00:00.000Z',
      provider_time: '2026-11-21T10:00:02.000Z',
      suggested_action: 'refund_duplicates',
    } satisfies MismatchRow);
  });

  it('fills an orphan row from its live charge, with no local side', () => {
    const g = group(undefined, [
      charge({ id: 'ch_1', orderId: null, status: 'failed', createdMs: at('2026-11-21T09:00:00Z'), currency: 'SEK' }),
      charge({
        id: 'ch_2',
        orderId: 'o9',
        amountRefunded: 250,
        createdMs: at('2026-11-21T09:30:00Z'),
        currency: 'SEK',
      }),
    ]);
    const row = classify(g, ctx)!.row;
    expect(row).toMatchObject({
      order_id: '',
      provider_charge_ids: ['ch_1', 'ch_2'],
      local_status: '',
      provider_status: 'succeeded+partially_refunded',
      currency: 'SEK',
      local_amount_minor: null,
      provider_amount_minor: 750,
      delta_minor: 750,
      local_time: '',
      provider_time: '2026-11-21T09:30:00.000Z',
    });
  });

  it('fills a missing-at-provider row with an empty provider side', () => {
    const row = classify(group(local()), ctx)!.row;
    expect(row).toMatchObject({
      provider_charge_ids: [],
      provider_status: '',
      provider_amount_minor: null,
      provider_time: '',
      local_amount_minor: 1000,
    });
  });

  it('marks a primary refunded in full as +refunded', () => {
    expect(
      classify(group(local({ status: 'refunded' }), [charge({ amountRefunded: 1000 })]), ctx)!.row.provider_status,
    ).toBe('succeeded+refunded');
  });
});

describe('breakId', () => {
  it('is the same for the same date, transaction and category, run after run', () => {
    expect(breakId('2026-11-21', 't1', 'ORPHAN_CHARGE')).toBe(breakId('2026-11-21', 't1', 'ORPHAN_CHARGE'));
    expect(breakId('2026-11-21', 't1', 'ORPHAN_CHARGE')).toMatch(/^brk_[0-9a-f]{20}$/);
  });
  it('differs by category, date and transaction', () => {
    const ids = new Set([
      breakId('2026-11-21', 't1', 'ORPHAN_CHARGE'),
      breakId('2026-11-21', 't1', 'DUPLICATE_CHARGE'),
      breakId('2026-11-22', 't1', 'ORPHAN_CHARGE'),
      breakId('2026-11-21', 't2', 'ORPHAN_CHARGE'),
      // The separator keeps "a\nb" + "c" apart from "a" + "b\nc".
      breakId('2026-11-21', 't1\nORPHAN_CHARGE', 'MATCHED'),
    ]);
    expect(ids.size).toBe(5);
  });
});

describe('an orphan is reported on one day only', () => {
  it('charges either side of midnight belong to the day of the first one', () => {
    const g = g1(undefined, [
      charge({ createdMs: at('2026-11-21T23:59:30Z') }),
      charge({ id: 'ch_2', createdMs: at('2026-11-22T00:00:30Z') }),
    ]);
    const ctx = { nowMs: at('2026-11-25T00:00:00Z'), graceMs: 0 };
    expect(classify(g, { ...ctx, window: dayWindow('2026-11-21', 'UTC') })?.category).toBe('ORPHAN_CHARGE');
    expect(classify(g, { ...ctx, window: dayWindow('2026-11-22', 'UTC') })).toBeNull();
  });
});
