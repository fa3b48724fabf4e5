// k6-style thresholds: `metric op number` expressions, parsed once (before any load starts,
// so a typo costs nothing), evaluated against a finished run and reported as {source, ok, value}.
import Table from 'cli-table3';
import chalk from 'chalk';
import { UsageError } from './errors.js';
import type { LatencySummary } from './histogram.js';
import type { InvariantResult } from './invariants.js';
import type { SimulationResult } from './simulate/run.js';
import type { StrategyBenchResult } from './bench/types.js';

export const OPERATORS = ['<', '<=', '>', '>=', '==', '!='] as const;
export type Operator = (typeof OPERATORS)[number];

export interface Threshold {
  /** As the person wrote it (k6 keeps it too): the name in reports and JUnit. */
  source: string;
  metric: string;
  op: Operator;
  bound: number;
}

export interface ThresholdResult {
  source: string;
  ok: boolean;
  /** The measured value the bound was compared with. */
  value: number;
}

export type Metrics<R> = Record<string, (r: R) => number>;

const PERCENTILES = ['p50', 'p90', 'p95', 'p99', 'p999', 'max'] as const;

function latencyMetrics<R>(prefix: string, of: (r: R) => LatencySummary): Metrics<R> {
  return Object.fromEntries(PERCENTILES.map((p) => [`${prefix}.${p}`, (r: R) => of(r)[p]]));
}

const invariantsFailed = (invariants: InvariantResult[]) => invariants.filter((i) => !i.ok).length;

/**
 * Of the buyers who tried to pay, the share who paid: paid / (paid + declined + payFailed + expired).
 * Buyers who abandoned their hold never tried, so they do not count against it. 0 when no one tried.
 */
export function successRate(c: SimulationResult['counters']): number {
  const tried = c.paid + c.declined + c.payFailed + c.expired;
  return tried === 0 ? 0 : c.paid / tried;
}

/** simulate's metrics: latencies in ms from `latencyMs`, rates per second over the arrival phase. */
export const SIMULATE_METRICS: Metrics<SimulationResult> = {
  ...latencyMetrics('reserve', (r: SimulationResult) => r.latencyMs.reserve),
  ...latencyMetrics('pay', (r: SimulationResult) => r.latencyMs.pay),
  ...latencyMetrics('endToEnd', (r: SimulationResult) => r.latencyMs.endToEnd),
  sold: (r) => r.sold,
  oversold: (r) => r.oversold,
  droppedArrivals: (r) => r.droppedArrivals,
  attemptsPerSec: (r) => r.attemptsPerSec,
  successPerSec: (r) => r.successPerSec,
  successRate: (r) => successRate(r.counters),
  errors: (r) => r.counters.errors,
  invariantsFailed: (r) => invariantsFailed(r.invariants),
};

/** bench's metrics, one strategy at a time: reserve latency in ms, rates per second. */
export const BENCH_METRICS: Metrics<StrategyBenchResult> = {
  ...latencyMetrics('latency', (r: StrategyBenchResult) => r.latencyMs),
  sold: (r) => r.sold,
  oversold: (r) => r.oversold,
  falseSoldOut: (r) => r.falseSoldOut,
  attemptsPerSec: (r) => r.attemptsPerSec,
  successPerSec: (r) => r.successPerSec,
  errors: (r) => r.counters.errors,
  invariantsFailed: (r) => invariantsFailed(r.invariants),
};

export const METRICS = { simulate: SIMULATE_METRICS, bench: BENCH_METRICS };
export type ThresholdCommand = keyof typeof METRICS;

export function metricNames(command: ThresholdCommand): string[] {
  return Object.keys(METRICS[command]);
}

// A number as people write it in a bound: 50, 0.99, .5, -1, 1e4.
const NUMBER = String.raw`[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?`;
const CONDITION = new RegExp(String.raw`^\s*(<=|>=|==|!=|<|>)\s*(${NUMBER})\s*$`);
const EXPRESSION = new RegExp(String.raw`^\s*([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*((?:<=|>=|==|!=|<|>).*)$`);

const conditionHelp = `a condition: one of ${OPERATORS.join(' ')} and a number, e.g. "<50" or ">=0.99"`;

// own keys only: `in` would accept "constructor" or "toString" as metrics
const isMetric = (name: string, command: ThresholdCommand) => Object.hasOwn(METRICS[command], name);

function knownList(command: ThresholdCommand): string {
  return `known ${command} metrics: ${metricNames(command).join(', ')}`;
}

/** Parses `<op><number>` (the part after the metric name). Null when malformed. */
export function parseCondition(condition: string): { op: Operator; bound: number } | null {
  const m = CONDITION.exec(condition);
  if (!m) return null;
  const bound = Number(m[2]);
  return Number.isFinite(bound) ? { op: m[1] as Operator, bound } : null;
}

/**
 * `reserve.p99<50` → a Threshold. Throws UsageError naming the threshold (and `where` it came
 * from) and listing the command's metric names.
 */
export function parseThreshold(source: string, command: ThresholdCommand, where = '--threshold'): Threshold {
  const m = EXPRESSION.exec(source);
  if (!m) throw new UsageError(`${where}: expected "<metric><op><number>" such as "reserve.p99<50", got ${JSON.stringify(source)}`, knownList(command));
  const metric = m[1];
  if (!isMetric(metric, command)) throw new UsageError(`${where}: unknown metric "${metric}" in ${JSON.stringify(source)}; ${knownList(command)}`);
  const cond = parseCondition(m[2]);
  if (!cond) throw new UsageError(`${where}: expected ${conditionHelp} after "${metric}", got ${JSON.stringify(source)}`);
  return { source: source.trim(), metric, ...cond };
}

/**
 * A scenario's k6-shaped `thresholds` ({"reserve.p99": ["<50"]}) → sources ("reserve.p99<50").
 * Throws UsageError naming `thresholds.<metric>` in `file`.
 */
export function scenarioThresholdSources(thresholds: Record<string, string[]> | undefined, file: string, command: ThresholdCommand = 'simulate'): string[] {
  const sources: string[] = [];
  for (const [metric, conditions] of Object.entries(thresholds ?? {})) {
    const where = `${file}: thresholds.${metric}`;
    if (!isMetric(metric, command)) throw new UsageError(`${where}: unknown metric "${metric}"; ${knownList(command)}`);
    for (const c of conditions) {
      if (!parseCondition(c)) throw new UsageError(`${where}: expected ${conditionHelp}, got ${JSON.stringify(c)}`);
      sources.push(`${metric}${c.trim()}`);
    }
  }
  return sources;
}

/** Parses every source; the same text given twice (scenario and command line) is judged once. */
export function parseThresholds(sources: string[], command: ThresholdCommand): Threshold[] {
  return [...new Set(sources.map((s) => s.trim()))].map((s) => parseThreshold(s, command));
}

export function compare(value: number, op: Operator, bound: number): boolean {
  switch (op) {
    case '<':
      return value < bound;
    case '<=':
      return value <= bound;
    case '>':
      return value > bound;
    case '>=':
      return value >= bound;
    case '==':
      return value === bound;
    case '!=':
      return value !== bound;
  }
}

/** Pure: each threshold against one finished result (a simulate mode with SIMULATE_METRICS, a bench strategy with BENCH_METRICS). */
export function evaluateThresholds<R>(thresholds: Threshold[], metrics: Metrics<R>, result: R): ThresholdResult[] {
  return thresholds.map((t) => {
    const get = metrics[t.metric];
    if (!get) throw new Error(`threshold ${t.source}: no metric ${t.metric} here (parsed for another command)`);
    const value = get(result);
    return { source: t.source, ok: compare(value, t.op, t.bound), value };
  });
}

/** A measured value as tables and JUnit show it: six significant digits at most. */
export const formatValue = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));

/** The thresholds table; `group` (a mode or a strategy) becomes a first column when there are several. */
export function renderThresholds(groups: { group: string; results: ThresholdResult[] }[]): string {
  const rows = groups.filter((g) => g.results.length > 0);
  if (rows.length === 0) return '';
  const grouped = groups.length > 1;
  const t = new Table({ head: [...(grouped ? [''] : []), 'threshold', 'value', 'result'], style: { head: [], border: [] } });
  for (const g of rows) for (const r of g.results) t.push([...(grouped ? [g.group] : []), r.source, formatValue(r.value), r.ok ? chalk.green('ok') : chalk.red('FAIL')]);
  return t.toString();
}
