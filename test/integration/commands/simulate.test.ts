// `flashsale simulate` end to end on the real services: the smoke sale, the negative control,
// bad scenarios, Ctrl-C.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scenarioFile, services, simulate, tmpOut } from '../../helpers/simulate.js';

const names = (r: { invariants: { name: string; ok: boolean }[] }) =>
  r.invariants.filter((i) => !i.ok).map((i) => i.name);

describe('simulate: the smoke scenario', () => {
  it('sells without oversell, loses no order or payment, and writes the report docs/design.md#reports promises', async () => {
    const { code, out, report } = await simulate([
      '--scenario',
      'scenarios/smoke.json',
      '--strategy',
      'lua',
      '--workers',
      '2',
    ]);
    expect(names(report)).toEqual([]);
    expect(code).toBe(0);
    expect(report).toMatchObject({
      ok: true,
      strategy: 'lua',
      mode: 'sync',
      stock: 150,
      oversold: 0,
      droppedArrivals: 0,
    });
    // smoke.json's own thresholds, evaluated and reported
    expect(report.thresholds).toEqual([
      { source: 'oversold==0', ok: true, value: 0 },
      { source: 'invariantsFailed==0', ok: true, value: 0 },
      { source: 'errors==0', ok: true, value: 0 },
    ]);
    for (const step of ['reserve', 'pay', 'endToEnd'])
      expect(Object.keys(report.latencyMs[step])).toEqual(expect.arrayContaining(['p50', 'p95', 'p99', 'max']));
    expect(report.sold).toBeGreaterThan(100);
    expect(report.counters.paid).toBe(report.sold > 0 ? report.counters.paid : 0);
    // bots were stopped by the rate limit; double clicks and retries were folded into one order
    expect(report.counters.rateLimited).toBeGreaterThan(0);
    expect(report.counters.botOrders).toBeLessThan(report.counters.botCalls / 2);
    expect(report.counters.duplicatesSuppressed).toBeGreaterThan(0);
    const orders = readFileSync(join(out, 'orders.csv'), 'utf8').trim().split('\n');
    expect(orders[0]).toBe(
      'order_id,transaction_id,reservation_id,click_id,sku,qty,user,amount_minor,currency,status,charge_id,created_at,updated_at',
    );
    expect(orders.length - 1).toBe(
      report.invariants.find((i: { name: string }) => i.name === 'orders = buyers') ? report.counters.orders : -1,
    );
    expect(new Set(orders.slice(1).map((l) => l.split(',')[3])).size).toBe(orders.length - 1);
    const faults = JSON.parse(readFileSync(join(out, 'provider-faults.json'), 'utf8'));
    expect(Array.isArray(faults)).toBe(true);
    expect(faults.length).toBeGreaterThan(0);
    expect(faults[0]).toMatchObject({ transaction_id: expect.any(String), expected: expect.any(String) });
  });

  it('catches naive overselling and exits 3 naming the SKU', async () => {
    const file = scenarioFile('smoke.json', (s) => {
      s.skus = { count: 1, stockEach: 20, priceMinor: 100, currency: 'EUR' };
      delete s.rateLimit;
      s.perUserLimit = 0;
      s.buyers = { users: 100000, abandonRate: 0, checkAvailability: false };
      s.traffic = { model: 'closed', buyers: 64, iterations: 1500 };
      s.payment = { timeoutMs: 500, retries: 1, backoffMs: 10 };
    });
    const { code, report, err } = await simulate(['--scenario', file, '--strategy', 'naive', '--workers', '2']);
    expect(code).toBe(3);
    expect(report.ok).toBe(false);
    expect(report.oversold).toBeGreaterThan(0);
    const broken = report.invariants.filter(
      (i: { name: string; ok: boolean }) => !i.ok && i.name.startsWith('no oversell'),
    );
    expect(broken.length).toBeGreaterThan(0);
    expect(broken[0].detail).toMatch(/^sku-1: .*oversold by \d+/);
    expect(err).toMatch(/no oversell.*FAIL/);
  });
});

describe('simulate refuses a bad scenario with exit 2 before starting anything', () => {
  it.each([
    [
      'an unknown field',
      (s: Record<string, any>) => (s.colour = 'red'),
      /smoke.json: \(top level\): expected only the fields documented in README.md, got unknown field\(s\) colour/,
    ],
    [
      'a bad traffic stage',
      (s: Record<string, any>) => (s.traffic.stages[0].durationMs = -5),
      /smoke.json: traffic.stages.0.durationMs: expected at least 0, got -5/,
    ],
  ])('%s', async (_n, change, message) => {
    const file = scenarioFile('smoke.json', change);
    const { code, err, out } = await simulate(['--scenario', file]);
    expect(code).toBe(2);
    expect(err).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });
  it('an unknown mode, and a scenario file that does not exist', async () => {
    expect((await simulate(['--mode', 'turbo'])).err).toMatch(/--mode: expected one of sync, async, both, got "turbo"/);
    const missing = await simulate(['--scenario', 'scenarios/nope.json']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/--scenario: cannot read scenarios\/nope.json: ENOENT/);
  });
});

/** A 30 s sale stopped by `signal` 4 s in: what the process printed, its exit code and its report. */
async function stoppedBy(signal: 'SIGINT' | 'SIGTERM') {
  const out = tmpOut();
  const file = scenarioFile('smoke.json', (s) => (s.traffic.stages[1].durationMs = 30_000));
  const child = spawn(process.execPath, [
    resolve('bin/flashsale.js'),
    'simulate',
    ...services,
    '--scenario',
    file,
    '--strategy',
    'lua',
    '--workers',
    '1',
    '--out',
    out,
    '--json',
  ]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  await new Promise((r) => setTimeout(r, 4_000));
  child.kill(signal);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  return { code, stdout, stderr, report: () => JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) };
}

describe('Ctrl-C during simulate', () => {
  it('stops the arrivals, judges what happened, writes a report marked interrupted and exits 130', async () => {
    const { code, stdout, report: read } = await stoppedBy('SIGINT');
    expect(code).toBe(130);
    const report = read();
    expect(report.interrupted).toBe(true);
    expect(report.counters.journeys).toBeGreaterThan(0);
    expect(report.counters.journeys).toBeLessThan(16_000);
    expect(names(report)).toEqual([]);
    expect(JSON.parse(stdout).interrupted).toBe(true);
  });
});

describe('SIGTERM during simulate', () => {
  it('drains like Ctrl-C: the report is written, marked interrupted, and the exit code is 143', async () => {
    const { code, stdout, stderr, report: read } = await stoppedBy('SIGTERM');
    expect(stderr).toMatch(/terminated: finishing what is in flight/);
    expect(code).toBe(143);
    const report = read();
    expect(report.interrupted).toBe(true);
    expect(report.counters.journeys).toBeGreaterThan(0);
    expect(report.counters.journeys).toBeLessThan(16_000);
    expect(names(report)).toEqual([]);
    expect(JSON.parse(stdout).interrupted).toBe(true);
  });
});

describe('simulate --shard with the closed model', () => {
  it('two shards of a 200-journey closed run take 100 journeys each, not 200', async () => {
    const file = scenarioFile('smoke.json', (s) => {
      s.traffic = { model: 'closed', buyers: 8, iterations: 200 };
      s.thresholds = {};
    });
    const runs = await Promise.all(
      ['0/2', '1/2'].map(async (shard) =>
        simulate(['--scenario', file, '--strategy', 'lua', '--workers', '2', '--shard', shard]),
      ),
    );
    for (const r of runs) {
      expect(names(r.report)).toEqual([]);
      expect(r.code).toBe(0);
      expect(r.report.counters.journeys).toBe(100);
    }
  }, 60_000);

  it('runs every iteration asked for when there are fewer buyers than worker threads', async () => {
    const file = scenarioFile('smoke.json', (s) => {
      s.traffic = { model: 'closed', buyers: 1, iterations: 200 };
      s.thresholds = {};
    });
    const r = await simulate(['--scenario', file, '--strategy', 'lua', '--workers', '4']);
    expect(names(r.report)).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.report.counters.journeys).toBe(200);
  }, 60_000);

  it('two shards of one buyer each, two workers each, still run 200 journeys between them', async () => {
    const file = scenarioFile('smoke.json', (s) => {
      s.traffic = { model: 'closed', buyers: 2, iterations: 200 };
      s.thresholds = {};
    });
    const runs = await Promise.all(
      ['0/2', '1/2'].map(async (shard) =>
        simulate(['--scenario', file, '--strategy', 'lua', '--workers', '2', '--shard', shard]),
      ),
    );
    expect(runs.map((r) => r.report.counters.journeys)).toEqual([100, 100]);
  }, 60_000);
});
