// The Postgres half of reconciliation: the sale's transactions streamed in transaction-id order
// through a server-side cursor, and the provider's charges staged in a temporary table (COPY) so
// they can be read back in the same order. Neither side is ever held whole in memory: a day of a
// million transactions costs the same few megabytes as a day of a thousand.
import { once } from 'node:events';
import type pg from 'pg';
import Cursor from 'pg-cursor';
import { from as copyFrom } from 'pg-copy-streams';
import { UsageError } from '../errors.js';
import { orderSchemaIdent } from '../engine/orders.js';
import { tsToMs } from '../postgres/sql-time.js';
import type { LocalStatus, LocalTxn, ProviderCharge, ProviderStatus } from './types.js';

/** Rows per cursor read: big enough that round trips do not dominate, small enough to stay flat. */
const BATCH = 5_000;

/**
 * The sale namespace to reconcile when none is named: the one whose transactions table holds the
 * latest transaction. Every simulate writes a namespace of its own (sim_…).
 */
export async function latestNamespace(client: pg.ClientBase): Promise<string | undefined> {
  const { rows } = await client.query<{ nspname: string }>(
    `SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
WHERE n.nspname LIKE 'flashsale\\_%\\_sale' AND c.relname = 'transactions' AND c.relkind = 'r'`,
  );
  if (rows.length === 0) return undefined;
  const union = rows
    .map((r, i) => `SELECT ${i} AS i, max(created_at) AS at FROM "${r.nspname}".transactions`)
    .join(' UNION ALL ');
  const { rows: latest } = await client.query<{ i: number }>(
    `SELECT i FROM (${union}) t WHERE at IS NOT NULL ORDER BY at DESC LIMIT 1`,
  );
  const pick = latest[0] ? rows[latest[0].i] : undefined;
  return pick?.nspname.replace(/^flashsale_/, '').replace(/_sale$/, '');
}

/** Checks the sale's tables are there, so a wrong database or namespace is one line, exit 2. */
export async function checkSaleTables(client: pg.ClientBase, namespace: string): Promise<string> {
  const s = orderSchemaIdent(namespace);
  const { rows } = await client.query<{ t: string | null; o: string | null }>(
    `SELECT to_regclass($1) AS t, to_regclass($2) AS o`,
    [`${s}.transactions`, `${s}.orders`],
  );
  if (!rows[0].t || !rows[0].o) {
    throw new UsageError(
      `--namespace: this database has no sale tables for "${namespace}" (${s}.transactions / .orders)`,
      'run flashsale simulate first, or name a namespace that exists (reconcile picks the latest by default)',
    );
  }
  return s;
}

interface LocalRow {
  transaction_id: string;
  order_id: string;
  amount_minor: string;
  currency: string;
  status: LocalStatus;
  charge_id: string | null;
  created_ms: number;
}

async function* readCursor<R>(client: pg.ClientBase, text: string, values: unknown[]): AsyncGenerator<R[]> {
  const cursor = client.query(new Cursor<R>(text, values));
  try {
    for (;;) {
      const rows = await cursor.read(BATCH);
      if (rows.length === 0) return;
      yield rows;
    }
  } finally {
    await cursor.close();
  }
}

/** The sale's transactions created in [fromMs, toMs), ascending by id in byte order. */
export async function* localTransactions(
  client: pg.ClientBase,
  schema: string,
  fromMs: number,
  toMs: number,
): AsyncGenerator<LocalTxn> {
  const sql = `SELECT transaction_id, order_id, amount_minor::text, currency, status, charge_id, ${tsToMs('created_at')} AS created_ms
FROM ${schema}.transactions
WHERE created_at >= to_timestamp($1::float8 / 1000) AND created_at < to_timestamp($2::float8 / 1000)
ORDER BY transaction_id COLLATE "C"`;
  for await (const rows of readCursor<LocalRow>(client, sql, [fromMs, toMs])) {
    for (const r of rows) {
      yield {
        transactionId: r.transaction_id,
        orderId: r.order_id,
        amountMinor: Number(r.amount_minor),
        currency: r.currency,
        status: r.status,
        chargeId: r.charge_id,
        createdMs: Math.round(r.created_ms),
      };
    }
  }
}

/** COPY's text format: backslash, tab and line breaks escaped; \N is NULL. */
function cell(v: string | number | null): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  return v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/**
 * A session-private table of the provider's charges, filled through one COPY stream that
 * back-pressures the pager. Lives as long as `client`'s session.
 */
export class ChargeStage {
  private copy?: NodeJS.WritableStream & { end(cb?: () => void): void };
  private done?: Promise<void>;
  rows = 0;
  private failed?: Error;

  constructor(private readonly client: pg.ClientBase) {}

  async open(): Promise<void> {
    await this.client.query(`CREATE TEMP TABLE recon_charges (
  transaction_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, order_id text,
  amount bigint NOT NULL, amount_refunded bigint NOT NULL, currency text NOT NULL, status text NOT NULL,
  created_ms bigint NOT NULL, settled_ms bigint) ON COMMIT PRESERVE ROWS`);
    const stream = this.client.query(copyFrom('COPY recon_charges FROM STDIN'));
    this.copy = stream;
    this.done = new Promise<void>((resolve, reject) => {
      stream.on('finish', resolve);
      stream.on('error', reject);
    });
    // Handled here so a COPY that fails mid-read is not an unhandled rejection; add() and close() report it.
    this.done.catch((err: unknown) => (this.failed = err as Error));
  }

  /** Resolves once the stream can take more. */
  async add(charges: ProviderCharge[]): Promise<void> {
    if (this.failed) throw this.failed;
    const text = charges
      .map(
        (c) =>
          [c.transactionId, c.id, c.orderId, c.amount, c.amountRefunded, c.currency, c.status, c.createdMs, c.settledMs]
            .map(cell)
            .join('\t') + '\n',
      )
      .join('');
    this.rows += charges.length;
    if (!this.copy!.write(text)) await once(this.copy as unknown as NodeJS.EventEmitter, 'drain');
  }

  async close(): Promise<void> {
    this.copy!.end();
    await this.done;
    // Planner statistics for the sort that follows.
    await this.client.query('ANALYZE recon_charges');
  }

  /** The staged charges ascending by (transaction id, created, id). */
  async *charges(): AsyncGenerator<ProviderCharge> {
    const sql = `SELECT transaction_id, id, order_id, amount::float8 AS amount, amount_refunded::float8 AS amount_refunded, currency, status,
  created_ms::float8 AS created_ms, settled_ms::float8 AS settled_ms
FROM recon_charges ORDER BY transaction_id, created_ms, id`;
    type Row = {
      transaction_id: string;
      id: string;
      order_id: string | null;
      amount: number;
      amount_refunded: number;
      currency: string;
      status: ProviderStatus;
      created_ms: number;
      settled_ms: number | null;
    };
    for await (const rows of readCursor<Row>(this.client, sql, [])) {
      for (const r of rows) {
        yield {
          transactionId: r.transaction_id,
          id: r.id,
          orderId: r.order_id,
          amount: r.amount,
          amountRefunded: r.amount_refunded,
          currency: r.currency,
          status: r.status,
          createdMs: r.created_ms,
          settledMs: r.settled_ms,
        };
      }
    }
  }
}
