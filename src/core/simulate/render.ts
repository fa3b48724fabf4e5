// The tables of a simulate run, as strings; and orders.csv.
import Table from 'cli-table3';
import chalk from 'chalk';
import { stringify } from 'csv-stringify/sync';
import type { LatencySummary } from '../histogram.js';
import type { OrderRecord } from '../engine/types.js';
import type { SimulationResult } from './run.js';

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const table = (head: string[]) => new Table({ head, style: { head: [], border: [] } });

export function renderSimulation(r: SimulationResult): string {
  const inv = table(['invariant', 'result', 'detail']);
  for (const i of r.invariants) inv.push([i.name, i.ok ? chalk.green('pass') : chalk.red('FAIL'), i.detail]);

  const lat = table(['step', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms']);
  const row = (name: string, l: LatencySummary) => lat.push([name, ms(l.p50), ms(l.p95), ms(l.p99), ms(l.max)]);
  row('reserve', r.latencyMs.reserve);
  row('pay', r.latencyMs.pay);
  row('end to end (from intended arrival)', r.latencyMs.endToEnd);

  const c = r.counters;
  const out = table(['outcome', 'count']);
  for (const [k, v] of [
    ['journeys', c.journeys],
    ['saw sold out on the page and left', c.sawSoldOut],
    ['reserve calls (incl. double clicks, retries, bots)', c.reserveCalls],
    ['orders', c.orders],
    ['paid', c.paid],
    ['sold out', c.soldOut],
    ['rate-limited', c.rateLimited],
    ['limit exceeded', c.limitExceeded],
    ['abandoned (hold left to expire)', c.abandoned],
    ['expired before paying', c.expired],
    ['declined', c.declined],
    ['payment failed (no answer from the provider)', c.payFailed],
    ['duplicates suppressed', c.duplicatesSuppressed],
    ['bot calls / bot orders', `${int(c.botCalls)} / ${int(c.botOrders)}`],
    ['errors', c.errors],
    [
      'dropped arrivals (late / in-flight cap)',
      `${int(r.droppedArrivals)} (${int(r.droppedLate)} / ${int(r.droppedInFlightCap)})`,
    ],
    ['refused while a later arrival got stock', r.unfairRefusals],
  ] as [string, number | string][])
    out.push([k, typeof v === 'number' ? int(v) : v]);

  const skus = table(['sku', 'stock', 'sold', 'held', 'remaining', 'revenue (minor units)']);
  for (const s of r.skus)
    skus.push([
      s.sku,
      int(s.stock),
      int(s.sold),
      int(s.held),
      int(s.remaining),
      `${int(s.revenueMinor)} ${s.currency}`,
    ]);

  const head = `${r.target ?? r.strategy} over ${r.transport} (${r.mode}): ${int(r.attemptsPerSec)} buyer attempts/s, ${int(r.reserveCallsPerSec)} reserve calls/s, ${int(r.successPerSec)} orders/s, ${int(r.sold)}/${int(r.stock)} sold, ${r.oversold} oversold, ${int(r.droppedArrivals)} dropped arrivals; arrivals for ${r.arrivalPhaseSec} s, all final after ${r.durationSec} s`;
  const notes = r.errorSamples.length ? chalk.yellow(`! errors, e.g. ${r.errorSamples.join(' | ')}`) : '';
  return [head, inv.toString(), lat.toString(), out.toString(), r.skus.length ? skus.toString() : '', notes]
    .filter(Boolean)
    .join('\n');
}

export function ordersCsv(orders: OrderRecord[]): string {
  return stringify(
    orders.map((o) => [
      o.orderId,
      o.transactionId,
      o.reservationId,
      o.clickId,
      o.sku,
      o.qty,
      o.user,
      o.amountMinor,
      o.currency,
      o.status,
      o.chargeId ?? '',
      new Date(o.createdAt).toISOString(),
      new Date(o.updatedAt).toISOString(),
    ]),
    {
      header: true,
      columns: [
        'order_id',
        'transaction_id',
        'reservation_id',
        'click_id',
        'sku',
        'qty',
        'user',
        'amount_minor',
        'currency',
        'status',
        'charge_id',
        'created_at',
        'updated_at',
      ],
    },
  );
}

/** The seed's comparison of the two designs, with measured numbers (`--mode both`). */
export function renderModeComparison(runs: SimulationResult[]): string {
  const t = new Table({ head: ['', ...runs.map((r) => r.mode)], style: { head: [], border: [] } });
  const row = (name: string, f: (r: SimulationResult) => string) => t.push([name, ...runs.map(f)]);
  const failed = (r: SimulationResult) =>
    r.invariants
      .filter((i) => !i.ok)
      .map((i) => i.name)
      .join(', ');
  row('consistency (invariants)', (r) => (r.ok ? 'all pass' : `FAIL: ${failed(r)}`));
  row('reserve p50 / p99 ms', (r) => `${r.latencyMs.reserve.p50} / ${r.latencyMs.reserve.p99}`);
  row('pay p50 / p99 ms', (r) => `${r.latencyMs.pay.p50} / ${r.latencyMs.pay.p99}`);
  row(
    'throughput: attempts/s, reserve calls/s, orders/s',
    (r) => `${r.attemptsPerSec} / ${r.reserveCallsPerSec} / ${r.successPerSec}`,
  );
  row('time until an order is final p50 / p95 / max ms', (r) =>
    r.finality ? `${r.finality.p50Ms} / ${r.finality.p95Ms} / ${r.finality.maxMs}` : 'n/a',
  );
  row('orders still pending at the end', (r) => (r.finality ? String(r.finality.pending) : 'n/a'));
  row('sold / stock', (r) => `${r.sold} / ${r.stock}`);
  return t.toString();
}
