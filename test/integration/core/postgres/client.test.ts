import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { connectPostgres } from '../../../../src/core/postgres/client.js';
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
