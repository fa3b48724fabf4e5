// Every bundled scenario runs, and each shows the behaviour it exists for.
import { describe, expect, it } from 'vitest';
import { simulate } from '../../helpers/simulate.js';

const failed = (r: { invariants: { name: string; ok: boolean; detail: string }[] }) =>
  r.invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`);

describe('the bundled scenarios', () => {
  it('abandon-heavy: abandoned holds come back to stock during the sale and are sold again', async () => {
    const { code, report } = await simulate([
      '--scenario',
      'scenarios/abandon-heavy.json',
      '--strategy',
      'lua',
      '--workers',
      '2',
    ]);
    expect(failed(report)).toEqual([]);
    expect(code).toBe(0);
    // 80 units; 80% of holds are walked away from. Without expiry during the run at most the
    // first ~20% of 80 units could be sold; holds expiring every 1.5 s let later buyers take them.
    expect(report.counters.abandoned).toBeGreaterThan(80);
    expect(report.sold).toBeGreaterThan(40);
    expect(report.counters.orders).toBeGreaterThan(report.stock);
  });

  it('payment-chaos: timeouts and 5xx make neither a double charge nor a lost order, and the ground truth is written', async () => {
    const { code, report } = await simulate([
      '--scenario',
      'scenarios/payment-chaos.json',
      '--strategy',
      'atomic',
      '--workers',
      '2',
    ]);
    expect(failed(report)).toEqual([]);
    expect(code).toBe(0);
    expect(report.counters.paid).toBeGreaterThan(100);
    expect(report.counters.declined).toBeGreaterThan(0);
    const kinds = new Set(report.providerFaults.map((f: { kind: string }) => f.kind));
    for (const k of ['timeout', 'serverError', 'decline', 'duplicate', 'amountDrift']) expect(kinds).toContain(k);
    const expected = new Set(report.providerFaults.map((f: { expected: string }) => f.expected));
    for (const c of ['DUPLICATE_CHARGE', 'AMOUNT_MISMATCH', 'ORPHAN_CHARGE']) expect(expected).toContain(c);
  });

  it('multi-sku: zipf demand sells out the head SKUs first, without oversell', async () => {
    const { code, report } = await simulate([
      '--scenario',
      'scenarios/multi-sku.json',
      '--strategy',
      'lua',
      '--workers',
      '2',
    ]);
    expect(failed(report)).toEqual([]);
    expect(code).toBe(0);
    const bySku = Object.fromEntries(
      report.skus.map((s: { sku: string; sold: number; held: number }) => [s.sku, s.sold + s.held]),
    );
    expect(bySku['sku-01']).toBeGreaterThanOrEqual(bySku['sku-50']);
    expect(report.skus.filter((s: { remaining: number }) => s.remaining === 0).length).toBeGreaterThan(0);
  });

  it('black-friday: a 1/25 shard of the arrivals runs the same sale end to end', async () => {
    const { code, report } = await simulate([
      '--scenario',
      'scenarios/black-friday.json',
      '--shard',
      '3/25',
      '--workers',
      '2',
    ]);
    expect(failed(report)).toEqual([]);
    expect(code).toBe(0);
    expect(report.counters.journeys).toBeGreaterThan(3_500);
    expect(report.counters.journeys).toBeLessThanOrEqual(4_000);
    expect(report.oversold).toBe(0);
  });

  it("smoke over the http transport: the same sale through the engine's HTTP API", async () => {
    const { code, report } = await simulate([
      '--scenario',
      'scenarios/smoke.json',
      '--strategy',
      'lua',
      '--transport',
      'http',
      '--workers',
      '2',
    ]);
    expect(failed(report)).toEqual([]);
    expect(code).toBe(0);
    expect(report.transport).toBe('http');
    expect(report.counters.paid).toBeGreaterThan(50);
    expect(report.counters.errors).toBe(0);
  });
});

describe('the modes', () => {
  it('smoke in async mode (Redis Streams) passes every invariant', async () => {
    const { code, report } = await simulate([
      '--scenario',
      'scenarios/smoke.json',
      '--strategy',
      'lua',
      '--mode',
      'async',
      '--workers',
      '2',
    ]);
    expect(failed(report)).toEqual([]);
    expect(code).toBe(0);
    expect(report.mode).toBe('async');
    expect(report.counters.paid).toBeGreaterThan(50);
    expect(report.finality.final).toBeGreaterThan(0);
  });

  it('--mode both runs the sale twice and compares the designs with measured numbers', async () => {
    const { code, report, err, out } = await simulate([
      '--scenario',
      'scenarios/smoke.json',
      '--strategy',
      'atomic',
      '--mode',
      'both',
      '--workers',
      '2',
    ]);
    expect(code).toBe(0);
    expect(report.mode).toBe('both');
    expect(report.runs.map((r: { mode: string }) => r.mode)).toEqual(['sync', 'async']);
    for (const r of report.runs) expect(failed(r)).toEqual([]);
    expect(err).toMatch(/consistency \(invariants\)\s*│\s*all pass\s*│\s*all pass/);
    expect(err).toMatch(
      /time until an order is final p50 \/ p95 \/ max ms\s*│\s*\d+ \/ \d+ \/ \d+\s*│\s*\d+ \/ \d+ \/ \d+/,
    );
    const { existsSync } = await import('node:fs');
    for (const f of [
      'orders-sync.csv',
      'orders-async.csv',
      'provider-faults-sync.json',
      'provider-faults-async.json',
      'summary.json',
    ])
      expect(existsSync(`${out}/${f}`)).toBe(true);
  });
});

describe('simulate progress', () => {
  it('draws a live line on a terminal (buyers, rate, in flight, paid/stock, p99), and none in CI', async () => {
    const { main } = await import('../../../src/cli.js');
    const { captureIO } = await import('../../helpers/io.js');
    const { services, tmpOut } = await import('../../helpers/simulate.js');
    const tty = captureIO({ tty: true, ci: false });
    expect(await main(['simulate', ...services, '--out', tmpOut(), '--strategy', 'lua', '--workers', '1'], tty)).toBe(
      0,
    );
    const lines = tty.progressLines.filter(Boolean);
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.at(-1)).toMatch(
      /^\[smoke sync\] [\d,]+ buyers +[\d,]+\/s +in flight \d+ +paid \d+\/150 +reserve p99 [\d.]+ ms \(slowest worker\)/,
    );
    const ci = captureIO({ tty: true, ci: true });
    expect(await main(['simulate', ...services, '--out', tmpOut(), '--strategy', 'lua', '--workers', '1'], ci)).toBe(0);
    expect(ci.progressLines.filter(Boolean)).toEqual([]);
  });
});
