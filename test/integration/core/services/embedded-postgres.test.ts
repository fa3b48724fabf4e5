// The README's first command on a fresh clone, with the embedded Postgres: as root (Postgres then
// runs as its own user) and in a checkout under a 0700 directory that user cannot enter.
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { startEmbeddedPostgres } from '../../../../src/core/services/embedded-postgres.js';
import { embeddedPostgresDir } from '../../../../src/core/services/postgres-home.js';
import { ExitCode, ServiceError } from '../../../../src/core/errors.js';

// Binaries that cannot be executed, put in place of the packaged ones by the tests that need them.
const swap = vi.hoisted(() => ({ initdb: undefined as string | undefined, postgres: undefined as string | undefined }));
vi.mock('../../../../src/core/services/postgres-home.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../../../src/core/services/postgres-home.js')>();
  return {
    ...actual,
    preparePostgresHome: async (baseDir: string) => {
      const home = await actual.preparePostgresHome(baseDir);
      return { ...home, initdb: swap.initdb ?? home.initdb, postgres: swap.postgres ?? home.postgres };
    },
  };
});

const parent = mkdtempSync(join(tmpdir(), 'fs-fresh-'));
const checkout = join(parent, 'flashsale');
const leftovers: string[] = [parent];

afterAll(() => {
  for (const dir of leftovers) rmSync(dir, { recursive: true, force: true });
});

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? ''} ${String(r.stderr)}`);
  return String(r.stdout);
}

/** Runs in its own process group, so a run cut short by the timeout takes its children with it. */
function flashsale(args: string[], env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }>((done) => {
    const child = spawn('npx', ['flashsale', ...args], { cwd: checkout, env, detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-child.pid!, 'SIGKILL');
    }, 150_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      done({ code: null, stdout, stderr: `${stderr}${err.message}`, timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, timedOut });
    });
  });
}

/** Processes (not this one) whose command line names `path`, or whose working directory is in it. */
function processesOf(path: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cmdline.includes(path) || cwd === path || cwd.startsWith(`${path}/`)) found.push(`${pid} ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe('npx flashsale simulate on a fresh clone, nothing configured', () => {
  it('runs under a 0700 parent (as root too), prints only its own lines and leaves no postgres behind', async () => {
    chmodSync(parent, 0o700);
    // HEAD of this checkout, whatever branch it is on
    run('git', ['clone', '--quiet', '--no-checkout', resolve('.'), checkout]);
    run('git', ['-C', checkout, 'checkout', '--quiet', run('git', ['rev-parse', 'HEAD']).trim()]);
    // No download: `npm ci` from the npm cache (its prepare step builds dist/), else this
    // checkout's packages and the same build.
    const ci = spawnSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], {
      cwd: checkout,
      encoding: 'utf8',
      timeout: 180_000,
    });
    if (ci.status !== 0) {
      rmSync(join(checkout, 'node_modules'), { recursive: true, force: true });
      symlinkSync(realpathSync('node_modules'), join(checkout, 'node_modules'));
      run(process.execPath, [join(checkout, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
        cwd: checkout,
      });
    }

    const env = { ...process.env, npm_config_offline: 'true' };
    delete env.DATABASE_URL;
    delete env.REDIS_URL;
    const r = await flashsale(['simulate'], env);

    const reports = existsSync(join(checkout, 'reports')) ? readdirSync(join(checkout, 'reports')) : [];
    const summary =
      reports.length === 1
        ? JSON.parse(readFileSync(join(checkout, 'reports', reports[0]!, 'summary.json'), 'utf8'))
        : undefined;
    const where = /^embedded PostgreSQL in (.+)$/.exec(summary?.services?.postgres ?? '')?.[1];
    const dataDir = where === undefined ? undefined : resolve(checkout, where);
    if (dataDir !== undefined && !dataDir.startsWith(checkout)) leftovers.push(dataDir);

    expect(r.timedOut).toBe(false);
    expect(r.stderr).not.toMatch(/Unhandled|node:events|^\s+at /m);
    expect(r.code).toBe(0);
    // initdb's and the server's lines, a stray exit hook's stack
    expect(r.stdout).not.toMatch(
      /LOG: |ERROR: |FATAL: |The files belonging to this database system|TypeError|^\s+at /m,
    );
    expect(r.stderr).not.toMatch(/LOG: |ERROR: |FATAL: |The files belonging to this database system|TypeError/);
    expect(r.stdout).toMatch(/report: /);
    expect(dataDir).toBeDefined();
    expect(existsSync(join(dataDir!, 'PG_VERSION'))).toBe(true);
    // the run is over: nothing of this checkout or its data runs any more
    expect(processesOf(checkout)).toEqual([]);
    expect(processesOf(dataDir!)).toEqual([]);
  }, 400_000);
});

describe('an embedded PostgreSQL that cannot start', () => {
  /** A base dir and a file nobody can execute, not even root. */
  function setup(): { base: string; notExecutable: string } {
    const base = mkdtempSync(join(tmpdir(), 'fs-nostart-'));
    leftovers.push(base, embeddedPostgresDir(base));
    const notExecutable = join(base, 'not-executable');
    writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
    return { base, notExecutable };
  }

  async function failure(base: string): Promise<ServiceError> {
    try {
      const pg = await startEmbeddedPostgres(base);
      await pg.stop();
    } catch (err) {
      return err as ServiceError;
    } finally {
      swap.initdb = undefined;
      swap.postgres = undefined;
    }
    throw new Error('it started');
  }

  it.each([
    ['an initdb that cannot be spawned', 'initdb' as const, /EACCES/],
    ['a server that cannot be spawned', 'postgres' as const, /EACCES/],
  ])('%s is exit 6 with one line naming why', async (_name, which, reason) => {
    const { base, notExecutable } = setup();
    swap[which] = notExecutable;
    const err = await failure(base);
    expect(err).toBeInstanceOf(ServiceError);
    expect(err.exitCode).toBe(ExitCode.Service);
    expect(err.message).toMatch(reason);
    expect(err.message).toContain(embeddedPostgresDir(base));
    expect(err.message).not.toContain('\n');
    expect(readFileSync(join(base, '.flashsale', 'pg.log'), 'utf8')).toMatch(reason);
  });

  it('a server that exits at once is exit 6 with the last line of its log', async () => {
    const { base } = setup();
    // a data dir from a Postgres this server cannot read
    const dir = embeddedPostgresDir(base);
    const first = await startEmbeddedPostgres(base);
    await first.stop();
    writeFileSync(join(dir, 'PG_VERSION'), '9\n');
    const err = await failure(base);
    expect(err).toBeInstanceOf(ServiceError);
    expect(err.exitCode).toBe(ExitCode.Service);
    const log = readFileSync(join(base, '.flashsale', 'pg.log'), 'utf8')
      .trim()
      .split('\n');
    expect(err.message).toContain(log.at(-1)!.trim());
    expect(err.message).toMatch(/version 9/);
    expect(err.message).not.toContain('\n');
  });
});

describe('the processes of an embedded PostgreSQL', () => {
  /** Process group of a pid, from /proc/<pid>/stat (the fields after the command's parenthesis). */
  const pgrp = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);

  it("the server and its watchdog each run in a process group of their own, not flashsale's", async () => {
    const base = mkdtempSync(join(tmpdir(), 'fs-pgroups-'));
    leftovers.push(base, embeddedPostgresDir(base));
    const code = `import { startEmbeddedPostgres } from ${JSON.stringify(resolve('dist/core/services/embedded-postgres.js'))};
      const pg = await startEmbeddedPostgres(${JSON.stringify(base)});
      console.log('up');
      process.stdin.once('data', async () => { await pg.stop(); process.exit(0); });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await new Promise((r) => child.stdout.once('data', r));
      const postmaster = Number(readFileSync(join(embeddedPostgresDir(base), 'postmaster.pid'), 'utf8').split('\n')[0]);
      const watchdogs = readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .map(Number)
        .filter((pid) => {
          try {
            const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
            return cmdline[0] === '/bin/sh' && cmdline.includes(String(postmaster));
          } catch {
            return false;
          }
        });
      expect(watchdogs).toHaveLength(1);
      const own = pgrp(child.pid!);
      expect(pgrp(postmaster)).not.toBe(own);
      expect(pgrp(watchdogs[0]!)).not.toBe(own);
      expect(pgrp(watchdogs[0]!)).not.toBe(pgrp(postmaster));
    } finally {
      child.stdin.write('stop\n');
      await exited;
    }
  });
});
