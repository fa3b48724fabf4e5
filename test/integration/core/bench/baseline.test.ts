// Bench baselines: the pure comparison, the file's validation, and a round trip through the
// command on the real services.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../../src/cli.js';
import { benchConfig } from '../../../../src/commands/bench.js';
import {
  BASELINE_VERSION,
  DEFAULT_MAX_REGRESSION,
  compareBaseline,
  parseBaseline,
  parseMaxRegression,
  planBaselines,
  workloadOf,
  type BaselineFile,
  type CurrentRun,
} from '../../../../src/core/bench/baseline.js';
import { CalibrationBracket } from '../../../../src/core/bench/calibrate.js';
import type { Store } from '../../../../src/core/strategies/index.js';
import { DATABASE_URL, REDIS_URL } from '../../../helpers/services.js';
import { captureIO } from '../../../helpers/io.js';

const dir = () => mkdtempSync(join(tmpdir(), 'fs-baseline-'));

/** A baseline of lua (Redis) and atomic (Postgres) made on a machine with the given round trips. */
function baselineOf(
  strategies: { strategy: string; store: 'redis' | 'postgres'; successPerSec: number }[],
  calibration = { redisOpsPerSec: 100_000, postgresOpsPerSec: 20_000 },
): BaselineFile {
  return {
    version: BASELINE_VERSION,
    createdAt: '2026-01-01T00:00:00.000Z',
    machine: { cpus: 2, node: 'v20.0.0' },
    config: workloadOf(
      benchConfig({ strategy: 'lua,atomic', stock: '1000000', duration: '3', concurrency: '16', workers: '2' }),
    ),
    calibration,
    strategies: strategies.map((s) => ({
      ...s,
      efficiency: s.successPerSec / (s.store === 'redis' ? calibration.redisOpsPerSec : calibration.postgresOpsPerSec),
    })),
  };
}

const base = baselineOf([
  { strategy: 'lua', store: 'redis', successPerSec: 30_000 },
  { strategy: 'atomic', store: 'postgres', successPerSec: 1_000 },
]);

function now(
  strategies: CurrentRun['strategies'],
  calibration = { redisOpsPerSec: 100_000, postgresOpsPerSec: 20_000 },
): CurrentRun {
  return { calibration, strategies };
}

describe('compareBaseline judges each strategy by efficiency (success/s ÷ calibration)', () => {
  it.each([
    ['a 5% drop passes at 10%', 28_500, 0.1, true, -0.05],
    ['a 15% drop fails at 10%', 25_500, 0.1, false, -0.15],
    ['a drop of exactly the tolerance passes', 27_000, 0.1, true, -0.1],
    ['a 15% drop passes at 20%', 25_500, 0.2, true, -0.15],
    ['any drop fails at 0%', 29_970, 0, false, -0.001],
    ['a gain passes', 36_000, 0.1, true, 0.2],
  ])('%s', (_name, luaPerSec, maxRegression, ok, delta) => {
    const c = compareBaseline(
      base,
      now([{ strategy: 'lua', store: 'redis', successPerSec: luaPerSec }]),
      maxRegression,
    );
    expect(c.rows).toHaveLength(1);
    expect(c.rows[0].delta).toBeCloseTo(delta, 4);
    expect(c.rows[0].ok).toBe(ok);
    expect(c.ok).toBe(ok);
  });

  it('half the raw rate on a machine with half the round trips is no regression', () => {
    const c = compareBaseline(
      base,
      now([{ strategy: 'lua', store: 'redis', successPerSec: 15_000 }], {
        redisOpsPerSec: 50_000,
        postgresOpsPerSec: 10_000,
      }),
      0.1,
    );
    expect(c.rows[0]).toMatchObject({ ok: true, delta: 0 });
  });

  it('the same raw rate on a machine with twice the round trips is a 50% regression', () => {
    const c = compareBaseline(
      base,
      now([{ strategy: 'lua', store: 'redis', successPerSec: 30_000 }], {
        redisOpsPerSec: 200_000,
        postgresOpsPerSec: 20_000,
      }),
      0.1,
    );
    expect(c.rows[0]).toMatchObject({ ok: false, delta: -0.5 });
  });

  it('each store is normalised by its own calibration', () => {
    // Redis got twice as fast, Postgres did not: atomic's unchanged rate stays unchanged.
    const c = compareBaseline(
      base,
      now([{ strategy: 'atomic', store: 'postgres', successPerSec: 1_000 }], {
        redisOpsPerSec: 200_000,
        postgresOpsPerSec: 20_000,
      }),
      0.1,
    );
    expect(c.rows[0]).toMatchObject({ strategy: 'atomic', ok: true, delta: 0 });
  });

  it('strategies in only one of the runs are reported as not compared, and do not fail it', () => {
    const c = compareBaseline(
      base,
      now([
        { strategy: 'lua', store: 'redis', successPerSec: 30_000 },
        { strategy: 'list', store: 'redis', successPerSec: 1 },
      ]),
      0.1,
    );
    expect(c.rows.map((r) => r.strategy)).toEqual(['lua']);
    expect(c.notCompared).toEqual([
      { strategy: 'list', reason: 'not in the baseline' },
      { strategy: 'atomic', reason: 'not in this run' },
    ]);
    expect(c.ok).toBe(true);
  });

  it('a strategy that ran on another store (naive --naive-store) is not compared', () => {
    const b = baselineOf([{ strategy: 'naive', store: 'postgres', successPerSec: 500 }]);
    const c = compareBaseline(b, now([{ strategy: 'naive', store: 'redis', successPerSec: 1 }]), 0.1);
    expect(c.rows).toEqual([]);
    expect(c.notCompared).toEqual([{ strategy: 'naive', reason: 'ran on postgres in the baseline, redis now' }]);
  });

  it('a sold-out run is flagged: its success/s measures --stock, not speed', () => {
    const c = compareBaseline(
      base,
      now([{ strategy: 'lua', store: 'redis', successPerSec: 30_000, soldOut: true }]),
      0.1,
    );
    expect(c.rows[0].note).toMatch(/sold out now: success\/s is capped by --stock/);
  });
});

describe('--max-regression accepts 10% or 0.1 and names itself otherwise', () => {
  it.each([
    ['10%', 0.1],
    ['0.1', 0.1],
    ['12.5%', 0.125],
    ['0', 0],
  ])('%s → %s', (text, value) => {
    expect(parseMaxRegression(text)).toBeCloseTo(value, 10);
  });

  it.each(['10', '100%', '-5%', 'ten', '1.5', ''])('"%s" is refused', (text) => {
    expect(() => parseMaxRegression(text)).toThrow(
      /--max-regression: expected a drop as a percentage like 10% or a fraction like 0\.1/,
    );
  });
});

describe('a baseline file is refused unless it is readable, version 1 and of the same workload', () => {
  it.each([
    [
      'a file of another version',
      JSON.stringify({ ...base, version: 2 }),
      /version 2 is not one this flashsale reads \(it reads version 1\)/,
    ],
    [
      'a file with no version',
      JSON.stringify({ ...base, version: undefined }),
      /version null is not one this flashsale reads/,
    ],
    ['a file that is not JSON', '{"version": 1,', /not JSON/],
    [
      "a file missing a strategy's efficiency",
      JSON.stringify({ ...base, strategies: [{ strategy: 'lua', store: 'redis', successPerSec: 1 }] }),
      /field strategies\.0\.efficiency: Required/,
    ],
  ])('%s', (_name, text, message) => {
    expect(() => parseBaseline(text, 'b.json')).toThrow(message);
  });

  const config = benchConfig({
    strategy: 'lua,atomic',
    stock: '1000000',
    duration: '3',
    concurrency: '16',
    workers: '2',
  });
  const write = (b: unknown) => {
    const file = join(dir(), 'b.json');
    writeFileSync(file, JSON.stringify(b));
    return file;
  };

  it('an unreadable file, naming it', () => {
    expect(() => planBaselines({ baseline: '/nonexistent/b.json' }, config)).toThrow(
      /--baseline \/nonexistent\/b\.json: cannot be read \(ENOENT\)/,
    );
  });

  it('another workload, naming every option that differs', () => {
    const other = benchConfig({ strategy: 'lua', stock: '5000', duration: '3', concurrency: '16', workers: '1' });
    expect(() => planBaselines({ baseline: write(base) }, other)).toThrow(
      /different workload: --stock 1000000 in the baseline, 5000 now; --workers 2 in the baseline, 1 now$/,
    );
  });

  it('another strategy set is fine: only the workload has to match', () => {
    const luaOnly = benchConfig({ strategy: 'lua', stock: '1000000', duration: '3', concurrency: '16', workers: '2' });
    expect(planBaselines({ baseline: write(base) }, luaOnly)?.compare?.baseline.strategies).toHaveLength(2);
  });

  it('--max-regression without --baseline', () => {
    expect(() => planBaselines({ maxRegression: '10%' }, config)).toThrow(
      /--max-regression: only means something with --baseline FILE/,
    );
  });

  it('--save-baseline naming a directory', () => {
    expect(() => planBaselines({ saveBaseline: dir() }, config)).toThrow(/--save-baseline .*: is a directory/);
  });
});

describe('the calibration brackets each strategy', () => {
  const storeOf = (s: string): Store => (s === 'atomic' || s === 'optimistic' ? 'postgres' : 'redis');
  /** A fake machine whose round trips/s are read off a list, one per measurement. */
  function machine(rates: number[]) {
    const measured: Store[] = [];
    const bracket = new CalibrationBracket(storeOf, async (store) => {
      measured.push(store);
      const next = rates.shift();
      if (next === undefined) throw new Error('measured more often than expected');
      return next;
    });
    return { bracket, measured };
  }
  const run = async (bracket: CalibrationBracket, strategies: ('lua' | 'decr' | 'atomic' | 'optimistic')[]) => {
    for (const s of strategies) {
      await bracket.beforeStrategy(s);
      await bracket.afterStrategy({ strategy: s, store: storeOf(s) });
    }
  };

  it('each strategy gets the mean of its store measured right before and right after it', async () => {
    const { bracket } = machine([100, 60, 20, 40]);
    await run(bracket, ['lua', 'atomic']);
    expect(bracket.result()).toEqual({
      strategies: { lua: 80, atomic: 30 },
      redisOpsPerSec: 80,
      postgresOpsPerSec: 30,
    });
  });

  it('the measurement after one strategy is reused before the next on the same store', async () => {
    const { bracket, measured } = machine([100, 60, 50, 20, 40, 30]);
    await run(bracket, ['lua', 'decr', 'atomic', 'optimistic']);
    expect(measured).toEqual(['redis', 'redis', 'redis', 'postgres', 'postgres', 'postgres']);
    expect(bracket.result()).toEqual({
      strategies: { lua: 80, decr: 55, atomic: 30, optimistic: 35 },
      redisOpsPerSec: 68,
      postgresOpsPerSec: 33,
    });
  });

  it('a store is measured again when another store ran in between', async () => {
    const { bracket, measured } = machine([100, 60, 20, 40, 90, 70]);
    await run(bracket, ['lua', 'atomic', 'decr']);
    expect(measured).toEqual(['redis', 'redis', 'postgres', 'postgres', 'redis', 'redis']);
    expect(bracket.result().strategies).toEqual({ lua: 80, atomic: 30, decr: 80 });
  });
});

it("compareBaseline prefers a strategy's own bracket to its store's mean", () => {
  const c = compareBaseline(
    base,
    now([{ strategy: 'lua', store: 'redis', successPerSec: 15_000, calibrationOpsPerSec: 50_000 }]),
    0.1,
  );
  expect(c.rows[0]).toMatchObject({ efficiency: 0.3, delta: 0, ok: true });
});

// The command, on the real services. Short runs: atomic alone, 1 s, one worker thread.
const services = ['--redis-url', REDIS_URL, '--database-url', DATABASE_URL];
const workload = [
  '--strategy',
  'atomic',
  '--stock',
  '1000000',
  '--duration',
  '1',
  '--concurrency',
  '8',
  '--workers',
  '1',
];

async function bench(args: string[]) {
  const io = captureIO();
  const out = join(dir(), 'out');
  const code = await main(['bench', ...services, '--out', out, '--json', ...args], io);
  return { code, out, err: io.stderr.join('\n'), stdout: io.stdout.join('\n') };
}

describe('bench --baseline refuses a bad baseline with exit 2 before any load', () => {
  it.each([
    ['a missing file', () => '/nonexistent/baseline.json', /--baseline \/nonexistent\/baseline\.json: cannot be read/],
    [
      'another version',
      () => {
        const f = join(dir(), 'b.json');
        writeFileSync(f, JSON.stringify({ ...base, version: 7 }));
        return f;
      },
      /version 7 is not one this flashsale reads/,
    ],
    [
      'another workload',
      () => {
        const f = join(dir(), 'b.json');
        writeFileSync(f, JSON.stringify(base));
        return f;
      },
      /different workload: --duration 3 in the baseline, 1 now; --concurrency 16 in the baseline, 8 now; --workers 2 in the baseline, 1 now/,
    ],
  ])('%s', async (_name, file, message) => {
    const r = await bench([...workload, '--baseline', file()]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(existsSync(r.out)).toBe(false);
  });

  it('a bad --max-regression', async () => {
    const f = join(dir(), 'b.json');
    const r = await bench([...workload, '--baseline', f, '--max-regression', '10']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /--max-regression: expected a drop as a percentage like 10% or a fraction like 0\.1 .*got "10"/,
    );
    expect(existsSync(r.out)).toBe(false);
  });
});

describe('a baseline round trip on one machine', () => {
  let file: string;
  let saved: BaselineFile;
  let savedRun: { strategies: { successPerSec: number }[] };

  beforeAll(async () => {
    file = join(dir(), 'nested', 'baseline.json');
    const r = await bench([...workload, '--save-baseline', file]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`baseline saved: ${file}`);
    saved = JSON.parse(readFileSync(file, 'utf8')) as BaselineFile;
    savedRun = JSON.parse(r.stdout);
  }, 20_000);

  it('saves version 1 with this workload, a calibration of Postgres only and efficiency = success/s ÷ calibration', () => {
    expect(saved.version).toBe(1);
    expect(saved.config).toMatchObject({ stock: 1_000_000, durationSec: 1, concurrency: 8, workers: 1, buyers: null });
    expect(saved.calibration.postgresOpsPerSec).toBeGreaterThan(0);
    expect(saved.calibration.redisOpsPerSec).toBeUndefined();
    expect(saved.strategies).toHaveLength(1);
    const [s] = saved.strategies;
    expect(s).toMatchObject({
      strategy: 'atomic',
      store: 'postgres',
      successPerSec: savedRun.strategies[0].successPerSec,
    });
    expect(s.successPerSec).toBeGreaterThan(0);
    expect(s.calibrationOpsPerSec).toBe(saved.calibration.postgresOpsPerSec);
    expect(s.efficiency).toBeCloseTo(s.successPerSec / s.calibrationOpsPerSec!, 5);
  });

  it('compared with itself on the same machine → exit 0, an ok row in the table and the JSON', async () => {
    // The tolerance is wide on purpose: this test checks the mechanism, and test files run in
    // parallel on a shared 2-core machine (README "Baselines" has the measured noise).
    const r = await bench([...workload, '--baseline', file, '--max-regression', '90%']);
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.baseline).toMatchObject({ file, maxRegression: 0.9, ok: true, notCompared: [] });
    expect(report.baseline.calibration.baseline).toEqual(saved.calibration);
    expect(report.baseline.rows).toHaveLength(1);
    expect(report.baseline.rows[0]).toMatchObject({
      strategy: 'atomic',
      baselineEfficiency: saved.strategies[0].efficiency,
      ok: true,
    });
    expect(r.err).toMatch(/│ atomic\s+│ [\d.e-]+\s+│ [\d.e-]+\s+│ [+−]?\d+\.\d%\s+│ ok/);
  }, 20_000);

  it('against a baseline whose efficiency was 10× better → exit 4 after the report, with the REGRESSION row', async () => {
    // As if the baseline machine-normalised rate had been far better: the strategy is "slowed"
    // relative to it. 10×, not 3×: a shared machine's noise can exceed 2× between runs.
    const better = { ...saved, strategies: saved.strategies.map((s) => ({ ...s, efficiency: s.efficiency * 10 })) };
    const f = join(dir(), 'better.json');
    writeFileSync(f, JSON.stringify(better));
    const junit = join(dir(), 'junit.xml');
    const r = await bench([...workload, '--baseline', f, '--junit', junit]);
    expect(r.code).toBe(4);
    // the regression is a failed test case where CI looks
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(
      /<testcase name="no regression beyond 30%" classname="bench\.atomic\.baseline"[^>]*>\s*<failure[^>]*type="regression"/,
    );
    expect(r.err).toMatch(/│ atomic\s+│ [\d.e-]+\s+│ [\d.e-]+\s+│ −\d+\.\d%\s+│ REGRESSION/);
    expect(r.err).toMatch(/✗ regression beyond 30%: atomic −\d+\.\d%/);
    const report = JSON.parse(readFileSync(join(r.out, 'summary.json'), 'utf8'));
    expect(report.baseline.maxRegression).toBe(DEFAULT_MAX_REGRESSION);
    expect(report.baseline.rows[0]).toMatchObject({ strategy: 'atomic', ok: false });
    expect(report.baseline.rows[0].delta).toBeLessThan(-0.1);
  }, 20_000);
});
