// The sale's invariants (docs/design.md#invariants), from the records alone: the strategy's ledger (through the
// bench's checkInvariants) joined with the orders and the Postgres sales ledger.
import { checkInvariants, type InvariantResult } from '../invariants.js';
import type { LedgerEntry } from '../strategies/types.js';
import type { OrderRecord, SaleAudit } from './types.js';

const SHOWN = 10;

function result(name: string, problems: string[], okDetail: string): InvariantResult {
  return {
    name,
    ok: problems.length === 0,
    detail:
      problems.length === 0
        ? okDetail
        : problems.slice(0, SHOWN).join('; ') + (problems.length > SHOWN ? `; … ${problems.length - SHOWN} more` : ''),
  };
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const t of items) {
    const k = key(t);
    const list = m.get(k);
    if (list) list.push(t);
    else m.set(k, [t]);
  }
  return m;
}

const ids = (orders: OrderRecord[]) => orders.map((o) => o.orderId).join(', ');

/** One order per reservation and per click (the click id is the strategy's idempotency key, per SKU). */
function onePerReservation(orders: OrderRecord[]): InvariantResult {
  const problems: string[] = [];
  for (const list of groupBy(orders, (o) => `${o.sku}\u0000${o.reservationId}`).values()) {
    if (list.length > 1)
      problems.push(`${list[0].sku}: reservation ${list[0].reservationId} has ${list.length} orders (${ids(list)})`);
  }
  for (const list of groupBy(orders, (o) => `${o.sku}\u0000${o.clickId}`).values()) {
    if (list.length > 1)
      problems.push(`${list[0].sku}: click ${list[0].clickId} made ${list.length} orders (${ids(list)})`);
  }
  return result('one order per reservation', problems, `${orders.length} orders, one per reservation and per click`);
}

/** Every Paid order has its reservation sold behind it, unit for unit, and every sold reservation a Paid order. */
function paidIsSold(orders: OrderRecord[], ledger: LedgerEntry[]): InvariantResult {
  const entries = new Map(ledger.map((e) => [`${e.sku}\u0000${e.id}`, e]));
  const problems: string[] = [];
  const paid = new Set<string>();
  for (const o of orders) {
    if (o.status !== 'Paid') continue;
    const k = `${o.sku}\u0000${o.reservationId}`;
    paid.add(k);
    const e = entries.get(k);
    if (!e)
      problems.push(
        `${o.sku}: order ${o.orderId} is Paid but reservation ${o.reservationId} is not in the strategy's ledger`,
      );
    else if (e.state !== 'sold')
      problems.push(`${o.sku}: order ${o.orderId} is Paid but reservation ${o.reservationId} is ${e.state}`);
    else if (e.qty !== o.qty)
      problems.push(
        `${o.sku}: order ${o.orderId} is Paid for ${o.qty} units, reservation ${o.reservationId} sold ${e.qty}`,
      );
  }
  for (const e of ledger) {
    if (e.state === 'sold' && !paid.has(`${e.sku}\u0000${e.id}`))
      problems.push(`${e.sku}: reservation ${e.id} is sold without a Paid order`);
  }
  return result('paid = sold', problems, `${paid.size} Paid orders, each with its reservation sold`);
}

/** Per SKU, the units the strategy's store says were sold equal the Postgres sales ledger's. */
function cacheIsRecord(audit: SaleAudit): InvariantResult {
  const inStore = new Map<string, number>();
  for (const e of audit.strategy.ledger) if (e.state === 'sold') inStore.set(e.sku, (inStore.get(e.sku) ?? 0) + e.qty);
  const skus = new Set([...audit.strategy.skus.map((s) => s.sku), ...inStore.keys(), ...Object.keys(audit.soldBySku)]);
  const problems: string[] = [];
  let units = 0;
  for (const sku of [...skus].sort()) {
    const store = inStore.get(sku) ?? 0;
    const record = audit.soldBySku[sku] ?? 0;
    units += record;
    if (store !== record)
      problems.push(
        `${sku}: the strategy's store sold ${store} units, the sales ledger records ${record} (${record > store ? '+' : ''}${record - store})`,
      );
  }
  return result(
    'cache = record',
    problems,
    `${units} units sold over ${skus.size} SKU(s), store and sales ledger agree`,
  );
}

/** No order paid twice: one sale row per order, one order per charge, sale rows only for Paid orders. */
function paidOnce(audit: SaleAudit): InvariantResult {
  const problems: string[] = [];
  const byId = new Map(audit.orders.map((o) => [o.orderId, o]));
  for (const list of groupBy(
    audit.orders.filter((o) => o.chargeId),
    (o) => o.chargeId!,
  ).values()) {
    if (list.length > 1) problems.push(`charge ${list[0].chargeId} is bound to ${list.length} orders (${ids(list)})`);
  }
  for (const list of groupBy(audit.orders, (o) => o.transactionId).values()) {
    if (list.length > 1)
      problems.push(`transaction ${list[0].transactionId} is shared by ${list.length} orders (${ids(list)})`);
  }
  const sales = audit.sales ?? [];
  for (const list of groupBy(sales, (s) => s.orderId).values()) {
    if (list.length > 1)
      problems.push(
        `${list[0].sku}: order ${list[0].orderId} has ${list.length} sale rows (charges ${list.map((s) => s.chargeId).join(', ')})`,
      );
  }
  for (const s of sales) {
    const o = byId.get(s.orderId);
    if (!o) problems.push(`${s.sku}: sale row of unknown order ${s.orderId}`);
    else if (o.status !== 'Paid') problems.push(`${s.sku}: order ${s.orderId} has a sale row but is ${o.status}`);
    else if (o.qty !== s.qty || o.amountMinor !== s.amountMinor)
      problems.push(
        `${s.sku}: order ${s.orderId} is ${o.qty} units for ${o.amountMinor}, its sale row ${s.qty} for ${s.amountMinor}`,
      );
  }
  if (audit.sales) {
    const withSale = new Set(sales.map((s) => s.orderId));
    for (const o of audit.orders)
      if (o.status === 'Paid' && !withSale.has(o.orderId))
        problems.push(`${o.sku}: order ${o.orderId} is Paid without a sale row`);
  }
  const paid = audit.orders.filter((o) => o.status === 'Paid').length;
  return result('paid once', problems, `${paid} Paid orders, ${sales.length} sale rows, no charge or sale twice`);
}

/**
 * The strategy's invariants (no oversell, conservation, exactly once, per-user limit) plus the
 * sale's; with the declared stock per SKU, no oversell at any moment too. What simulate, recover,
 * check and serve judge a sale by.
 */
export function checkSaleInvariants(
  audit: SaleAudit,
  options: { perUserLimit: number; stock?: Record<string, number> },
): InvariantResult[] {
  const base = checkInvariants({ snapshot: audit.strategy, perUserLimit: options.perUserLimit });
  return [
    ...base.invariants,
    onePerReservation(audit.orders),
    paidIsSold(audit.orders, audit.strategy.ledger),
    cacheIsRecord(audit),
    paidOnce(audit),
    ...(options.stock ? [peakOversell(audit.orders, options.stock)] : []),
  ];
}

/** The declared stock per SKU, as checkSaleInvariants takes it. */
export function stockOf(skus: { sku: string; stock: number }[]): Record<string, number> {
  return Object.fromEntries(skus.map((k) => [k.sku, k.stock]));
}

/**
 * No oversell at any moment, not only at the end: each order holds its units from its creation
 * until it ends (Expired or PaymentFailed at its last update; Paid keeps them). A store that
 * handed out 1,500 holds for 20 units and took them all back on expiry passes an end-of-run
 * count; it fails this sweep over the orders' lifetimes.
 */
export function peakOversell(orders: OrderRecord[], stock: Record<string, number>): InvariantResult {
  const problems: string[] = [];
  let worst = 0;
  for (const [sku, list] of groupBy(orders, (o) => o.sku)) {
    // ends sort before starts at the same ms, so a unit handed straight on is not counted twice
    const events: [number, number, number][] = [];
    for (const o of list) {
      events.push([o.createdAt, 1, o.qty]);
      if (o.status === 'Expired' || o.status === 'PaymentFailed') events.push([o.updatedAt, 0, -o.qty]);
    }
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let live = 0;
    let peak = 0;
    let at = 0;
    for (const [t, , d] of events) {
      live += d;
      if (live > peak) [peak, at] = [live, t];
    }
    const cap = stock[sku] ?? 0;
    worst = Math.max(worst, peak);
    if (peak > cap)
      problems.push(
        `${sku}: ${peak} units held or sold at once at ${new Date(at).toISOString()}, stock ${cap} (oversold by ${peak - cap})`,
      );
  }
  return result(
    'no oversell at any moment',
    problems,
    `at most ${worst} units of a SKU held or sold at once, within its stock`,
  );
}
