// `flashsale reconcile --date`: does every payment we think happened have exactly one matching
// charge at the provider, and is every charge one of ours? Writes the mismatch report finance acts on.
import { Command } from 'commander';
import Table from 'cli-table3';
import { z } from 'zod';
import { ExitCode } from '../core/errors.js';
import { onInterrupt } from '../core/interrupt.js';
import { defaultOutDir } from '../core/output.js';
import { dayWindow, parseDuration } from '../core/reconcile/day.js';
import { reconcile, type ReconcileResult } from '../core/reconcile/run.js';
import { resolveServices } from '../core/services/resolve.js';
import { parseOptions, toFlag, wholeNumber } from '../core/validate.js';
import type { CommandIO } from '../cli.js';

const shape = {
  namespace: z.string().regex(/^[a-z0-9_]{1,40}$/, { message: 'lower-case letters, digits and _ (1 to 40), as simulate prints it' }).optional(),
  providerUrl: z.string().url({ message: 'an http:// URL of a provider serving GET /v1/charges' }).optional(),
  concurrency: wholeNumber(1, 32),
  pageTimeout: wholeNumber(50, 600_000),
};

/** `today` / `yesterday` in `tz` (what a nightly cron wants), else the date as given. */
export function resolveDate(date: string, tz: string, now = Date.now()): string {
  const shift = date === 'today' ? 0 : date === 'yesterday' ? 1 : null;
  if (shift === null) return date;
  dayWindow('2000-01-01', tz); // validates tz first, so the error names --tz
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(now));
  const d = new Date(`${parts}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() - shift);
  return d.toISOString().slice(0, 10);
}

export function renderReconcile(r: ReconcileResult): string {
  const t = new Table({ head: ['category', 'currency', 'count', 'net delta (minor)', 'gross delta (minor)'], style: { head: [], border: [] }, colAligns: ['left', 'left', 'right', 'right', 'right'] });
  for (const l of r.summary) t.push([l.category, l.currency, l.count.toLocaleString('en-US'), l.netMinor.toLocaleString('en-US'), l.grossMinor.toLocaleString('en-US')]);
  const lines = [
    `reconcile ${r.date} (${r.tz}, ${r.window.start} to ${r.window.end}, ${r.window.hours} h), namespace ${r.namespace}, provider ${r.provider}`,
    r.summary.length ? t.toString() : '(nothing recorded on either side for this day)',
    `read ${r.read.localTransactions.toLocaleString('en-US')} local transactions of the day and ${r.read.providerCharges.toLocaleString('en-US')} provider charges (day ±1) in ${r.read.pages} pages; ${r.read.retries} retried, ${r.read.rateLimited} rate-limited; ${(r.elapsedMs / 1000).toFixed(1)} s, peak RSS ${r.peakRssMb} MB`,
  ];
  const planned = Object.entries(r.fixes.planned);
  if (r.fixes.outcome) {
    const o = r.fixes.outcome;
    const refunded = Object.entries(o.refundedMinor).map(([c, n]) => `${n} ${c}`).join(', ') || 'nothing';
    lines.push(`fix: ${o.done} done (refunded ${refunded}; ${o.released} orders failed and their units released), ${o.skipped} already done by an earlier --fix, ${o.failed.length} failed${o.failed.length ? `: ${o.failed.slice(0, 3).map((f) => `${f.key}: ${f.error}`).join('; ')}` : ''}`);
  } else if (planned.length) {
    lines.push(`--fix would: ${planned.map(([k, n]) => `${k.replace(/_/g, ' ')} ×${n}`).join(', ')} (everything else needs a person: see suggested_action)`);
  }
  if (r.incomplete) lines.push(`INCOMPLETE: ${r.incomplete}. Nothing is reported as missing on the strength of a page that was not read; run again.`);
  lines.push(`verdict: ${r.verdict} (${r.breaks} break${r.breaks === 1 ? '' : 's'})`);
  return lines.join('\n');
}

export async function runReconcileCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const o = parseOptions(shape, { concurrency: '4', pageTimeout: '15000', ...raw }, toFlag);
  const tz = String(raw.tz ?? 'UTC');
  const date = resolveDate(String(raw.date ?? ''), tz);
  const window = dayWindow(date, tz);
  const graceMs = parseDuration(String(raw.grace ?? '2h'), '--grace');
  const json = Boolean(raw.json);
  const services = await resolveServices(new Set(['postgres']), { databaseUrl: raw.databaseUrl as string | undefined, log: (l) => io.info(l) });
  const controller = new AbortController();
  const off = onInterrupt(() => controller.abort());
  try {
    const result = await reconcile({
      date: window.date,
      tz,
      graceMs,
      databaseUrl: services.databaseUrl!,
      namespace: o.namespace,
      providerUrl: o.providerUrl,
      outDir: String(raw.out ?? defaultOutDir(`reconcile-${window.date}`)),
      fix: Boolean(raw.fix),
      concurrency: o.concurrency,
      pager: { timeoutMs: o.pageTimeout },
      signal: controller.signal,
      log: (l) => io.info(l),
    });
    const { fixes, ...rest } = result;
    const doc = { ...rest, fixes };
    const text = renderReconcile(result);
    if (json) {
      io.out(JSON.stringify(doc));
      io.info(text);
    } else {
      io.out(text);
      io.out(`report: ${result.outDir}`);
    }
    if (controller.signal.aborted) return ExitCode.Interrupted;
    if (result.verdict === 'INCOMPLETE') return ExitCode.Service;
    return result.verdict === 'BREAKS' ? ExitCode.Mismatch : ExitCode.Ok;
  } finally {
    off();
    await services.stop();
  }
}

export function reconcileCommand(io: CommandIO, setExit: (code: number) => void): Command {
  return new Command('reconcile')
    .description('match one day of the sale\'s payments against the provider\'s charges and write the mismatch report')
    .requiredOption('--date <YYYY-MM-DD>', 'the day to reconcile, in --tz (also: today, yesterday)')
    .option('--tz <zone>', 'IANA time zone the day is counted in', 'UTC')
    .option('--grace <duration>', 'a payment younger than this with no provider record is PENDING, not missing (e.g. 0, 30m, 2h)', '2h')
    .option('--fix', 'refund orphan and duplicate charges, fail orders whose payment never happened; each once, recorded in reconcile_actions')
    .option('--namespace <ns>', 'the sale to reconcile, as simulate prints it (default: the latest in the database)')
    .option('--provider-url <url>', 'the provider to read (default: the bundled mock over the sale\'s ledger)')
    .option('--concurrency <n>', 'provider pages read at once, each over a slice of the day', '4')
    .option('--page-timeout <ms>', 'how long to wait for one page of charges before asking again (6 tries, then INCOMPLETE)', '15000')
    .option('--database-url <url>', 'Postgres holding the sale (default: DATABASE_URL, else embedded PostgreSQL)')
    .option('--json', 'one JSON document on stdout; tables go to stderr')
    .option('--out <dir>', 'report directory (default reports/reconcile-<date>-<timestamp>)')
    .addHelpText('after', '\nExamples:\n  $ flashsale reconcile --date 2026-11-21\n  $ flashsale reconcile --date yesterday --tz Europe/Berlin --json\n  $ flashsale reconcile --date 2026-11-21 --fix\n\nExit codes: 0 reconciled, 5 breaks found, 6 provider or database unreachable / a page could not be read (INCOMPLETE), 2 bad option')
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runReconcileCommand(opts, io));
    });
}
