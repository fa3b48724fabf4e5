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
import { parseRedisCluster } from '../core/redis/client.js';
import { StopFlag } from '../core/bench/run.js';
import { ordersCsv, renderSimulation } from '../core/simulate/render.js';
import { runSimulation, type LiveProgress, type SimulationResult } from '../core/simulate/run.js';
import Table from 'cli-table3';
import { parseStrategyName, storeOf, type StrategyName } from '../core/strategies/index.js';
import { parseShard } from '../core/traffic/stages.js';
import { evaluateThresholds, metricNames, parseThresholds, renderThresholds, scenarioThresholdSources, SIMULATE_METRICS } from '../core/thresholds.js';
import { checkJUnitTarget, junitCases, renderJUnit, writeFileAtomic } from '../core/junit.js';
import { oneOf, parseOptions, toFlag, wholeNumber } from '../core/validate.js';
import { renderHtml } from '../core/report/html.js';
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

/** `--redis-cluster` (exclusive with `--redis-url`) and the strategy it implies for `auto`: simulate and serve. */
export function chooseRedisAndStrategy(raw: Record<string, unknown>, scenarioStrategy: string): { redisCluster?: string[]; strategy: StrategyName; why: string } {
  const redisCluster = raw.redisCluster === undefined ? undefined : parseRedisCluster(String(raw.redisCluster));
  if (redisCluster && raw.redisUrl !== undefined) throw new UsageError('--redis-cluster and --redis-url: give one (a cluster\'s seed nodes, or one server\'s URL)');
  const asked = String(raw.strategy ?? scenarioStrategy);
  if (redisCluster && asked === 'auto') return { redisCluster, strategy: 'lua', why: 'auto: a Redis Cluster was given' };
  return { redisCluster, ...chooseStrategy(asked, raw.redisUrl as string | undefined) };
}

/** The seed's comparison of the two designs, with measured numbers (`--mode both`). */
export function renderModeComparison(runs: SimulationResult[]): string {
  const t = new Table({ head: ['', ...runs.map((r) => r.mode)], style: { head: [], border: [] } });
  const row = (name: string, f: (r: SimulationResult) => string) => t.push([name, ...runs.map(f)]);
  row('consistency (invariants)', (r) => (r.ok ? 'all pass' : `FAIL: ${r.invariants.filter((i) => !i.ok).map((i) => i.name).join(', ')}`));
  row('reserve p50 / p99 ms', (r) => `${r.latencyMs.reserve.p50} / ${r.latencyMs.reserve.p99}`);
  row('pay p50 / p99 ms', (r) => `${r.latencyMs.pay.p50} / ${r.latencyMs.pay.p99}`);
  row('throughput: attempts/s, reserve calls/s, orders/s', (r) => `${r.attemptsPerSec} / ${r.reserveCallsPerSec} / ${r.successPerSec}`);
  row('time until an order is final p50 / p95 / max ms', (r) => (r.finality ? `${r.finality.p50Ms} / ${r.finality.p95Ms} / ${r.finality.maxMs}` : 'n/a'));
  row('orders still pending at the end', (r) => (r.finality ? String(r.finality.pending) : 'n/a'));
  row('sold / stock', (r) => `${r.sold} / ${r.stock}`);
  return t.toString();
}

export async function runSimulateCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const o = parseOptions(shape, { transport: 'direct', ...raw }, toFlag);
  const scenario = loadScenario(String(raw.scenario ?? DEFAULT_SCENARIO));
  if (o.seed !== undefined) scenario.seed = o.seed;
  const mode = o.mode ?? scenario.mode;
  if (o.target && o.transport !== 'http') throw new UsageError('--target: drives a system over HTTP; add --transport http');
  const shard = parseShard(String(raw.shard ?? '0/1'));
  const { redisCluster, strategy, why } = chooseRedisAndStrategy(raw, scenario.strategy);
  // judged per mode; checked here so a typo fails before any service starts
  const thresholds = parseThresholds([...scenarioThresholdSources(scenario.thresholds, scenario.source), ...((raw.threshold as string[] | undefined) ?? [])], 'simulate');
  const junit = raw.junit === undefined ? undefined : String(raw.junit);
  if (junit) checkJUnitTarget(junit);
  const modes: ('sync' | 'async')[] = mode === 'both' ? ['sync', 'async'] : [mode];
  const need = new Set([storeOf(strategy), 'postgres' as const]);
  if (scenario.rateLimit || modes.includes('async')) need.add('redis');
  const json = Boolean(raw.json);
  if (redisCluster && modes.includes('async')) throw new UsageError('--redis-cluster: mode async is not cluster-ready yet (its event streams assume one server); use --mode sync on a cluster');
  const services = await resolveServices(need, { redisUrl: raw.redisUrl as string | undefined, redisCluster, databaseUrl: raw.databaseUrl as string | undefined, log: (l) => io.info(l) });
  const stop = new StopFlag();
  const offInterrupt = onInterrupt(() => stop.raise());
  const liveLine = io.stderrIsTTY && !json && !io.ci;
  const stock = scenario.skus.reduce((n, k) => n + k.stock, 0);
  let lastDraw = 0;
  const onProgress = liveLine
    ? (p: LiveProgress) => {
        if (Date.now() - lastDraw < 250) return;
        lastDraw = Date.now();
        const rate = p.elapsedMs > 0 ? Math.round((p.journeys * 1000) / p.elapsedMs) : 0;
        io.progress(`[${scenario.name} ${p.mode}] ${p.journeys.toLocaleString('en-US')} buyers  ${rate.toLocaleString('en-US')}/s  in flight ${p.inFlight}  paid ${p.paid}/${stock}  reserve p99 ${p.reserveP99Ms.toFixed(1)} ms (slowest worker)  ${(p.elapsedMs / 1000).toFixed(1)} s`);
      }
    : undefined;
  try {
    const runs: SimulationResult[] = [];
    for (const m of modes) {
      if (stop.raised) break;
      if (!json) io.info(`simulate ${scenario.name} (${m}): strategy ${strategy} (${why}), ${o.transport} transport, ${scenario.skus.length} SKU(s), ${scenario.skus.reduce((n, k) => n + k.stock, 0)} units`);
      runs.push(
        await runSimulation({
          scenario,
          strategy,
          mode: m,
          transport: o.transport,
          target: o.target,
          workers: o.workers ?? Math.max(1, availableParallelism()),
          shard,
          redisUrl: services.redisUrl,
          redisCluster: services.redisCluster,
          databaseUrl: services.databaseUrl!,
          providerUrl: raw.providerUrl as string | undefined,
          providerSecret: (raw.providerSecret as string | undefined) ?? process.env.FLASHSALE_PROVIDER_SECRET,
          stop: stop.buffer,
          onProgress,
        }),
      );
      if (liveLine) io.progress('');
    }
    const interrupted = stop.raised;
    const outDir = String(raw.out ?? defaultOutDir('simulate'));
    const judged = runs.map((r) => evaluateThresholds(thresholds, SIMULATE_METRICS, r));
    const thresholdsOk = judged.every((list) => list.every((t) => t.ok));
    const summaries = runs.map(({ orders: _o, ...rest }, i) => ({ ...rest, interrupted, scenario: scenario.name, strategyChoice: why, thresholds: judged[i], services: services.origin }));
    const ok = runs.every((r) => r.ok);
    // one mode: DESIGN.md's simulate document; both: the same per mode under `runs`
    const summary = modes.length === 1 ? { ...summaries[0], outDir } : { ok, mode: 'both', strategy, interrupted, scenario: scenario.name, runs: summaries, outDir };
    const text = [...runs.map(renderSimulation), runs.length > 1 ? renderModeComparison(runs) : '', renderThresholds(runs.map((r, i) => ({ group: r.mode, results: judged[i] })))].filter(Boolean).join('\n');
    const files: Record<string, string> = { 'summary.json': '' };
    for (const r of runs) {
      const suffix = runs.length > 1 ? `-${r.mode}` : '';
      files[`orders${suffix}.csv`] = ordersCsv(r.orders);
      files[`provider-faults${suffix}.json`] = JSON.stringify(r.providerFaults, null, 2) + '\n';
    }
    summary.outDir = outDir;
    files['summary.json'] = JSON.stringify(summary, null, 2) + '\n';
    files['report.html'] = renderHtml(summary);
    summary.outDir = writeReport(outDir, files);
    const junitFile = junit
      ? writeFileAtomic(junit, renderJUnit(`flashsale simulate ${scenario.name}`, runs.map((r, i) => ({ name: `simulate ${scenario.name} (${r.mode}, ${strategy})`, timeSec: r.durationSec, timestamp: new Date().toISOString(), cases: junitCases(`simulate.${scenario.name}.${r.mode}`, r.invariants, judged[i]) }))))
      : undefined;
    if (json) {
      io.out(JSON.stringify(summary));
      io.info(text);
    } else {
      io.out(text);
      io.out(`report: ${summary.outDir}`);
    }
    if (junitFile) io.info(`junit: ${junitFile}`);
    if (!ok) return ExitCode.Invariant;
    if (interrupted) return ExitCode.Interrupted;
    return thresholdsOk ? ExitCode.Ok : ExitCode.Threshold;
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
    .option('--mode <mode>', 'sync (direct calls), async (Redis Streams events), or both (the same sale twice, compared)')
    .option('--transport <kind>', 'direct (engine in-process) or http (through the engine\'s HTTP API)', 'direct')
    .option('--target <url>', 'with --transport http: drive another system serving the same API')
    .option('--workers <n>', 'worker threads generating buyers (default: cores)')
    .option('--shard <i/n>', 'run slice i of n of the arrivals (several machines, one sale)')
    .option('--seed <n>', 'override the scenario seed')
    .option('--redis-url <url>', 'Redis (default: REDIS_URL, else a redis-server from PATH)')
    .option('--redis-cluster <host:port,…>', 'a Redis Cluster to use instead, by seed nodes (sync mode)')
    .option('--database-url <url>', 'Postgres (default: DATABASE_URL, else embedded PostgreSQL)')
    .option('--provider-url <url>', 'a payment provider serving the same API (default: the bundled mock)')
    .option('--provider-secret <s>', 'HMAC secret of that provider\'s tokens (default: FLASHSALE_PROVIDER_SECRET)')
    .option('--json', 'one JSON document on stdout; tables go to stderr')
    .option('--out <dir>', 'report directory (default reports/simulate-<timestamp>)')
    .option('--threshold <expr>', `exit 4 unless <metric><op><number> holds, e.g. "reserve.p99<50"; repeatable, added to the scenario's thresholds. Metrics: ${metricNames('simulate').join(', ')}`, (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--junit <file>', 'also write a JUnit XML file: one test case per invariant and per threshold')
    .addHelpText('after', '\nExamples:\n  $ flashsale simulate\n  $ flashsale simulate --scenario scenarios/black-friday.json --strategy lua\n  $ flashsale simulate --scenario scenarios/payment-chaos.json --json')
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runSimulateCommand(opts, io));
    });
}
