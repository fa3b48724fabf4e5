// The bench use case: a validated workload → each strategy run on its store (bracketed by a
// calibration when baselines are asked for) → invariants, thresholds and the baseline judged →
// the bench document, written with its files. The command only parses flags and prints.
import { ExitCode, UsageError } from '../errors.js';
import { onInterrupt, StopFlag } from '../interrupt.js';
import { defaultOutDir, writeReport } from '../output.js';
import { checkOutDir } from '../out-dir.js';
import { runBench, type Progress } from '../bench/run.js';
import { renderBenchNotes, renderBenchTable, renderReference } from '../bench/render.js';
import { runReference } from '../bench/reference.js';
import type { BenchConfig } from '../bench/types.js';
import { resolveServices } from '../services/resolve.js';
import { storeOf } from '../strategies/index.js';
import { evaluateThresholds, parseThresholds, renderThresholds } from '../thresholds.js';
import { BENCH_METRICS } from '../bench/metrics.js';
import type { BenchDocument } from '../documents/bench.js';
import { checkJUnitTarget, junitCases, renderJUnit, writeFileAtomic, type JUnitCase } from '../junit.js';
import { renderHtml } from '../report/html.js';
import {
  buildBaseline,
  compareBaseline,
  currentRun,
  planBaselines,
  renderBaselineComparison,
  saveBaseline,
  type BaselineComparison,
} from '../bench/baseline.js';
import { CalibrationBracket } from '../bench/calibrate.js';

export interface BenchRequest {
  config: BenchConfig;
  redisUrl?: string;
  redisCluster?: string[];
  databaseUrl?: string;
  /** Also run redis-benchmark and pgbench on the same script / statement. */
  reference: boolean;
  thresholds: string[];
  junit?: string;
  baseline?: string;
  saveBaseline?: string;
  maxRegression?: string;
  /** Keep each strategy's keys / schema after the run. */
  keep: boolean;
  out?: string;
}

export interface BenchHooks {
  log(line: string): void;
  onStrategyStart?(strategy: string, config: BenchConfig): void;
  onProgress?(p: Progress): void;
  /** After the load, so a live line can be cleared. */
  afterLoad?(): void;
}

export interface BenchOutcome {
  document: BenchDocument;
  text: string;
  outDir: string;
  /** Lines for people after the result: the JUnit file, the baseline, an interruption. */
  notes: string[];
  exitCode: number;
}

export async function bench(request: BenchRequest, hooks: BenchHooks): Promise<BenchOutcome> {
  const { config } = request;
  if (request.redisCluster && request.reference)
    throw new UsageError('--reference runs redis-benchmark against one server; it does not take --redis-cluster');
  // every threshold is judged once per strategy; checked here so a typo fails before any load
  const thresholds = parseThresholds(request.thresholds, BENCH_METRICS);
  if (request.junit) checkJUnitTarget(request.junit);
  const baselines = planBaselines(request, config);
  const outDir = request.out ?? defaultOutDir('bench');
  checkOutDir(outDir, 'bench');
  const storeOfStrategy = (s: BenchConfig['strategies'][number]) => storeOf(s, { naiveStore: config.naiveStore });
  const need = new Set(config.strategies.map(storeOfStrategy));
  if (request.reference) {
    need.add('redis');
    need.add('postgres');
  }
  const services = await resolveServices(need, {
    redisUrl: request.redisUrl,
    redisCluster: request.redisCluster,
    databaseUrl: request.databaseUrl,
    log: hooks.log,
  });
  const stop = new StopFlag();
  const offInterrupt = onInterrupt(() => stop.raise());
  try {
    // The yardstick for baselines: each strategy's store, measured right before and after it.
    const bracket = baselines
      ? CalibrationBracket.of(services, { concurrency: config.concurrency }, storeOfStrategy, stop)
      : undefined;
    const results = await runBench(config, services, {
      stop,
      beforeStrategy: bracket?.beforeStrategy,
      afterStrategy: bracket?.afterStrategy,
      keep: request.keep,
      onStrategyStart: hooks.onStrategyStart ? (s) => hooks.onStrategyStart!(s, config) : undefined,
      onProgress: hooks.onProgress,
    });
    hooks.afterLoad?.();
    const calibration = bracket && !stop.raised ? bracket.result() : undefined;
    const baseline =
      baselines?.compare && calibration
        ? compareBaseline(
            baselines.compare.baseline,
            currentRun(calibration, results),
            baselines.maxRegression,
            baselines.compare.file,
          )
        : undefined;
    const reference = request.reference && !stop.raised ? await runReference(config, services, hooks.log) : undefined;
    const ok = results.every((r) => r.ok);
    const judged = results.map((r) => evaluateThresholds(thresholds, BENCH_METRICS, r));
    const thresholdsOk = judged.every((list) => list.every((t) => t.ok));
    const interrupted = stop.raised;
    const document: BenchDocument = {
      ok,
      interrupted,
      config,
      services: services.origin,
      strategies: results.map((r, i) => ({ ...r, thresholds: judged[i] })),
      reference,
      calibration,
      baseline,
      outDir,
    };
    const text = [
      renderBenchTable(results),
      renderBenchNotes(results),
      reference ? renderReference(reference) : '',
      renderThresholds(results.map((r, i) => ({ group: r.strategy, results: judged[i] }))),
      baseline ? renderBaselineComparison(baseline) : '',
    ]
      .filter(Boolean)
      .join('\n');
    document.outDir = writeReport(outDir, {
      'summary.json': JSON.stringify(document, null, 2) + '\n',
      'summary.txt': text.replace(/\u001b\[[0-9;]*m/g, '') + '\n', // eslint-disable-line no-control-regex -- ANSI colour codes
      'report.html': renderHtml(document),
    });
    const notes: string[] = [];
    if (request.junit) {
      const suites = results.map((r, i) => ({
        name: `bench ${r.strategy}`,
        timeSec: r.durationSec,
        timestamp: new Date().toISOString(),
        cases: [...junitCases(`bench.${r.strategy}`, r.invariants, judged[i]), ...baselineCases(r.strategy, baseline)],
      }));
      notes.push(`junit: ${writeFileAtomic(request.junit, renderJUnit('flashsale bench', suites))}`);
    }
    if (baselines && interrupted) notes.push('baseline: neither compared nor saved, the run was interrupted');
    else if (baselines?.save && calibration) {
      notes.push(
        ok
          ? `baseline saved: ${saveBaseline(baselines.save, buildBaseline(config, calibration, results))}`
          : 'baseline not saved: an invariant broke',
      );
    }
    let exitCode: number;
    if (!ok) exitCode = ExitCode.Invariant;
    else if (interrupted) {
      notes.push(
        `interrupted: ${results.length} of ${config.strategies.length} strategies ran; the report holds what happened until then`,
      );
      exitCode = ExitCode.Interrupted;
    } else exitCode = thresholdsOk && (baseline?.ok ?? true) ? ExitCode.Ok : ExitCode.Threshold;
    return { document, text, outDir: document.outDir, notes, exitCode };
  } finally {
    offInterrupt();
    await services.stop();
  }
}

/** A strategy's baseline comparison as one JUnit case, so a regression shows where CI shows failures. */
function baselineCases(strategy: string, baseline: BaselineComparison | undefined): JUnitCase[] {
  const row = baseline?.rows.find((r) => r.strategy === strategy);
  if (!baseline || !row) return [];
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
  const allowed = `${(baseline.maxRegression * 100).toFixed(0)}%`;
  const detail = `efficiency ${row.efficiency.toPrecision(3)} against ${row.baselineEfficiency.toPrecision(3)} in ${baseline.file}: ${pct(row.delta)} (largest drop allowed ${allowed})`;
  return [
    {
      name: `no regression beyond ${allowed}`,
      classname: `bench.${strategy}.baseline`,
      failure: row.ok ? undefined : { type: 'regression', message: detail, text: detail },
    },
  ];
}
