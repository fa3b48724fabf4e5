// --threshold and --junit on `flashsale simulate` and `flashsale bench`, end to end on the real services.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { DATABASE_URL, REDIS_URL } from '../../helpers/services.js';
import { captureIO } from '../../helpers/io.js';
import { readJUnit } from '../../helpers/junit.js';
import { scenarioFile, simulate, tmpOut } from '../../helpers/simulate.js';

const services = ['--redis-url', REDIS_URL, '--database-url', DATABASE_URL];
/** Nothing listens there: a command that got as far as connecting would exit 6, not 2. */
const deadServices = ['--redis-url', 'redis://127.0.0.1:1', '--database-url', 'postgres://postgres@127.0.0.1:1/none'];
const junitPath = () => join(mkdtempSync(join(tmpdir(), 'fs-junit-')), 'junit.xml');

interface Judged {
  source: string;
  ok: boolean;
  value: number;
}
async function run(args: string[]) {
  const io = captureIO();
  const code = await main(args, io);
  return { code, err: io.stderr.join('\n'), stdout: io.stdout.join('\n') };
}

describe('simulate with an impossible threshold on the smoke sale', () => {
  let r: Awaited<ReturnType<typeof simulate>>;
  const junit = junitPath();
  beforeAll(async () => {
    r = await simulate([
      '--scenario',
      'scenarios/smoke.json',
      '--strategy',
      'lua',
      '--workers',
      '1',
      '--threshold',
      'reserve.p99<0.001',
      '--junit',
      junit,
    ]);
  });

  it('exits 4, with every invariant held', () => {
    expect(r.err).not.toMatch(/internal error/);
    expect(r.report.ok).toBe(true);
    expect(r.code).toBe(4);
  });

  it('still writes the report dir, whose summary.json holds that threshold failed with its measured value', () => {
    const summary = JSON.parse(readFileSync(join(r.out, 'summary.json'), 'utf8'));
    const failed = summary.thresholds.find((t: Judged) => t.source === 'reserve.p99<0.001');
    expect(failed).toEqual({ source: 'reserve.p99<0.001', ok: false, value: summary.latencyMs.reserve.p99 });
    expect(failed.value).toBeGreaterThan(0.001);
    expect(existsSync(join(r.out, 'orders.csv'))).toBe(true);
  });

  it("judges the scenario's own thresholds next to the command line's, and they pass", () => {
    expect(r.report.thresholds.map((t: Judged) => [t.source, t.ok])).toEqual([
      ['oversold==0', true],
      ['invariantsFailed==0', true],
      ['errors==0', true],
      ['reserve.p99<0.001', false],
    ]);
  });

  it('prints the thresholds table with the failed one marked FAIL', () => {
    expect(r.err).toMatch(/reserve\.p99<0\.001 +│ [\d.]+ +│ FAIL/);
    expect(r.err).toMatch(/oversold==0 +│ 0 +│ ok/);
  });

  it('writes a JUnit file that parses, whose failures are the failed thresholds plus the failed invariants', () => {
    const doc = readJUnit(junit);
    const failedThresholds = r.report.thresholds.filter((t: Judged) => !t.ok).length;
    const failedInvariants = r.report.invariants.filter((i: { ok: boolean }) => !i.ok).length;
    // and one case for the run's validity (docs/design.md#run-validity)
    const invalid = r.report.valid ? 0 : 1;
    expect(doc.failures).toBe(failedThresholds + failedInvariants + invalid);
    expect(doc.tests).toBe(r.report.thresholds.length + r.report.invariants.length + 1);
    expect(doc.suites).toHaveLength(1);
    const cases = doc.suites[0].testcase;
    expect(cases.find((c) => c.name === 'reserve.p99<0.001')?.failure?.message).toBe(
      `reserve.p99<0.001 failed: measured ${r.report.thresholds[3].value}`,
    );
    expect(cases.find((c) => c.name === 'no oversell')?.failure).toBeUndefined();
    expect(cases.find((c) => c.name === 'run validity')?.failure?.message).toBe(
      r.report.valid ? undefined : r.report.validity.reasons.join('; '),
    );
  });
});

describe('a threshold that cannot be judged stops the command with exit 2 before any load', () => {
  it('an unknown metric on simulate: no out dir, and the message lists the known metric names', async () => {
    const out = tmpOut();
    const r = await run([
      'simulate',
      ...deadServices,
      '--out',
      out,
      '--threshold',
      'oversold==0',
      '--threshold',
      'reserve.p42<5',
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /--threshold: unknown metric "reserve.p42" in "reserve.p42<5"; known simulate metrics: reserve.p50, .*pay.p99, .*endToEnd.max, .*oversold, droppedArrivals, attemptsPerSec, successPerSec, successRate, errors, droppedRate, errorRate, payFailedRate, stuckOrders, invariantsFailed/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a malformed expression on bench', async () => {
    const out = tmpOut();
    const r = await run([
      'bench',
      ...deadServices,
      '--strategy',
      'atomic',
      '--out',
      out,
      '--threshold',
      'latency.p99 < fast',
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--threshold: expected a condition: .* after "latency.p99", got "latency.p99 < fast"/);
    expect(existsSync(out)).toBe(false);
  });

  it('an unknown metric in the scenario file, naming thresholds.<metric>', async () => {
    const file = scenarioFile(
      'smoke.json',
      (s) => (s.thresholds = { 'reserve.p99': ['<500'], 'checkout.p99': ['<50'] }),
    );
    const out = tmpOut();
    const r = await run(['simulate', ...deadServices, '--scenario', file, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /smoke.json: thresholds.checkout.p99: unknown metric "checkout.p99"; known simulate metrics: reserve.p50/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a --junit path that is a directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fs-junit-'));
    const out = tmpOut();
    const r = await run(['bench', ...deadServices, '--strategy', 'atomic', '--out', out, '--junit', dir]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--junit: expected a file path, got .*, which is a directory/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('bench judges every threshold per strategy', () => {
  it('atomic with one threshold it meets and one it cannot: exit 4, one ok and one failed, in the JSON, the report and the JUnit file', async () => {
    const out = tmpOut();
    const junit = junitPath();
    const r = await run([
      'bench',
      ...services,
      '--strategy',
      'atomic',
      '--buyers',
      '500',
      '--stock',
      '100',
      '--workers',
      '1',
      '--json',
      '--out',
      out,
      '--junit',
      junit,
      '--threshold',
      'oversold==0',
      '--threshold',
      'latency.p99<0.0001',
    ]);
    expect(r.err).not.toMatch(/internal error/);
    expect(r.code).toBe(4);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    const [atomic] = report.strategies;
    expect(atomic.thresholds).toEqual([
      { source: 'oversold==0', ok: true, value: 0 },
      { source: 'latency.p99<0.0001', ok: false, value: atomic.latencyMs.p99 },
    ]);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).strategies[0].thresholds).toEqual(
      atomic.thresholds,
    );
    expect(readFileSync(join(out, 'summary.txt'), 'utf8')).toMatch(/latency\.p99<0\.0001 +│ [\d.]+ +│ FAIL/);

    const doc = readJUnit(junit);
    expect(doc.suites.map((s) => [s.name, s.failures])).toEqual([['bench atomic', '1']]);
    expect(doc.failures).toBe(1 + atomic.invariants.filter((i: { ok: boolean }) => !i.ok).length);
    expect(doc.suites[0].testcase.map((c) => c.name)).toEqual([
      ...atomic.invariants.map((i: { name: string }) => i.name),
      'oversold==0',
      'latency.p99<0.0001',
    ]);
  });

  it('an invariant failure outranks a failed threshold: naive overselling exits 3, with oversold==0 failed beside it', async () => {
    const out = tmpOut();
    const r = await run([
      'bench',
      ...services,
      '--strategy',
      'naive',
      '--workers',
      '2',
      '--json',
      '--out',
      out,
      '--threshold',
      'oversold==0',
    ]);
    expect(r.code).toBe(3);
    const [naive] = JSON.parse(r.stdout).strategies;
    expect(naive.oversold).toBeGreaterThan(0);
    expect(naive.thresholds).toEqual([{ source: 'oversold==0', ok: false, value: naive.oversold }]);
  });
});
