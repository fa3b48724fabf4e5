// One transaction id's records on both sides → one reconciliation category and its report row.
//
// Belonging. A group with a local transaction belongs to the day iff the local createdMs lies in
// [startMs, endMs); without one, iff some charge's createdMs does. Any other group is another
// day's to report (null). The caller reads a wider window on both sides, so a sale at 23:59:59
// whose charge is stamped 00:00:01 still meets it, and is reported once, on the sale's day.
//
// Money. providerNet = Σ (amount − amountRefunded) over succeeded charges; localNet = the local
// amount if the local status is succeeded, else 0; delta = providerNet − localNet (0 for a
// currency mismatch, where the two cannot be subtracted). A charge is "live" when it succeeded
// and still holds money (amount − amountRefunded > 0).
//
// No local record: providerNet > 0 → ORPHAN_CHARGE (refund_charge); otherwise null, since a
// failed attempt or a charge refunded in full owes nobody anything.
//
// Local, no charges: local failed → MATCHED; else younger than the grace period → PENDING
// (wait); else MISSING_AT_PROVIDER (release_stock_and_fail_order when the sale succeeded,
// investigate_status when it says refunded).
//
// Local and charges, the first rule that applies wins:
//   a. more than one live charge → DUPLICATE_CHARGE (refund_duplicates);
//   b. the primary charge is the one the order is bound to (id = local.chargeId), else the first
//      live charge, else the last charge, charges taken in (createdMs, id) order;
//   c. primary currency ≠ local currency → CURRENCY_MISMATCH (investigate_currency);
//   d. primary amount ≠ local amount → AMOUNT_MISMATCH (investigate_amount);
//   e. statuses: local succeeded wants succeeded with nothing refunded, local refunded wants
//      succeeded and refunded in full, local failed wants failed. A provider still 'pending'
//      for a local success is PENDING inside the grace period (counted from the local
//      createdMs, as for a missing charge); every other disagreement → STATUS_MISMATCH
//      (investigate_status); so is a primary that agrees while providerNet ≠ localNet (another
//      charge holds the money);
//   f. a succeeded primary not settled inside the day (settledMs null or outside the window)
//      → SETTLED_OTHER_DAY (expect_settlement_other_day);
//   g. otherwise MATCHED (none).
//
// Row. provider_status is the primary's status (for an orphan the primary by rule b, i.e. its
// first live charge), with '+refunded' when its refund covers the amount and
// '+partially_refunded' when it covers part of it. provider_amount_minor is the primary's amount,
// or for an orphan the money its charges still hold (providerNet), so that provider − local =
// delta there too. Times are the local createdMs and the primary's createdMs.
import { createHash } from 'node:crypto';
import { byCreated, type Group } from './join.js';
import type { DayWindow, MismatchRow, ProviderCharge, ReconCategory, SuggestedAction } from './types.js';

export interface ClassifyContext {
  window: DayWindow;
  nowMs: number;
  graceMs: number;
}

export interface Classified {
  category: ReconCategory;
  row: MismatchRow;
}

/** Stable across runs: the same break on the same day always has the same id (for --fix audit). */
export function breakId(date: string, transactionId: string, category: ReconCategory): string {
  return `brk_${createHash('sha256').update(`${date}\n${transactionId}\n${category}`).digest('hex').slice(0, 20)}`;
}

const inWindow = (ms: number, w: DayWindow) => ms >= w.startMs && ms < w.endMs;
const net = (c: ProviderCharge) => (c.status === 'succeeded' ? c.amount - c.amountRefunded : 0);
const isLive = (c: ProviderCharge) => net(c) > 0;
const iso = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString());

function providerStatus(c: ProviderCharge | undefined): string {
  if (!c) return '';
  if (c.amountRefunded <= 0) return c.status;
  return `${c.status}${c.amountRefunded >= c.amount ? '+refunded' : '+partially_refunded'}`;
}

/** Rule e: does the primary charge say what the local record says? */
function statusAgrees(local: NonNullable<Group['local']>, primary: ProviderCharge): boolean {
  switch (local.status) {
    case 'succeeded':
      return primary.status === 'succeeded' && primary.amountRefunded === 0;
    case 'refunded':
      return primary.status === 'succeeded' && primary.amountRefunded === primary.amount;
    case 'failed':
      return primary.status === 'failed';
  }
}

export function classify(group: Group, ctx: ClassifyContext): Classified | null {
  const { local } = group;
  const { window } = ctx;
  const charges = [...group.charges].sort(byCreated);
  // Without a local record, the first charge decides, so charges either side of midnight are reported once.
  if (local ? !inWindow(local.createdMs, window) : !inWindow(charges[0].createdMs, window)) return null;

  const providerNet = charges.reduce((sum, c) => sum + net(c), 0);
  const localNet = local?.status === 'succeeded' ? local.amountMinor : 0;
  const primary =
    charges.find((c) => local?.chargeId != null && c.id === local.chargeId) ?? charges.find(isLive) ?? charges.at(-1);

  const result = (category: ReconCategory, action: SuggestedAction): Classified => ({
    category,
    row: {
      break_id: breakId(window.date, group.transactionId, category),
      category,
      transaction_id: group.transactionId,
      order_id: local?.orderId ?? charges[0]?.orderId ?? '',
      provider_charge_ids: charges.map((c) => c.id),
      local_status: local?.status ?? '',
      provider_status: providerStatus(primary),
      currency: local?.currency ?? charges[0]?.currency ?? '',
      local_amount_minor: local ? local.amountMinor : null,
      provider_amount_minor: primary ? (local ? primary.amount : providerNet) : null,
      delta_minor: category === 'CURRENCY_MISMATCH' ? 0 : providerNet - localNet,
      local_time: iso(local?.createdMs),
      provider_time: iso(primary?.createdMs),
      suggested_action: action,
    },
  });

  if (!local) {
    if (providerNet <= 0) return null;
    // The engine records its transaction only once the charge is confirmed: a charge younger than
    // the grace may be one whose order is being marked paid right now. Refunding it would take
    // back money for a sale that stands.
    if (ctx.nowMs - Math.max(...charges.map((c) => c.createdMs)) < ctx.graceMs) return result('PENDING', 'wait');
    return result('ORPHAN_CHARGE', 'refund_charge');
  }

  const withinGrace = ctx.nowMs - local.createdMs < ctx.graceMs;
  if (!primary) {
    if (local.status === 'failed') return result('MATCHED', 'none');
    if (withinGrace) return result('PENDING', 'wait');
    return result(
      'MISSING_AT_PROVIDER',
      local.status === 'succeeded' ? 'release_stock_and_fail_order' : 'investigate_status',
    );
  }

  if (charges.filter(isLive).length > 1) return result('DUPLICATE_CHARGE', 'refund_duplicates');
  if (primary.currency !== local.currency) return result('CURRENCY_MISMATCH', 'investigate_currency');
  if (primary.amount !== local.amountMinor) return result('AMOUNT_MISMATCH', 'investigate_amount');
  if (!statusAgrees(local, primary)) {
    if (local.status === 'succeeded' && primary.status === 'pending' && withinGrace) return result('PENDING', 'wait');
    return result('STATUS_MISMATCH', 'investigate_status');
  }
  // The primary agrees, yet money sits elsewhere: a second charge succeeded beside a failed or
  // refunded primary. Not a duplicate (one live charge), but not matched either.
  if (providerNet !== localNet) return result('STATUS_MISMATCH', 'investigate_status');
  if (primary.status === 'succeeded' && (primary.settledMs === null || !inWindow(primary.settledMs, window))) {
    return result('SETTLED_OTHER_DAY', 'expect_settlement_other_day');
  }
  return result('MATCHED', 'none');
}
