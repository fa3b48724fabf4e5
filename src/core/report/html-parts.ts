// The building blocks of report.html: escaping, tables, the figure cards and the chart slots the
// page's script fills (client.ts draws them).
import type { ChartSpec } from './client.js';
import type { InvariantDocument, ThresholdResult } from '../documents/common.js';

export const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#bcbd22',
  '#7f7f7f',
];

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

export const fmt = (v: unknown): string =>
  typeof v === 'number'
    ? Number.isInteger(v)
      ? v.toLocaleString('en-US')
      : String(v)
    : typeof v === 'boolean'
      ? v
        ? 'yes'
        : 'no'
      : String(v ?? '—');
export const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export function table(head: string[], rows: unknown[][], cls = ''): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(fmt(c))}</td>`).join('')}</tr>`).join('\n');
  return `<table class="${escapeHtml(cls)}"><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

export function okCell(ok: unknown): string {
  return ok ? '<span class="ok">pass</span>' : '<span class="fail">FAIL</span>';
}

// The page is drawn from the documents' types, but read defensively: `report DIR` checks a
// summary before drawing it, a writer hands it over as it is, and either may lack optional parts.
export function invariantsTable(
  invariants: InvariantDocument[] | undefined,
  lead: { head: string; value: string }[] = [],
): string {
  const list = Array.isArray(invariants) ? invariants : [];
  if (!list.length) return '<p class="note">No invariants in this summary.</p>';
  const th = [...lead.map((l) => l.head), 'invariant', 'result', 'detail']
    .map((h) => `<th>${escapeHtml(h)}</th>`)
    .join('');
  const rows = list.map(
    (i) =>
      `<tr>${lead.map((l) => `<td>${escapeHtml(l.value)}</td>`).join('')}<td>${escapeHtml(i.name)}</td><td>${okCell(i.ok)}</td><td>${escapeHtml(i.detail)}</td></tr>`,
  );
  return `<table class="invariants"><thead><tr>${th}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

export function thresholdsTable(list: (ThresholdResult & { strategy?: string })[], perStrategy: boolean): string {
  const head = `<tr>${perStrategy ? '<th>strategy</th>' : ''}<th>threshold</th><th>measured</th><th>result</th></tr>`;
  const rows = list.map(
    (t) =>
      `<tr>${perStrategy ? `<td>${escapeHtml(t.strategy)}</td>` : ''}<td>${escapeHtml(t.source)}</td><td>${escapeHtml(fmt(t.value))}</td><td>${okCell(t.ok)}</td></tr>`,
  );
  return `<table><thead>${head}</thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

export function chartDiv(spec: ChartSpec): string {
  return `<div class="chart" id="${escapeHtml(spec.id)}"></div>`;
}

export class Charts {
  readonly specs: ChartSpec[] = [];
  add(spec: Omit<ChartSpec, 'id'>, prefix: string): string {
    const full = { ...spec, id: `${prefix}-chart-${this.specs.length}` };
    this.specs.push(full);
    return chartDiv(full);
  }
}

/** Key figures as a grid of small cards: a two-column table of 14 rows would push the charts off screen. */
export function figureGrid(figures: [string, unknown][]): string {
  const cards = figures
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<div><span class="k">${escapeHtml(k)}</span><span class="v">${escapeHtml(fmt(v))}</span></div>`);
  return `<div class="figures">${cards.join('')}</div>`;
}
