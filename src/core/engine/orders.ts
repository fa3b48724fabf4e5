// The sale's own records in Postgres, in a schema of their own beside the strategy's: orders
// (one per reservation), the sales ledger (one row per paid order, what "cache = record" is
// checked against) and the local transactions the reconcile job streams against the provider.
//
// Every status change is a conditional UPDATE on the order's current status, so two workers, a
// retried request and the sweeper can race on one order and exactly one of them moves it.
// Past 400 lines on purpose: the recovery columns (what payment recovery still owes an order) are
// set and cleared by the same conditional UPDATEs, and only side by side can one check that every
// status change leaves them right (docs/design.md#payment-recovery).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import { msToTs, tsToMs } from '../postgres/sql-time.js';
import { inTransaction } from '../postgres/transaction.js';
import { ddl } from './orders-schema.js';
import type { Reservation } from '../strategies/types.js';
import type { EngineConfig, OrderRecord, OrderStatus, SaleRecord } from './types.js';

export { orderSchemaIdent } from './orders-schema.js';

/** What a reserve writes: everything of OrderRecord the order starts with. */
export interface NewOrder extends Pick<
  OrderRecord,
  'reservationId' | 'clickId' | 'sku' | 'qty' | 'user' | 'amountMinor' | 'currency'
> {
  expiresAt: number;
  now: number;
}

export type RecoveryOwed = 'lookup' | 'refund' | 'release';

export interface StoredOrder extends OrderRecord {
  expiresAt: number;
  refunded: boolean;
  /** What payment recovery still owes this order, and since when (docs/design.md#payment-recovery). */
  recovery?: RecoveryOwed;
  recoverySince?: number;
}

/** The `sale` row: how the sale is set up (no secrets, no service addresses) and who runs it. */
export interface SaleRow {
  config: Omit<EngineConfig, 'providerSecret' | 'redisUrl' | 'redisCluster' | 'databaseUrl'> & {
    /** The Redis strategies ran on a cluster (recover needs one too). */
    cluster: boolean;
  };
  ownerPid: number;
  ownerHost: string;
  startedAt: number;
  endedAt?: number;
}

/** The strategy's hold behind an order. */
export function reservationOf(o: StoredOrder): Reservation {
  return {
    id: o.reservationId,
    sku: o.sku,
    qty: o.qty,
    user: o.user,
    idempotencyKey: o.clickId,
    expiresAt: o.expiresAt,
  };
}

interface Row {
  order_id: string;
  reservation_id: string;
  click_id: string;
  sku: string;
  qty: number;
  user_id: string;
  amount_minor: string;
  currency: string;
  status: OrderStatus;
  transaction_id: string;
  expires_ms: number;
  charge_id: string | null;
  decline_code: string | null;
  refunded: boolean;
  recovery: RecoveryOwed | null;
  recovery_ms: number | null;
  created_ms: number;
  updated_ms: number;
}

const COLUMNS = `order_id, reservation_id, click_id, sku, qty, user_id, amount_minor::text, currency, status, transaction_id,
  ${tsToMs('expires_at')} AS expires_ms, charge_id, decline_code, refunded,
  recovery, ${tsToMs('recovery_since')} AS recovery_ms, ${tsToMs('created_at')} AS created_ms, ${tsToMs('updated_at')} AS updated_ms`;

function toOrder(r: Row): StoredOrder {
  return {
    orderId: r.order_id,
    reservationId: r.reservation_id,
    clickId: r.click_id,
    sku: r.sku,
    qty: r.qty,
    user: r.user_id,
    amountMinor: Number(r.amount_minor),
    currency: r.currency,
    status: r.status,
    ...(r.charge_id ? { chargeId: r.charge_id } : {}),
    ...(r.decline_code ? { declineCode: r.decline_code } : {}),
    transactionId: r.transaction_id,
    expiresAt: r.expires_ms,
    refunded: r.refunded,
    ...(r.recovery ? { recovery: r.recovery, recoverySince: r.recovery_ms ?? r.updated_ms } : {}),
    createdAt: r.created_ms,
    updatedAt: r.updated_ms,
  };
}

/**
 * Random, not a sequence: order and transaction ids reach the provider as Idempotency-Keys and
 * metadata, and a provider ledger outlives one sale, so an id reused by the next sale would
 * replay the last sale's charge.
 */
const newIds = () => {
  const hex = randomBytes(12).toString('hex');
  return { orderId: `ord_${hex}`, transactionId: `txn_${hex}` };
};

/** The local transaction of an order's payment outcome; a later outcome (refunded) replaces an earlier one. */
const TRANSACTION_UPSERT = (
  s: string,
  rows: string,
) => `INSERT INTO ${s}.transactions (transaction_id, order_id, amount_minor, currency, status, charge_id, created_at)
${rows}
ON CONFLICT (transaction_id) DO UPDATE SET status = EXCLUDED.status, charge_id = coalesce(EXCLUDED.charge_id, ${s}.transactions.charge_id)`;

/** Orders per INSERT at most; more wait for the next one (a few ms), not for a bigger statement. */
const MAX_BATCH = 200;

interface PendingOrder {
  o: NewOrder;
  resolve: (made: StoredOrder | undefined) => void;
  reject: (err: unknown) => void;
}

export class OrderStore {
  private readonly pending: PendingOrder[] = [];
  private flushSoon: NodeJS.Immediate | undefined;

  constructor(
    private readonly pool: pg.Pool,
    readonly s: string,
  ) {}

  async create(): Promise<void> {
    await inTransaction(this.pool, (c) => c.query(ddl(this.s)));
  }

  /**
   * Records who runs the sale and how it is set up: what `flashsale recover` needs to reopen a sale
   * whose run died (docs/design.md#payment-recovery). A sale set up again starts its row afresh.
   */
  async openSale(config: SaleRow['config'], now: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.s}.sale (config, owner_pid, owner_host, started_at) VALUES ($1, $2, $3, ${msToTs('$4')})
ON CONFLICT (one) DO UPDATE SET config = EXCLUDED.config, owner_pid = EXCLUDED.owner_pid,
  owner_host = EXCLUDED.owner_host, started_at = EXCLUDED.started_at, ended_at = NULL`,
      [JSON.stringify(config), process.pid, hostname(), now],
    );
  }

  /** The sale's run finished its own recovery: nothing is left for `flashsale recover`. */
  async endSale(now: number): Promise<void> {
    await this.pool.query(`UPDATE ${this.s}.sale SET ended_at = ${msToTs('$1')}`, [now]);
  }

  async readSale(): Promise<SaleRow | undefined> {
    const { rows } = await this.pool.query<{
      config: SaleRow['config'];
      owner_pid: number;
      owner_host: string;
      started_ms: number;
      ended_ms: number | null;
    }>(
      `SELECT config, owner_pid, owner_host, ${tsToMs('started_at')} AS started_ms, ${tsToMs('ended_at')} AS ended_ms FROM ${this.s}.sale`,
    );
    const r = rows[0];
    return r
      ? {
          config: r.config,
          ownerPid: r.owner_pid,
          ownerHost: r.owner_host,
          startedAt: r.started_ms,
          ...(r.ended_ms === null ? {} : { endedAt: r.ended_ms }),
        }
      : undefined;
  }

  /**
   * The end of a sale that is over: every pending order nobody claimed a charge for is Expired
   * now (its buyer is gone with the run). Claimed ones are payment recovery's.
   */
  async expirePending(now: number): Promise<number> {
    const { rowCount } = await this.pool.query(
      `UPDATE ${this.s}.orders SET status = 'Expired', updated_at = ${msToTs('$1')} WHERE status = 'PendingPayment' AND charge_id IS NULL`,
      [Math.round(now)],
    );
    return rowCount ?? 0;
  }

  async drop(): Promise<void> {
    await this.pool.query(`DROP SCHEMA IF EXISTS ${this.s} CASCADE`);
  }

  /**
   * The order of a reservation, created if it has none yet, so a double click (the strategy
   * answers with the same reservation) and a retry after a crash between hold and order both
   * end with exactly one order. `created` is false when it already existed.
   */
  async orderFor(o: NewOrder): Promise<{ order: StoredOrder; created: boolean }> {
    const inserted = await new Promise<StoredOrder | undefined>((resolve, reject) => {
      this.pending.push({ o, resolve, reject });
      if (this.pending.length >= MAX_BATCH) this.flush();
      else this.flushSoon ??= setImmediate(() => this.flush());
    });
    if (inserted) return { order: inserted, created: true };
    return { order: await this.existingOrderOf(o), created: false };
  }

  /**
   * The orders asked for in one turn of the event loop go in one INSERT: at a sale's first
   * second hundreds of holds are granted at once, and a statement (and a commit) per order was
   * what the buyers waited for (measured: 500 single-row inserts per worker in that second,
   * p50 30-110 ms each, on two cores shared with Redis and the load). A row that conflicts (a
   * double click in the same batch, or an order a concurrent reserve already made) is skipped
   * by ON CONFLICT DO NOTHING and looked up afterwards, as before.
   */
  private flush(): void {
    if (this.flushSoon) clearImmediate(this.flushSoon);
    this.flushSoon = undefined;
    // One order of rows for every batch: two batches racing on the same clicks then wait for
    // each other in the same order instead of deadlocking.
    const batch = this.pending
      .splice(0, MAX_BATCH)
      .sort((a, b) =>
        a.o.sku !== b.o.sku
          ? a.o.sku < b.o.sku
            ? -1
            : 1
          : a.o.clickId < b.o.clickId
            ? -1
            : a.o.clickId > b.o.clickId
              ? 1
              : 0,
      );
    if (batch.length === 0) return;
    if (this.pending.length > 0) this.flushSoon = setImmediate(() => this.flush());
    this.insert(batch);
  }

  private insert(batch: PendingOrder[]): void {
    const rows = batch.map(({ o }) => {
      const { orderId, transactionId } = newIds();
      // A hold granted already expired (a retried click long after) gets an order that is final at once.
      const status: OrderStatus = o.expiresAt <= o.now ? 'Expired' : 'PendingPayment';
      return { orderId, transactionId, status, o };
    });
    const col = <T>(f: (r: (typeof rows)[number]) => T) => rows.map(f);
    this.pool
      .query<Row>({
        name: 'order_insert_batch',
        text: `INSERT INTO ${this.s}.orders (order_id, reservation_id, click_id, sku, qty, user_id, amount_minor, currency, status,
  transaction_id, expires_at, created_at, updated_at)
SELECT b.order_id, b.reservation_id, b.click_id, b.sku, b.qty, b.user_id, b.amount_minor, b.currency, b.status, b.transaction_id,
  ${msToTs('b.expires_ms')}, ${msToTs('b.now_ms')}, ${msToTs('b.now_ms')}
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[])
  AS b(order_id, reservation_id, click_id, sku, qty, user_id, amount_minor, currency, status, transaction_id, expires_ms, now_ms)
ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
        values: [
          col((r) => r.orderId),
          col((r) => r.o.reservationId),
          col((r) => r.o.clickId),
          col((r) => r.o.sku),
          col((r) => r.o.qty),
          col((r) => r.o.user),
          col((r) => r.o.amountMinor),
          col((r) => r.o.currency),
          col((r) => r.status),
          col((r) => r.transactionId),
          col((r) => Math.round(r.o.expiresAt)),
          col((r) => Math.round(r.o.now)),
        ],
      })
      .then(
        ({ rows: made }) => {
          const byId = new Map(made.map((m) => [m.order_id, toOrder(m)]));
          batch.forEach((b, i) => b.resolve(byId.get(rows[i].orderId)));
        },
        (err: unknown) => {
          // A deadlock all the same (rows also conflict on reservation ids): nothing was written; ask again.
          const code = (err as { code?: string }).code ?? '';
          if (code === '40P01') {
            this.pending.push(...batch);
            this.flushSoon ??= setImmediate(() => this.flush());
          } else if (batch.length > 1 && /^2[23]/.test(code)) {
            // A row the database refuses (bad data, a check): nothing was written. Each order on
            // its own, so only the offending caller hears of it, not the whole turn's buyers.
            for (const b of batch) this.insert([b]);
          } else batch.forEach((b) => b.reject(err));
        },
      );
  }

  private async existingOrderOf(o: NewOrder): Promise<StoredOrder> {
    // The conflicting row was committed by a concurrent reserve; this statement sees it.
    const { rows } = await this.pool.query<Row>({
      name: 'order_of_reservation',
      text: `SELECT ${COLUMNS} FROM ${this.s}.orders WHERE sku = $1 AND (reservation_id = $2 OR click_id = $3) ORDER BY (reservation_id = $2) DESC LIMIT 1`,
      values: [o.sku, o.reservationId, o.clickId],
    });
    if (!rows[0]) throw new Error(`order of reservation ${o.reservationId} (${o.sku}) neither inserted nor found`);
    return toOrder(rows[0]);
  }

  async get(orderId: string): Promise<StoredOrder | undefined> {
    const { rows } = await this.pool.query<Row>({
      name: 'order_get',
      text: `SELECT ${COLUMNS} FROM ${this.s}.orders WHERE order_id = $1`,
      values: [orderId],
    });
    return rows[0] ? toOrder(rows[0]) : undefined;
  }

  /**
   * Opens a payment: the pending, unclaimed order whose hold outlasts `latestEnd` (the latest a
   * charge started now can end) is marked as owing payment recovery a lookup from `now` on, before
   * the charge request goes out. A payer that dies or gives up from here on leaves the order to
   * recovery, which asks the provider what became of the charge. Undefined: the order is not in
   * that state (the caller reads it to say why). Each new pay of the order restarts the clock.
   */
  async beginCharge(orderId: string, now: number, latestEnd: number): Promise<StoredOrder | undefined> {
    const { rows } = await this.pool.query<Row>({
      name: 'order_begin_charge',
      text: `UPDATE ${this.s}.orders SET recovery = 'lookup', recovery_since = ${msToTs('$2')}
WHERE order_id = $1 AND status = 'PendingPayment' AND charge_id IS NULL AND expires_at >= ${msToTs('$3')}
RETURNING ${COLUMNS}`,
      values: [orderId, Math.round(now), Math.round(latestEnd)],
    });
    return rows[0] ? toOrder(rows[0]) : undefined;
  }

  /**
   * Binds a charge the provider accepted to the still-pending order. Exactly one pay wins it;
   * from then on the sweeper leaves the order alone, so a hold that runs out while the winner
   * confirms cannot turn a charged order into an Expired one behind its back. Recovery's clock
   * restarts: a claimed order is the winner's to finish, and recovery's only once it has had ample
   * time to (its payer died between the claim and the sale).
   */
  async claimCharge(orderId: string, chargeId: string, now: number): Promise<boolean> {
    const { rowCount } = await this.pool.query({
      name: 'order_claim_charge',
      text: `UPDATE ${this.s}.orders SET charge_id = $2, recovery = 'lookup', recovery_since = ${msToTs('$3')}, updated_at = ${msToTs('$3')}
WHERE order_id = $1 AND status = 'PendingPayment' AND charge_id IS NULL`,
      values: [orderId, chargeId, now],
    });
    return rowCount === 1;
  }

  /**
   * Paid, its sale row and its transaction row: all three or none, in one statement (its own
   * transaction). One round trip instead of five: at a sale's first second, when every paid order
   * arrives at once, Postgres round trips are what the two cores run out of.
   */
  async markPaid(order: StoredOrder, chargeId: string, now: number): Promise<boolean> {
    const { rows } = await this.pool.query<{ paid: number }>({
      name: 'order_mark_paid',
      text: `WITH paid AS (
  UPDATE ${this.s}.orders SET status = 'Paid', recovery = NULL, recovery_since = NULL, updated_at = ${msToTs('$3')}
  WHERE order_id = $1 AND status = 'PendingPayment' AND charge_id = $2
  RETURNING order_id, sku, qty, amount_minor, currency, transaction_id
), sale AS (
  INSERT INTO ${this.s}.sales (order_id, sku, qty, amount_minor, currency, charge_id, at)
  SELECT order_id, sku, qty, amount_minor, currency, $2, ${msToTs('$3')} FROM paid
), txn AS (
  ${TRANSACTION_UPSERT(this.s, `SELECT transaction_id, order_id, amount_minor, currency, 'succeeded', $2, ${msToTs('$3')} FROM paid`)}
)
SELECT count(*)::int AS paid FROM paid`,
      values: [order.orderId, chargeId, now],
    });
    return rows[0].paid === 1;
  }

  async markDeclined(order: StoredOrder, chargeId: string | undefined, code: string, now: number): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      const { rowCount } = await c.query(
        // Its units are owed back until release() says so (recovery gives them back otherwise).
        `UPDATE ${this.s}.orders SET status = 'PaymentFailed', decline_code = $2, charge_id = coalesce(charge_id, $3),
  recovery = 'release', recovery_since = ${msToTs('$4')}, updated_at = ${msToTs('$4')}
WHERE order_id = $1 AND status = 'PendingPayment'`,
        [order.orderId, code, chargeId ?? null, now],
      );
      if (rowCount !== 1) return false;
      await this.recordTransaction(c, order, 'failed', chargeId, now);
      return true;
    });
  }

  /**
   * Expires a pending order whose hold ran out before payment could finish. With `charge`, a
   * charge went through for it all the same: the order is bound to it, and a refunded charge is
   * recorded as such. That is allowed on an order the sweeper already expired, since the sweeper
   * could not know a charge was on its way; without `charge` a claimed order is left to its payer.
   */
  async markExpired(order: StoredOrder, now: number, charge?: { id: string; refunded: boolean }): Promise<boolean> {
    if (!charge) {
      const { rowCount } = await this.pool.query(
        `UPDATE ${this.s}.orders SET status = 'Expired', updated_at = ${msToTs('$2')} WHERE order_id = $1 AND status = 'PendingPayment' AND charge_id IS NULL`,
        [order.orderId, now],
      );
      return rowCount === 1;
    }
    return inTransaction(this.pool, async (c) => {
      const { rowCount } = await c.query(
        // A charge not refunded yet is owed a refund: recovery asks again until the provider agrees.
        // An order already Expired keeps the end it was given: binding the charge later does not
        // lengthen its life (the sweep over order lifetimes would see it overlap the next holder).
        `UPDATE ${this.s}.orders SET status = 'Expired', charge_id = $2, refunded = $4,
  recovery = CASE WHEN $4 THEN NULL ELSE 'refund' END, recovery_since = CASE WHEN $4 THEN NULL ELSE ${msToTs('$3')} END,
  updated_at = CASE WHEN status = 'Expired' THEN updated_at ELSE ${msToTs('$3')} END
WHERE order_id = $1 AND status IN ('Expired', 'PendingPayment') AND coalesce(charge_id, $2) = $2`,
        [order.orderId, charge.id, now, charge.refunded],
      );
      if (rowCount !== 1) return false;
      // An unrefunded charge gets no local transaction: reconciliation is to flag it.
      if (charge.refunded) await this.recordTransaction(c, order, 'refunded', charge.id, now);
      return true;
    });
  }

  /** Recovery's work on this order is done: clears what it owed, if it still owes exactly that. */
  async settleRecovery(orderId: string, owed: RecoveryOwed): Promise<boolean> {
    const { rowCount } = await this.pool.query({
      name: 'order_settle_recovery',
      text: `UPDATE ${this.s}.orders SET recovery = NULL, recovery_since = NULL WHERE order_id = $1 AND recovery = $2`,
      values: [orderId, owed],
    });
    return rowCount === 1;
  }

  /**
   * The orders recovery owes something to, longest waiting first, that have waited long enough:
   * since `before` (epoch ms), or since `claimedBefore` for a pending order whose charge a payer
   * has claimed (it is that payer's to finish while it lives).
   */
  async recoveryDue(before: number, claimedBefore: number, limit: number): Promise<StoredOrder[]> {
    const { rows } = await this.pool.query<Row>({
      name: 'order_recovery_due',
      text: `SELECT ${COLUMNS} FROM ${this.s}.orders WHERE recovery IS NOT NULL
AND recovery_since <= CASE WHEN status = 'PendingPayment' AND charge_id IS NOT NULL THEN ${msToTs('$2')} ELSE ${msToTs('$1')} END
ORDER BY recovery_since, order_id LIMIT $3`,
      values: [Math.round(before), Math.round(claimedBefore), limit],
    });
    return rows.map(toOrder);
  }

  /** How many orders recovery still owes something to (none: every payment outcome is known). */
  async recoveryOwed(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${this.s}.orders WHERE recovery IS NOT NULL`,
    );
    return rows[0].n;
  }

  private async recordTransaction(
    c: pg.PoolClient,
    order: StoredOrder,
    status: 'failed' | 'refunded',
    chargeId: string | undefined,
    now: number,
  ) {
    await c.query(TRANSACTION_UPSERT(this.s, `VALUES ($1, $2, $3, $4, $5, $6, ${msToTs('$7')})`), [
      order.transactionId,
      order.orderId,
      order.amountMinor,
      order.currency,
      status,
      chargeId ?? null,
      now,
    ]);
  }

  /**
   * The sweeper's half: pending orders whose hold ran out. Orders with a charge bound to them
   * are the paying worker's to finish (Paid, or refunded and Expired).
   *
   * The order ends when its hold did, not when the sweep got to it: the strategy's half of a sweep
   * may have put its units back on sale already (this half failed then, a connection cut), and
   * whoever took them next must not look as if they held them at once ("no oversell at any moment").
   */
  async expireDue(now: number): Promise<number> {
    const { rowCount } = await this.pool.query({
      name: 'order_expire_due',
      text: `UPDATE ${this.s}.orders SET status = 'Expired', updated_at = expires_at
WHERE status = 'PendingPayment' AND charge_id IS NULL AND expires_at <= ${msToTs('$1')}`,
      values: [Math.round(now)],
    });
    return rowCount ?? 0;
  }

  async all(): Promise<StoredOrder[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM ${this.s}.orders ORDER BY created_at, order_id`,
    );
    return rows.map(toOrder);
  }

  /** Every order of `skus`, or only those changed at or after `since` (epoch ms): what a store that lost its data is rebuilt from. */
  async ofSkus(skus: string[], since?: number): Promise<StoredOrder[]> {
    const { rows } = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM ${this.s}.orders WHERE sku = ANY($1)${since === undefined ? '' : ` AND updated_at >= ${msToTs('$2')}`}`,
      since === undefined ? [skus] : [skus, Math.round(since)],
    );
    return rows.map(toOrder);
  }

  async sales(): Promise<SaleRecord[]> {
    const { rows } = await this.pool.query<{
      order_id: string;
      sku: string;
      qty: number;
      amount_minor: string;
      currency: string;
      charge_id: string;
      at_ms: number;
    }>(
      `SELECT order_id, sku, qty, amount_minor::text, currency, charge_id, ${tsToMs('at')} AS at_ms FROM ${this.s}.sales ORDER BY at, order_id`,
    );
    return rows.map((r) => ({
      orderId: r.order_id,
      sku: r.sku,
      qty: r.qty,
      amountMinor: Number(r.amount_minor),
      currency: r.currency,
      chargeId: r.charge_id,
      at: r.at_ms,
    }));
  }
}
