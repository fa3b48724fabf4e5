// One day's reconciliation, end to end: read the provider's charges into a staging table, merge
// them with the sale's transactions on transaction id, classify each transaction, stream the
// breaks into the report, and (with fix) act on the ones a machine may act on.
//
// Both sides are read for the day plus a day either side. A charge and the transaction that
// recorded it can fall either side of midnight, and a charge settled the day before or after
// must be found (SETTLED_OTHER_DAY), not called missing; classify() then keeps only what
// belongs to this day, so the neighbouring days' runs do not report it twice.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { UsageError } from '../errors.js';
import { applyFixes, actionsFor, type FixAction, type FixOutcome } from './fix.js';
import { mergeJoin } from './join.js';
import { classify } from './match.js';
import { DEFAULT_PAGER, PageUnavailable, ProviderReader, type PagerOptions } from './provider-client.js';
import { openReportWriter, Summary } from './report.js';
import { ChargeStage, checkSaleTables, latestNamespace, localTransactions } from './store.js';
import { connectPostgres } from '../postgres/client.js';
import { dayWindow } from './day.js';
import type { DayWindow, SummaryLine, Verdict } from './types.js';

const DAY_MS = 86_400_000;

export interface ReconcileOptions {
  date: string;
  tz: string;
  graceMs: number;
  databaseUrl: string;
  /** The sale's namespace (schema flashsale_<ns>_sale); the latest one in the database if absent. */
  namespace?: string;
  /** Any provider with the API of docs/design.md#payment-provider; the bundled mock over the namespace's ledger if absent. */
  providerUrl?: string;
  outDir: string;
  fix: boolean;
  /** Pages read at once, each over its own slice of the time range. */
  concurrency?: number;
  pager?: Partial<PagerOptions>;
  /** The clock PENDING is judged by; Date.now by default. */
  nowMs?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface ReconcileResult {
  ok: boolean;
  date: string;
  tz: string;
  window: { start: string; end: string; hours: number };
  verdict: Verdict;
  namespace: string;
  provider: string;
  summary: SummaryLine[];
  /** Why the verdict is INCOMPLETE. */
  incomplete?: string;
  breaks: number;
  read: { localTransactions: number; providerCharges: number; pages: number; retries: number; rateLimited: number };
  /** What --fix did, or (without it) would do. */
  fixes: { applied: boolean; planned: Record<string, number>; outcome?: FixOutcome };
  elapsedMs: number;
  /** Reading the provider (with the setup before it), then the merge join and the report. */
  phasesMs: { providerRead: number; matchAndReport: number };
  peakRssMb: number;
  outDir: string;
}

/** Splits [gte, lt) seconds into up to n contiguous slices that can be paged independently. */
export function slices(gte: number, lt: number, n: number): [number, number][] {
  const span = lt - gte;
  const k = Math.max(1, Math.min(n, span));
  return Array.from(
    { length: k },
    (_, i) => [gte + Math.floor((span * i) / k), gte + Math.floor((span * (i + 1)) / k)] as [number, number],
  );
}

/** The bundled mock over a sale's ledger, as `reconcile` and `recover` open it after the run; UsageError without one. */
export async function startBundledProvider(client: pg.ClientBase, databaseUrl: string, namespace: string) {
  const { providerSchemaName, startProvider } = await import('../provider/index.js');
  const name = providerSchemaName(namespace);
  const { rows } = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`"${name}".charges`]);
  if (!rows[0].t) {
    throw new UsageError(
      `--provider-url: not given, and the bundled mock provider has no ledger for "${namespace}" (schema ${name})`,
      'pass --provider-url with the provider the sale charged through',
    );
  }
  // Read-only use plus --fix refunds: no faults, a throwaway secret (charging is never asked of it).
  return startProvider({ databaseUrl, namespace, secret: randomBytes(24).toString('hex'), seed: 1, connections: 4 });
}

export async function reconcile(opts: ReconcileOptions): Promise<ReconcileResult> {
  const began = performance.now();
  const log = opts.log ?? (() => undefined);
  const window: DayWindow = dayWindow(opts.date, opts.tz);
  const nowMs = opts.nowMs ?? Date.now();
  // Two sessions: the local cursor, and the staging table with its own cursor (a temp table lives in one session).
  const pool = await connectPostgres(opts.databaseUrl, 'reconcile', 2);
  const localClient = await pool.connect();
  let stageClient: pg.PoolClient | undefined;
  let bundled: Awaited<ReturnType<typeof startBundledProvider>> | undefined;
  let reader: ProviderReader | undefined;
  try {
    const namespace = opts.namespace ?? (await latestNamespace(localClient));
    if (!namespace)
      throw new UsageError(
        '--namespace: this database holds no sale to reconcile (no flashsale_*_sale schema with transactions)',
        "run flashsale simulate first, or point --database-url at the sale's database",
      );
    if (!opts.namespace)
      log(`reconciling namespace ${namespace} (the latest sale in this database; --namespace picks another)`);
    const schema = await checkSaleTables(localClient, namespace);
    if (!opts.providerUrl) bundled = await startBundledProvider(localClient, opts.databaseUrl, namespace);
    const providerUrl = opts.providerUrl ?? bundled!.url;
    const controller = new AbortController();
    const stop = () => controller.abort();
    opts.signal?.addEventListener('abort', stop, { once: true });
    reader = new ProviderReader(providerUrl, { ...DEFAULT_PAGER, ...opts.pager, signal: controller.signal });
    await reader.probe();

    stageClient = await pool.connect();
    const stage = new ChargeStage(stageClient);
    await stage.open();
    const fromMs = window.startMs - DAY_MS;
    const toMs = window.endMs + DAY_MS;
    let incomplete: string | undefined;
    const r = reader;
    await Promise.all(
      slices(Math.floor(fromMs / 1000), Math.ceil(toMs / 1000), opts.concurrency ?? 4).map(async ([gte, lt]) => {
        try {
          for await (const page of r.charges(gte, lt)) await stage.add(page);
        } catch (err) {
          // Whatever went wrong, the other slices stop paging now.
          controller.abort();
          if (!(err instanceof PageUnavailable)) throw err;
          incomplete ??= err.message;
        }
      }),
    );
    opts.signal?.removeEventListener('abort', stop);
    if (opts.signal?.aborted) incomplete ??= 'interrupted before every page of charges was read';
    await stage.close();
    const readMs = performance.now() - began;
    log(
      `read ${stage.rows} provider charges in ${r.stats.pages} pages (${r.stats.retries} retried, ${r.stats.rateLimited} rate-limited)`,
    );

    const summary = new Summary();
    const writer = await openReportWriter(opts.outDir);
    // Only --fix keeps the actions; otherwise counting them is enough to say what it would do.
    const plan: FixAction[] = [];
    const planned: Record<string, number> = {};
    let localCount = 0;
    let breaks = 0;
    try {
      if (!incomplete) {
        const local = (async function* () {
          for await (const t of localTransactions(localClient, schema, fromMs, toMs)) {
            if (t.createdMs >= window.startMs && t.createdMs < window.endMs) localCount++;
            yield t;
          }
        })();
        for await (const group of mergeJoin(local, stage.charges())) {
          const c = classify(group, { window, nowMs, graceMs: opts.graceMs });
          if (!c) continue;
          summary.add(c.category, c.row.currency, c.row.delta_minor);
          if (c.category === 'MATCHED') continue;
          await writer.add(c.row);
          if (c.category !== 'PENDING') breaks++;
          for (const a of actionsFor(group, c.row)) {
            planned[a.kind] = (planned[a.kind] ?? 0) + 1;
            if (opts.fix) plan.push(a);
          }
        }
      }
      const verdict = summary.verdict(incomplete !== undefined);
      await writer.finish({
        date: window.date,
        tz: window.tz,
        window: { start: new Date(window.startMs).toISOString(), end: new Date(window.endMs).toISOString() },
        verdict,
        summary: summary.lines(),
      });
      let outcome: FixOutcome | undefined;
      if (opts.fix && !incomplete && plan.length > 0)
        outcome = await applyFixes(localClient, schema, window.date, plan, r);
      return {
        ok: verdict === 'RECONCILED',
        date: window.date,
        tz: window.tz,
        window: {
          start: new Date(window.startMs).toISOString(),
          end: new Date(window.endMs).toISOString(),
          hours: window.hours,
        },
        verdict,
        namespace,
        provider: opts.providerUrl ? providerUrl : `bundled mock (mockpay_${namespace})`,
        summary: summary.lines(),
        ...(incomplete ? { incomplete } : {}),
        breaks,
        read: {
          localTransactions: localCount,
          providerCharges: stage.rows,
          pages: r.stats.pages,
          retries: r.stats.retries,
          rateLimited: r.stats.rateLimited,
        },
        fixes: { applied: opts.fix && !incomplete, planned, ...(outcome ? { outcome } : {}) },
        elapsedMs: Math.round(performance.now() - began),
        phasesMs: { providerRead: Math.round(readMs), matchAndReport: Math.round(performance.now() - began - readMs) },
        // The kernel's high-water mark of this process (KiB), whatever ran before in it.
        peakRssMb: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
        outDir: opts.outDir,
      };
    } catch (err) {
      await writer.abort();
      throw err;
    }
  } finally {
    await reader?.close().catch(() => undefined);
    await bundled?.stop().catch(() => undefined);
    stageClient?.release();
    localClient.release();
    await pool.end().catch(() => undefined);
  }
}
