// A saved run read back: DIR/summary.json of `simulate`, `bench` or `report merge`, recognised by
// its shape and checked against its document's schema (src/core/documents), so a truncated or
// hand-edited file fails with exit 2 naming the file and the field instead of drawing a table of NaNs.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { UsageError } from '../errors.js';
import { benchDocumentSchema, type BenchDocument } from '../documents/bench.js';
import {
  mergedBothDocumentSchema,
  mergedOneDocumentSchema,
  type MergedDocument,
  type MergedRun,
} from '../documents/merged.js';
import { savedSimulateBothSchema, savedSimulateOneSchema, type SavedSimulateRun } from '../documents/simulate.js';

export type { SavedSimulateRun };

/** A simulate summary as read back: one mode, both modes, or a merge of shards (either way). */
export type SavedSimulateDocument =
  z.infer<typeof savedSimulateOneSchema> | z.infer<typeof savedSimulateBothSchema> | MergedDocument;
/** One mode of it: what the tables and the page draw. */
export type SavedRun = SavedSimulateRun | MergedRun;
export type SavedSimulate = { runs: SavedRun[]; both: boolean };

/**
 * A saved run: which command wrote it, the document exactly as read (what `--json` prints), and
 * its checked form (what the renderers draw from).
 */
export type SavedReport =
  | {
      kind: 'simulate';
      file: string;
      raw: Record<string, unknown>;
      simulate: SavedSimulate;
      document: SavedSimulateDocument;
    }
  | { kind: 'bench'; file: string; raw: Record<string, unknown>; bench: BenchDocument };

const TYPE_NAMES: Record<string, string> = {
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object',
};

function valueAt(raw: unknown, path: (string | number)[]): string {
  let v: unknown = raw;
  for (const k of path)
    v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined;
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Parses `raw` with `schema`; the first problem becomes a UsageError naming the file and the field. */
export function checkShape<T extends z.ZodTypeAny>(
  schema: T,
  raw: unknown,
  file: string,
  suggestion?: string,
): z.infer<T> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    // documents are strict: a field no writer writes is a hand edit or another version's document
    const path = [...issue.path, issue.keys[0]];
    throw new UsageError(
      `${file}: ${path.join('.')}: unknown field (${valueAt(raw, path)}); this version of flashsale does not write it`,
      suggestion,
    );
  }
  const path = issue.path.join('.') || '(top level)';
  const expected =
    issue.code === 'invalid_type'
      ? // a missing choice ('redis' | 'postgres') is a missing string; a wrong one names the choices below
        (TYPE_NAMES[issue.expected] ?? (issue.expected.startsWith("'") ? TYPE_NAMES.string : issue.expected))
      : issue.code === 'invalid_literal'
        ? JSON.stringify(issue.expected)
        : issue.code === 'invalid_enum_value'
          ? `one of ${issue.options.join(', ')}`
          : issue.message;
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
    throw new UsageError(
      `${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      'give the report directory of a `flashsale simulate` or `flashsale bench` run (its --out), or the summary.json in it',
    );
  }
  try {
    return { file, raw: JSON.parse(text) };
  } catch (err) {
    throw new UsageError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
}

/** Which command wrote a summary, from its shape: bench has `strategies`; simulate `counters`, or `runs` with --mode both. */
export function summaryKind(raw: unknown, file: string): 'simulate' | 'bench' {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new UsageError(`${file}: (top level): expected an object, got ${valueAt(raw, [])}`);
  if ('strategies' in raw) return 'bench';
  if ('counters' in raw || 'runs' in raw) return 'simulate';
  throw new UsageError(
    `${file}: counters: expected a simulate summary (\`counters\`, or \`runs\` with --mode both) or a bench one (\`strategies\`), got neither`,
  );
}

/** Checks a parsed summary.json of either command. */
export function parseSummary(raw: unknown, file: string): SavedReport {
  const kind = summaryKind(raw, file);
  const doc = raw as Record<string, unknown>;
  if (kind === 'bench') return { kind, file, raw: doc, bench: checkShape(benchDocumentSchema, raw, file) };
  const both = Array.isArray(doc.runs);
  const schema =
    'merge' in doc
      ? both
        ? mergedBothDocumentSchema
        : mergedOneDocumentSchema
      : both
        ? savedSimulateBothSchema
        : savedSimulateOneSchema;
  const document: SavedSimulateDocument = checkShape(schema, raw, file);
  return { kind, file, raw: doc, simulate: { runs: 'runs' in document ? document.runs : [document], both }, document };
}

/** `flashsale report DIR`: DIR/summary.json (or a summary file) read and checked. */
export function loadSummary(path: string): SavedReport {
  const { file, raw } = readSummaryJson(path);
  return parseSummary(raw, file);
}
