// The invariants of docs/design.md#invariants, computed from a strategy's ledger (what it recorded granting)
// and from what buyers were told, never from the strategy's own "sold" counter.
import type { LedgerEntry, Snapshot } from './strategies/types.js';

export interface InvariantResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SkuTotals {
  sku: string;
  initial: number;
  available: number;
  held: number;
  sold: number;
  /** Units beyond the initial stock that were granted (ledger or buyers, whichever saw more). */
  oversold: number;
}

export interface InvariantInput {
  snapshot: Snapshot;
  perUserLimit: number;
  /**
   * Per SKU, net units the buyers were told they hold or bought (granted minus released by them).
   * Absent when there were no buyers to ask (unit tests that drive a strategy directly).
   */
  buyerUnits?: Record<string, number>;
}

export interface InvariantReport {
  ok: boolean;
  invariants: InvariantResult[];
  skus: SkuTotals[];
}

const SAMPLE = 5;

function sample(entries: LedgerEntry[]): string {
  const ids = entries.slice(0, SAMPLE).map((e) => `${e.id}(key ${e.idempotencyKey})`);
  return ids.join(', ') + (entries.length > SAMPLE ? `, … ${entries.length - SAMPLE} more` : '');
}

function live(e: LedgerEntry): boolean {
  return e.state === 'held' || e.state === 'sold';
}

export function checkInvariants(input: InvariantInput): InvariantReport {
  const { snapshot, perUserLimit, buyerUnits } = input;
  const bySku = new Map<string, LedgerEntry[]>();
  for (const e of snapshot.ledger) {
    const list = bySku.get(e.sku) ?? [];
    list.push(e);
    bySku.set(e.sku, list);
  }

  const skus: SkuTotals[] = [];
  const oversell: string[] = [];
  const conservation: string[] = [];
  const recorded: string[] = [];
  for (const s of snapshot.skus) {
    const entries = bySku.get(s.sku) ?? [];
    let held = 0;
    let sold = 0;
    for (const e of entries) {
      if (e.state === 'held') held += e.qty;
      else if (e.state === 'sold') sold += e.qty;
    }
    const ledgerUnits = held + sold;
    const told = buyerUnits?.[s.sku];
    const granted = Math.max(ledgerUnits, told ?? 0);
    const oversold = Math.max(0, granted - s.initial);
    skus.push({ sku: s.sku, initial: s.initial, available: s.available, held, sold, oversold });
    if (oversold > 0) {
      const who =
        told !== undefined && told > ledgerUnits
          ? `buyers were told ${told} units`
          : `ledger holds ${ledgerUnits} units`;
      oversell.push(
        `${s.sku}: oversold by ${oversold} (stock ${s.initial}, ${who}; reservations ${sample(entries.filter(live))})`,
      );
    }
    const total = s.available + held + sold;
    if (total !== s.initial) {
      const delta = total - s.initial;
      conservation.push(
        `${s.sku}: available ${s.available} + held ${held} + sold ${sold} = ${total}, initial ${s.initial} (${delta > 0 ? '+' : ''}${delta} units)`,
      );
    }
    if (told !== undefined && told !== ledgerUnits) {
      recorded.push(`${s.sku}: buyers hold ${told} units, the ledger records ${ledgerUnits}`);
    }
  }
  for (const sku of bySku.keys()) {
    if (!snapshot.skus.some((s) => s.sku === sku))
      oversell.push(`${sku}: reservations for a SKU that was never stocked`);
  }

  const byKey = new Map<string, LedgerEntry[]>();
  const byId = new Map<string, number>();
  for (const e of snapshot.ledger) {
    const k = `${e.sku}\u0000${e.idempotencyKey}`;
    const list = byKey.get(k) ?? [];
    list.push(e);
    byKey.set(k, list);
    // ids are unique within a SKU (lua uses the idempotency key as the id)
    const idKey = `${e.sku}\u0000${e.id}`;
    byId.set(idKey, (byId.get(idKey) ?? 0) + 1);
  }
  const dupes: string[] = [];
  for (const list of byKey.values()) {
    if (list.length > 1)
      dupes.push(`key ${list[0].idempotencyKey} on ${list[0].sku}: ${list.length} reservations (${sample(list)})`);
  }
  for (const [k, n] of byId) {
    if (n > 1) {
      const [sku, id] = k.split('\u0000');
      dupes.push(`reservation id ${id} on ${sku} recorded ${n} times`);
    }
  }

  const perUser: string[] = [];
  if (perUserLimit > 0) {
    const units = new Map<string, number>();
    for (const e of snapshot.ledger) {
      if (!live(e)) continue;
      const k = `${e.sku}\u0000${e.user}`;
      units.set(k, (units.get(k) ?? 0) + e.qty);
    }
    for (const [k, n] of units) {
      if (n > perUserLimit) {
        const [sku, user] = k.split('\u0000');
        perUser.push(`${sku}: user ${user} holds ${n} units, limit ${perUserLimit}`);
      }
    }
  }

  const result = (name: string, problems: string[], okDetail: string): InvariantResult => ({
    name,
    ok: problems.length === 0,
    detail:
      problems.length === 0
        ? okDetail
        : problems.slice(0, 10).join('; ') + (problems.length > 10 ? `; … ${problems.length - 10} more` : ''),
  });

  const units = skus.reduce((n, s) => n + s.held + s.sold, 0);
  const stock = skus.reduce((n, s) => n + s.initial, 0);
  const invariants = [
    result('no oversell', oversell, `${units} of ${stock} units granted across ${skus.length} SKU(s)`),
    result('conservation', conservation, 'available + held + sold = initial stock for every SKU'),
    result('exactly once', dupes, `${byKey.size} idempotency keys, one reservation each`),
    result(
      'per-user limit',
      perUser,
      perUserLimit > 0 ? `no user above ${perUserLimit} units per SKU` : 'no limit configured',
    ),
  ];
  if (buyerUnits)
    invariants.push(
      result('ledger = buyers', recorded, 'every unit a buyer was granted is in the ledger, and no other'),
    );
  return { ok: invariants.every((i) => i.ok), invariants, skus };
}
