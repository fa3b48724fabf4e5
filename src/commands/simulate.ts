// `flashsale simulate`: a whole flash sale under a burst, judged from the records.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { z } from 'zod';
import { ExitCode, UsageError } from '../core/errors.js';
import { onInterrupt } from '../core/interrupt.js';
import { defaultOutDir, writeReport } from '../core/output.js';
import { loadScenario } from '../core/scenario.js';
import { redisAvailable, resolveServices } from '../core/services/resolve.js';
import { StopFlag } from '../core/bench/run.js';
import { ordersCsv, renderSimulation } from '../core/simulate/render.js';
import { runSimulation } from '../core/simulate/run.js';
import { parseStrategyName, storeOf, type StrategyName } from '../core/strategies/index.js';
import { parseShard } from '../core/traffic/stages.js';
import { oneOf, parseOptions, toFlag, wholeNumber } from '../core/validate.js';
import type { CommandIO } from '../cli.js';

/** The default run: the smoke scenario, under a minute on this machine. */
export const DEFAULT_SCENARIO = fileURLToPath(new URL('../../scenarios/smoke.json', import.meta.url));

const shape = {
  mode: oneOf(['sync', 'async', 'both']).optional(),
  transport: oneOf(['direct', 'http']),
  workers: wholeNumber(1, 64).optional(),
  seed: wholeNumber(0, 2 ** 32 - 1).optional(),
  target: z.string().url({ message: 'an http:// URL of a system serving the sale API' }).optional(),
};

/** `auto`: lua when a Redis can be had, else atomic — and the report says which. */
export function chooseStrategy(asked: string, redisUrl: string | undefined): { strategy: StrategyName; why: string } {
  if (asked !== 'auto') return { strategy: parseStrategyName(asked), why: 'asked for' };
  return redisAvailable({ redisUrl }) ? { strategy: 'lua', why: 'auto: Redis is available' } : { strategy: 'atomic', why: 'auto: no Redis configured or on PATH, so a Postgres strategy' };
}

export async function runSimulateCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const o = parseOptions(shape, { transport: 'direct', ...raw }, toFlag);
  const scenario = loadScenario(String(raw.scenario ?? DEFAULT_SCENARIO));
  if (o.seed !== undefined) scenario.seed = o.seed;
  const mode = o.mode ?? scenario.mode;
  if (mode !== 'sync') throw new UsageError(`--mode ${mode}: only sync is available in this release; async (Redis Streams) is being built`, 'run with --mode sync');
  if (o.target && o.transport !== 'http') throw new UsageError('--target: drives a system over HTTP; add --transport http');
  const shard = parseShard(String(raw.shard ?? '0/1').replace(/^(\d+)\/(\d+)$/, (_m, i, n) => `${i}/${n}`));
  const { strategy, why } = chooseStrategy(String(raw.strategy ?? scenario.strategy), raw.redisUrl as string | undefined);
  const need = new Set([storeOf(strategy), 'postgres' as const]);
  if (strategy !== 'naive' && storeOf(strategy) === 'redis') need.add('redis');
  if (scenario.rateLimit) need.add('redis');
  const json = Boolean(raw.json);
  const services = await resolveServices(need, { redisUrl: raw.redisUrl as string | undefined, databaseUrl: raw.databaseUrl as string | undefined, log: (l) => io.info(l) });
  const stop = new StopFlag();
  const offInterrupt = onInterrupt(() => stop.raise());
  try {
    if (!json) io.info(`simulate ${scenario.name}: strategy ${strategy} (${why}), ${o.transport} transport, ${scenario.skus.length} SKU(s), ${scenario.skus.reduce((n, k) => n + k.stock, 0)} units`);
    const result = await runSimulation({
      scenario,
      strategy,
      transport: o.transport,
      target: o.target,
      workers: o.workers ?? Math.max(1, availableParallelism()),
      shard,
      redisUrl: services.redisUrl,
      databaseUrl: services.databaseUrl!,
      providerUrl: raw.providerUrl as string | undefined,
      providerSecret: (raw.providerSecret as string | undefined) ?? process.env.FLASHSALE_PROVIDER_SECRET,
      stop: stop.buffer,
    });
    const interrupted = stop.raised;
    const outDir = String(raw.out ?? defaultOutDir('simulate'));
    const { orders, histograms, ...rest } = result;
    const summary = { ...rest, ok: result.ok, interrupted, scenario: scenario.name, mode, strategyChoice: why, thresholds: [], services: services.origin, histograms, outDir };
    const text = renderSimulation(result);
    summary.outDir = writeReport(outDir, {
      'summary.json': JSON.stringify(summary, null, 2) + '\n',
      'orders.csv': ordersCsv(orders),
      'provider-faults.json': JSON.stringify(result.providerFaults, null, 2) + '\n',
    });
    if (json) {
      io.out(JSON.stringify(summary));
      io.info(text);
    } else {
      io.out(text);
      io.out(`report: ${summary.outDir}`);
    }
    if (!result.ok) return ExitCode.Invariant;
    return interrupted ? ExitCode.Interrupted : ExitCode.Ok;
  } finally {
    offInterrupt();
    await services.stop();
  }
}

export function simulateCommand(io: CommandIO, setExit: (code: number) => void): Command {
  return new Command('simulate')
    .description('run a whole flash sale (reserve, order, pay, expire) under a burst, then prove from the records that nothing was oversold, lost or charged twice')
    .option('--scenario <file>', 'scenario JSON (default scenarios/smoke.json)')
    .option('--strategy <name>', 'oversell strategy, or auto (lua with Redis, else atomic); overrides the scenario')
    .option('--mode <mode>', 'sync (direct calls); async and both are being built')
    .option('--transport <kind>', 'direct (engine in-process) or http (through the engine\'s HTTP API)', 'direct')
    .option('--target <url>', 'with --transport http: drive another system serving the same API')
    .option('--workers <n>', 'worker threads generating buyers (default: cores)')
    .option('--shard <i/n>', 'run slice i of n of the arrivals (several machines, one sale)')
    .option('--seed <n>', 'override the scenario seed')
    .option('--redis-url <url>', 'Redis (default: REDIS_URL, else a redis-server from PATH)')
    .option('--database-url <url>', 'Postgres (default: DATABASE_URL, else embedded PostgreSQL)')
    .option('--provider-url <url>', 'a payment provider serving the same API (default: the bundled mock)')
    .option('--provider-secret <s>', 'HMAC secret of that provider\'s tokens (default: FLASHSALE_PROVIDER_SECRET)')
    .option('--json', 'one JSON document on stdout; tables go to stderr')
    .option('--out <dir>', 'report directory (default reports/simulate-<timestamp>)')
    .addHelpText('after', '\nExamples:\n  $ flashsale simulate\n  $ flashsale simulate --scenario scenarios/black-friday.json --strategy lua\n  $ flashsale simulate --scenario scenarios/payment-chaos.json --json')
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runSimulateCommand(opts, io));
    });
}
