// The simulate use case: validated options → a plan (checked before any service starts) → the
// sale run once per mode → judged by its invariants and thresholds → the report document, written
// with its files. The command only parses flags and prints what this returns.
import { availableParallelism } from 'node:os';
import { ExitCode, UsageError } from '../errors.js';
import { onInterrupt, StopFlag } from '../interrupt.js';
import { defaultOutDir, writeReport } from '../output.js';
import { checkOutDir } from '../out-dir.js';
import { loadScenario, type Scenario } from '../scenario.js';
import { resolveServices } from '../services/resolve.js';
import { ordersCsv, renderModeComparison, renderSimulation } from '../simulate/render.js';
import { newSaleNamespace, runSimulation, type LiveProgress, type SimulationResult } from '../simulate/run.js';
import { storeOf, type StrategyName } from '../strategies/index.js';
import type { Shard } from '../traffic/stages.js';
import {
  evaluateThresholds,
  parseThresholds,
  renderThresholds,
  scenarioThresholdSources,
  type Threshold,
} from '../thresholds.js';
import { SIMULATE_METRICS } from '../simulate/metrics.js';
import { judgeValidity } from '../simulate/validity.js';
import chalk from 'chalk';
import type {
  SimulateBothDocument,
  SimulateDocument,
  SimulateOneDocument,
  SimulateRunDocument,
} from '../documents/simulate.js';
import { checkJUnitTarget, junitCases, renderJUnit, writeFileAtomic } from '../junit.js';
import { renderHtml } from '../report/html.js';
import { chooseSaleStrategy, DEFAULT_SCENARIO } from './sale.js';

export type SimulateMode = 'sync' | 'async';

export interface SimulateRequest {
  scenarioFile?: string;
  /** A strategy name or `auto`; the scenario's when absent. */
  strategy?: string;
  mode?: SimulateMode | 'both';
  transport: 'direct' | 'http';
  target?: string;
  workers?: number;
  shard: Shard;
  seed?: number;
  redisUrl?: string;
  redisCluster?: string[];
  databaseUrl?: string;
  providerUrl?: string;
  providerSecret?: string;
  /** Threshold expressions from the command line, judged with the scenario's own. */
  thresholds: string[];
  junit?: string;
  out?: string;
}

export interface SimulateHooks {
  /** Lines for people: services started, each mode's start. */
  log(line: string): void;
  /** Said when a mode starts (omitted with --json). */
  announce?(line: string): void;
  onProgress?(p: LiveProgress, scenario: Scenario): void;
  /** After each mode, so a live line can be cleared. */
  afterMode?(): void;
}

export interface SimulatePlan {
  request: SimulateRequest;
  scenario: Scenario;
  modes: SimulateMode[];
  strategy: StrategyName;
  why: string;
  thresholds: Threshold[];
  need: Set<'redis' | 'postgres'>;
  /** Where the report goes: checked with the rest, so a bad --out costs no run. */
  outDir: string;
}

export interface SimulateOutcome {
  document: SimulateDocument;
  /** The tables a person reads, as the command prints them. */
  text: string;
  outDir: string;
  junitFile?: string;
  exitCode: number;
}

/** Everything that can be wrong with the request, found before any service starts. */
export function planSimulate(request: SimulateRequest): SimulatePlan {
  const scenario = loadScenario(request.scenarioFile ?? DEFAULT_SCENARIO);
  if (request.seed !== undefined) scenario.seed = request.seed;
  const mode = request.mode ?? scenario.mode;
  if (request.target && request.transport !== 'http')
    throw new UsageError('--target: drives a system over HTTP; add --transport http');
  const chosen = chooseSaleStrategy(request.strategy ?? scenario.strategy, request);
  const { strategy } = chosen;
  // An external target runs its own: the strategy is only a label here, and the report says so.
  const why = request.target ? `not run here: ${request.target} runs its own` : chosen.why;
  // judged per mode; checked here so a typo fails before any service starts
  const thresholds = parseThresholds(
    [...scenarioThresholdSources(scenario.thresholds, scenario.source, SIMULATE_METRICS), ...request.thresholds],
    SIMULATE_METRICS,
  );
  if (request.junit) checkJUnitTarget(request.junit);
  const outDir = request.out ?? defaultOutDir('simulate');
  checkOutDir(outDir, 'simulate');
  const modes: SimulateMode[] = mode === 'both' ? ['sync', 'async'] : [mode];
  // An external target needs no store of ours; only the bundled mock provider needs Postgres.
  const need = new Set<'redis' | 'postgres'>(
    request.target ? (request.providerUrl ? [] : ['postgres']) : [storeOf(strategy), 'postgres'],
  );
  if (!request.target && (scenario.rateLimit || modes.includes('async'))) need.add('redis');
  if (request.redisCluster && modes.includes('async')) {
    throw new UsageError(
      '--redis-cluster: mode async is not cluster-ready yet (its event streams assume one server); use --mode sync on a cluster',
    );
  }
  return { request, scenario, modes, strategy, why, thresholds, need, outDir };
}

export async function runSimulatePlan(plan: SimulatePlan, hooks: SimulateHooks): Promise<SimulateOutcome> {
  const { request, scenario, modes, strategy, why } = plan;
  const services = await resolveServices(plan.need, {
    redisUrl: request.redisUrl,
    redisCluster: request.redisCluster,
    databaseUrl: request.databaseUrl,
    log: hooks.log,
  });
  const stop = new StopFlag();
  const offInterrupt = onInterrupt(() => stop.raise());
  const units = scenario.skus.reduce((n, k) => n + k.stock, 0);
  try {
    const runs: SimulationResult[] = [];
    for (const m of modes) {
      if (stop.raised) break;
      // Named up front: a run that dies is finished by `flashsale recover --namespace` it.
      const namespace = newSaleNamespace();
      hooks.announce?.(
        `simulate ${scenario.name} (${m}): strategy ${strategy} (${why}), ${request.transport} transport, ${scenario.skus.length} SKU(s), ${units} units, sale ${namespace}`,
      );
      runs.push(
        await runSimulation({
          scenario,
          namespace,
          strategy,
          mode: m,
          transport: request.transport,
          target: request.target,
          workers: request.workers ?? Math.max(1, availableParallelism()),
          shard: request.shard,
          redisUrl: services.redisUrl,
          redisCluster: services.redisCluster,
          databaseUrl: services.databaseUrl!,
          providerUrl: request.providerUrl,
          providerSecret: request.providerSecret ?? process.env.FLASHSALE_PROVIDER_SECRET,
          stop: stop.buffer,
          onProgress: hooks.onProgress ? (p) => hooks.onProgress!(p, scenario) : undefined,
        }),
      );
      hooks.afterMode?.();
    }
    const interrupted = stop.raised;
    const { outDir } = plan;
    const judged = runs.map((r) => evaluateThresholds(plan.thresholds, SIMULATE_METRICS, r));
    const thresholdsOk = judged.every((list) => list.every((t) => t.ok));
    const validity = runs.map((r) => judgeValidity(r, plan.thresholds));
    const valid = validity.every((v) => v.valid);
    const summaries: SimulateRunDocument[] = runs.map(({ orders: _o, ...rest }, i) => ({
      ...rest,
      interrupted,
      scenario: scenario.name,
      strategyChoice: why,
      thresholds: judged[i],
      valid: validity[i].valid,
      validity: (({ valid: _v, ...rest }) => rest)(validity[i]),
      services: services.origin,
    }));
    const ok = runs.every((r) => r.ok);
    // one mode: the simulate document of docs/design.md; both: the same per mode under `runs`
    const document: SimulateDocument =
      modes.length === 1
        ? ({ ...summaries[0], outDir } satisfies SimulateOneDocument)
        : ({
            ok,
            mode: 'both',
            strategy,
            interrupted,
            scenario: scenario.name,
            runs: summaries,
            outDir,
          } satisfies SimulateBothDocument);
    const text = [
      // First, so that it is the first thing read: a run that did not deliver its load proves nothing.
      ...runs.flatMap((r, i) =>
        validity[i].valid ? [] : [chalk.red(`INVALID (${r.mode}): ${validity[i].reasons.join('; ')}`)],
      ),
      ...runs.map(renderSimulation),
      runs.length > 1 ? renderModeComparison(runs) : '',
      renderThresholds(runs.map((r, i) => ({ group: r.mode, results: judged[i] }))),
    ]
      .filter(Boolean)
      .join('\n');
    const files: Record<string, string> = { 'summary.json': '' };
    for (const r of runs) {
      const suffix = runs.length > 1 ? `-${r.mode}` : '';
      files[`orders${suffix}.csv`] = ordersCsv(r.orders);
      files[`provider-faults${suffix}.json`] = JSON.stringify(r.providerFaults, null, 2) + '\n';
    }
    files['summary.json'] = JSON.stringify(document, null, 2) + '\n';
    files['report.html'] = renderHtml(document);
    document.outDir = writeReport(outDir, files);
    const junitFile = request.junit
      ? writeFileAtomic(
          request.junit,
          renderJUnit(
            `flashsale simulate ${scenario.name}`,
            runs.map((r, i) => ({
              name: `simulate ${scenario.name} (${r.mode}, ${strategy})`,
              timeSec: r.durationSec,
              timestamp: new Date().toISOString(),
              cases: junitCases(`simulate.${scenario.name}.${r.mode}`, r.invariants, judged[i], validity[i]),
            })),
          ),
        )
      : undefined;
    // A provider or target that could not be used at all is exit 6 (docs/design.md#run-validity),
    // also when the payments it left unresolved are all that broke: that is the same fault.
    const dead = validity.some((v) => v.deadService);
    const broken = runs.some((r) => r.invariants.some((i) => !i.ok && !(dead && i.name === 'every payment resolved')));
    const exitCode = broken
      ? ExitCode.Invariant
      : dead
        ? ExitCode.Service
        : interrupted
          ? ExitCode.Interrupted
          : thresholdsOk && valid
            ? ExitCode.Ok
            : ExitCode.Threshold;
    return { document, text, outDir: document.outDir, junitFile, exitCode };
  } finally {
    offInterrupt();
    await services.stop();
  }
}
