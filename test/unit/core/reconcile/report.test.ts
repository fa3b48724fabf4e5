// reconcile: the summary and the report files.
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dayWindow } from '../../../../src/core/reconcile/day.js';
import { breakId, classify } from '../../../../src/core/reconcile/match.js';
import { MISMATCH_COLUMNS, openReportWriter, Summary } from '../../../../src/core/reconcile/report.js';
import type { MismatchRow, ReconCategory } from '../../../../src/core/reconcile/types.js';
import { charge } from '../../../helpers/reconcile.js';

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
    {
      name: 'matched and pending only is reconciled',
      adds: ['MATCHED', 'PENDING'],
      incomplete: false,
      verdict: 'RECONCILED',
    },
    {
      name: 'one settlement on another day is a break',
      adds: ['MATCHED', 'SETTLED_OTHER_DAY'],
      incomplete: false,
      verdict: 'BREAKS',
    },
    { name: 'one orphan is a break', adds: ['ORPHAN_CHARGE'], incomplete: false, verdict: 'BREAKS' },
    {
      name: 'an incomplete read is incomplete even with breaks',
      adds: ['ORPHAN_CHARGE'],
      incomplete: true,
      verdict: 'INCOMPLETE',
    },
    {
      name: 'an incomplete read is incomplete even when all matched',
      adds: ['MATCHED'],
      incomplete: true,
      verdict: 'INCOMPLETE',
    },
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
    row('t1', {
      category: 'DUPLICATE_CHARGE',
      provider_charge_ids: ['ch_1', 'ch_2'],
      delta_minor: 500,
      order_id: '+1',
      provider_status: 'succeeded',
      suggested_action: 'refund_duplicates',
    }),
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
    return w.finish({
      date: '2026-11-21',
      tz: 'UTC',
      window: { start: '2026-11-21T00:00:00.000Z', end: '2026-11-22T00:00:00.000Z' },
      verdict: s.verdict(false),
      summary: s.lines(),
    });
  }

  it('writes byte-identical files for the same rows twice', async () => {
    const base = scratch();
    const a = await write(join(base, 'a'), rows);
    const b = await write(join(base, 'b'), rows);
    for (const f of ['mismatches.csv', 'mismatches.json'])
      expect(readFileSync(join(a, f), 'utf8')).toBe(readFileSync(join(b, f), 'utf8'));
    expect(readdirSync(a).sort()).toEqual(['mismatches.csv', 'mismatches.json']);
  });

  it('heads the CSV with the row keys in declaration order', async () => {
    const w = dayWindow('2026-11-21', 'UTC');
    const classified = classify(
      { transactionId: 't1', charges: [charge()] },
      { window: w, nowMs: w.endMs, graceMs: 0 },
    )!;
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
    expect(JSON.parse(readFileSync(join(dir, 'mismatches.json'), 'utf8'))).toMatchObject({
      verdict: 'RECONCILED',
      summary: [],
      mismatches: [],
    });
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
    await expect(w.add(row('a'))).rejects.toThrow(
      'report rows must arrive in transaction-id order: "a" came after "b"',
    );
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
    const dir = await w.finish({
      date: '2026-11-21',
      tz: 'UTC',
      window: { start: 'a', end: 'b' },
      verdict: s.verdict(false),
      summary: s.lines(),
    });
    const csvLines = readFileSync(join(dir, 'mismatches.csv'), 'utf8').trimEnd().split('\n');
    expect(csvLines).toHaveLength(n + 1);
    expect(csvLines.at(-1)).toContain(',t0049999,');
    const doc = JSON.parse(readFileSync(join(dir, 'mismatches.json'), 'utf8'));
    expect(doc.mismatches).toHaveLength(n);
    expect(doc.summary).toEqual([
      { category: 'MISSING_AT_PROVIDER', currency: 'EUR', count: n, netMinor: -500 * n, grossMinor: 500 * n },
    ]);
  });
});
