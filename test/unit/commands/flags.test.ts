// Flag parsing without any service: each command's one schema turns commander's options into the
// use case's request, and the first bad flag is a UsageError (exit 2) naming it.
import { describe, expect, it } from 'vitest';
import { ExitCode, UsageError } from '../../../src/core/errors.js';
import { serviceChoice } from '../../../src/commands/flags.js';
import { simulateRequest } from '../../../src/commands/simulate.js';
import { benchRequest } from '../../../src/commands/bench.js';
import { reconcileRequest } from '../../../src/commands/reconcile.js';

const refused = (f: () => unknown): UsageError => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(ExitCode.Usage);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
};

describe('the service flags', () => {
  it('take a cluster by its seed nodes, or one URL, never both', () => {
    expect(serviceChoice({ redisCluster: '127.0.0.1:7000,127.0.0.1:7001' }).redisCluster).toEqual([
      '127.0.0.1:7000',
      '127.0.0.1:7001',
    ]);
    expect(serviceChoice({ redisUrl: 'redis://h:6379' })).toEqual({
      redisUrl: 'redis://h:6379',
      redisCluster: undefined,
      databaseUrl: undefined,
    });
    expect(
      refused(() => serviceChoice({ redisUrl: 'redis://h:6379', redisCluster: '127.0.0.1:7000' })).message,
    ).toMatch(/^--redis-cluster and --redis-url: give one/);
  });
});

describe('simulate flags', () => {
  it('become a request: defaults filled, the shard parsed, thresholds kept in order', () => {
    const r = simulateRequest({ threshold: ['reserve.p99<50', 'errors==0'], shard: '1/4', seed: '7' });
    expect(r).toMatchObject({
      transport: 'direct',
      shard: { index: 1, count: 4 },
      seed: 7,
      thresholds: ['reserve.p99<50', 'errors==0'],
    });
    expect(simulateRequest({ threshold: [] }).shard).toEqual({ index: 0, count: 1 });
  });

  it('name the flag that is wrong and what it accepts', () => {
    expect(refused(() => simulateRequest({ threshold: [], mode: 'fast' })).message).toBe(
      '--mode: expected one of sync, async, both, got "fast"',
    );
    expect(refused(() => simulateRequest({ threshold: [], workers: '0' })).message).toMatch(
      /^--workers: expected a whole number from 1 to 64/,
    );
    expect(refused(() => simulateRequest({ threshold: [], target: 'nope' })).message).toMatch(
      /^--target: expected an http:\/\/ or https:\/\/ URL of a system serving the sale API, got "nope"/,
    );
  });
});

describe('URL flags', () => {
  it('refuse a scheme the service does not speak, naming the flag (exit 2, not an internal error)', () => {
    const base = { threshold: [] };
    expect(refused(() => simulateRequest({ ...base, transport: 'http', target: 'ftp://127.0.0.1:1' })).message).toBe(
      '--target: expected an http:// or https:// URL of a system serving the sale API, got "ftp://127.0.0.1:1"',
    );
    expect(refused(() => simulateRequest({ ...base, providerUrl: 'nonsense' })).message).toMatch(
      /^--provider-url: expected an http:\/\/ or https:\/\/ URL/,
    );
    expect(refused(() => simulateRequest({ ...base, redisUrl: 'http://127.0.0.1:6379' })).message).toMatch(
      /^--redis-url: expected a redis:\/\/ or rediss:\/\/ URL/,
    );
    expect(refused(() => benchRequest({ databaseUrl: 'mysql://127.0.0.1/x' })).message).toMatch(
      /^--database-url: expected a postgres:\/\/ or postgresql:\/\/ URL/,
    );
    expect(simulateRequest({ ...base, redisUrl: 'rediss://h:6380', databaseUrl: 'postgresql://u@h/db' })).toMatchObject(
      { redisUrl: 'rediss://h:6380' },
    );
  });
});

describe('bench flags', () => {
  it('become a workload and the rest of the request', () => {
    const r = benchRequest({
      strategy: 'lua,atomic',
      stock: '10',
      workers: '2',
      reference: true,
      threshold: ['latency.p99<5'],
    });
    expect(r.config).toMatchObject({ strategies: ['lua', 'atomic'], stock: 10, workers: 2, buyers: 5_000 });
    expect(r).toMatchObject({ reference: true, keep: false, thresholds: ['latency.p99<5'] });
  });

  it('refuse a request no buyer could be served by', () => {
    expect(refused(() => benchRequest({ qty: '5', stock: '2' })).message).toMatch(/^--qty 5 is larger than --stock 2/);
  });
});

describe('reconcile flags', () => {
  it('parse the grace as a duration and name a bad one', () => {
    expect(reconcileRequest({ date: '2026-11-21', grace: '30m' }).graceMs).toBe(30 * 60_000);
    expect(refused(() => reconcileRequest({ date: '2026-11-21', grace: 'soon' })).message).toMatch(/^--grace/);
    expect(refused(() => reconcileRequest({ date: '2026-11-21', concurrency: '99' })).message).toMatch(
      /^--concurrency: expected a whole number from 1 to 32/,
    );
  });
});
