import { describe, expect, it } from 'vitest';
import { connectRedis } from '../src/core/redis/client.js';
import { ServiceError } from '../src/core/errors.js';
import { REDIS_URL } from './services.js';

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
});
