// reconcile: the merge join of local transactions and provider charges by transaction id.
import { describe, expect, it } from 'vitest';
import { mergeJoin } from '../../../../src/core/reconcile/join.js';
import { local, charge } from '../../../helpers/reconcile.js';

async function* from<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('mergeJoin', () => {
  it('groups duplicates, and keeps ids found on only one side', async () => {
    const locals = [local({ transactionId: 'a' }), local({ transactionId: 'b' }), local({ transactionId: 'd' })];
    const charges = [
      charge({ id: 'ch_a2', transactionId: 'a', createdMs: 20 }),
      charge({ id: 'ch_a1', transactionId: 'a', createdMs: 10 }),
      charge({ id: 'ch_c', transactionId: 'c' }),
      charge({ id: 'ch_d', transactionId: 'd' }),
      charge({ id: 'ch_e', transactionId: 'e' }),
    ];
    const groups = await collect(mergeJoin(from(locals), from(charges)));
    expect(groups.map((g) => [g.transactionId, g.local?.transactionId ?? null, g.charges.map((c) => c.id)])).toEqual([
      ['a', 'a', ['ch_a1', 'ch_a2']],
      ['b', 'b', []],
      ['c', null, ['ch_c']],
      ['d', 'd', ['ch_d']],
      ['e', null, ['ch_e']],
    ]);
  });

  it('yields nothing for two empty sides', async () => {
    expect(await collect(mergeJoin(from([]), from([])))).toEqual([]);
  });

  it('throws when the provider side goes backwards', async () => {
    const charges = [charge({ id: 'x', transactionId: 'b' }), charge({ id: 'y', transactionId: 'a' })];
    await expect(collect(mergeJoin(from([]), from(charges)))).rejects.toThrow(
      'provider charges are not sorted by transaction id: "a" came after "b"',
    );
  });

  it('throws when the local side goes backwards', async () => {
    const locals = [local({ transactionId: 'b' }), local({ transactionId: 'a' })];
    await expect(collect(mergeJoin(from(locals), from([])))).rejects.toThrow(
      'local transactions are not sorted by transaction id: "a" came after "b"',
    );
  });

  it('throws when the local side repeats an id', async () => {
    const locals = [local({ transactionId: 'a' }), local({ transactionId: 'a' })];
    await expect(collect(mergeJoin(from(locals), from([])))).rejects.toThrow(
      'local transactions repeat transaction id "a"',
    );
  });

  it('orders ids by code unit, as COLLATE "C" orders ASCII: "B" before "a", "a" before "a0"', async () => {
    const locals = [local({ transactionId: 'B' }), local({ transactionId: 'a' }), local({ transactionId: 'a0' })];
    const charges = [charge({ transactionId: 'B' }), charge({ transactionId: 'a0' })];
    const groups = await collect(mergeJoin(from(locals), from(charges)));
    expect(groups.map((g) => `${g.transactionId}:${g.charges.length}`)).toEqual(['B:1', 'a:0', 'a0:1']);
  });

  it('closes both inputs when the consumer stops early', async () => {
    const closed: string[] = [];
    async function* side<T>(name: string, items: T[]) {
      try {
        yield* items;
      } finally {
        closed.push(name);
      }
    }
    const locals = [local({ transactionId: 'a' }), local({ transactionId: 'b' })];
    const charges = [charge({ transactionId: 'a' }), charge({ transactionId: 'b' })];
    for await (const g of mergeJoin(side('local', locals), side('provider', charges))) {
      expect(g.transactionId).toBe('a');
      break;
    }
    expect(closed.sort()).toEqual(['local', 'provider']);
  });
});
