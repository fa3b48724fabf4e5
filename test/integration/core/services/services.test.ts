// The services flashsale starts itself when nothing is configured.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../../../src/core/services/embedded-postgres.js';
import { embeddedPostgresDir } from '../../../../src/core/services/postgres-home.js';
import { findOnPath, startRedisServer } from '../../../../src/core/services/redis-server.js';
import { DATABASE_URL } from '../../../helpers/services.js';

const BIN = resolve('bin/flashsale.js');

describe('services started on demand', () => {
  it('embedded PostgreSQL starts on a free port under .flashsale/pg (as root under /var/tmp), keeps its data, and stops', async () => {
    // mkdtemp makes a 0700 dir: as root, Postgres runs as its own user, which cannot enter it
    const base = mkdtempSync(join(tmpdir(), 'fs-embedded-'));
    const first = await startEmbeddedPostgres(base);
    expect(first.url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/flashsale$/);
    const c = new pg.Client(first.url);
    await c.connect();
    await c.query('CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)');
    await c.end();
    await first.stop();
    expect(first.dataDir).toBe(embeddedPostgresDir(base));
    expect(existsSync(join(first.dataDir, 'PG_VERSION'))).toBe(true);
    // a later command (reconcile after simulate) sees the same data
    const second = await startEmbeddedPostgres(base);
    const d = new pg.Client(second.url);
    await d.connect();
    expect((await d.query('SELECT v FROM kept')).rows).toEqual([{ v: 42 }]);
    await d.end();
    await second.stop();
    rmSync(second.dataDir, { recursive: true, force: true });
  });

  it('a redis-server from PATH answers on loopback and is gone after stop', async () => {
    const binary = findOnPath('redis-server');
    expect(binary).toBeDefined();
    const s = await startRedisServer(binary!);
    const { default: Redis } = await import('ioredis');
    const r = new Redis(s.url);
    expect(await r.ping()).toBe('PONG');
    expect(await r.config('GET', 'save')).toEqual(['save', '']);
    r.disconnect();
    await s.stop();
    const port = Number(new URL(s.url).port);
    const probe = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' });
    expect(probe.stdout.trim()).not.toBe('PONG');
  });

  it('with no Redis anywhere, a Redis strategy exits 6 naming the three ways to get one', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'fs-noredis-')), 'out');
    const env = { ...process.env, PATH: '/nonexistent', REDIS_URL: '' };
    delete (env as Record<string, string | undefined>).REDIS_URL;
    const r = spawnSync(process.execPath, [BIN, 'bench', '--strategy', 'lua', '--out', out], {
      env,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(6);
    expect(r.stderr).toMatch(/needs Redis and none is configured or installed/);
    expect(r.stderr).toMatch(/--redis-url/);
    expect(r.stderr).toMatch(/REDIS_URL/);
    expect(r.stderr).toMatch(/redis-server on PATH/);
    expect(existsSync(out)).toBe(false);
  });

  it('keeps exit codes with the embedded PostgreSQL: naive on it still exits 3', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'fs-embedded-cli-'));
    const env = { ...process.env };
    delete env.DATABASE_URL;
    const r = spawnSync(process.execPath, [BIN, 'bench', '--strategy', 'naive', '--workers', '2', '--json'], {
      cwd,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.stderr).toMatch(/started embedded PostgreSQL/);
    expect(r.status).toBe(3);
    const report = JSON.parse(r.stdout);
    const dataDir = embeddedPostgresDir(cwd);
    expect(resolve(cwd, report.services.postgres.replace(/^embedded PostgreSQL in /, ''))).toBe(dataDir);
    expect(report.strategies[0].oversold).toBeGreaterThan(0);
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("on the embedded PostgreSQL, prints flashsale's own lines only: initdb and server logs go to .flashsale/pg.log", () => {
    const cwd = mkdtempSync(join(tmpdir(), 'fs-embedded-quiet-'));
    const env = { ...process.env };
    delete env.DATABASE_URL;
    const r = spawnSync(process.execPath, [BIN, 'bench', '--strategy', 'atomic', '--buyers', '200', '--workers', '1'], {
      cwd,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status).toBe(0);
    const printed = `${r.stdout}\n${r.stderr}`;
    expect(printed).toMatch(/started embedded PostgreSQL/);
    // what initdb, the server and a stray exit hook used to print
    expect(printed).not.toMatch(/LOG: |ERROR: |The files belonging to this database system|TypeError|^\s+at /m);
    const log = readFileSync(join(cwd, '.flashsale', 'pg.log'), 'utf8');
    expect(log).toMatch(/database system is ready to accept connections/);
    rmSync(embeddedPostgresDir(cwd), { recursive: true, force: true });
  });

  it('with a Redis that refuses connections, simulate exits 6 at once instead of hanging on what it opened first', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'fs-unreachable-'));
    const r = spawnSync(
      process.execPath,
      [BIN, 'simulate', '--strategy', 'lua', '--redis-url', 'redis://127.0.0.1:1', '--out', join(cwd, 'out')],
      {
        cwd,
        env: { ...process.env, DATABASE_URL },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(r.error).toBeUndefined(); // not killed by the timeout
    expect(r.status).toBe(6);
    expect(r.stderr).toMatch(/Redis at redis:\/\/127\.0\.0\.1:1 is not reachable/);
  });

  it('prints help with an example for each command, and the version', () => {
    const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/bench\s/);
    expect(help.stdout).toMatch(/\$ flashsale bench --strategy all/);
    const v = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('Ctrl-C during a bench', () => {
  it('stops the load, still checks the ledger, writes a report marked interrupted and exits 130', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'fs-sigint-')), 'out');
    const env = { ...process.env, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' };
    const child = spawn(
      process.execPath,
      [
        BIN,
        'bench',
        '--strategy',
        'lua,atomic',
        '--stock',
        '1000000',
        '--duration',
        '60',
        '--concurrency',
        '8',
        '--workers',
        '1',
        '--out',
        out,
        '--json',
      ],
      { env },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise((r) => setTimeout(r, 4_000));
    const t0 = Date.now();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted: finishing what is in flight/);
    const report = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(report.interrupted).toBe(true);
    // lua was cut short and judged; atomic never started
    expect(report.strategies.map((s: { strategy: string }) => s.strategy)).toEqual(['lua']);
    expect(report.strategies[0].attempts).toBeGreaterThan(0);
    expect(report.strategies[0].invariants.every((i: { ok: boolean }) => i.ok)).toBe(true);
    expect(JSON.parse(stdout).interrupted).toBe(true);
  });
});

describe('no service outlives a crashed run', () => {
  it('a redis-server started for a process that is killed -9 stops by itself', async () => {
    const code = `import { startRedisServer } from ${JSON.stringify(resolve('dist/core/services/redis-server.js'))};
      const s = await startRedisServer(${JSON.stringify(findOnPath('redis-server'))});
      console.log(new URL(s.url).port);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const port = await new Promise<string>((r) => child.stdout.once('data', (d) => r(String(d).trim())));
    const ping = () => spawnSync('redis-cli', ['-p', port, 'ping'], { encoding: 'utf8' }).stdout.trim();
    expect(ping()).toBe('PONG');
    child.kill('SIGKILL');
    let answer = 'PONG';
    for (let i = 0; i < 50 && answer === 'PONG'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      answer = ping();
    }
    expect(answer).not.toBe('PONG');
  });
});

describe('an embedded PostgreSQL whose run is killed -9', () => {
  it('stops by itself: its postmaster is gone within seconds', async () => {
    const base = mkdtempSync(join(tmpdir(), 'fs-pgkill-'));
    const code = `import { startEmbeddedPostgres } from ${JSON.stringify(resolve('dist/core/services/embedded-postgres.js'))};
      await startEmbeddedPostgres(${JSON.stringify(base)});
      console.log('up');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((r) => child.stdout.once('data', r));
    const pid = Number(readFileSync(join(embeddedPostgresDir(base), 'postmaster.pid'), 'utf8').split('\n')[0]);
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive()).toBe(true);
    child.kill('SIGKILL');
    for (let i = 0; i < 150 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive()).toBe(false);
    rmSync(embeddedPostgresDir(base), { recursive: true, force: true });
  });
});

describe('an embedded PostgreSQL left by a crashed run', () => {
  it('is reclaimed by the next run instead of blocking it', async () => {
    const base = mkdtempSync(join(tmpdir(), 'fs-orphan-'));
    const code = `import { startEmbeddedPostgres } from ${JSON.stringify(resolve('dist/core/services/embedded-postgres.js'))};
      await startEmbeddedPostgres(${JSON.stringify(base)});
      console.log('up');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((r) => child.stdout.once('data', r));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const next = await startEmbeddedPostgres(base);
    const c = new pg.Client(next.url);
    await c.connect();
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await c.end();
    await next.stop();
    rmSync(next.dataDir, { recursive: true, force: true });
  });
});
