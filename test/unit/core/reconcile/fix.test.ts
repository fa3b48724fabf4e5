// reconcile: what --fix would do about a duplicate.
import { describe, expect, it } from 'vitest';
import { type Group } from '../../../../src/core/reconcile/join.js';
import { actionsFor } from '../../../../src/core/reconcile/fix.js';
import type { LocalTxn, MismatchRow, ProviderCharge } from '../../../../src/core/reconcile/types.js';

const at = (iso: string) => Date.parse(iso);

const local = (over: Partial<LocalTxn> = {}): LocalTxn => ({
  transactionId: 't1',
  orderId: 'o1',
  amountMinor: 1000,
  currency: 'EUR',
  status: 'succeeded',
  chargeId: 'ch_1',
  createdMs: at('2026-11-21T10:00:00Z'),
  ...over,
});

const charge = (over: Partial<ProviderCharge> = {}): ProviderCharge => ({
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

const g1 = (l: LocalTxn | undefined, charges: ProviderCharge[]): Group => ({
  transactionId: 't1',
  ...(l ? { local: l } : {}),
  charges,
});

describe('what --fix would do about a duplicate', () => {
  const dup = (status: LocalTxn['status']) =>
    g1(local({ status }), [charge(), charge({ id: 'ch_2', createdMs: charge().createdMs + 5 })]);
  const row = {
    break_id: 'brk',
    category: 'DUPLICATE_CHARGE' as const,
    transaction_id: 't1',
    order_id: 'o1',
  } as MismatchRow;
  it('a sale that stands keeps the charge it is bound to and refunds the other', () => {
    expect(actionsFor(dup('succeeded'), row).map((a) => a.chargeId)).toEqual(['ch_2']);
  });
  it('a failed sale keeps no charge: every live one is refunded', () => {
    expect(actionsFor(dup('failed'), row).map((a) => a.chargeId)).toEqual(['ch_1', 'ch_2']);
  });
});
