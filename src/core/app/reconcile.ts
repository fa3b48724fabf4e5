// The reconcile use case: one day in a time zone → the sale's payments read against the provider's
// charges → the mismatch report written, a verdict and its exit code.
import { ExitCode, UsageError } from '../errors.js';
import { onInterrupt } from '../interrupt.js';
import { defaultOutDir } from '../output.js';
import { checkOutDir } from '../out-dir.js';
import { dayWindow } from '../reconcile/day.js';
import { renderReconcile } from '../reconcile/render.js';
import { reconcile } from '../reconcile/run.js';
import type { ReconcileDocument } from '../documents/reconcile.js';
import { resolveServices } from '../services/resolve.js';

export interface ReconcileRequest {
  /** YYYY-MM-DD, `today` or `yesterday` (in tz). */
  date: string;
  tz: string;
  graceMs: number;
  namespace?: string;
  providerUrl?: string;
  concurrency: number;
  pageTimeoutMs: number;
  databaseUrl?: string;
  fix: boolean;
  out?: string;
}

export interface ReconcileOutcome {
  document: ReconcileDocument;
  text: string;
  outDir: string;
  exitCode: number;
}

/** `today` / `yesterday` in `tz` (what a nightly cron wants), else the date as given. */
export function resolveDate(date: string, tz: string, now = Date.now()): string {
  const shift = date === 'today' ? 0 : date === 'yesterday' ? 1 : null;
  if (shift === null) return date;
  dayWindow('2000-01-01', tz); // validates tz first, so the error names --tz
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date(now));
  const d = new Date(`${parts}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() - shift);
  return d.toISOString().slice(0, 10);
}

export async function reconcileDay(request: ReconcileRequest, log: (line: string) => void): Promise<ReconcileOutcome> {
  const window = dayWindow(resolveDate(request.date, request.tz), request.tz);
  // A day that has not begun has no payments; a provider asked for year 9999 answers garbage.
  if (window.startMs > Date.now())
    throw new UsageError(
      `--date: ${window.date} has not begun yet in ${window.tz}; expected a day up to today (also: today, yesterday)`,
    );
  const outDir = request.out ?? defaultOutDir(`reconcile-${window.date}`);
  checkOutDir(outDir, 'reconcile');
  const services = await resolveServices(new Set(['postgres']), { databaseUrl: request.databaseUrl, log });
  const controller = new AbortController();
  const off = onInterrupt(() => controller.abort());
  try {
    const result = await reconcile({
      date: window.date,
      tz: request.tz,
      graceMs: request.graceMs,
      databaseUrl: services.databaseUrl!,
      namespace: request.namespace,
      providerUrl: request.providerUrl,
      outDir,
      fix: request.fix,
      concurrency: request.concurrency,
      pager: { timeoutMs: request.pageTimeoutMs },
      signal: controller.signal,
      log,
    });
    // the document keeps what --fix planned or did last, after the counts it is about
    const { fixes, ...rest } = result;
    const document = { ...rest, fixes };
    const exitCode = controller.signal.aborted
      ? ExitCode.Interrupted
      : result.verdict === 'INCOMPLETE'
        ? ExitCode.Service
        : result.verdict === 'BREAKS'
          ? ExitCode.Mismatch
          : ExitCode.Ok;
    return { document, text: renderReconcile(result), outDir: result.outDir, exitCode };
  } finally {
    off();
    await services.stop();
  }
}
