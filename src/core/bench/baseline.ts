// Bench baselines: a run's machine-normalised rates kept in a file, and a later run compared to
// them. The rate kept is successPerSec ÷ the calibration of the strategy's store ("efficiency"),
// so a slower machine does not read as a regression and a faster one does not hide one.
//
// successPerSec, not attemptsPerSec: a change that makes reserves fail fast (errors, conflicts,
// retries given up) raises attempts/s while buyers get less; successes are what a sale sells.
// Its blind spot is a run that sells out: then successes/s is capped by --stock, not by speed,
// so such rows are flagged.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import Table from 'cli-table3';
import chalk from 'chalk';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import type { Store } from '../strategies/types.js';
import type { Calibration, RunCalibration } from './calibrate.js';
import type { BenchConfig, StrategyBenchResult } from './types.js';
import type { BaselineComparison, BaselineRow } from '../documents/bench.js';

/** As the bench document keeps them (documents/bench.ts describes each field). */
export type { BaselineComparison, BaselineRow };

export const BASELINE_VERSION = 1;
/**
 * What --max-regression defaults to. Measured (README "Baselines"): back-to-back 3 s and 10 s
 * runs on the shared 2-core machine differ in efficiency by up to 25-57%; at 10% a third of
 * honest comparisons failed, at 30% none of the 10 s ones and none of lua's did.
 */
export const DEFAULT_MAX_REGRESSION = 0.3;

/** The part of the bench config that shapes the work each strategy is given. */
const WORKLOAD_FLAGS = {
  skus: '--skus',
  stock: '--stock',
  qty: '--qty',
  buyers: '--buyers',
  durationSec: '--duration',
  concurrency: '--concurrency',
  workers: '--workers',
  skew: '--skew',
  seed: '--seed',
  ttlMs: '--ttl',
  perUserLimit: '--per-user-limit',
  users: '--users',
  confirmRate: '--confirm-rate',
} as const;
type WorkloadKey = keyof typeof WORKLOAD_FLAGS;
export type Workload = Record<WorkloadKey, number | string | null>;

const storeSchema = z.enum(['redis', 'postgres']);
const rate = z.number().finite().nonnegative();
const baselineSchema = z.object({
  version: z.literal(BASELINE_VERSION),
  createdAt: z.string(),
  machine: z.object({ cpus: z.number(), node: z.string() }).passthrough(),
  config: z.object(
    Object.fromEntries(
      Object.keys(WORKLOAD_FLAGS).map((k) => [k, z.union([z.number(), z.string(), z.null()])]),
    ) as unknown as Record<WorkloadKey, z.ZodTypeAny>,
  ),
  calibration: z.object({ redisOpsPerSec: rate.positive().optional(), postgresOpsPerSec: rate.positive().optional() }),
  strategies: z.array(
    z.object({
      strategy: z.string(),
      store: storeSchema,
      successPerSec: rate,
      efficiency: rate,
      calibrationOpsPerSec: rate.optional(),
      soldOut: z.boolean().optional(),
    }),
  ),
});

export type BaselineFile = z.infer<typeof baselineSchema> & { config: Workload };
export type BaselineStrategy = BaselineFile['strategies'][number];

/** What a run needs from --baseline / --save-baseline / --max-regression, checked before any load. */
export interface BaselinePlan {
  compare?: { file: string; baseline: BaselineFile };
  save?: string;
  maxRegression: number;
}

/** "10%" or "0.1" → 0.1. */
export function parseMaxRegression(raw: unknown): number {
  const text = String(raw).trim();
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text);
  const value = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!m || !(value >= 0 && value < 1)) {
    throw new UsageError(
      `--max-regression: expected a drop as a percentage like 10% or a fraction like 0.1 (from 0 up to, not including, 100% / 1), got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

export function workloadOf(config: BenchConfig): Workload {
  const w = {} as Workload;
  for (const k of Object.keys(WORKLOAD_FLAGS) as WorkloadKey[])
    w[k] = (config[k] as number | string | undefined) ?? null;
  return w;
}

/** Parses a baseline file's text. `file` names it in every message. */
export function parseBaseline(text: string, file: string): BaselineFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(
      `--baseline ${file}: not JSON (${(err as Error).message})`,
      'make one with flashsale bench --save-baseline FILE',
    );
  }
  const version = (data as { version?: unknown } | null)?.version;
  if (version !== BASELINE_VERSION) {
    throw new UsageError(
      `--baseline ${file}: version ${JSON.stringify(version ?? null)} is not one this flashsale reads (it reads version ${BASELINE_VERSION})`,
      'save a new baseline with --save-baseline FILE',
    );
  }
  const parsed = baselineSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(
      `--baseline ${file}: field ${issue.path.join('.') || '(top)'}: ${issue.message}`,
      'save a new baseline with --save-baseline FILE',
    );
  }
  return parsed.data as BaselineFile;
}

/** Every workload difference, as "--stock 1000000 in the baseline, 1000 now". */
export function workloadDifferences(baseline: Workload, now: Workload): string[] {
  const show = (v: unknown) => (v === null ? 'unset' : String(v));
  return (Object.keys(WORKLOAD_FLAGS) as WorkloadKey[])
    .filter((k) => baseline[k] !== now[k])
    .map((k) => `${WORKLOAD_FLAGS[k]} ${show(baseline[k])} in the baseline, ${show(now[k])} now`);
}

/**
 * Validates the baseline options against `config` before any connection or load: a baseline
 * that cannot be read, is of another version or was made with another workload is refused.
 */
export function planBaselines(
  raw: { baseline?: unknown; saveBaseline?: unknown; maxRegression?: unknown },
  config: BenchConfig,
): BaselinePlan | undefined {
  if (raw.maxRegression !== undefined && raw.baseline === undefined) {
    throw new UsageError('--max-regression: only means something with --baseline FILE to compare against');
  }
  if (raw.baseline === undefined && raw.saveBaseline === undefined) return undefined;
  const plan: BaselinePlan = {
    maxRegression: raw.maxRegression === undefined ? DEFAULT_MAX_REGRESSION : parseMaxRegression(raw.maxRegression),
  };
  if (raw.baseline !== undefined) {
    const file = String(raw.baseline);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(
        `--baseline ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        'make one with flashsale bench --save-baseline FILE',
      );
    }
    const baseline = parseBaseline(text, file);
    const diff = workloadDifferences(baseline.config, workloadOf(config));
    if (diff.length > 0) {
      throw new UsageError(
        `--baseline ${file} was made with a different workload: ${diff.join('; ')}`,
        "run with the baseline's options (--workers defaults to the number of cores, so give it explicitly across machines), or save a new baseline with --save-baseline",
      );
    }
    plan.compare = { file, baseline };
  }
  if (raw.saveBaseline !== undefined) {
    const file = String(raw.saveBaseline);
    if (existsSync(file) && statSync(file).isDirectory())
      throw new UsageError(
        `--save-baseline ${file}: is a directory; give a file name, e.g. ${file.replace(/\/$/, '')}/baseline.json`,
      );
    let dir = dirname(resolve(file));
    while (!existsSync(dir)) dir = dirname(dir);
    if (!statSync(dir).isDirectory())
      throw new UsageError(`--save-baseline ${file}: ${dir} is a file, so the baseline cannot be written under it`);
    plan.save = file;
  }
  return plan;
}

export function calibrationOf(calibration: Calibration, store: Store): number | undefined {
  return store === 'redis' ? calibration.redisOpsPerSec : calibration.postgresOpsPerSec;
}

/** Stock ran out during the run: successes/s then measures --stock, not speed. */
function soldOut(r: StrategyBenchResult): boolean {
  return r.counters.soldOut > 0;
}

export function efficiencyOf(successPerSec: number, opsPerSec: number | undefined): number | undefined {
  return opsPerSec && opsPerSec > 0 ? Math.round((successPerSec / opsPerSec) * 1e6) / 1e6 : undefined;
}

/** The yardstick of one strategy: its own bracket, else its store's. */
function yardstick(
  calibration: Calibration & { strategies?: Record<string, number> },
  strategy: string,
  store: Store,
): number | undefined {
  return calibration.strategies?.[strategy] ?? calibrationOf(calibration, store);
}

export function buildBaseline(
  config: BenchConfig,
  calibration: RunCalibration,
  results: StrategyBenchResult[],
  now = new Date(),
): BaselineFile {
  const { strategies: _perStrategy, ...byStore } = calibration;
  return {
    version: BASELINE_VERSION,
    createdAt: now.toISOString(),
    machine: { cpus: availableParallelism(), node: process.version, cpuModel: cpus()[0]?.model ?? 'unknown' },
    config: workloadOf(config),
    calibration: byStore,
    strategies: results.flatMap((r) => {
      const calibrationOpsPerSec = yardstick(calibration, r.strategy, r.store);
      const efficiency = efficiencyOf(r.successPerSec, calibrationOpsPerSec);
      return efficiency === undefined
        ? []
        : [
            {
              strategy: r.strategy,
              store: r.store,
              successPerSec: r.successPerSec,
              efficiency,
              calibrationOpsPerSec,
              ...(soldOut(r) ? { soldOut: true } : {}),
            },
          ];
    }),
  };
}

/** Written to a temporary file beside the target and renamed over it: never half a baseline. */
export function saveBaseline(file: string, baseline: BaselineFile): string {
  const target = resolve(file);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, JSON.stringify(baseline, null, 2) + '\n');
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return target;
}

export interface CurrentRun {
  calibration: Calibration;
  /** calibrationOpsPerSec: the strategy's own yardstick; without it, its store's in `calibration`. */
  strategies: {
    strategy: string;
    store: Store;
    successPerSec: number;
    calibrationOpsPerSec?: number;
    soldOut?: boolean;
  }[];
}

/**
 * Pure: each strategy in both runs, delta = efficiency ÷ baseline efficiency − 1; a drop worse
 * than `maxRegression` is a regression. Strategies in only one of them are listed, not compared.
 */
export function compareBaseline(
  baseline: BaselineFile,
  now: CurrentRun,
  maxRegression: number,
  file = '',
): BaselineComparison {
  const rows: BaselineRow[] = [];
  const notCompared: { strategy: string; reason: string }[] = [];
  for (const cur of now.strategies) {
    const base = baseline.strategies.find((b) => b.strategy === cur.strategy);
    if (!base) {
      notCompared.push({ strategy: cur.strategy, reason: 'not in the baseline' });
      continue;
    }
    if (base.store !== cur.store) {
      notCompared.push({ strategy: cur.strategy, reason: `ran on ${base.store} in the baseline, ${cur.store} now` });
      continue;
    }
    const efficiency = efficiencyOf(
      cur.successPerSec,
      cur.calibrationOpsPerSec ?? calibrationOf(now.calibration, cur.store),
    );
    if (efficiency === undefined) {
      notCompared.push({ strategy: cur.strategy, reason: `no ${cur.store} calibration in this run` });
      continue;
    }
    if (!(base.efficiency > 0)) {
      notCompared.push({ strategy: cur.strategy, reason: 'no successes in the baseline to compare with' });
      continue;
    }
    const delta = Math.round((efficiency / base.efficiency - 1) * 1e4) / 1e4;
    const note =
      base.soldOut || cur.soldOut
        ? `sold out ${base.soldOut && cur.soldOut ? 'in both runs' : base.soldOut ? 'in the baseline' : 'now'}: success/s is capped by --stock; raise it`
        : undefined;
    rows.push({
      strategy: cur.strategy,
      store: cur.store,
      baselineEfficiency: base.efficiency,
      efficiency,
      baselineSuccessPerSec: base.successPerSec,
      successPerSec: cur.successPerSec,
      delta,
      ok: delta >= -maxRegression,
      ...(note ? { note } : {}),
    });
  }
  for (const base of baseline.strategies) {
    if (!now.strategies.some((c) => c.strategy === base.strategy))
      notCompared.push({ strategy: base.strategy, reason: 'not in this run' });
  }
  return {
    file,
    createdAt: baseline.createdAt,
    maxRegression,
    calibration: { baseline: baseline.calibration, now: now.calibration },
    rows,
    notCompared,
    ok: rows.every((r) => r.ok),
  };
}

/** The run's figures in the shape compareBaseline reads. */
export function currentRun(calibration: RunCalibration, results: StrategyBenchResult[]): CurrentRun {
  const { strategies: _perStrategy, ...byStore } = calibration;
  return {
    calibration: byStore,
    strategies: results.map((r) => ({
      strategy: r.strategy,
      store: r.store,
      successPerSec: r.successPerSec,
      calibrationOpsPerSec: yardstick(calibration, r.strategy, r.store),
      soldOut: soldOut(r),
    })),
  };
}

const pct = (x: number) => `${x > 0 ? '+' : x < 0 ? '−' : ''}${Math.abs(x * 100).toFixed(1)}%`;
const eff = (x: number) => x.toPrecision(3);
const perSec = (x: number | undefined) => (x === undefined ? '–' : `${Math.round(x).toLocaleString('en-US')}/s`);

export function renderBaselineComparison(c: BaselineComparison): string {
  const table = new Table({
    head: ['strategy', 'baseline eff.', 'now eff.', 'delta %', 'verdict'],
    style: { head: [], border: [] },
  });
  for (const r of c.rows)
    table.push([
      r.strategy,
      eff(r.baselineEfficiency),
      eff(r.efficiency),
      pct(r.delta),
      r.ok ? chalk.green('ok') : chalk.red('REGRESSION'),
    ]);
  const cal = (s: Store, key: keyof Calibration) =>
    c.calibration.baseline[key] !== undefined || c.calibration.now[key] !== undefined
      ? [`${s} ${perSec(c.calibration.baseline[key])} then, ${perSec(c.calibration.now[key])} now`]
      : [];
  const lines = [
    `baseline ${c.file} (${c.createdAt}), max regression ${(c.maxRegression * 100).toFixed(1).replace(/\.0$/, '')}%; efficiency = success/s ÷ calibration round trips/s (${[...cal('redis', 'redisOpsPerSec'), ...cal('postgres', 'postgresOpsPerSec')].join('; ')})`,
    c.rows.length > 0 ? table.toString() : chalk.yellow('no strategy ran in both the baseline and this run'),
  ];
  for (const r of c.rows) if (r.note) lines.push(chalk.yellow(`! ${r.strategy}: ${r.note}`));
  if (c.notCompared.length > 0)
    lines.push(`not compared: ${c.notCompared.map((n) => `${n.strategy} (${n.reason})`).join(', ')}`);
  const failed = c.rows.filter((r) => !r.ok);
  if (failed.length > 0)
    lines.push(
      chalk.red(
        `✗ regression beyond ${(c.maxRegression * 100).toFixed(1).replace(/\.0$/, '')}%: ${failed.map((r) => `${r.strategy} ${pct(r.delta)}`).join(', ')}`,
      ),
    );
  return lines.join('\n');
}
