// What the commands that reopen a recorded sale share (`recover`, `check`): finding the sales in a
// database, telling a live run from a dead one, and reading the provider's side of a sale.
import { hostname } from 'node:os';
import pg from 'pg';
import { OrderStore, orderSchemaIdent, type SaleRow } from '../engine/orders.js';
import { ServiceError, UsageError } from '../errors.js';
import { resolveServices } from '../services/resolve.js';
import { storeOf } from '../strategies/index.js';
import { ProviderReader, toProviderCharge } from '../reconcile/provider-client.js';
import type { ProviderCharge } from '../reconcile/types.js';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A run on this machine whose process still lives: its sale is not ours to touch. */
export const stillRunning = (row: SaleRow) =>
  row.ownerHost === hostname() && row.ownerPid !== process.pid && pidAlive(row.ownerPid);

/** The namespaces of every sale with a `sale` row in this database. */
export async function saleNamespaces(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ nspname: string }>(
    `SELECT n.nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
WHERE n.nspname LIKE 'flashsale\\_%\\_sale' AND c.relname = 'sale' AND c.relkind = 'r' ORDER BY n.nspname`,
  );
  return rows.map((r) => r.nspname.replace(/^flashsale_/, '').replace(/_sale$/, ''));
}

/** Whether the sale's bundled mock left its ledger in this database (then it is the provider's side). */
export async function hasMockLedger(client: pg.ClientBase, namespace: string): Promise<boolean> {
  const { providerSchemaIdent } = await import('../provider/index.js');
  const { rows } = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [
    `${providerSchemaIdent(namespace)}.charges`,
  ]);
  return Boolean(rows[0].t);
}

/** The provider's charges over the sale's window: the mock's ledger, or another provider's list API. */
export async function chargesOf(
  mock: { charges?(): Promise<unknown[]> } | undefined,
  external: string | undefined,
  startedAt: number,
): Promise<ProviderCharge[]> {
  if (!external && mock?.charges)
    return (await mock.charges()).map((c) => toProviderCharge(c as Record<string, unknown>));
  const reader = new ProviderReader(external!);
  const out: ProviderCharge[] = [];
  try {
    for await (const page of reader.charges(Math.floor(startedAt / 1000) - 60, Math.ceil(Date.now() / 1000) + 60))
      out.push(...page);
  } finally {
    await reader.close();
  }
  return out;
}

/** What visitRecordedSales hands each sale: its row, the database, and a client on it. */
export interface RecordedSale {
  namespace: string;
  row: SaleRow;
  databaseUrl: string;
  client: pg.ClientBase;
}

/**
 * Opens the sales' database (the given URL, DATABASE_URL, or the embedded Postgres) and visits
 * each sale with a `sale` row: `namespace`'s, or every one. A namespace that has none is exit 2
 * naming the sales that are there (`command` says what could not reopen it).
 */
export async function visitRecordedSales(
  opts: { namespace?: string; databaseUrl?: string; command: string; log: (line: string) => void },
  visit: (sale: RecordedSale) => Promise<void>,
): Promise<void> {
  const pgOnly = await resolveServices(new Set(['postgres']), { databaseUrl: opts.databaseUrl, log: opts.log });
  const databaseUrl = pgOnly.databaseUrl!;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  pool.on('error', () => undefined); // an idle client cut by the server: the next query says so
  let client: pg.PoolClient | undefined;
  try {
    client = await pool.connect().catch((err: Error) => {
      throw new ServiceError(
        'postgres',
        `cannot connect to the sale's database: ${err.message}`,
        'check --database-url',
      );
    });
    const candidates = opts.namespace ? [opts.namespace] : await saleNamespaces(client);
    for (const namespace of candidates) {
      const { rows } = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [
        `${orderSchemaIdent(namespace)}.sale`,
      ]);
      const row = rows[0].t ? await new OrderStore(pool, orderSchemaIdent(namespace)).readSale() : undefined;
      if (row) await visit({ namespace, row, databaseUrl, client });
      else if (opts.namespace)
        throw new UsageError(
          `--namespace: this database has no sale "${namespace}" that ${opts.command} can reopen (no ${orderSchemaIdent(namespace)}.sale row); the sales here: ${(await saleNamespaces(client)).join(', ') || 'none'}`,
        );
    }
  } finally {
    client?.release();
    await pool.end().catch(() => undefined);
    await pgOnly.stop();
  }
}

/**
 * The stores of a recorded sale as this process reaches them now (which need not be the ones its
 * run had started): Redis for a Redis strategy or a rate limit; Postgres is the caller's already.
 */
export async function storesOfSale(
  row: SaleRow,
  request: { redisUrl?: string; redisCluster?: string[] },
  log: (line: string) => void,
) {
  const { cluster, ...config } = row.config;
  const store = storeOf(config.strategy);
  const services = await resolveServices(new Set(store === 'redis' || config.rateLimit ? ['redis'] : []), {
    redisUrl: request.redisUrl,
    redisCluster: cluster ? request.redisCluster : undefined,
    log,
  });
  return { config, store, services };
}
