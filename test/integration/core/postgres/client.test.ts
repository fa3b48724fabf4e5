import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, fillPool, retryConnectionLost } from '../../../../src/core/postgres/client.js';
import { ExitCode, ServiceError } from '../../../../src/core/errors.js';
import { DATABASE_URL } from '../../../helpers/services.js';

describe('connectPostgres', () => {
  const opened: { end(): Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((p) => p.end()));
  });

  it('returns a pool that has already answered a query', async () => {
    const pool = await connectPostgres(DATABASE_URL, 'a test', 2);
    opened.push(pool);
    const { rows } = await pool.query<{ app: string }>('SELECT current_setting($1) AS app', ['application_name']);
    expect(rows[0].app).toBe('flashsale: a test');
  });

  it('reports an unreachable server as a ServiceError naming the URL without its password, within seconds', async () => {
    const started = Date.now();
    const err = await connectPostgres('postgres://flash:s3cret-pw@127.0.0.1:1/shop', 'the atomic strategy', 2).catch(
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(err).toBeInstanceOf(ServiceError);
    const e = err as ServiceError;
    expect(e.exitCode).toBe(ExitCode.Service);
    expect(e.service).toBe('postgres');
    expect(e.message).toMatch(
      /^Postgres at postgres:\/\/flash:\*\*\*@127\.0\.0\.1:1\/shop is not reachable: .*ECONNREFUSED/,
    );
    expect(e.message).not.toContain('s3cret-pw');
    expect(e.suggestion).toContain('the atomic strategy');
  });

  it('gives up on a server that accepts the connection but never answers, after the connect timeout', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = Date.now();
      const err = await connectPostgres(`postgres://flash:pw@127.0.0.1:${port}/shop`, 'a test', 1).catch(
        (e: unknown) => e,
      );
      const waited = Date.now() - started;
      expect(err).toBeInstanceOf(ServiceError);
      expect((err as Error).message).toContain(`postgres://flash:***@127.0.0.1:${port}/shop is not reachable`);
      expect(waited).toBeGreaterThanOrEqual(4_000);
      expect(waited).toBeLessThan(8_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});

describe('a connection cut under a pool', () => {
  // A database of this test's own: its backends are the only ones it terminates.
  const db = `fault_pg_${randomBytes(4).toString('hex')}`;
  const url = DATABASE_URL.replace(/\/[^/]*$/, `/${db}`);
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${db}`);
  });
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  });

  it('a backend terminated while its connection is checked out between two statements does not crash the process; the pool goes on', async () => {
    const pool = await connectPostgres(url, 'a test', 2);
    try {
      const client = await pool.connect();
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
      // The FATAL arrives while no statement is running: an 'error' event nobody listened to
      // would be an uncaught exception here.
      const deadline = Date.now() + 5_000;
      while (
        (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [rows[0].pid])).rowCount &&
        Date.now() < deadline
      )
        await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100));
      const err = await client.query('SELECT 1').catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      client.release(err as Error);
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0].one).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('fillPool opens the connections again when the backends are terminated while it fills', async () => {
    const pool = await connectPostgres(url, 'a test', 8);
    try {
      const killing = (async () => {
        for (let i = 0; i < 20; i++) {
          await admin.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
            [db],
          );
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await Promise.all([fillPool(pool, 8), killing]);
      await fillPool(pool, 8);
      expect(pool.totalCount).toBe(8);
    } finally {
      await pool.end();
    }
  });
});

describe('retryConnectionLost', () => {
  const lost = () => Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });

  it('runs the step again after a cut connection and returns its value', async () => {
    let calls = 0;
    const value = await retryConnectionLost('a step', async () => {
      calls++;
      if (calls < 3) throw lost();
      return 'done';
    });
    expect({ value, calls }).toEqual({ value: 'done', calls: 3 });
  });

  it("does not repeat a step whose error is the statement's own (a constraint, a syntax error)", async () => {
    let calls = 0;
    const err = await retryConnectionLost('a step', async () => {
      calls++;
      throw Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
    }).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect((err as { code?: string }).code).toBe('23505');
  });

  it('gives up with exit 6 naming the step once the store stays away for the whole window', async () => {
    const err = await retryConnectionLost(
      'loading the stock',
      async () => {
        throw lost();
      },
      300,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as ServiceError).exitCode).toBe(ExitCode.Service);
    expect((err as Error).message).toMatch(/^loading the stock: Postgres did not answer .*administrator command/);
  });
});
