// The services flashsale starts itself when nothing is configured.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../src/core/services/embedded-postgres.js';
import { findOnPath, startRedisServer } from '../src/core/services/redis-server.js';

const BIN = resolve('bin/flashsale.js');

describe('services started on demand', () => {
  it('embedded PostgreSQL starts on a free port under .flashsale/pg, keeps its data, and stops', async () => {
    const base = mkdtempSync(join(tmpdir(), 'fs-embedded-'));
    // mkdtemp makes a 0700 dir; as root, Postgres runs as its own user and must reach the data dir.
    chmodSync(base, 0o755);
    const first = await startEmbeddedPostgres(base);
    expect(first.url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/flashsale$/);
    const c = new pg.Client(first.url);
    await c.connect();
    await c.query('CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)');
    await c.end();
    await first.stop();
    expect(existsSync(join(base, '.flashsale', 'pg', 'PG_VERSION'))).toBe(true);
    // a later command (reconcile after simulate) sees the same data
    const second = await startEmbeddedPostgres(base);
    const d = new pg.Client(second.url);
    await d.connect();
    expect((await d.query('SELECT v FROM kept')).rows).toEqual([{ v: 42 }]);
    await d.end();
    await second.stop();
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
    const r = spawnSync(process.execPath, [BIN, 'bench', '--strategy', 'lua', '--out', out], { env, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(6);
    expect(r.stderr).toMatch(/needs Redis and none is configured or installed/);
    expect(r.stderr).toMatch(/--redis-url/);
    expect(r.stderr).toMatch(/REDIS_URL/);
    expect(r.stderr).toMatch(/redis-server on PATH/);
    expect(existsSync(out)).toBe(false);
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
