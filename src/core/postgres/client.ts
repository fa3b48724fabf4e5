// One way to open Postgres for every part of flashsale: a pool that has proved it can talk to
// the server before anyone relies on it, so an unreachable database is reported once, as a
// ServiceError (exit 6) naming the redacted URL, instead of as a stack trace mid-run.
import pg from 'pg';
import { redact, ServiceError } from '../errors.js';

/** Long enough for a cold local server, short enough that a wrong URL fails a CLI run quickly. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * How long a step that is safe to repeat keeps trying while its connection is cut: a backend
 * terminated, a server restarting. A store away for longer is exit 6, not a hang.
 */
export const RECONNECT_WINDOW_MS = 15_000;

function reason(err: unknown): string {
  // Node reports a refused connection to a host with several addresses (localhost → ::1 and
  // 127.0.0.1) as an AggregateError whose own message is empty.
  if (err instanceof AggregateError && err.errors.length > 0) {
    return [...new Set(err.errors.map(reason))].join('; ');
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return err.message || (typeof code === 'string' ? code : err.name);
  }
  return String(err);
}

function codesOf(err: unknown): string[] {
  if (err instanceof AggregateError) return err.errors.flatMap(codesOf);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? [code] : [];
}

/**
 * The server or the network ended the connection under a statement, or it could not be opened
 * again yet: a backend terminated (57P01), a server shutting down or starting (57P0x, 08xxx), a
 * socket reset. Nothing is known of the statement's effect; the pool opens a fresh connection for
 * the next one. Not a refused connection: that is `isConnectionRefused`.
 */
export function isConnectionLost(err: unknown): boolean {
  if (codesOf(err).some((c) => /^(08...|57P0[1-3]|ECONNRESET|EPIPE)$/.test(c))) return true;
  const message = err instanceof Error ? err.message : '';
  // Not "Connection terminated due to connection timeout": a server that never answers is not retried.
  return /Connection terminated unexpectedly|not queryable|Client was closed/.test(message);
}

/** Nothing listens at the address (yet): a server not started, or restarting. */
export function isConnectionRefused(err: unknown): boolean {
  return codesOf(err).includes('ECONNREFUSED');
}

/**
 * Runs `step` again while its connection is cut, for up to RECONNECT_WINDOW_MS, then gives up
 * with exit 6. Only for a step that may run twice: its effect is unknown after a cut (the commit
 * may have happened), so it must be idempotent (setup's DROP-and-CREATE, an upsert, a read).
 * Any other error is the step's own and is thrown at once.
 */
export async function retryConnectionLost<T>(
  what: string,
  step: () => Promise<T>,
  windowMs = RECONNECT_WINDOW_MS,
): Promise<T> {
  const deadline = Date.now() + windowMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!isConnectionLost(err) && !isConnectionRefused(err)) throw err;
      if (Date.now() > deadline)
        throw new ServiceError(
          'postgres',
          `${what}: Postgres did not answer for ${Math.round(windowMs / 1000)} s: ${redact(reason(err))}`,
          'bring Postgres back and run again',
        );
      await new Promise((r) => setTimeout(r, Math.min(1_000, 50 * 2 ** attempt)));
    }
  }
}

/**
 * Opens a pool of up to `max` connections to `url` and checks it with one query.
 * `what` names who needs the database (e.g. "the atomic strategy"); it shows up in the
 * suggestion of the error and as application_name in pg_stat_activity.
 */
export async function connectPostgres(url: string, what: string, max: number): Promise<pg.Pool> {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // Keep idle connections: a pool lives for one run, and reconnecting mid-run (pg's default
    // closes them after 10 s idle) would show up as latency spikes in the bench.
    idleTimeoutMillis: 0,
    // …without those idle connections keeping a finished process alive if close() was missed.
    allowExitOnIdle: true,
    application_name: `flashsale: ${what}`.slice(0, 63),
  });
  // An idle pooled connection that dies (server restart, a backend terminated) emits 'error' on
  // the pool; without a listener Node would crash the process. The next query on a fresh
  // connection reports it.
  pool.on('error', () => undefined);
  // So does a connection checked out but between two statements (inTransaction, fillPool): the
  // pool listens only to idle ones. The statement that follows fails on it instead, and a client
  // that failed is not put back (pg-pool ends a client that is no longer queryable).
  pool.on('connect', (client) => client.on('error', () => undefined));
  try {
    // A connection cut while proving itself is tried again; one refused is reported at once.
    await retryConnectionLost(`${what}: connecting`, async () => {
      try {
        await pool.query('SELECT 1');
      } catch (err) {
        if (isConnectionRefused(err)) throw new Refused(err);
        throw err;
      }
    });
  } catch (caught) {
    await pool.end().catch(() => undefined);
    const err = caught instanceof Refused ? caught.cause : caught;
    throw new ServiceError(
      'postgres',
      `Postgres at ${redact(url)} is not reachable: ${redact(reason(err))}`,
      `${what} needs Postgres: start one, or pass --database-url / set DATABASE_URL to a reachable server`,
    );
  }
  return pool;
}

/**
 * Opens all `n` connections now. A pool connects lazily, and at a sale's first second that means
 * a Postgres backend forked per connection while the first buyers wait in the queue for it.
 */
export async function fillPool(pool: pg.Pool, n: number): Promise<void> {
  // Opening connections is always safe to repeat; one cut meanwhile is opened again.
  await retryConnectionLost('filling the connection pool', async () => {
    // allSettled: a client left checked out after a partial failure would make pool.end() wait forever.
    const got = await Promise.allSettled(Array.from({ length: n }, () => pool.connect()));
    for (const r of got) if (r.status === 'fulfilled') r.value.release();
    const failed = got.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  });
}

/** A refused connection, carried through retryConnectionLost without a retry. */
class Refused extends Error {
  constructor(override readonly cause: unknown) {
    super('refused');
  }
}
