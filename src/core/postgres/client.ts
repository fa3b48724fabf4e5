// One way to open Postgres for every part of flashsale: a pool that has proved it can talk to
// the server before anyone relies on it, so an unreachable database is reported once, as a
// ServiceError (exit 6) naming the redacted URL, instead of as a stack trace mid-run.
import pg from 'pg';
import { redact, ServiceError } from '../errors.js';

/** Long enough for a cold local server, short enough that a wrong URL fails a CLI run quickly. */
const CONNECT_TIMEOUT_MS = 5_000;

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
  // An idle pooled connection that dies (server restart) emits 'error' on the pool; without a
  // listener Node would crash the process. The next query on a fresh connection reports it.
  pool.on('error', () => undefined);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
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
  // allSettled: a client left checked out after a partial failure would make pool.end() wait forever.
  const got = await Promise.allSettled(Array.from({ length: n }, () => pool.connect()));
  for (const r of got) if (r.status === 'fulfilled') r.value.release();
  const failed = got.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
