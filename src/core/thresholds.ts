// k6-style thresholds: `metric op number` expressions, parsed once (before any load starts,
// so a typo costs nothing), evaluated against a finished run and reported as {source, ok, value}.
import Table from 'cli-table3';
import chalk from 'chalk';
import { UsageError } from './errors.js';
import type { MetricRegistry } from './metric-registry.js';
import type { ThresholdResult } from './documents/common.js';
import { BENCH_METRICS } from './bench/metrics.js';
import { SIMULATE_METRICS } from './simulate/metrics.js';

export type { Metrics, MetricRegistry } from './metric-registry.js';
export type { ThresholdResult };
export { BENCH_METRICS, SIMULATE_METRICS };

export const OPERATORS = ['<', '<=', '>', '>=', '==', '!='] as const;
export type Operator = (typeof OPERATORS)[number];

export interface Threshold {
  /** As the person wrote it (k6 keeps it too): the name in reports and JUnit. */
  source: string;
  metric: string;
  op: Operator;
  bound: number;
}

/**
 * The commands' registries by the name a person gives (`--threshold` of simulate, a scenario
 * file): the only place thresholds are tied to a command. Everything below reads the registry.
 */
const REGISTRIES = { simulate: SIMULATE_METRICS, bench: BENCH_METRICS };
export type ThresholdCommand = keyof typeof REGISTRIES;

/** A registry of any result (parsing reads only its names), or a command's name for its registry. */
export type RegistryRef = MetricRegistry<never> | ThresholdCommand;

const registryOf = (ref: RegistryRef): MetricRegistry<never> => (typeof ref === 'string' ? REGISTRIES[ref] : ref);

export function metricNames(registry: RegistryRef): string[] {
  return Object.keys(registryOf(registry).metrics);
}

// A number as people write it in a bound: 50, 0.99, .5, -1, 1e4.
const NUMBER = String.raw`[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?`;
const CONDITION = new RegExp(String.raw`^\s*(<=|>=|==|!=|<|>)\s*(${NUMBER})\s*$`);
const EXPRESSION = new RegExp(String.raw`^\s*([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*((?:<=|>=|==|!=|<|>).*)$`);

const conditionHelp = `a condition: one of ${OPERATORS.join(' ')} and a number, e.g. "<50" or ">=0.99"`;

// own keys only: `in` would accept "constructor" or "toString" as metrics
const isMetric = (name: string, registry: RegistryRef) => Object.hasOwn(registryOf(registry).metrics, name);

function knownList(registry: RegistryRef): string {
  return `known ${registryOf(registry).command} metrics: ${metricNames(registry).join(', ')}`;
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
export function parseThreshold(source: string, registry: RegistryRef, where = '--threshold'): Threshold {
  const m = EXPRESSION.exec(source);
  if (!m)
    throw new UsageError(
      `${where}: expected "<metric><op><number>" such as "reserve.p99<50", got ${JSON.stringify(source)}`,
      knownList(registry),
    );
  const metric = m[1];
  if (!isMetric(metric, registry))
    throw new UsageError(`${where}: unknown metric "${metric}" in ${JSON.stringify(source)}; ${knownList(registry)}`);
  const cond = parseCondition(m[2]);
  if (!cond)
    throw new UsageError(`${where}: expected ${conditionHelp} after "${metric}", got ${JSON.stringify(source)}`);
  return { source: source.trim(), metric, ...cond };
}

/**
 * A scenario's k6-shaped `thresholds` ({"reserve.p99": ["<50"]}) → sources ("reserve.p99<50").
 * Throws UsageError naming `thresholds.<metric>` in `file`.
 */
export function scenarioThresholdSources(
  thresholds: Record<string, string[]> | undefined,
  file: string,
  registry: RegistryRef = 'simulate',
): string[] {
  const sources: string[] = [];
  for (const [metric, conditions] of Object.entries(thresholds ?? {})) {
    const where = `${file}: thresholds.${metric}`;
    if (!isMetric(metric, registry))
      throw new UsageError(`${where}: unknown metric "${metric}"; ${knownList(registry)}`);
    for (const c of conditions) {
      if (!parseCondition(c)) throw new UsageError(`${where}: expected ${conditionHelp}, got ${JSON.stringify(c)}`);
      sources.push(`${metric}${c.trim()}`);
    }
  }
  return sources;
}

/** Parses every source; the same text given twice (scenario and command line) is judged once. */
export function parseThresholds(sources: string[], registry: RegistryRef): Threshold[] {
  return [...new Set(sources.map((s) => s.trim()))].map((s) => parseThreshold(s, registry));
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
export function evaluateThresholds<R>(
  thresholds: Threshold[],
  registry: MetricRegistry<R>,
  result: R,
): ThresholdResult[] {
  return thresholds.map((t) => {
    const get = registry.metrics[t.metric];
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
  const t = new Table({
    head: [...(grouped ? [''] : []), 'threshold', 'value', 'result'],
    style: { head: [], border: [] },
  });
  for (const g of rows)
    for (const r of g.results)
      t.push([
        ...(grouped ? [g.group] : []),
        r.source,
        formatValue(r.value),
        r.ok ? chalk.green('ok') : chalk.red('FAIL'),
      ]);
  return t.toString();
}
