// Pure pieces of `reconcile --date`: the day window, durations, the merge join, the matching
// rules, the summary and the report files. No database, no provider.
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../src/core/errors.js';
import { dayWindow, parseDuration } from '../src/core/reconcile/day.js';
import { mergeJoin, type Group } from '../src/core/reconcile/join.js';
import { breakId, classify, type ClassifyContext } from '../src/core/reconcile/match.js';
import { actionsFor } from '../src/core/reconcile/fix.js';
import { MISMATCH_COLUMNS, openReportWriter, Summary } from '../src/core/reconcile/report.js';
import type { LocalTxn, MismatchRow, ProviderCharge, ReconCategory } from '../src/core/reconcile/types.js';

const at = (iso: string) => Date.parse(iso);
const isoOf = (ms: number) => new Date(ms).toISOString();
const HOUR = 3_600_000;

describe('dayWindow', () => {
  const cases: { name: string; date: string; tz: string; start: string; end: string; hours: number }[] = [
    { name: 'a UTC day has 24 hours from midnight to midnight', date: '2026-11-21', tz: 'UTC', start: '2026-11-21T00:00:00.000Z', end: '2026-11-22T00:00:00.000Z', hours: 24 },
    { name: 'a Berlin winter day starts at 23:00Z the evening before', date: '2026-11-21', tz: 'Europe/Berlin', start: '2026-11-20T23:00:00.000Z', end: '2026-11-21T23:00:00.000Z', hours: 24 },
    { name: 'Berlin loses an hour on 2026-03-29', date: '2026-03-29', tz: 'Europe/Berlin', start: '2026-03-28T23:00:00.000Z', end: '2026-03-29T22:00:00.000Z', hours: 23 },
    { name: 'Berlin gains an hour on 2026-10-25', date: '2026-10-25', tz: 'Europe/Berlin', start: '2026-10-24T22:00:00.000Z', end: '2026-10-25T23:00:00.000Z', hours: 25 },
    { name: 'New York loses an hour on 2026-03-08', date: '2026-03-08', tz: 'America/New_York', start: '2026-03-08T05:00:00.000Z', end: '2026-03-09T04:00:00.000Z', hours: 23 },
    { name: 'New York gains an hour on 2026-11-01', date: '2026-11-01', tz: 'America/New_York', start: '2026-11-01T04:00:00.000Z', end: '2026-11-02T05:00:00.000Z', hours: 25 },
    { name: 'New York on an ordinary summer day is 4 hours behind UTC', date: '2026-07-04', tz: 'America/New_York', start: '2026-07-04T04:00:00.000Z', end: '2026-07-05T04:00:00.000Z', hours: 24 },
    { name: 'Havana skips midnight on 2023-03-12, so the day starts at the first instant that exists', date: '2023-03-12', tz: 'America/Havana', start: '2023-03-12T05:00:00.000Z', end: '2023-03-13T04:00:00.000Z', hours: 23 },
    { name: 'Havana repeats midnight on 2023-11-05, and the day starts at its first occurrence', date: '2023-11-05', tz: 'America/Havana', start: '2023-11-05T04:00:00.000Z', end: '2023-11-06T05:00:00.000Z', hours: 25 },
    { name: 'Beirut skipped midnight on 2022-03-27', date: '2022-03-27', tz: 'Asia/Beirut', start: '2022-03-26T22:00:00.000Z', end: '2022-03-27T21:00:00.000Z', hours: 23 },
    { name: 'Samoa skipped 2011-12-30 altogether, an empty day', date: '2011-12-30', tz: 'Pacific/Apia', start: '2011-12-30T10:00:00.000Z', end: '2011-12-30T10:00:00.000Z', hours: 0 },
    { name: 'Lord Howe Island moves its clocks by half an hour', date: '2026-10-04', tz: 'Australia/Lord_Howe', start: '2026-10-03T13:30:00.000Z', end: '2026-10-04T13:00:00.000Z', hours: 23.5 },
    { name: 'a leap day exists in a leap year', date: '2028-02-29', tz: 'UTC', start: '2028-02-29T00:00:00.000Z', end: '2028-03-01T00:00:00.000Z', hours: 24 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const w = dayWindow(c.date, c.tz);
      expect({ start: isoOf(w.startMs), end: isoOf(w.endMs), hours: w.hours }).toEqual({ start: c.start, end: c.end, hours: c.hours });
      expect(w.date).toBe(c.date);
    });
  }

  it('puts 23:30 Berlin time (22:30Z) inside 2026-11-21 and outside 2026-11-22', () => {
    const t = at('2026-11-21T22:30:00Z');
    const day = dayWindow('2026-11-21', 'Europe/Berlin');
    const next = dayWindow('2026-11-22', 'Europe/Berlin');
    expect(t >= day.startMs && t < day.endMs).toBe(true);
    expect(t >= next.startMs && t < next.endMs).toBe(false);
    expect(next.startMs).toBe(day.endMs);
  });

  it('spells the zone canonically, so utc and UTC give the same report', () => {
    expect(dayWindow('2026-11-21', 'utc').tz).toBe('UTC');
  });

  const badDates = ['2026-13-01', '2026-02-30', '2026-02-29', '2026-00-10', '2026-04-31', '2026-1-01', '26-01-01', '2026/01/01', '2026-01-01T00:00', '', '0000-01-01'];
  for (const date of badDates) {
    it(`refuses --date ${JSON.stringify(date)} and says what a date looks like`, () => {
      const run = () => dayWindow(date, 'UTC');
      expect(run).toThrow(UsageError);
      expect(run).toThrow(`--date: expected a calendar date YYYY-MM-DD, got ${JSON.stringify(date)}`);
    });
  }

  const badZones = ['Mars/Base', 'Europe/Berln', '', ' '];
  for (const tz of badZones) {
    it(`refuses --tz ${JSON.stringify(tz)} and names an accepted zone`, () => {
      const run = () => dayWindow('2026-11-21', tz);
      expect(run).toThrow(UsageError);
      expect(run).toThrow(`--tz: expected an IANA time zone such as UTC or Europe/Berlin, got ${JSON.stringify(tz)}`);
    });
  }
});

describe('parseDuration', () => {
  const good: [string, number][] = [
    ['0', 0],
    ['90s', 90_000],
    ['15m', 15 * 60_000],
    ['2h', 2 * HOUR],
    ['1d', 24 * HOUR],
    ['1h30m', 90 * 60_000],
    ['1d2h3m4s', 24 * HOUR + 2 * HOUR + 3 * 60_000 + 4_000],
    ['0m', 0],
  ];
  for (const [text, ms] of good) {
    it(`reads ${text} as ${ms} ms`, () => expect(parseDuration(text, '--grace')).toBe(ms));
  }
  const bad = ['', '10', '1.5h', '-1h', '30m1h', '5ms', ' 1h', '1h ', 'h', '1w', '99999999999999999d'];
  for (const text of bad) {
    it(`refuses ${JSON.stringify(text)}, naming the option and the accepted forms`, () => {
      const run = () => parseDuration(text, '--grace');
      expect(run).toThrow(UsageError);
      expect(run).toThrow(`--grace: expected a duration such as 0, 90s, 15m, 2h, 1d or 1h30m, got ${JSON.stringify(text)}`);
    });
  }
});

const local = (over: Partial<LocalTxn> = {}): LocalTxn => ({
  transactionId: 't1',
  orderId: 'o1',
  amountMinor: 1000,
  currency: 'EUR',
  status: 'succeeded',
  chargeId: 'ch_1',
  createdMs: at('2026-11-21T10:00:00Z'),
  ...over,
});
const charge = (over: Partial<ProviderCharge> = {}): ProviderCharge => ({
  id: 'ch_1',
  transactionId: 't1',
  orderId: 'o1',
  amount: 1000,
  amountRefunded: 0,
  currency: 'EUR',
  status: 'succeeded',
  createdMs: at('2026-11-21T10:00:01Z'),
  settledMs: at('2026-11-21T12:00:00Z'),
  ...over,
});

async function* from<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}
async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('mergeJoin', () => {
  it('groups duplicates, and keeps ids found on only one side', async () => {
    const locals = [local({ transactionId: 'a' }), local({ transactionId: 'b' }), local({ transactionId: 'd' })];
    const charges = [
      charge({ id: 'ch_a2', transactionId: 'a', createdMs: 20 }),
      charge({ id: 'ch_a1', transactionId: 'a', createdMs: 10 }),
      charge({ id: 'ch_c', transactionId: 'c' }),
      charge({ id: 'ch_d', transactionId: 'd' }),
      charge({ id: 'ch_e', transactionId: 'e' }),
    ];
    const groups = await collect(mergeJoin(from(locals), from(charges)));
    expect(groups.map((g) => [g.transactionId, g.local?.transactionId ?? null, g.charges.map((c) => c.id)])).toEqual([
      ['a', 'a', ['ch_a1', 'ch_a2']],
      ['b', 'b', []],
      ['c', null, ['ch_c']],
      ['d', 'd', ['ch_d']],
      ['e', null, ['ch_e']],
    ]);
  });

  it('yields nothing for two empty sides', async () => {
    expect(await collect(mergeJoin(from([]), from([])))).toEqual([]);
  });

  it('throws when the provider side goes backwards', async () => {
    const charges = [charge({ id: 'x', transactionId: 'b' }), charge({ id: 'y', transactionId: 'a' })];
    await expect(collect(mergeJoin(from([]), from(charges)))).rejects.toThrow('provider charges are not sorted by transaction id: "a" came after "b"');
  });

  it('throws when the local side goes backwards', async () => {
    const locals = [local({ transactionId: 'b' }), local({ transactionId: 'a' })];
    await expect(collect(mergeJoin(from(locals), from([])))).rejects.toThrow('local transactions are not sorted by transaction id: "a" came after "b"');
  });

  it('throws when the local side repeats an id', async () => {
    const locals = [local({ transactionId: 'a' }), local({ transactionId: 'a' })];
    await expect(collect(mergeJoin(from(locals), from([])))).rejects.toThrow('local transactions repeat transaction id "a"');
  });

  it('orders ids by code unit, as COLLATE "C" orders ASCII: "B" before "a", "a" before "a0"', async () => {
    const locals = [local({ transactionId: 'B' }), local({ transactionId: 'a' }), local({ transactionId: 'a0' })];
    const charges = [charge({ transactionId: 'B' }), charge({ transactionId: 'a0' })];
    const groups = await collect(mergeJoin(from(locals), from(charges)));
    expect(groups.map((g) => `${g.transactionId}:${g.charges.length}`)).toEqual(['B:1', 'a:0', 'a0:1']);
  });

  it('closes both inputs when the consumer stops early', async () => {
    const closed: string[] = [];
    async function* side<T>(name: string, items: T[]) {
      try {
        yield* items;
      } finally {
        closed.push(name);
      }
    }
    const locals = [local({ transactionId: 'a' }), local({ transactionId: 'b' })];
    const charges = [charge({ transactionId: 'a' }), charge({ transactionId: 'b' })];
    for await (const g of mergeJoin(side('local', locals), side('provider', charges))) {
      expect(g.transactionId).toBe('a');
      break;
    }
    expect(closed.sort()).toEqual(['local', 'provider']);
  });
});

describe('classify', () => {
  const window = dayWindow('2026-11-21', 'UTC');
  const ctx: ClassifyContext = { window, nowMs: at('2026-11-22T06:00:00Z'), graceMs: 15 * 60_000 };
  const created = local().createdMs;
  const group = (l: LocalTxn | undefined, charges: ProviderCharge[] = []): Group => ({ transactionId: 't1', local: l, charges });

  const cases: { name: string; group: Group; ctx?: Partial<ClassifyContext>; category: ReconCategory; action: MismatchRow['suggested_action']; delta: number }[] = [
    { name: 'a paid sale with its settled charge matches', group: group(local(), [charge()]), category: 'MATCHED', action: 'none', delta: 0 },
    { name: 'a failed sale with no charge matches', group: group(local({ status: 'failed', chargeId: null })), category: 'MATCHED', action: 'none', delta: 0 },
    { name: 'a failed sale with a failed charge matches', group: group(local({ status: 'failed' }), [charge({ status: 'failed', settledMs: null })]), category: 'MATCHED', action: 'none', delta: 0 },
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
    { name: 'a refunded sale with no charge is missing at the provider and needs a person', group: group(local({ status: 'refunded' })), category: 'MISSING_AT_PROVIDER', action: 'investigate_status', delta: 0 },
    { name: 'a charge with no sale is an orphan to refund', group: group(undefined, [charge()]), category: 'ORPHAN_CHARGE', action: 'refund_charge', delta: 1000 },
    {
      name: 'a charge with no sale yet, younger than the grace, is pending (its order may be being marked paid)',
      group: group(undefined, [charge()]),
      ctx: { nowMs: charge().createdMs + 60_000 },
      category: 'PENDING',
      action: 'wait',
      delta: 1000,
    },
    { name: 'a partly refunded orphan still owes the rest', group: group(undefined, [charge({ amountRefunded: 400 })]), category: 'ORPHAN_CHARGE', action: 'refund_charge', delta: 600 },
    { name: 'two live charges for one sale are a duplicate', group: group(local(), [charge(), charge({ id: 'ch_2', createdMs: charge().createdMs + 5 })]), category: 'DUPLICATE_CHARGE', action: 'refund_duplicates', delta: 1000 },
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
      group: group(local({ chargeId: 'ch_2' }), [charge({ status: 'failed', settledMs: null }), charge({ id: 'ch_2' })]),
      category: 'MATCHED',
      action: 'none',
      delta: 0,
    },
    {
      name: 'without a bound charge id the first live charge is the primary',
      group: group(local({ chargeId: null }), [charge({ id: 'ch_0', status: 'failed', amount: 7, settledMs: null }), charge()]),
      category: 'MATCHED',
      action: 'none',
      delta: 0,
    },
    { name: 'a charge in another currency is a currency mismatch with no delta', group: group(local(), [charge({ currency: 'USD' })]), category: 'CURRENCY_MISMATCH', action: 'investigate_currency', delta: 0 },
    { name: 'a charge of another amount is an amount mismatch', group: group(local(), [charge({ amount: 1100 })]), category: 'AMOUNT_MISMATCH', action: 'investigate_amount', delta: 100 },
    { name: 'an amount difference wins over a status difference (rule d before e)', group: group(local(), [charge({ amount: 1100, status: 'failed' })]), category: 'AMOUNT_MISMATCH', action: 'investigate_amount', delta: -1000 },
    { name: 'a paid sale whose charge failed is a status mismatch', group: group(local(), [charge({ status: 'failed', settledMs: null })]), category: 'STATUS_MISMATCH', action: 'investigate_status', delta: -1000 },
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
      group: group(local({ status: 'failed', chargeId: 'ch_1' }), [charge({ status: 'failed', settledMs: null }), charge({ id: 'ch_2', createdMs: at('2026-11-21T10:00:05Z') })]),
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
    { name: 'a charge not settled yet is settled on another day', group: group(local(), [charge({ settledMs: null })]), category: 'SETTLED_OTHER_DAY', action: 'expect_settlement_other_day', delta: 0 },
    { name: 'a charge settled in the last millisecond of the day matches', group: group(local(), [charge({ settledMs: window.endMs - 1 })]), category: 'MATCHED', action: 'none', delta: 0 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = classify(c.group, { ...ctx, ...c.ctx });
      expect(out && { category: out.category, action: out.row.suggested_action, delta: out.row.delta_minor }).toEqual({ category: c.category, action: c.action, delta: c.delta });
      expect(out!.row.category).toBe(c.category);
      expect(out!.row.break_id).toBe(breakId('2026-11-21', 't1', c.category));
    });
  }

  const nulls: { name: string; group: Group; ctx?: Partial<ClassifyContext> }[] = [
    { name: 'an orphan refunded in full owes nobody anything', group: group(undefined, [charge({ amountRefunded: 1000 })]) },
    { name: 'a failed charge with no sale owes nobody anything', group: group(undefined, [charge({ status: 'failed' })]) },
    { name: 'a pending charge with no sale holds no money yet', group: group(undefined, [charge({ status: 'pending' })]) },
    { name: 'a sale made the day before belongs to that day, even with its charge in this one', group: group(local({ createdMs: window.startMs - 1 }), [charge({ createdMs: window.startMs })]) },
    { name: 'a sale made at the end instant belongs to the next day', group: group(local({ createdMs: window.endMs })) },
    { name: 'an orphan charged the next day belongs to that day', group: group(undefined, [charge({ createdMs: window.endMs })]) },
  ];
  for (const c of nulls) {
    it(`${c.name} (null)`, () => expect(classify(c.group, { ...ctx, ...c.ctx })).toBeNull());
  }

  it('keeps a sale made at 23:59:59.999 whose charge came after midnight on the sale\'s day', () => {
    const g = group(local({ createdMs: window.endMs - 1 }), [charge({ createdMs: window.endMs + 1000, settledMs: window.endMs + 5000 })]);
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
      charge({ id: 'ch_2', orderId: 'o9', amountRefunded: 250, createdMs: at('2026-11-21T09:30:00Z'), currency: 'SEK' }),
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
    expect(row).toMatchObject({ provider_charge_ids: [], provider_status: '', provider_amount_minor: null, provider_time: '', local_amount_minor: 1000 });
  });

  it('marks a primary refunded in full as +refunded', () => {
    expect(classify(group(local({ status: 'refunded' }), [charge({ amountRefunded: 1000 })]), ctx)!.row.provider_status).toBe('succeeded+refunded');
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

describe('Summary', () => {
  it('sums net and gross per category and currency, listed in category order then currency', () => {
    const s = new Summary();
    s.add('DUPLICATE_CHARGE', 'USD', 500);
    s.add('DUPLICATE_CHARGE', 'EUR', 1000);
    s.add('DUPLICATE_CHARGE', 'EUR', -300);
    s.add('MATCHED', 'EUR', 0);
    s.add('MISSING_AT_PROVIDER', 'EUR', -700);
    expect(s.lines()).toEqual([
      { category: 'MATCHED', currency: 'EUR', count: 1, netMinor: 0, grossMinor: 0 },
      { category: 'MISSING_AT_PROVIDER', currency: 'EUR', count: 1, netMinor: -700, grossMinor: 700 },
      { category: 'DUPLICATE_CHARGE', currency: 'EUR', count: 2, netMinor: 700, grossMinor: 1300 },
      { category: 'DUPLICATE_CHARGE', currency: 'USD', count: 1, netMinor: 500, grossMinor: 500 },
    ]);
  });

  const verdicts: { name: string; adds: ReconCategory[]; incomplete: boolean; verdict: string }[] = [
    { name: 'a day with nothing in it is reconciled', adds: [], incomplete: false, verdict: 'RECONCILED' },
    { name: 'matched and pending only is reconciled', adds: ['MATCHED', 'PENDING'], incomplete: false, verdict: 'RECONCILED' },
    { name: 'one settlement on another day is a break', adds: ['MATCHED', 'SETTLED_OTHER_DAY'], incomplete: false, verdict: 'BREAKS' },
    { name: 'one orphan is a break', adds: ['ORPHAN_CHARGE'], incomplete: false, verdict: 'BREAKS' },
    { name: 'an incomplete read is incomplete even with breaks', adds: ['ORPHAN_CHARGE'], incomplete: true, verdict: 'INCOMPLETE' },
    { name: 'an incomplete read is incomplete even when all matched', adds: ['MATCHED'], incomplete: true, verdict: 'INCOMPLETE' },
  ];
  for (const v of verdicts) {
    it(v.name, () => {
      const s = new Summary();
      for (const c of v.adds) s.add(c, 'EUR', 0);
      expect(s.verdict(v.incomplete)).toBe(v.verdict);
    });
  }
});

describe('the report writer', () => {
  const dirs: string[] = [];
  const scratch = () => {
    const d = mkdtempSync(join(tmpdir(), 'flashsale-recon-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const row = (transactionId: string, over: Partial<MismatchRow> = {}): MismatchRow => ({
    break_id: breakId('2026-11-21', transactionId, 'MISSING_AT_PROVIDER'),
    category: 'MISSING_AT_PROVIDER',
    transaction_id: transactionId,
    order_id: `o_${transactionId}`,
    provider_charge_ids: [],
    local_status: 'succeeded',
    provider_status: '',
    currency: 'EUR',
    local_amount_minor: 500,
    provider_amount_minor: null,
    delta_minor: -500,
    local_time: '2026-11-21T10:00:00.000Z',
    provider_time: '',
    suggested_action: 'release_stock_and_fail_order',
    ...over,
  });
  const rows = [
    row('=HYPERLINK("x")'),
    row('t1', { category: 'DUPLICATE_CHARGE', provider_charge_ids: ['ch_1', 'ch_2'], delta_minor: 500, order_id: '+1', provider_status: 'succeeded', suggested_action: 'refund_duplicates' }),
    row('t2', { order_id: '-2', currency: '@EUR', local_status: '\tx' }),
    row('t3', { order_id: 'a,b\nc' }),
  ];
  const summaryOf = (rs: MismatchRow[]) => {
    const s = new Summary();
    for (const r of rs) s.add(r.category, r.currency, r.delta_minor);
    return s;
  };
  async function write(dir: string, rs: MismatchRow[]) {
    const w = openReportWriter(dir);
    for (const r of rs) await w.add(r);
    const s = summaryOf(rs);
    return w.finish({ date: '2026-11-21', tz: 'UTC', window: { start: '2026-11-21T00:00:00.000Z', end: '2026-11-22T00:00:00.000Z' }, verdict: s.verdict(false), summary: s.lines() });
  }

  it('writes byte-identical files for the same rows twice', async () => {
    const base = scratch();
    const a = await write(join(base, 'a'), rows);
    const b = await write(join(base, 'b'), rows);
    for (const f of ['mismatches.csv', 'mismatches.json']) expect(readFileSync(join(a, f), 'utf8')).toBe(readFileSync(join(b, f), 'utf8'));
    expect(readdirSync(a).sort()).toEqual(['mismatches.csv', 'mismatches.json']);
  });

  it('heads the CSV with the row keys in declaration order', async () => {
    const w = dayWindow('2026-11-21', 'UTC');
    const classified = classify({ transactionId: 't1', charges: [charge()] }, { window: w, nowMs: w.endMs, graceMs: 0 })!;
    expect([...MISMATCH_COLUMNS]).toEqual(Object.keys(classified.row));
    const dir = await write(join(scratch(), 'r'), rows);
    expect(readFileSync(join(dir, 'mismatches.csv'), 'utf8').split('\n')[0]).toBe(MISMATCH_COLUMNS.join(','));
  });

  it('defuses formulas in text cells but leaves negative numbers alone', async () => {
    const csv = readFileSync(join(await write(join(scratch(), 'r'), rows), 'mismatches.csv'), 'utf8');
    const lines = csv.split('\n');
    expect(lines[1]).toBe(
      `${rows[0].break_id},MISSING_AT_PROVIDER,"'=HYPERLINK(""x"")","o_=HYPERLINK(""x"")",,succeeded,,EUR,500,,-500,2026-11-21T10:00:00.000Z,,release_stock_and_fail_order`,
    );
    expect(lines[2]).toContain(`,DUPLICATE_CHARGE,t1,'+1,ch_1;ch_2,succeeded,succeeded,EUR,500,,500,`);
    expect(lines[3]).toContain(`,t2,'-2,,'\tx,,'@EUR,500,,-500,`);
    expect(csv).toContain('"a,b\nc"');
    expect(csv).not.toContain("'-500");
    expect(csv.endsWith('\n')).toBe(true);
  });

  it('writes JSON with the summary and every row, keys in the documented order', async () => {
    const text = readFileSync(join(await write(join(scratch(), 'r'), rows), 'mismatches.json'), 'utf8');
    const doc = JSON.parse(text);
    expect(Object.keys(doc)).toEqual(['date', 'tz', 'window', 'verdict', 'summary', 'mismatches']);
    expect(doc.verdict).toBe('BREAKS');
    expect(doc.window).toEqual({ start: '2026-11-21T00:00:00.000Z', end: '2026-11-22T00:00:00.000Z' });
    expect(doc.summary).toEqual([
      { category: 'MISSING_AT_PROVIDER', currency: '@EUR', count: 1, netMinor: -500, grossMinor: 500 },
      { category: 'MISSING_AT_PROVIDER', currency: 'EUR', count: 2, netMinor: -1000, grossMinor: 1000 },
      { category: 'DUPLICATE_CHARGE', currency: 'EUR', count: 1, netMinor: 500, grossMinor: 500 },
    ]);
    expect(doc.mismatches).toEqual(rows);
    expect(text.endsWith('}\n')).toBe(true);
    // One mismatch per line, so a diff of two days' reports points at the rows that changed.
    expect(text.split('\n').filter((l) => l.startsWith('    {"break_id"'))).toHaveLength(rows.length);
  });

  it('writes a parseable report with no rows', async () => {
    const dir = await write(join(scratch(), 'r'), []);
    expect(JSON.parse(readFileSync(join(dir, 'mismatches.json'), 'utf8'))).toMatchObject({ verdict: 'RECONCILED', summary: [], mismatches: [] });
    expect(readFileSync(join(dir, 'mismatches.csv'), 'utf8')).toBe(`${MISMATCH_COLUMNS.join(',')}\n`);
  });

  it('leaves only the report behind after finish, replacing an older one', async () => {
    const base = scratch();
    mkdirSync(join(base, 'r'));
    writeFileSync(join(base, 'r', 'stale.txt'), 'old');
    await write(join(base, 'r'), rows);
    expect(readdirSync(base)).toEqual(['r']);
    expect(readdirSync(join(base, 'r')).sort()).toEqual(['mismatches.csv', 'mismatches.json']);
  });

  it('leaves nothing behind after abort, and an older report untouched', async () => {
    const base = scratch();
    const w = openReportWriter(join(base, 'fresh'));
    await w.add(rows[0]);
    await w.abort();
    expect(readdirSync(base)).toEqual([]);

    mkdirSync(join(base, 'old'));
    writeFileSync(join(base, 'old', 'mismatches.csv'), 'kept');
    const again = openReportWriter(join(base, 'old'));
    await again.add(rows[0]);
    await again.abort();
    expect(readdirSync(base)).toEqual(['old']);
    expect(readFileSync(join(base, 'old', 'mismatches.csv'), 'utf8')).toBe('kept');
    await expect(again.add(rows[1])).rejects.toThrow(/already finished or aborted/);
  });

  it('refuses rows out of transaction-id order, which would make the files depend on run order', async () => {
    const w = openReportWriter(join(scratch(), 'r'));
    await w.add(row('b'));
    await expect(w.add(row('a'))).rejects.toThrow('report rows must arrive in transaction-id order: "a" came after "b"');
    await w.abort();
  });

  it('streams 50,000 rows (5% of a million-transaction day) to both files', async () => {
    const w = openReportWriter(join(scratch(), 'r'));
    const n = 50_000;
    const s = new Summary();
    for (let i = 0; i < n; i++) {
      const r = row(`t${String(i).padStart(7, '0')}`);
      s.add(r.category, r.currency, r.delta_minor);
      await w.add(r);
    }
    const dir = await w.finish({ date: '2026-11-21', tz: 'UTC', window: { start: 'a', end: 'b' }, verdict: s.verdict(false), summary: s.lines() });
    const csvLines = readFileSync(join(dir, 'mismatches.csv'), 'utf8').trimEnd().split('\n');
    expect(csvLines).toHaveLength(n + 1);
    expect(csvLines.at(-1)).toContain(',t0049999,');
    const doc = JSON.parse(readFileSync(join(dir, 'mismatches.json'), 'utf8'));
    expect(doc.mismatches).toHaveLength(n);
    expect(doc.summary).toEqual([{ category: 'MISSING_AT_PROVIDER', currency: 'EUR', count: n, netMinor: -500 * n, grossMinor: 500 * n }]);
  });
});

const g1 = (l: LocalTxn | undefined, charges: ProviderCharge[]): Group => ({ transactionId: 't1', ...(l ? { local: l } : {}), charges });

describe('what --fix would do about a duplicate', () => {
  const dup = (status: LocalTxn['status']) => g1(local({ status }), [charge(), charge({ id: 'ch_2', createdMs: charge().createdMs + 5 })]);
  const row = { break_id: 'brk', category: 'DUPLICATE_CHARGE' as const, transaction_id: 't1', order_id: 'o1' } as MismatchRow;
  it('a sale that stands keeps the charge it is bound to and refunds the other', () => {
    expect(actionsFor(dup('succeeded'), row).map((a) => a.chargeId)).toEqual(['ch_2']);
  });
  it('a failed sale keeps no charge: every live one is refunded', () => {
    expect(actionsFor(dup('failed'), row).map((a) => a.chargeId)).toEqual(['ch_1', 'ch_2']);
  });
});

describe('an orphan is reported on one day only', () => {
  it('charges either side of midnight belong to the day of the first one', () => {
    const g = g1(undefined, [charge({ createdMs: at('2026-11-21T23:59:30Z') }), charge({ id: 'ch_2', createdMs: at('2026-11-22T00:00:30Z') })]);
    const ctx = { nowMs: at('2026-11-25T00:00:00Z'), graceMs: 0 };
    expect(classify(g, { ...ctx, window: dayWindow('2026-11-21', 'UTC') })?.category).toBe('ORPHAN_CHARGE');
    expect(classify(g, { ...ctx, window: dayWindow('2026-11-22', 'UTC') })).toBeNull();
  });
});
