// A saved run read back: DIR/summary.json of `simulate` or `bench`, recognised by its shape and
// checked field by field, so a truncated or hand-edited file fails with exit 2 naming the file
// and the field instead of drawing a table of NaNs.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { emptyJourneyCounters } from '../simulate/journey.js';

const num = z.number().finite();
const bool = z.boolean();
const str = z.string();

const invariant = z.object({ name: str, ok: bool, detail: str }).passthrough();
const threshold = z.object({ source: str, ok: bool, value: num }).passthrough();
const latency = z.object({ p50: num, p95: num, p99: num, max: num }).passthrough();
const counters = z.object(Object.fromEntries(Object.keys(emptyJourneyCounters()).map((k) => [k, num])) as Record<string, typeof num>).passthrough();

/** One mode of a simulate run, as summary.json keeps it (the SimulationResult without its orders). */
export const simulateRunSchema = z
  .object({
    ok: bool,
    strategy: str,
    mode: z.enum(['sync', 'async'], { errorMap: () => ({ message: 'one of sync, async' }) }),
    transport: str,
    stock: num,
    sold: num,
    oversold: num,
    durationSec: num,
    arrivalPhaseSec: num,
    attemptsPerSec: num,
    reserveCallsPerSec: num,
    successPerSec: num,
    droppedArrivals: num,
    droppedLate: num,
    droppedInFlightCap: num,
    counters,
    latencyMs: z.object({ reserve: latency, pay: latency, endToEnd: latency }).passthrough(),
    unfairRefusals: num,
    invariants: z.array(invariant),
    skus: z.array(z.object({ sku: str, stock: num, sold: num, held: num, remaining: num, revenueMinor: num, currency: str }).passthrough()),
    errorSamples: z.array(str),
    finality: z.object({ orders: num, final: num, pending: num, p50Ms: num, p95Ms: num, maxMs: num }).passthrough().optional(),
    thresholds: z.array(threshold).optional(),
    interrupted: bool.optional(),
    scenario: str.optional(),
  })
  .passthrough();

/** `simulate --mode both`: the same sale twice, one entry per mode under `runs`. */
export const simulateBothSchema = z.object({ ok: bool, mode: z.literal('both'), strategy: str, runs: z.array(simulateRunSchema).min(1) }).passthrough();

const benchStrategySchema = z
  .object({
    strategy: str,
    store: str,
    stock: num,
    attempts: num,
    sold: num,
    held: num,
    oversold: num,
    falseSoldOut: num,
    attemptsPerSec: num,
    successPerSec: num,
    counters: z.object({ conflicts: num, retries: num, errors: num }).passthrough(),
    latencyMs: z.object({ p50: num, p90: num, p99: num, p999: num, max: num }).passthrough(),
    invariants: z.array(invariant),
    generator: z.object({ shortRun: bool, limited: bool, note: str }).passthrough(),
    errorSamples: z.array(str),
    thresholds: z.array(threshold).optional(),
  })
  .passthrough();

/** BenchReport of src/commands/bench.ts. */
export const benchSchema = z
  .object({
    ok: bool,
    config: z.object({}).passthrough(),
    strategies: z.array(benchStrategySchema),
    reference: z.array(z.object({ name: str, tool: str, oursPerSec: num, theirsPerSec: num, ratio: num, target: num }).passthrough()).optional(),
    baseline: z
      .object({
        file: str,
        createdAt: str,
        maxRegression: num,
        calibration: z.object({ baseline: z.object({}).passthrough(), now: z.object({}).passthrough() }),
        rows: z.array(z.object({ strategy: str, baselineEfficiency: num, efficiency: num, delta: num, ok: bool }).passthrough()),
        notCompared: z.array(z.object({ strategy: str, reason: str }).passthrough()),
        ok: bool,
      })
      .passthrough()
      .optional(),
    interrupted: bool.optional(),
  })
  .passthrough();

export type SavedSimulateRun = z.infer<typeof simulateRunSchema>;
export type SavedSimulate = { runs: SavedSimulateRun[]; both: boolean };

/**
 * A saved run: which command wrote it, the document exactly as read (what `--json` prints), and
 * its checked form (what the renderers draw from).
 */
export type SavedReport =
  | { kind: 'simulate'; file: string; raw: Record<string, unknown>; simulate: SavedSimulate }
  | { kind: 'bench'; file: string; raw: Record<string, unknown>; bench: z.infer<typeof benchSchema> };

const TYPE_NAMES: Record<string, string> = { number: 'a number', string: 'a string', boolean: 'true or false', array: 'a list', object: 'an object' };

function valueAt(raw: unknown, path: (string | number)[]): string {
  let v: unknown = raw;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined;
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Parses `raw` with `schema`; the first problem becomes a UsageError naming the file and the field. */
export function checkShape<T extends z.ZodTypeAny>(schema: T, raw: unknown, file: string, suggestion?: string): z.infer<T> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue.path.join('.') || '(top level)';
  const expected = issue.code === 'invalid_type' ? (TYPE_NAMES[issue.expected] ?? issue.expected) : issue.code === 'invalid_literal' ? JSON.stringify(issue.expected) : issue.message;
  throw new UsageError(`${file}: ${path}: expected ${expected}, got ${valueAt(raw, issue.path)}`, suggestion);
}

/** A report directory → its summary.json; a path to a file is taken as the summary itself. */
export function summaryFileOf(path: string): string {
  try {
    if (statSync(path).isFile()) return path;
  } catch {
    // a missing path is reported as a missing summary.json below, which names what was expected
  }
  return join(path, 'summary.json');
}

/** Reads and parses a summary.json (no shape check yet). */
export function readSummaryJson(path: string): { file: string; raw: unknown } {
  const file = summaryFileOf(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'give the report directory of a `flashsale simulate` or `flashsale bench` run (its --out), or the summary.json in it');
  }
  try {
    return { file, raw: JSON.parse(text) };
  } catch (err) {
    throw new UsageError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
}

/** Which command wrote a summary, from its shape: bench has `strategies`; simulate `counters`, or `runs` with --mode both. */
export function summaryKind(raw: unknown, file: string): 'simulate' | 'bench' {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`${file}: (top level): expected an object, got ${valueAt(raw, [])}`);
  if ('strategies' in raw) return 'bench';
  if ('counters' in raw || 'runs' in raw) return 'simulate';
  throw new UsageError(`${file}: counters: expected a simulate summary (\`counters\`, or \`runs\` with --mode both) or a bench one (\`strategies\`), got neither`);
}

/** Checks a parsed summary.json of either command. */
export function parseSummary(raw: unknown, file: string): SavedReport {
  const kind = summaryKind(raw, file);
  const doc = raw as Record<string, unknown>;
  if (kind === 'bench') return { kind, file, raw: doc, bench: checkShape(benchSchema, raw, file) };
  if (Array.isArray(doc.runs)) return { kind, file, raw: doc, simulate: { runs: checkShape(simulateBothSchema, raw, file).runs, both: true } };
  return { kind, file, raw: doc, simulate: { runs: [checkShape(simulateRunSchema, raw, file)], both: false } };
}

/** `flashsale report DIR`: DIR/summary.json (or a summary file) read and checked. */
export function loadSummary(path: string): SavedReport {
  const { file, raw } = readSummaryJson(path);
  return parseSummary(raw, file);
}
