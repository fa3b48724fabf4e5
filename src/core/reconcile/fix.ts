// `reconcile --fix`: what can be put right without a person, done once however often it runs.
//
// - an orphan charge (no order of ours) is refunded in full;
// - a duplicate charge is refunded, keeping the one the order is bound to;
// - a payment we recorded that never happened at the provider fails its order and releases its
//   units from the sales ledger.
//
// Each action has a key (the charge or order it acts on). The refund goes to the provider with an
// Idempotency-Key derived from it, so a crash between the refund and its audit row replays the
// first refund instead of making a second; the audit row (primary key = action key) is what a
// later run checks first. Everything else (amount, currency, status mismatches) needs a person.
import type pg from 'pg';
import type { ProviderReader } from './provider-client.js';
import type { Group } from './join.js';
import type { MismatchRow, ReconCategory } from './types.js';

export type FixKind = 'refund_orphan' | 'refund_duplicate' | 'release_stock_and_fail_order';

export interface FixAction {
  key: string;
  kind: FixKind;
  breakId: string;
  category: ReconCategory;
  transactionId: string;
  orderId: string;
  chargeId: string | null;
  amountMinor: number;
  currency: string;
}

export interface FixOutcome {
  planned: number;
  done: number;
  /** Already in the audit table from an earlier --fix. */
  skipped: number;
  failed: { key: string; error: string }[];
  /** Refunded, per currency, in minor units. */
  refundedMinor: Record<string, number>;
  released: number;
}

const live = (c: Group['charges'][number]) => c.status === 'succeeded' && c.amount - c.amountRefunded > 0;

/** The actions a break calls for; none for categories a machine should not decide. */
export function actionsFor(group: Group, row: MismatchRow): FixAction[] {
  const base = {
    breakId: row.break_id,
    category: row.category,
    transactionId: row.transaction_id,
    orderId: row.order_id,
  };
  if (row.category === 'ORPHAN_CHARGE') {
    return group.charges.filter(live).map((c) => ({
      ...base,
      key: `refund:${c.id}`,
      kind: 'refund_orphan' as const,
      chargeId: c.id,
      amountMinor: c.amount - c.amountRefunded,
      currency: c.currency,
    }));
  }
  if (row.category === 'DUPLICATE_CHARGE') {
    const charges = group.charges.filter(live);
    // Keep one only for a sale that stands; a failed or refunded one should hold no money at all.
    const keep =
      group.local?.status === 'succeeded'
        ? (charges.find((c) => c.id === group.local?.chargeId) ?? charges[0])
        : undefined;
    return charges
      .filter((c) => c.id !== keep?.id)
      .map((c) => ({
        ...base,
        key: `refund:${c.id}`,
        kind: 'refund_duplicate' as const,
        chargeId: c.id,
        amountMinor: c.amount - c.amountRefunded,
        currency: c.currency,
      }));
  }
  if (row.category === 'MISSING_AT_PROVIDER' && group.local?.status === 'succeeded') {
    const l = group.local;
    return [
      {
        ...base,
        key: `release:${l.orderId}`,
        kind: 'release_stock_and_fail_order',
        chargeId: l.chargeId,
        amountMinor: l.amountMinor,
        currency: l.currency,
      },
    ];
  }
  return [];
}

/**
 * A charge on an order whose payment is still being finished (pending, or owing payment recovery
 * a lookup) is not reconcile's to refund: its unit may stand sold in the live store, and refunding
 * it would leave the store and the ledger disagreeing. `flashsale recover` finishes such orders
 * (Paid, or refunded with the units back); reconcile is run again after it.
 */
async function refuseWhileRecoveryOwes(client: pg.ClientBase, schema: string, a: FixAction): Promise<boolean> {
  // to_jsonb: a sale recorded before payment recovery existed has no recovery column.
  const { rows } = await client.query<{ order_id: string; status: string; recovery: string | null; tracked: boolean }>(
    `SELECT order_id, status, to_jsonb(o)->>'recovery' AS recovery, to_jsonb(o) ? 'recovery' AS tracked
FROM ${schema}.orders o WHERE transaction_id = $1`,
    [a.transactionId],
  );
  const o = rows[0];
  if (o && (o.status === 'PendingPayment' || o.recovery === 'lookup'))
    throw new Error(
      `not refunded: order ${o.order_id} is ${o.status}${o.recovery ? ` and owed a payment lookup` : ''}; its charge may be the one it is sold with. Run \`flashsale recover --namespace ${schema.replace(/^"?flashsale_|_sale"?$/g, '')}\` first, then reconcile again`,
    );
  return Boolean(o?.tracked);
}

export function auditDdl(schema: string): string {
  return `CREATE TABLE IF NOT EXISTS ${schema}.reconcile_actions (
  action_key text PRIMARY KEY,
  date text NOT NULL,
  break_id text NOT NULL,
  category text NOT NULL,
  action text NOT NULL,
  transaction_id text NOT NULL,
  order_id text NOT NULL,
  charge_id text,
  amount_minor bigint NOT NULL,
  currency text NOT NULL,
  detail text,
  at timestamptz NOT NULL DEFAULT now()
)`;
}

export async function applyFixes(
  client: pg.ClientBase,
  schema: string,
  date: string,
  actions: FixAction[],
  provider: ProviderReader,
): Promise<FixOutcome> {
  const out: FixOutcome = { planned: actions.length, done: 0, skipped: 0, failed: [], refundedMinor: {}, released: 0 };
  await client.query(auditDdl(schema));
  const audit = (a: FixAction, detail: string) =>
    client.query(
      `INSERT INTO ${schema}.reconcile_actions (action_key, date, break_id, category, action, transaction_id, order_id, charge_id, amount_minor, currency, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (action_key) DO NOTHING`,
      [
        a.key,
        date,
        a.breakId,
        a.category,
        a.kind,
        a.transactionId,
        a.orderId,
        a.chargeId,
        a.amountMinor,
        a.currency,
        detail,
      ],
    );
  for (const a of actions) {
    const { rowCount } = await client.query(`SELECT 1 FROM ${schema}.reconcile_actions WHERE action_key = $1`, [a.key]);
    if (rowCount) {
      out.skipped++;
      continue;
    }
    try {
      if (a.kind === 'release_stock_and_fail_order') {
        await client.query('BEGIN');
        try {
          const moved = await client.query(
            `UPDATE ${schema}.orders SET status = 'PaymentFailed', decline_code = 'missing_at_provider', updated_at = now() WHERE order_id = $1 AND status = 'Paid'`,
            [a.orderId],
          );
          await client.query(`DELETE FROM ${schema}.sales WHERE order_id = $1`, [a.orderId]);
          await client.query(
            `UPDATE ${schema}.transactions SET status = 'failed' WHERE transaction_id = $1 AND status = 'succeeded'`,
            [a.transactionId],
          );
          await audit(
            a,
            moved.rowCount
              ? 'order PaymentFailed; sale removed from the sales ledger'
              : 'order was no longer Paid; transaction marked failed',
          );
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
        out.released++;
      } else {
        const tracked = await refuseWhileRecoveryOwes(client, schema, a);
        const r = await provider.refund(a.chargeId!, `flashsale-reconcile-${a.key}`);
        // An Expired order bound to this charge now has its money back: its record says so, and
        // payment recovery owes it nothing more (docs/design.md#payment-recovery).
        if (tracked)
          await client.query(
            `UPDATE ${schema}.orders SET refunded = true, recovery = NULL, recovery_since = NULL
WHERE transaction_id = $1 AND status = 'Expired' AND charge_id = $2`,
            [a.transactionId, a.chargeId],
          );
        await audit(a, r.refundId ? `refund ${r.refundId} of ${r.amount}` : 'already refunded at the provider');
        out.refundedMinor[a.currency] = (out.refundedMinor[a.currency] ?? 0) + r.amount;
      }
      out.done++;
    } catch (err) {
      out.failed.push({ key: a.key, error: (err as Error).message });
    }
  }
  return out;
}
