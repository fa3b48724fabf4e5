// Hand-made records for the reconcile unit tests: a local transaction and a provider charge of
// one order, each overridable field by field, and the group the merge join makes of them.
import type { Group } from '../../src/core/reconcile/join.js';
import type { LocalTxn, ProviderCharge } from '../../src/core/reconcile/types.js';

export const at = (iso: string) => Date.parse(iso);

export const local = (over: Partial<LocalTxn> = {}): LocalTxn => ({
  transactionId: 't1',
  orderId: 'o1',
  amountMinor: 1000,
  currency: 'EUR',
  status: 'succeeded',
  chargeId: 'ch_1',
  createdMs: at('2026-11-21T10:00:00Z'),
  ...over,
});

export const charge = (over: Partial<ProviderCharge> = {}): ProviderCharge => ({
  id: 'ch_1',
  transactionId: 't1',
  orderId: 'o1',
  amount: 1000,
  amountRefunded: 0,
  currency: 'EUR',
  status: 'succeeded',
  createdMs: at('2026-11-21T10:00:01Z'),
  settledMs: at('2026-11-21T12:00:00Z'),
  ...over,
});

export const g1 = (l: LocalTxn | undefined, charges: ProviderCharge[]): Group => ({
  transactionId: 't1',
  ...(l ? { local: l } : {}),
  charges,
});
