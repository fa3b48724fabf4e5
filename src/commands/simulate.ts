// `flashsale simulate`: its flags, parsed by one schema, handed to the simulate use case; then printed.
import { Command } from 'commander';
import { z } from 'zod';
import type { CommandIO } from '../core/io.js';
import { printResult, throttled, wantsLiveLine } from '../core/io.js';
import { planSimulate, runSimulatePlan, type SimulateRequest } from '../core/app/simulate.js';
import type { LiveProgress } from '../core/simulate/run.js';
import type { Scenario } from '../core/scenario.js';
import { metricNames } from '../core/thresholds.js';
import { SIMULATE_METRICS } from '../core/simulate/metrics.js';
import { parseShard } from '../core/traffic/stages.js';
import { oneOf, parseOptions, toFlag, urlOf, wholeNumber } from '../core/validate.js';
import { outputFlags, providerFlags, serviceChoice, serviceFlags, thresholdFlags } from './flags.js';

const flags = {
  scenario: z.string().optional(),
  strategy: z.string().optional(),
  mode: oneOf(['sync', 'async', 'both']).optional(),
  transport: oneOf(['direct', 'http']),
  target: urlOf(['http', 'https'], 'a system serving the sale API').optional(),
  workers: wholeNumber(1, 64).optional(),
  shard: z.string().default('0/1'),
  seed: wholeNumber(0, 2 ** 32 - 1).optional(),
  ...serviceFlags,
  ...providerFlags,
  ...outputFlags,
  ...thresholdFlags,
};

/** Pure: commander's options → the use case's request. Throws UsageError naming the flag. */
export function simulateRequest(raw: Record<string, unknown>): SimulateRequest {
  const f = parseOptions(flags, { transport: 'direct', ...raw }, toFlag);
  return {
    scenarioFile: f.scenario,
    strategy: f.strategy,
    mode: f.mode,
    transport: f.transport,
    target: f.target,
    workers: f.workers,
    shard: parseShard(f.shard),
    seed: f.seed,
    ...serviceChoice(f),
    providerUrl: f.providerUrl,
    providerSecret: f.providerSecret,
    thresholds: f.threshold,
    junit: f.junit,
    out: f.out,
  };
}

function liveLine(p: LiveProgress, scenario: Scenario): string {
  const stock = scenario.skus.reduce((n, k) => n + k.stock, 0);
  const rate = p.elapsedMs > 0 ? Math.round((p.journeys * 1000) / p.elapsedMs) : 0;
  return `[${scenario.name} ${p.mode}] ${p.journeys.toLocaleString('en-US')} buyers  ${rate.toLocaleString('en-US')}/s  in flight ${p.inFlight}  paid ${p.paid}/${stock}  reserve p99 ${p.reserveP99Ms.toFixed(1)} ms (slowest worker)  ${(p.elapsedMs / 1000).toFixed(1)} s`;
}

export async function runSimulateCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const json = Boolean(raw.json);
  const plan = planSimulate(simulateRequest(raw));
  const live = wantsLiveLine(io, json);
  const result = await runSimulatePlan(plan, {
    log: (l) => io.info(l),
    announce: json ? undefined : (l) => io.info(l),
    onProgress: live ? throttled((p: LiveProgress) => io.progress(liveLine(p, plan.scenario))) : undefined,
    afterMode: live ? () => io.progress('') : undefined,
  });
  printResult(io, json, result.document, result.text, [`report: ${result.outDir}`]);
  if (result.junitFile) io.info(`junit: ${result.junitFile}`);
  return result.exitCode;
}

export function simulateCommand(io: CommandIO, setExit: (code: number) => void): Command {
  return new Command('simulate')
    .description(
      'run a whole flash sale (reserve, order, pay, expire) under a burst, then prove from the records that nothing was oversold, lost or charged twice',
    )
    .option('--scenario <file>', 'scenario JSON (default scenarios/smoke.json)')
    .option('--strategy <name>', 'oversell strategy, or auto (lua with Redis, else atomic); overrides the scenario')
    .option(
      '--mode <mode>',
      'sync (direct calls), async (Redis Streams events), or both (the same sale twice, compared)',
    )
    .option('--transport <kind>', "direct (engine in-process) or http (through the engine's HTTP API)", 'direct')
    .option('--target <url>', 'with --transport http: drive another system serving the same API')
    .option('--workers <n>', 'worker threads generating buyers (default: cores)')
    .option('--shard <i/n>', 'run slice i of n of the arrivals (several machines, one sale)')
    .option('--seed <n>', 'override the scenario seed')
    .option('--redis-url <url>', 'Redis (default: REDIS_URL, else a redis-server from PATH)')
    .option('--redis-cluster <host:port,…>', 'a Redis Cluster to use instead, by seed nodes (sync mode)')
    .option('--database-url <url>', 'Postgres (default: DATABASE_URL, else embedded PostgreSQL)')
    .option('--provider-url <url>', 'a payment provider serving the same API (default: the bundled mock)')
    .option('--provider-secret <s>', "HMAC secret of that provider's tokens (default: FLASHSALE_PROVIDER_SECRET)")
    .option('--json', 'one JSON document on stdout; tables go to stderr')
    .option('--out <dir>', 'report directory (default reports/simulate-<timestamp>)')
    .option(
      '--threshold <expr>',
      `exit 4 unless <metric><op><number> holds, e.g. "reserve.p99<50"; repeatable, added to the scenario's thresholds. Metrics: ${metricNames(SIMULATE_METRICS).join(', ')}`,
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('--junit <file>', 'also write a JUnit XML file: one test case per invariant and per threshold')
    .addHelpText(
      'after',
      '\nExamples:\n  $ flashsale simulate\n  $ flashsale simulate --scenario scenarios/black-friday.json --strategy lua\n  $ flashsale simulate --scenario scenarios/payment-chaos.json --json',
    )
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runSimulateCommand(opts, io));
    });
}
