// report.html: one self-contained page per run (summary.json in, HTML out), readable offline.
// Charts are uPlot's, its JS and CSS inlined from node_modules; the page fetches nothing.
// uPlot over Chart.js: 50 KB instead of 200 KB inlined into every report, and it is made for
// the time series these reports mostly are (its bars path draws the few category charts).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CLIENT_SCRIPT } from './client.js';
import {
  Charts,
  escapeHtml,
  figureGrid,
  fmt,
  invariantsTable,
  num,
  okCell,
  PALETTE,
  table,
  thresholdsTable,
} from './html-parts.js';
import type { BenchDocument } from '../documents/bench.js';
import type { JourneyCounters } from '../documents/simulate.js';
import { summaryKind, type SavedRun, type SavedSimulateDocument } from './load.js';

const require = createRequire(import.meta.url);
let uplot: { js: string; css: string } | undefined;

/** uPlot's dist files, read once per process. */
function uplotAssets(): { js: string; css: string } {
  uplot ??= {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return uplot;
}

export { escapeHtml };

export type ReportKind = 'simulate' | 'bench';

/** JSON that cannot close its <script> element or start a comment in it. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Which summary.json this is, from its shape (bench: `strategies`; simulate: `counters` or `runs`). */
/** Which command wrote the summary: the same test `flashsale report` applies (load.ts). */
export function reportKind(summary: unknown): ReportKind {
  return summaryKind(summary, 'summary.json');
}

// ---- simulate ---------------------------------------------------------------------------

const OUTCOMES: [label: string, counter: keyof JourneyCounters][] = [
  ['orders', 'orders'],
  ['paid', 'paid'],
  ['sold out', 'soldOut'],
  ['saw sold out', 'sawSoldOut'],
  ['rate-limited', 'rateLimited'],
  ['limit exceeded', 'limitExceeded'],
  ['conflicts', 'conflicts'],
  ['abandoned', 'abandoned'],
  ['declined', 'declined'],
  ['expired', 'expired'],
  ['pay failed', 'payFailed'],
  ['duplicates suppressed', 'duplicatesSuppressed'],
  ['errors', 'errors'],
];

function simulateCharts(r: SavedRun, charts: Charts, prefix: string): string {
  const out: string[] = [];
  const tl = 'timeline' in r ? r.timeline : undefined;
  const buckets = tl && Array.isArray(tl.buckets) ? tl.buckets : [];
  if (buckets.length) {
    const perSec = 1000 / num(tl!.bucketMs || 250);
    const x = buckets.map((b) => num(b.t) / 1000);
    const rate = (k: 'started' | 'completed' | 'orders') =>
      buckets.map((b) => Math.round(num(b[k]) * perSec * 10) / 10);
    out.push(
      charts.add(
        {
          title: `Throughput (per second, ${num(tl!.bucketMs)} ms buckets)`,
          kind: 'line',
          xLabel: 'time from start',
          yLabel: 'per second',
          x,
          series: [
            { label: 'arrivals started/s', color: PALETTE[0]!, values: rate('started') },
            { label: 'journeys completed/s', color: PALETTE[2]!, values: rate('completed') },
            { label: 'orders/s', color: PALETTE[3]!, values: rate('orders') },
          ],
        },
        prefix,
      ),
    );
    // a bucket in which no reserve was sent has no latency: a gap, not a 0 ms point
    const lat = (k: 'p50' | 'p95' | 'p99') =>
      buckets.map((b) => (num(b.reserve?.count) > 0 ? num(b.reserve?.[k]) : null));
    out.push(
      charts.add(
        {
          title: 'Reserve latency per time bucket',
          kind: 'line',
          xLabel: 'time from start',
          yLabel: 'ms',
          x,
          series: [
            { label: 'p50', color: PALETTE[0]!, values: lat('p50') },
            { label: 'p95', color: PALETTE[3]!, values: lat('p95') },
            { label: 'p99', color: PALETTE[1]!, values: lat('p99') },
          ],
        },
        prefix,
      ),
    );
  } else
    out.push(
      '<p class="note">No time series in this summary (recorded by flashsale versions that write <code>timeline</code>).</p>',
    );
  const stock = tl && Array.isArray(tl.stock) ? tl.stock : [];
  if (stock.length) {
    const times = [...new Set(stock.map((s) => num(s.t)))].sort((a, b) => a - b);
    const skus = [...new Set(stock.map((s) => String(s.sku)))];
    const at = new Map(stock.map((s) => [`${String(s.sku)}\u0000${num(s.t)}`, num(s.available)]));
    const total = Array.isArray(r.skus) ? r.skus.length : skus.length;
    out.push(
      charts.add(
        {
          title: `Stock left per SKU${total > skus.length ? ` (first ${skus.length} of ${total} SKUs)` : ''}`,
          kind: 'line',
          xLabel: 'time from start',
          yLabel: 'units available',
          x: times.map((t) => t / 1000),
          series: skus.map((sku, i) => ({
            label: sku,
            color: PALETTE[i % PALETTE.length]!,
            values: times.map((t) => at.get(`${sku}\u0000${t}`) ?? null),
          })),
        },
        prefix,
      ),
    );
  } else if (buckets.length)
    out.push(
      '<p class="note">Stock was not sampled: the engine ran in another process (an external <code>--target</code>).</p>',
    );
  const c: Partial<JourneyCounters> = r.counters ?? {};
  out.push(
    charts.add(
      {
        title: 'Outcomes (journeys and reserve calls, from counters)',
        kind: 'bars',
        xLabel: 'outcome',
        yLabel: 'count',
        x: OUTCOMES.map((_, i) => i),
        categories: OUTCOMES.map(([l]) => l),
        series: [{ label: 'count', color: PALETTE[4]!, values: OUTCOMES.map(([, k]) => num(c[k])) }],
      },
      prefix,
    ),
  );
  return out.join('\n');
}

function latencyTable(latency: SavedRun['latencyMs'] | undefined): string {
  const cols = ['p50', 'p90', 'p95', 'p99', 'p999', 'max', 'mean'] as const;
  const rows = Object.entries(latency ?? {})
    .filter(([, v]) => v && typeof v === 'object')
    .map(([name, v]) => [name, ...cols.map((k) => v[k])]);
  return table(['latency ms', ...cols], rows, 'numbers');
}

function simulateSection(r: SavedRun, charts: Charts, prefix: string): string {
  const figures: [string, unknown][] = [
    ['strategy', `${r.strategy ?? '?'}${r.strategyChoice ? ` (${r.strategyChoice})` : ''}`],
    ['mode', r.mode],
    ['transport', r.transport],
    ['stock', r.stock],
    ['sold', r.sold],
    ['oversold', r.oversold],
    ['duration s', r.durationSec],
    ['arrival phase s', r.arrivalPhaseSec],
    ['attempts/s', r.attemptsPerSec],
    ['reserve calls/s', r.reserveCallsPerSec],
    ['orders/s', r.successPerSec],
    ['dropped arrivals', r.droppedArrivals],
    ['unfair refusals', r.unfairRefusals],
    ['interrupted', r.interrupted],
  ];
  const thresholds = Array.isArray(r.thresholds) ? r.thresholds : [];
  const skus = Array.isArray(r.skus) ? r.skus : [];
  const errors = Array.isArray(r.errorSamples) ? r.errorSamples : [];
  const validity = r.validity ?? { reasons: [], relaxed: [] };
  return [
    `<section><h2>${escapeHtml(r.mode ?? '')} run ${okCell(r.ok)}${r.valid === false ? ' <span class="fail">INVALID</span>' : ''}</h2>`,
    // docs/design.md#run-validity: a run that did not deliver its load proves nothing, whatever its invariants.
    validity.reasons.length
      ? `<p class="fail">The run did not deliver its load: ${validity.reasons.map(escapeHtml).join('; ')}</p>`
      : '',
    validity.relaxed.length ? `<p class="note">Relaxed: ${validity.relaxed.map(escapeHtml).join('; ')}</p>` : '',
    figureGrid(figures),
    simulateCharts(r, charts, prefix),
    '<h3>Invariants</h3>',
    invariantsTable(r.invariants),
    thresholds.length ? `<h3>Thresholds</h3>${thresholdsTable(thresholds, false)}` : '',
    '<h3>Latency</h3>',
    latencyTable(r.latencyMs),
    '<h3>Outcomes</h3>',
    table(['counter', 'count'], Object.entries(r.counters ?? {}), 'numbers'),
    skus.length
      ? `<h3>SKUs</h3>${table(
          ['sku', 'stock', 'sold', 'held', 'remaining', 'revenue (minor)', 'currency'],
          skus.map((s) => [s.sku, s.stock, s.sold, s.held, s.remaining, s.revenueMinor, s.currency]),
          'numbers',
        )}`
      : '',
    errors.length
      ? `<h3>Error samples</h3><ul>${errors.map((e) => `<li><code>${escapeHtml(e)}</code></li>`).join('')}</ul>`
      : '',
    '</section>',
  ].join('\n');
}

function simulateBody(d: SavedSimulateDocument, charts: Charts): { title: string; body: string } {
  const runs: SavedRun[] = 'runs' in d && Array.isArray(d.runs) ? d.runs : [d as SavedRun];
  const title = `flashsale simulate: ${d.scenario ?? runs[0]?.scenario ?? ''}`;
  const head = `<p>Strategy <b>${escapeHtml(d.strategy)}</b>, ${runs.length > 1 ? 'sync and async compared' : `${escapeHtml(d.mode)} mode`}${'startedAt' in d && d.startedAt ? `, started ${escapeHtml(d.startedAt)}` : ''}. Verdict: ${okCell(d.ok)}</p>`;
  return { title, body: head + runs.map((r, i) => simulateSection(r, charts, `run${i}`)).join('\n') };
}

// ---- bench ------------------------------------------------------------------------------

function benchBody(d: BenchDocument, charts: Charts): { title: string; body: string } {
  const list = d.strategies;
  const cfg = d.config;
  const names = list.map((s) => String(s.strategy));
  const x = names.map((_, i) => i);
  const out: string[] = [];
  out.push(
    `<p>Stock ${escapeHtml(fmt(cfg.stock))} × ${escapeHtml(fmt(cfg.skus))} SKU(s), ${cfg.buyers !== undefined ? `${escapeHtml(fmt(cfg.buyers))} buyers` : `${escapeHtml(fmt(cfg.durationSec))} s`}, concurrency ${escapeHtml(fmt(cfg.concurrency))} on ${escapeHtml(fmt(cfg.workers))} worker thread(s). Verdict: ${okCell(d.ok)}${d.interrupted ? ' (interrupted)' : ''}</p>`,
  );
  if (list.length) {
    out.push(
      charts.add(
        {
          title: 'Throughput per strategy',
          kind: 'bars',
          xLabel: 'strategy',
          yLabel: 'per second',
          x,
          categories: names,
          series: [
            { label: 'successes/s', color: PALETTE[2]!, values: list.map((s) => num(s.successPerSec)) },
            { label: 'attempts/s', color: PALETTE[0]!, values: list.map((s) => num(s.attemptsPerSec)) },
          ],
        },
        'bench',
      ),
    );
    out.push(
      charts.add(
        {
          title: 'Reserve latency per strategy',
          kind: 'bars',
          xLabel: 'strategy',
          yLabel: 'ms',
          x,
          categories: names,
          series: [
            { label: 'p50', color: PALETTE[0]!, values: list.map((s) => num(s.latencyMs?.p50)) },
            { label: 'p99', color: PALETTE[1]!, values: list.map((s) => num(s.latencyMs?.p99)) },
          ],
        },
        'bench',
      ),
    );
  } else out.push('<p class="note">No strategy ran (interrupted before the first one finished).</p>');
  out.push(
    '<h2>Results</h2>',
    table(
      [
        'strategy',
        'store',
        'attempts',
        'sold',
        'held',
        'oversold',
        'false sold-out',
        'attempts/s',
        'successes/s',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        'p999 ms',
        'max ms',
        'ok',
      ],
      list.map((s) => [
        s.strategy,
        s.store,
        s.attempts,
        s.sold,
        s.held,
        s.oversold,
        s.falseSoldOut,
        s.attemptsPerSec,
        s.successPerSec,
        s.latencyMs?.p50,
        s.latencyMs?.p90,
        s.latencyMs?.p99,
        s.latencyMs?.p999,
        s.latencyMs?.max,
        s.ok ? 'pass' : 'FAIL',
      ]),
      'numbers',
    ),
  );
  out.push(
    '<h2>Invariants per strategy</h2>',
    list.map((s) => invariantsTable(s.invariants, [{ head: 'strategy', value: String(s.strategy) }])).join('\n'),
  );
  const judged = list.flatMap((s) =>
    Array.isArray(s.thresholds) ? s.thresholds.map((t) => ({ strategy: s.strategy, ...t })) : [],
  );
  if (judged.length) out.push('<h2>Thresholds per strategy</h2>', thresholdsTable(judged, true));
  const notes = list
    .filter((s) => s.generator?.note)
    .map((s) => `<li><b>${escapeHtml(s.strategy)}</b>: ${escapeHtml(s.generator.note)}</li>`);
  if (notes.length) out.push('<h2>Load generator</h2>', `<ul>${notes.join('')}</ul>`);
  return { title: `flashsale bench: ${names.join(', ') || 'no strategy'}`, body: out.join('\n') };
}

const PAGE_CSS = `
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px auto; max-width: 1040px; padding: 0 16px; color: #222; background: #fff; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; } h3 { font-size: 15px; margin-top: 20px; }
table { border-collapse: collapse; margin: 8px 0 16px; } th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } table.numbers td:not(:first-child) { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; font-weight: 600; } .fail { color: #c62828; font-weight: 700; } .note { color: #666; font-style: italic; }
.chart { margin: 16px 0 8px; width: 100%; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 6px; margin: 8px 0 16px; }
.figures div { border: 1px solid #ddd; border-radius: 4px; padding: 4px 8px; } .figures .k { display: block; color: #666; font-size: 12px; } .figures .v { font-weight: 600; }
`;

/** summary.json (simulate or bench) → a self-contained HTML page. */
export function renderHtml(summary: unknown): string {
  const kind = reportKind(summary);
  const charts = new Charts();
  // the kind is known from the shape; the fields are read as the document's types (see invariantsTable)
  const { title, body } =
    kind === 'bench'
      ? benchBody(summary as BenchDocument, charts)
      : simulateBody(summary as SavedSimulateDocument, charts);
  const { js, css } = uplotAssets();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${css}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
<script type="application/json" id="flashsale-charts">${scriptJson(charts.specs)}</script>
<script>${js.replace(/<\/script/gi, '<\\/script')}</script>
<script>${CLIENT_SCRIPT}</script>
</body>
</html>
`;
}
