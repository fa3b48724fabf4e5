// The reconciliation report: a summary per category and currency, and mismatches.csv /
// mismatches.json streamed to disk as rows arrive (a million-transaction day must not be held in
// memory), in a temp dir that is renamed into place only once both files are whole.
//
// Nothing written depends on the clock or on run order: rows are serialised with a fixed key
// order and arrive in transaction-id order, so the same inputs give byte-identical files.
import { once } from 'node:events';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  type WriteStream,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import { CATEGORIES, NOT_BREAKS, type ReconCategory } from './categories.js';
import type { MismatchRow, SummaryLine, Verdict } from './types.js';

/** MismatchRow's keys in declaration order: the CSV header and the JSON key order. */
export const MISMATCH_COLUMNS = [
  'break_id',
  'category',
  'transaction_id',
  'order_id',
  'provider_charge_ids',
  'local_status',
  'provider_status',
  'currency',
  'local_amount_minor',
  'provider_amount_minor',
  'delta_minor',
  'local_time',
  'provider_time',
  'suggested_action',
] as const satisfies readonly (keyof MismatchRow)[];

// Fails to compile when MismatchRow gains a key the report would silently drop.
type Unlisted = Exclude<keyof MismatchRow, (typeof MISMATCH_COLUMNS)[number]>;
const everyColumnListed: [Unlisted] extends [never] ? true : never = true;
void everyColumnListed;

export class Summary {
  private readonly lineByKey = new Map<string, SummaryLine>();

  add(category: ReconCategory, currency: string, deltaMinor: number): void {
    const key = `${category}\u0000${currency}`;
    let line = this.lineByKey.get(key);
    if (!line) {
      line = { category, currency, count: 0, netMinor: 0, grossMinor: 0 };
      this.lineByKey.set(key, line);
    }
    line.count += 1;
    line.netMinor += deltaMinor;
    line.grossMinor += Math.abs(deltaMinor);
  }

  /** In CATEGORIES order, then by currency; copies, so the caller cannot disturb the totals. */
  lines(): SummaryLine[] {
    const rank = (c: ReconCategory) => CATEGORIES.indexOf(c);
    return [...this.lineByKey.values()]
      .map((l) => ({ ...l }))
      .sort(
        (a, b) =>
          rank(a.category) - rank(b.category) || (a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0),
      );
  }

  /** INCOMPLETE wins: a day not fully read cannot be called reconciled, nor its breaks final. */
  verdict(incomplete: boolean): Verdict {
    if (incomplete) return 'INCOMPLETE';
    return [...this.lineByKey.values()].some((l) => !NOT_BREAKS.has(l.category)) ? 'BREAKS' : 'RECONCILED';
  }
}

export interface ReportMeta {
  date: string;
  tz: string;
  window: { start: string; end: string };
  verdict: Verdict;
  summary: SummaryLine[];
}

export interface ReportWriter {
  /** The final directory (absolute). */
  readonly dir: string;
  /** Resolves once the row is buffered within limits: await it, that is the backpressure. */
  add(row: MismatchRow): Promise<void>;
  /** Writes mismatches.json, moves the report into place, returns its directory. */
  finish(meta: ReportMeta): Promise<string>;
  /** Drops everything written so far; the target directory is left as it was. */
  abort(): Promise<void>;
}

const ordered = (row: MismatchRow) => Object.fromEntries(MISMATCH_COLUMNS.map((k) => [k, row[k]]));
const summaryJson = (l: SummaryLine) =>
  JSON.stringify({
    category: l.category,
    currency: l.currency,
    count: l.count,
    netMinor: l.netMinor,
    grossMinor: l.grossMinor,
  });

const ROWS_FILE = 'mismatches.rows.tmp';

async function drained(stream: Writable, wroteAll: boolean): Promise<void> {
  if (!wroteAll) await once(stream, 'drain');
}

async function closed(stream: Writable): Promise<void> {
  if (!stream.closed) await once(stream, 'close');
}

export function openReportWriter(dir: string): ReportWriter {
  const target = resolve(dir);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });

  let failure: unknown;
  let lastId: string | undefined;
  let state: 'open' | 'finishing' | 'done' = 'open';

  const csv = stringify({
    header: true,
    columns: [...MISMATCH_COLUMNS],
    // The library's own guard: strings starting = + - @ tab CR get a leading ', numbers do not.
    escape_formulas: true,
  });
  const csvFile = createWriteStream(join(tmp, 'mismatches.csv'));
  const csvDone = pipeline(csv, csvFile);
  csvDone.catch((err: unknown) => (failure ??= err));
  // Each row is written already joined (',\n    ' between rows) so finish can copy it verbatim.
  const rows: WriteStream = createWriteStream(join(tmp, ROWS_FILE));
  rows.on('error', (err) => (failure ??= err));
  let rowCount = 0;

  const abort = async (): Promise<void> => {
    if (state === 'done') return;
    state = 'done';
    csv.destroy();
    csvFile.destroy();
    rows.destroy();
    // Wait for the file handles to close, or a late open could recreate a file in the dir.
    await Promise.all([closed(csvFile), closed(rows)]);
    rmSync(tmp, { recursive: true, force: true });
  };

  const check = () => {
    if (state !== 'open') throw new Error('the report writer is already finished or aborted');
    if (failure) throw failure;
  };

  return {
    dir: target,

    async add(row) {
      check();
      if (lastId !== undefined && row.transaction_id < lastId) {
        throw new Error(
          `report rows must arrive in transaction-id order: ${JSON.stringify(row.transaction_id)} came after ${JSON.stringify(lastId)}`,
        );
      }
      lastId = row.transaction_id;
      const okCsv = csv.write({ ...row, provider_charge_ids: row.provider_charge_ids.join(';') });
      const okRows = rows.write(`${rowCount === 0 ? '' : ',\n'}    ${JSON.stringify(ordered(row))}`);
      rowCount += 1;
      await Promise.all([drained(csv, okCsv), drained(rows, okRows)]);
    },

    async finish(meta) {
      check();
      state = 'finishing';
      try {
        csv.end();
        rows.end();
        await Promise.all([csvDone, once(rows, 'finish')]);
        if (failure) throw failure;
        const head = [
          '{',
          `  "date": ${JSON.stringify(meta.date)},`,
          `  "tz": ${JSON.stringify(meta.tz)},`,
          `  "window": ${JSON.stringify({ start: meta.window.start, end: meta.window.end })},`,
          `  "verdict": ${JSON.stringify(meta.verdict)},`,
          meta.summary.length === 0
            ? '  "summary": [],'
            : `  "summary": [\n${meta.summary.map((l) => `    ${summaryJson(l)}`).join(',\n')}\n  ],`,
          rowCount === 0 ? '  "mismatches": []' : '  "mismatches": [\n',
        ].join('\n');
        const tail = rowCount === 0 ? '\n}\n' : '\n  ]\n}\n';
        const rowsPath = join(tmp, ROWS_FILE);
        await pipeline(
          async function* () {
            yield Buffer.from(head);
            yield* createReadStream(rowsPath);
            yield Buffer.from(tail);
          },
          createWriteStream(join(tmp, 'mismatches.json')),
        );
        rmSync(rowsPath);
        if (existsSync(target)) rmSync(target, { recursive: true, force: true });
        renameSync(tmp, target);
        state = 'done';
        return target;
      } catch (err) {
        await abort();
        throw err;
      }
    },

    abort,
  };
}
