// reconcile: what --fix would do about a duplicate.
import { describe, expect, it } from 'vitest';
import { actionsFor } from '../../../../src/core/reconcile/fix.js';
import type { LocalTxn, MismatchRow } from '../../../../src/core/reconcile/types.js';
import { local, charge, g1 } from '../../../helpers/reconcile.js';

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
