// A charge off the wire, as reconciliation and payment recovery read it: checked, reduced to
// what matching needs. A leaf, so the engine's payment client and the reconcile reader share it.
import type { ProviderCharge, ProviderStatus } from './types.js';

type Raw = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const int = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v))
    throw new Error(`provider sent a charge whose ${what} is not a whole number: ${JSON.stringify(v)}`);
  return v;
};
const STATUSES = new Set<ProviderStatus>(['succeeded', 'failed', 'pending']);

/** A charge off the wire, checked: a provider that sends something else is an error, not a silent skip. */
export function toProviderCharge(c: Raw): ProviderCharge {
  const id = str(c.id);
  if (!id) throw new Error(`provider sent a charge without an id: ${JSON.stringify(c).slice(0, 200)}`);
  const meta = (c.metadata && typeof c.metadata === 'object' ? c.metadata : {}) as Raw;
  const status = c.status as ProviderStatus;
  if (!STATUSES.has(status)) throw new Error(`provider sent charge ${id} with status ${JSON.stringify(c.status)}`);
  const settled = c.settled_at === null || c.settled_at === undefined ? null : int(c.settled_at, 'settled_at') * 1000;
  return {
    id,
    // A charge nobody tagged still has to be accounted for: it joins as an orphan under its own id.
    transactionId: str(meta.transaction_id) ?? `(none: ${id})`,
    orderId: str(meta.order_id),
    amount: int(c.amount, 'amount'),
    amountRefunded: c.amount_refunded === undefined ? 0 : int(c.amount_refunded, 'amount_refunded'),
    currency: String(c.currency ?? '').toUpperCase(),
    status,
    createdMs: int(c.created, 'created') * 1000,
    settledMs: settled,
  };
}
