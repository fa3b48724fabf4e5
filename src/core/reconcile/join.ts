// Pairs the sale's transactions with the provider's charges by transaction id, as a merge join
// over two sorted streams: memory stays constant in the number of transactions (only the charges
// of one id are held at a time), which is what lets a day of a million sales reconcile.
//
// Both sides must be sorted ascending by transaction id in byte order (SQL `COLLATE "C"`). Here
// ids are compared with `<`, which is UTF-16 code-unit order; the two orders agree for every
// string without characters beyond U+FFFF, and transaction ids are ASCII. Should either side ever
// disagree, the order checks below throw rather than silently split a group in two.
import type { LocalTxn, ProviderCharge } from './types.js';

export interface Group {
  transactionId: string;
  local?: LocalTxn;
  /** Every charge carrying the id (more than one when duplicated), in (createdMs, id) order. */
  charges: ProviderCharge[];
}

/** (createdMs, id): a stable order for charges, whatever order the provider listed them in. */
export function byCreated(a: ProviderCharge, b: ProviderCharge): number {
  if (a.createdMs !== b.createdMs) return a.createdMs - b.createdMs;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export async function* mergeJoin(
  local: AsyncIterable<LocalTxn>,
  provider: AsyncIterable<ProviderCharge>,
): AsyncGenerator<Group> {
  const locals = local[Symbol.asyncIterator]();
  const charges = provider[Symbol.asyncIterator]();
  let lastLocal: string | undefined;
  let lastCharge: string | undefined;

  const nextLocal = async (): Promise<LocalTxn | undefined> => {
    const r = await locals.next();
    if (r.done) return undefined;
    const id = r.value.transactionId;
    if (lastLocal !== undefined && id <= lastLocal) {
      throw new Error(
        id === lastLocal
          ? `local transactions repeat transaction id ${JSON.stringify(id)}; the join expects one per id`
          : `local transactions are not sorted by transaction id: ${JSON.stringify(id)} came after ${JSON.stringify(lastLocal)}`,
      );
    }
    lastLocal = id;
    return r.value;
  };
  const nextCharge = async (): Promise<ProviderCharge | undefined> => {
    const r = await charges.next();
    if (r.done) return undefined;
    const id = r.value.transactionId;
    if (lastCharge !== undefined && id < lastCharge) {
      throw new Error(
        `provider charges are not sorted by transaction id: ${JSON.stringify(id)} came after ${JSON.stringify(lastCharge)}`,
      );
    }
    lastCharge = id;
    return r.value;
  };

  try {
    let l = await nextLocal();
    let c = await nextCharge();
    while (l || c) {
      const id = l && (!c || l.transactionId <= c.transactionId) ? l.transactionId : c!.transactionId;
      const group: Group = { transactionId: id, charges: [] };
      if (l && l.transactionId === id) {
        group.local = l;
        l = await nextLocal();
      }
      while (c && c.transactionId === id) {
        group.charges.push(c);
        c = await nextCharge();
      }
      group.charges.sort(byCreated);
      yield group;
    }
  } finally {
    // A consumer that stops early (or an order error) must still release cursors and connections.
    await Promise.allSettled([locals.return?.(), charges.return?.()]);
  }
}
