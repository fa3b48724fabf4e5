// `flashsale bench`: options → validated config → core run → rendered report and exit code.
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { ExitCode, UsageError } from '../core/errors.js';
import { defaultOutDir, writeReport } from '../core/output.js';
import { runBench, StopFlag, type Progress } from '../core/bench/run.js';
import { onInterrupt } from '../core/interrupt.js';
import { renderBenchNotes, renderBenchTable, renderReference } from '../core/bench/render.js';
import { runReference, type ReferenceComparison } from '../core/bench/reference.js';
import type { BenchConfig, StrategyBenchResult } from '../core/bench/types.js';
import { resolveServices } from '../core/services/resolve.js';
import { parseRedisCluster } from '../core/redis/client.js';
import { parseStrategyName, SAFE_STRATEGIES, storeOf, type Store } from '../core/strategies/index.js';
import { decimal, oneOf, parseOptions, toFlag, wholeNumber } from '../core/validate.js';
import { BENCH_METRICS, evaluateThresholds, metricNames, parseThresholds, renderThresholds, type ThresholdResult } from '../core/thresholds.js';
import { checkJUnitTarget, junitCases, renderJUnit, writeFileAtomic, type JUnitCase } from '../core/junit.js';
import { renderHtml } from '../core/report/html.js';
import { buildBaseline, compareBaseline, currentRun, planBaselines, renderBaselineComparison, saveBaseline, type BaselineComparison } from '../core/bench/baseline.js';
import { CalibrationBracket, type RunCalibration } from '../core/bench/calibrate.js';
import type { CommandIO } from '../cli.js';

const DEFAULTS = { strategy: 'all', skus: '1', stock: '100', qty: '1', concurrency: '64', skew: 'uniform', seed: '1', ttl: '600000', perUserLimit: '0', confirmRate: '1', naiveStore: 'postgres' };

/** One Redis list element per unit: past this the load alone takes minutes and gigabytes. */
const LIST_MAX_UNITS = 10_000_000;

const shape = {
  strategy: z.string(),
  skus: wholeNumber(1, 100_000),
  stock: wholeNumber(0, 1_000_000_000),
  qty: wholeNumber(1, 1_000_000),
  buyers: wholeNumber(1).optional(),
  duration: decimal(0.1, 86_400).optional(),
  concurrency: wholeNumber(1, 10_000),
  workers: wholeNumber(1, 64).optional(),
  skew: oneOf(['uniform', 'zipf']),
  seed: wholeNumber(0, 2 ** 32 - 1),
  ttl: wholeNumber(1),
  perUserLimit: wholeNumber(0),
  users: wholeNumber(1).optional(),
  confirmRate: decimal(0, 1),
  naiveStore: oneOf(['postgres', 'redis']),
};

export interface BenchReport {
  ok: boolean;
  /** Ctrl-C stopped the run: the strategies listed ran (the last one cut short), the rest did not. */
  interrupted: boolean;
  config: BenchConfig;
  services: Partial<Record<Store, string>>;
  /** Each with its own verdict on every --threshold. */
  strategies: (StrategyBenchResult & { thresholds: ThresholdResult[] })[];
  reference?: ReferenceComparison[];
  /** With --baseline / --save-baseline: this run's bare round trips/s per store (the efficiency yardstick). */
  calibration?: RunCalibration;
  /** With --baseline: each strategy's efficiency against the file's. */
  baseline?: BaselineComparison;
  outDir: string;
}

/** Pure: raw commander options → validated config. Throws UsageError naming the option. */
export function benchConfig(raw: Record<string, unknown>): BenchConfig {
  const o = parseOptions(shape, { ...DEFAULTS, ...raw }, toFlag);
  // "all" may be combined with names ("all,naive"); each strategy runs once, in the order given.
  const strategies = [...new Set(o.strategy.split(',').flatMap((s) => (s.trim() === 'all' ? [...SAFE_STRATEGIES] : [parseStrategyName(s.trim())])))];
  if (o.buyers !== undefined && o.duration !== undefined) throw new UsageError('--buyers and --duration: give one (a count of attempts, or seconds of unbounded buyers), not both');
  if (o.qty > o.stock) throw new UsageError(`--qty ${o.qty} is larger than --stock ${o.stock}: no request could ever be served; use a --qty from 1 to ${Math.max(1, o.stock)}`);
  if (strategies.includes('list') && o.stock * o.skus > LIST_MAX_UNITS) {
    throw new UsageError(`--stock ${o.stock} × --skus ${o.skus}: the list strategy keeps one token per unit in Redis, at most ${LIST_MAX_UNITS.toLocaleString('en-US')} units; lower --stock or leave list out`);
  }
  return {
    strategies,
    skus: o.skus,
    stock: o.stock,
    qty: o.qty,
    buyers: o.duration === undefined ? (o.buyers ?? 5_000) : undefined,
    durationSec: o.duration,
    concurrency: o.concurrency,
    workers: o.workers ?? Math.max(1, availableParallelism()),
    skew: o.skew,
    seed: o.seed,
    ttlMs: o.ttl,
    perUserLimit: o.perUserLimit,
    users: o.users,
    confirmRate: o.confirmRate,
    naiveStore: o.naiveStore,
  };
}

function progressLine(p: Progress): string {
  const rate = p.elapsedMs > 0 ? Math.round((p.attempts * 1000) / p.elapsedMs) : 0;
  return `[${p.strategy}] ${p.attempts.toLocaleString('en-US')} attempts  ${rate.toLocaleString('en-US')}/s  granted ${p.ok.toLocaleString('en-US')}  in flight ${p.inFlight}  ${(p.elapsedMs / 1000).toFixed(1)} s`;
}

export async function runBenchCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const config = benchConfig(raw);
  const redisCluster = raw.redisCluster === undefined ? undefined : parseRedisCluster(String(raw.redisCluster));
  if (redisCluster && raw.redisUrl !== undefined) throw new UsageError('--redis-cluster and --redis-url: give one (a cluster\'s seed nodes, or one server\'s URL)');
  if (redisCluster && raw.reference) throw new UsageError('--reference runs redis-benchmark against one server; it does not take --redis-cluster');
  // every threshold is judged once per strategy; checked here so a typo fails before any load
  const thresholds = parseThresholds((raw.threshold as string[] | undefined) ?? [], 'bench');
  const junit = raw.junit === undefined ? undefined : String(raw.junit);
  if (junit) checkJUnitTarget(junit);
  const baselines = planBaselines(raw, config);
  const json = Boolean(raw.json);
  const need = new Set(config.strategies.map((s) => storeOf(s, { naiveStore: config.naiveStore })));
  if (raw.reference) {
    need.add('redis');
    need.add('postgres');
  }
  const live = io.stderrIsTTY && !json && !io.ci;
  const services = await resolveServices(need, {
    redisUrl: raw.redisUrl as string | undefined,
    redisCluster,
    databaseUrl: raw.databaseUrl as string | undefined,
    log: (l) => io.info(l),
  });
  const stop = new StopFlag();
  const offInterrupt = onInterrupt(() => stop.raise());
  try {
    let lastDraw = 0;
    // The yardstick for baselines: each strategy's store, measured right before and after it.
    const bracket = baselines ? CalibrationBracket.of(services, { concurrency: config.concurrency }, (s) => storeOf(s, { naiveStore: config.naiveStore }), stop) : undefined;
    const results = await runBench(config, services, {
      stop,
      beforeStrategy: bracket?.beforeStrategy,
      afterStrategy: bracket?.afterStrategy,
      keep: Boolean(raw.keep),
      onStrategyStart: (s) => {
        if (!json) io.info(`bench ${s}: stock ${config.stock} × ${config.skus} SKU(s), ${config.buyers !== undefined ? `${config.buyers} buyers` : `${config.durationSec} s`}, concurrency ${config.concurrency} on ${config.workers} worker thread(s)`);
      },
      onProgress: live
        ? (p) => {
            if (Date.now() - lastDraw < 250) return;
            lastDraw = Date.now();
            io.progress(progressLine(p));
          }
        : undefined,
    });
    if (live) io.progress('');
    const calibration = bracket && !stop.raised ? bracket.result() : undefined;
    const baseline = baselines?.compare && calibration ? compareBaseline(baselines.compare.baseline, currentRun(calibration, results), baselines.maxRegression, baselines.compare.file) : undefined;
    const reference = raw.reference && !stop.raised ? await runReference(config, services, (l) => io.info(l)) : undefined;
    const ok = results.every((r) => r.ok);
    const judged = results.map((r) => evaluateThresholds(thresholds, BENCH_METRICS, r));
    const thresholdsOk = judged.every((list) => list.every((t) => t.ok));
    const outDir = String(raw.out ?? defaultOutDir('bench'));
    const interrupted = stop.raised;
    const report: BenchReport = { ok, interrupted, config, services: services.origin, strategies: results.map((r, i) => ({ ...r, thresholds: judged[i] })), reference, calibration, baseline, outDir };
    const table = [renderBenchTable(results), renderBenchNotes(results), reference ? renderReference(reference) : '', renderThresholds(results.map((r, i) => ({ group: r.strategy, results: judged[i] }))), baseline ? renderBaselineComparison(baseline) : ''].filter(Boolean).join('\n');
    report.outDir = writeReport(outDir, {
      'summary.json': JSON.stringify(report, null, 2) + '\n',
      'summary.txt': table.replace(/\u001b\[[0-9;]*m/g, '') + '\n',
      'report.html': renderHtml(report),
    });
    const junitFile = junit
      ? writeFileAtomic(junit, renderJUnit('flashsale bench', results.map((r, i) => ({ name: `bench ${r.strategy}`, timeSec: r.durationSec, timestamp: new Date().toISOString(), cases: [...junitCases(`bench.${r.strategy}`, r.invariants, judged[i]), ...baselineCases(r.strategy, baseline)] }))))
      : undefined;
    if (json) {
      io.out(JSON.stringify(report));
      io.info(table);
    } else {
      io.out(table);
      io.out(`report: ${report.outDir}`);
    }
    if (junitFile) io.info(`junit: ${junitFile}`);
    if (baselines && interrupted) io.info('baseline: neither compared nor saved, the run was interrupted');
    else if (baselines?.save && calibration) io.info(ok ? `baseline saved: ${saveBaseline(baselines.save, buildBaseline(config, calibration, results))}` : 'baseline not saved: an invariant broke');
    if (!ok) return ExitCode.Invariant;
    if (interrupted) {
      io.info(`interrupted: ${results.length} of ${config.strategies.length} strategies ran; the report holds what happened until then`);
      return ExitCode.Interrupted;
    }
    return thresholdsOk && (baseline?.ok ?? true) ? ExitCode.Ok : ExitCode.Threshold;
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
  const detail = `efficiency ${row.efficiency.toPrecision(3)} against ${row.baselineEfficiency.toPrecision(3)} in ${baseline.file}: ${pct(row.delta)} (largest drop allowed ${(baseline.maxRegression * 100).toFixed(0)}%)`;
  return [{ name: `no regression beyond ${(baseline.maxRegression * 100).toFixed(0)}%`, classname: `bench.${strategy}.baseline`, failure: row.ok ? undefined : { type: 'regression', message: detail, text: detail } }];
}

export function benchCommand(io: CommandIO, setExit: (code: number) => void): Command {
  return new Command('bench')
    .description('compare oversell-prevention strategies on your Redis and Postgres, then check the invariants from each ledger')
    .addOption(new Option('--strategy <name>', `a strategy, a comma list, or "all" (every one but naive): ${['all', ...SAFE_STRATEGIES, 'naive'].join(', ')}`).default(DEFAULTS.strategy))
    .option('--skus <n>', 'SKUs on sale', DEFAULTS.skus)
    .option('--stock <n>', 'units per SKU', DEFAULTS.stock)
    .option('--qty <n>', 'units per request (all-or-nothing)', DEFAULTS.qty)
    .option('--buyers <n>', 'total attempts; the run stops when they are done (default 5000)')
    .option('--duration <s>', 'seconds of unbounded buyers instead of --buyers')
    .option('--concurrency <n>', 'requests in flight across all workers', DEFAULTS.concurrency)
    .option('--workers <n>', 'worker threads generating load (default: cores)')
    .option('--skew <kind>', 'how demand spreads over SKUs: uniform or zipf', DEFAULTS.skew)
    .option('--seed <n>', 'seed for buyers and SKU choice', DEFAULTS.seed)
    .option('--ttl <ms>', 'hold time-to-live', DEFAULTS.ttl)
    .option('--per-user-limit <n>', 'max units per user per SKU, 0 = none', DEFAULTS.perUserLimit)
    .option('--users <n>', 'distinct buyers the attempts come from (default: one per attempt)')
    .option('--confirm-rate <r>', 'fraction of holds confirmed into sales, 0..1', DEFAULTS.confirmRate)
    .option('--naive-store <store>', 'store of the naive negative control: postgres or redis', DEFAULTS.naiveStore)
    .option('--reference', 'also run redis-benchmark and pgbench on the same script / statement and print the ratios')
    .option('--redis-url <url>', 'Redis to use (default: REDIS_URL, else a redis-server from PATH)')
    .option('--redis-cluster <host:port,…>', 'a Redis Cluster to use instead, by seed nodes (keys are hash-tagged per SKU)')
    .option('--database-url <url>', 'Postgres to use (default: DATABASE_URL, else embedded PostgreSQL in .flashsale/pg)')
    .option('--keep', 'keep each strategy\'s keys / schema after the run')
    .option('--json', 'one JSON document on stdout; tables go to stderr')
    .option('--out <dir>', 'report directory (default reports/bench-<timestamp>)')
    .option('--threshold <expr>', `exit 4 unless <metric><op><number> holds for every strategy run, e.g. "latency.p99<5"; repeatable. Metrics: ${metricNames('bench').join(', ')}`, (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--save-baseline <file>', 'also write this run\'s machine-normalised rates (success/s ÷ a calibration of the same stores) to FILE, for --baseline')
    .option('--baseline <file>', 'compare each strategy\'s machine-normalised rate to FILE (from --save-baseline; same workload options); exit 4 on a regression')
    .option('--max-regression <drop>', 'with --baseline: the largest drop in efficiency that passes, as 30% or 0.3 (default 30%: see README "Baselines")')
    .option('--junit <file>', 'also write a JUnit XML file: one test suite per strategy, a test case per invariant and per threshold')
    .addHelpText('after', '\nExamples:\n  $ flashsale bench --strategy all\n  $ flashsale bench --strategy naive            # the negative control: exits 3\n  $ flashsale bench --strategy lua --stock 1000000 --duration 10 --concurrency 16 --reference')
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runBenchCommand(opts, io));
    });
}
