// The reconcile table and verdict lines, as a person reads them.
import Table from 'cli-table3';
import type { ReconcileResult } from './run.js';

export function renderReconcile(r: ReconcileResult): string {
  const t = new Table({
    head: ['category', 'currency', 'count', 'net delta (minor)', 'gross delta (minor)'],
    style: { head: [], border: [] },
    colAligns: ['left', 'left', 'right', 'right', 'right'],
  });
  for (const l of r.summary)
    t.push([
      l.category,
      l.currency,
      l.count.toLocaleString('en-US'),
      l.netMinor.toLocaleString('en-US'),
      l.grossMinor.toLocaleString('en-US'),
    ]);
  const lines = [
    `reconcile ${r.date} (${r.tz}, ${r.window.start} to ${r.window.end}, ${r.window.hours} h), namespace ${r.namespace}, provider ${r.provider}`,
    r.summary.length ? t.toString() : '(nothing recorded on either side for this day)',
    `read ${r.read.localTransactions.toLocaleString('en-US')} local transactions of the day and ${r.read.providerCharges.toLocaleString('en-US')} provider charges (day ±1) in ${r.read.pages} pages; ${r.read.retries} retried, ${r.read.rateLimited} rate-limited; ${(r.elapsedMs / 1000).toFixed(1)} s, peak RSS ${r.peakRssMb} MB`,
  ];
  const planned = Object.entries(r.fixes.planned);
  if (r.fixes.outcome) {
    const o = r.fixes.outcome;
    const refunded =
      Object.entries(o.refundedMinor)
        .map(([c, n]) => `${n} ${c}`)
        .join(', ') || 'nothing';
    const failures = o.failed.length
      ? `: ${o.failed
          .slice(0, 3)
          .map((f) => `${f.key}: ${f.error}`)
          .join('; ')}`
      : '';
    lines.push(
      `fix: ${o.done} done (refunded ${refunded}; ${o.released} orders failed and their units released), ${o.skipped} already done by an earlier --fix, ${o.failed.length} failed${failures}`,
    );
  } else if (planned.length) {
    lines.push(
      `--fix would: ${planned.map(([k, n]) => `${k.replace(/_/g, ' ')} ×${n}`).join(', ')} (everything else needs a person: see suggested_action)`,
    );
  }
  if (r.incomplete)
    lines.push(
      `INCOMPLETE: ${r.incomplete}. Nothing is reported as missing on the strength of a page that was not read; run again.`,
    );
  lines.push(`verdict: ${r.verdict} (${r.breaks} break${r.breaks === 1 ? '' : 's'})`);
  return lines.join('\n');
}
