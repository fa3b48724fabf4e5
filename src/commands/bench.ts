// `flashsale bench`: its flags, parsed by one schema into a workload, handed to the bench use case.
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { UsageError } from '../core/errors.js';
import type { CommandIO } from '../core/io.js';
import { printResult, throttled, wantsLiveLine } from '../core/io.js';
import { bench, type BenchRequest } from '../core/app/bench.js';
import type { Progress } from '../core/bench/run.js';
import type { BenchConfig } from '../core/bench/types.js';
import { parseStrategyName, SAFE_STRATEGIES } from '../core/strategies/index.js';
import { decimal, oneOf, parseOptions, toFlag, wholeNumber } from '../core/validate.js';
import { metricNames } from '../core/thresholds.js';
import { BENCH_METRICS } from '../core/bench/metrics.js';
import { outputFlags, serviceChoice, serviceFlags, thresholdFlags } from './flags.js';

const DEFAULTS = {
  strategy: 'all',
  skus: '1',
  stock: '100',
  qty: '1',
  concurrency: '64',
  skew: 'uniform',
  seed: '1',
  ttl: '600000',
  perUserLimit: '0',
  confirmRate: '1',
  naiveStore: 'postgres',
};

/** One Redis list element per unit: past this the load alone takes minutes and gigabytes. */
const LIST_MAX_UNITS = 10_000_000;

const flags = {
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
  reference: z.boolean().optional(),
  keep: z.boolean().optional(),
  saveBaseline: z.string().optional(),
  baseline: z.string().optional(),
  maxRegression: z.string().optional(),
  ...serviceFlags,
  ...outputFlags,
  ...thresholdFlags,
};

type Flags = ReturnType<typeof parseFlags>;
const parseFlags = (raw: Record<string, unknown>) => parseOptions(flags, { ...DEFAULTS, ...raw }, toFlag);

/** Pure: raw commander options → validated workload. Throws UsageError naming the option. */
export function benchConfig(raw: Record<string, unknown>): BenchConfig {
  return workloadOf(parseFlags(raw));
}

function workloadOf(o: Flags): BenchConfig {
  // "all" may be combined with names ("all,naive"); each strategy runs once, in the order given.
  const strategies = [
    ...new Set(
      o.strategy.split(',').flatMap((s) => (s.trim() === 'all' ? [...SAFE_STRATEGIES] : [parseStrategyName(s.trim())])),
    ),
  ];
  if (o.buyers !== undefined && o.duration !== undefined)
    throw new UsageError(
      '--buyers and --duration: give one (a count of attempts, or seconds of unbounded buyers), not both',
    );
  if (o.qty > o.stock)
    throw new UsageError(
      `--qty ${o.qty} is larger than --stock ${o.stock}: no request could ever be served; use a --qty from 1 to ${Math.max(1, o.stock)}`,
    );
  if (strategies.includes('list') && o.stock * o.skus > LIST_MAX_UNITS) {
    throw new UsageError(
      `--stock ${o.stock} × --skus ${o.skus}: the list strategy keeps one token per unit in Redis, at most ${LIST_MAX_UNITS.toLocaleString('en-US')} units; lower --stock or leave list out`,
    );
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

/** Pure: commander's options → the use case's request. */
export function benchRequest(raw: Record<string, unknown>): BenchRequest {
  const f = parseFlags(raw);
  return {
    config: workloadOf(f),
    ...serviceChoice(f),
    reference: Boolean(f.reference),
    thresholds: f.threshold,
    junit: f.junit,
    baseline: f.baseline,
    saveBaseline: f.saveBaseline,
    maxRegression: f.maxRegression,
    keep: Boolean(f.keep),
    out: f.out,
  };
}

function progressLine(p: Progress): string {
  const rate = p.elapsedMs > 0 ? Math.round((p.attempts * 1000) / p.elapsedMs) : 0;
  return `[${p.strategy}] ${p.attempts.toLocaleString('en-US')} attempts  ${rate.toLocaleString('en-US')}/s  granted ${p.ok.toLocaleString('en-US')}  in flight ${p.inFlight}  ${(p.elapsedMs / 1000).toFixed(1)} s`;
}

export async function runBenchCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const json = Boolean(raw.json);
  const live = wantsLiveLine(io, json);
  const result = await bench(benchRequest(raw), {
    log: (l) => io.info(l),
    onStrategyStart: json
      ? undefined
      : (s, c) => {
          const load = c.buyers !== undefined ? `${c.buyers} buyers` : `${c.durationSec} s`;
          io.info(
            `bench ${s}: stock ${c.stock} × ${c.skus} SKU(s), ${load}, concurrency ${c.concurrency} on ${c.workers} worker thread(s)`,
          );
        },
    onProgress: live ? throttled((p: Progress) => io.progress(progressLine(p))) : undefined,
    afterLoad: live ? () => io.progress('') : undefined,
  });
  printResult(io, json, result.document, result.text, [`report: ${result.outDir}`]);
  for (const note of result.notes) io.info(note);
  return result.exitCode;
}

export function benchCommand(io: CommandIO, setExit: (code: number) => void): Command {
  return new Command('bench')
    .description(
      'compare oversell-prevention strategies on your Redis and Postgres, then check the invariants from each ledger',
    )
    .addOption(
      new Option(
        '--strategy <name>',
        `a strategy, a comma list, or "all" (every one but naive): ${['all', ...SAFE_STRATEGIES, 'naive'].join(', ')}`,
      ).default(DEFAULTS.strategy),
    )
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
    .option(
      '--redis-cluster <host:port,…>',
      'a Redis Cluster to use instead, by seed nodes (keys are hash-tagged per SKU)',
    )
    .option(
      '--database-url <url>',
      'Postgres to use (default: DATABASE_URL, else embedded PostgreSQL in .flashsale/pg, as root under /var/tmp/flashsale-postgres)',
    )
    .option('--keep', "keep each strategy's keys / schema after the run")
    .option('--json', 'one JSON document on stdout; tables go to stderr')
    .option('--out <dir>', 'report directory (default reports/bench-<timestamp>)')
    .option(
      '--threshold <expr>',
      `exit 4 unless <metric><op><number> holds for every strategy run, e.g. "latency.p99<5"; repeatable. Metrics: ${metricNames(BENCH_METRICS).join(', ')}`,
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option(
      '--save-baseline <file>',
      "also write this run's machine-normalised rates (success/s ÷ a calibration of the same stores) to FILE, for --baseline",
    )
    .option(
      '--baseline <file>',
      "compare each strategy's machine-normalised rate to FILE (from --save-baseline; same workload options); exit 4 on a regression",
    )
    .option(
      '--max-regression <drop>',
      'with --baseline: the largest drop in efficiency that passes, as 30% or 0.3 (default 30%: see README "Baselines")',
    )
    .option(
      '--junit <file>',
      'also write a JUnit XML file: one test suite per strategy, a test case per invariant and per threshold',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  $ flashsale bench --strategy all\n  $ flashsale bench --strategy naive            # the negative control: exits 3\n  $ flashsale bench --strategy lua --stock 1000000 --duration 10 --concurrency 16 --reference',
    )
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runBenchCommand(opts, io));
    });
}
