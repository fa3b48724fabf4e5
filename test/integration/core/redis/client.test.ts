import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connectRedis } from '../../../../src/core/redis/client.js';
import { ServiceError } from '../../../../src/core/errors.js';
import { REDIS_URL, uniqueNamespace } from '../../../helpers/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('connectRedis', () => {
  it('connects to a running Redis', async () => {
    const r = await connectRedis(REDIS_URL, 'test');
    expect(await r.ping()).toBe('PONG');
    await r.quit();
  });

  it('gives up on an unreachable Redis within seconds, exit 6, password redacted', async () => {
    const started = Date.now();
    const err = await connectRedis('redis://buyer:hunter2@127.0.0.1:1/0', 'strategy lua').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toBeInstanceOf(ServiceError);
    const e = err as ServiceError;
    expect(e.exitCode).toBe(6);
    expect(e.service).toBe('redis');
    expect(e.message).toMatch(/^Redis at redis:\/\/buyer:\*\*\*@127\.0\.0\.1:1\/0 is not reachable: .*ECONNREFUSED/);
    expect(e.message + e.suggestion).not.toContain('hunter2');
    expect(e.suggestion).toContain('strategy lua');
  });

  // A command the server may have run must not run again after a reconnect: for INCRBY or
  // RPUSH compensation that creates units. A blocked BLPOP is a command surely in flight.
  it('fails a command in flight when the connection drops, never sends it again, and reconnects', async () => {
    const r = await connectRedis(REDIS_URL, 'test');
    const raw = new Redis(REDIS_URL);
    const key = `fs:{${uniqueNamespace('client')}}:list`;
    try {
      const id = String(await r.client('ID'));
      const outcome = r.blpop(key, 3).then(
        () => 'answered',
        (e: unknown) => e,
      );
      while (!((await raw.call('CLIENT', 'LIST', 'ID', id)) as string).includes('cmd=blpop')) await sleep(10);
      await raw.call('CLIENT', 'KILL', 'ID', id);
      expect(await outcome).toBeInstanceOf(Error);
      expect(await r.ping()).toBe('PONG');
      await raw.rpush(key, 'unit');
      await sleep(200);
      // a BLPOP sent again after the reconnect would have taken it
      expect(await raw.lrange(key, 0, -1)).toEqual(['unit']);
    } finally {
      await raw.del(key);
      r.disconnect();
      raw.disconnect();
    }
  });
});
