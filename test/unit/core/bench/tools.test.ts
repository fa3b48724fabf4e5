// Redaction and the reference tools' output (redis-benchmark CSV, pgbench), parsed without running them.
import { describe, expect, it } from 'vitest';
import { redact } from '../../../../src/core/errors.js';
import { parsePgbench, parseRedisBenchmarkCsv, redisBenchmarkFlags } from '../../../../src/core/bench/tools.js';

describe('redaction and tool output', () => {
  it('gives redis-benchmark the user, password and db of the Redis URL', () => {
    expect(redisBenchmarkFlags('redis://127.0.0.1:6379')).toEqual(['-h', '127.0.0.1', '-p', '6379']);
    expect(redisBenchmarkFlags('redis://app:pw@cache:6380/3')).toEqual([
      '-h',
      'cache',
      '-p',
      '6380',
      '--user',
      'app',
      '-a',
      'pw',
      '--no-auth-warning',
      '--dbnum',
      '3',
    ]);
    expect(() => redisBenchmarkFlags('rediss://cache:6380')).toThrow(/redis:\/\/ URL/);
  });
  it('hides passwords in every URL', () => {
    expect(redact('redis://:pw@h:1 and postgres://u:p%40ss@db/x')).toBe('redis://:***@h:1 and postgres://u:***@db/x');
    expect(redact('postgres://u@db/x')).toBe('postgres://u@db/x');
    // unencoded / and @ in the password, and passwords in the query
    expect(redact('postgres://u:p/ss@w@rd@db:5432/x')).toBe('postgres://u:***@db:5432/x');
    expect(redact('postgres://db/x?user=u&password=s3cret&sslmode=require')).toBe(
      'postgres://db/x?user=u&password=***&sslmode=require',
    );
    expect(redact('redis://h:6379/?token=abc http://p.example/v1?api_key=k1')).toBe(
      'redis://h:6379/?token=*** http://p.example/v1?api_key=***',
    );
  });
  it('reads redis-benchmark CSV and pgbench summaries', () => {
    const csv =
      '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"\n"EVALSHA x","124688.28","0.098","0.032","0.087","0.175","0.231","0.831"\n';
    expect(parseRedisBenchmarkCsv(csv)).toEqual({ rps: 124688.28, p50: 0.087, p99: 0.231 });
    const pg =
      'number of transactions actually processed: 276676\nnumber of failed transactions: 0 (0.000%)\ntps = 138641.625159 (without initial connection time)\n';
    expect(parsePgbench(pg)).toEqual({ tps: 138641.625159, transactions: 276676, failed: 0 });
  });
});
