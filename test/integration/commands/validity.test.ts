// Run validity (docs/design.md#run-validity): the deep-stock sale, where most arrivals reserve and
// pay, asked for far more than this machine can start is INVALID (exit 4) with its numbers; the
// same sale at a rate it can take passes. Both bounded: 2 s and 4 s of arrivals, pays within 1 s.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJUnit } from '../../helpers/junit.js';
import { scenarioFile, simulate, tmpOut } from '../../helpers/simulate.js';

const deepStock = (target: number, durationMs: number) =>
  scenarioFile('deep-stock.json', (s) => {
    s.traffic.stages = [{ durationMs, target }];
    s.buyers.payAfterMs = { min: 200, max: 1_000 };
  });

describe('run validity', () => {
  it('a run that dropped most of its arrivals is INVALID, exit 4, saying why first; the report and JUnit say so too', async () => {
    const junit = join(tmpOut(), 'junit.xml');
    const { code, report, err, out } = await simulate([
      '--scenario',
      deepStock(20_000, 2_000),
      '--strategy',
      'lua',
      '--junit',
      junit,
    ]);
    expect(code).toBe(4);
    // Nothing is broken: the run simply did not deliver the load it was asked for.
    expect(report.ok).toBe(true);
    expect(report.valid).toBe(false);
    expect(report.validity.reasons[0]).toMatch(/^\d+% of arrivals dropped \(\d+ of 20000\)/);
    expect(report.droppedArrivals).toBeGreaterThan(200);
    // The first line of the run's output (after its announcement, if any) is the verdict, with the numbers.
    const lines = err.split('\n').filter((l) => !l.startsWith('simulate deep-stock'));
    expect(lines[0]).toBe(`INVALID (sync): ${report.validity.reasons.join('; ')}`);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).valid).toBe(false);
    const cases = readJUnit(junit).suites[0].testcase;
    expect(cases.find((c) => c.name === 'run validity')?.failure?.message).toBe(report.validity.reasons.join('; '));
  });

  it('the same sale at a rate this machine can take is valid: exit 0', async () => {
    const { code, report } = await simulate(['--scenario', deepStock(400, 4_000), '--strategy', 'lua']);
    expect(report.validity).toEqual({ reasons: [], relaxed: [] });
    expect(report.valid).toBe(true);
    expect(code).toBe(0);
    expect(report.counters.paid).toBeGreaterThan(300);
  });
  // Relaxing a limit with a threshold on its metric: test/unit/core/simulate/validity.test.ts, and end to end
  // in faults.test.ts (the provider killed mid-sale).
});
