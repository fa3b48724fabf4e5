// Pure pieces: the invariant checker, histogram merging, seeded randomness, redaction.
import { describe, expect, it } from 'vitest';
import * as hdr from 'hdr-histogram-js';
import { checkInvariants } from '../src/core/invariants.js';
import type { LedgerEntry, Snapshot } from '../src/core/strategies/types.js';
import { mergeWorkerResults } from '../src/core/bench/aggregate.js';
import { emptyCounters } from '../src/core/bench/worker.js';
import { newHistogram } from '../src/core/histogram.js';
import { falseSoldOuts, split } from '../src/core/bench/run.js';
import { childSeed, picker, prng } from '../src/core/random.js';
import { redact } from '../src/core/errors.js';
import { parsePgbench, parseRedisBenchmarkCsv, redisBenchmarkFlags } from '../src/core/bench/tools.js';
import type { WorkerResult } from '../src/core/bench/types.js';

const entry = (id: number, over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  id: `r${id}`, sku: 'A', qty: 1, user: `u${id}`, idempotencyKey: `k${id}`, state: 'held', expiresAt: 0, ...over,
});
const snap = (available: number, ledger: LedgerEntry[], initial = 3): Snapshot => ({ skus: [{ sku: 'A', initial, available }], ledger });
const broken = (s: Snapshot, perUserLimit = 0, buyerUnits?: Record<string, number>) =>
  checkInvariants({ snapshot: s, perUserLimit, buyerUnits }).invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`);

describe('the invariant checker', () => {
  it('passes a ledger that adds up', () => {
    expect(broken(snap(1, [entry(1), entry(2, { state: 'sold' }), entry(3, { state: 'released' })]))).toEqual([]);
  });
  it('names the SKU and the amount of an oversell', () => {
    const out = broken(snap(0, [1, 2, 3, 4, 5].map((i) => entry(i))));
    expect(out[0]).toMatch(/^no oversell: A: oversold by 2 \(stock 3, ledger holds 5 units; reservations r1\(key k1\)/);
  });
  it('catches an oversell that only the buyers saw (a grant missing from the ledger)', () => {
    const out = broken(snap(0, [entry(1), entry(2), entry(3)]), 0, { A: 4 });
    expect(out.some((l) => /no oversell: A: oversold by 1 \(stock 3, buyers were told 4 units/.test(l))).toBe(true);
    expect(out.some((l) => /ledger = buyers: A: buyers hold 4 units, the ledger records 3/.test(l))).toBe(true);
  });
  it('catches leaked stock (conservation)', () => {
    expect(broken(snap(0, [entry(1)]))).toEqual(['conservation: A: available 0 + held 1 + sold 0 = 1, initial 3 (-2 units)']);
  });
  it('catches one idempotency key granted twice', () => {
    expect(broken(snap(1, [entry(1), entry(2, { idempotencyKey: 'k1' })]))[0]).toMatch(/^exactly once: key k1 on A: 2 reservations/);
  });
  it('catches a user above the per-user limit, and ignores released units', () => {
    const ledger = [entry(1, { user: 'x', qty: 2 }), entry(2, { user: 'x', state: 'released' })];
    expect(broken(snap(1, ledger), 2)).toEqual([]);
    expect(broken(snap(1, ledger), 1)).toEqual(['per-user limit: A: user x holds 2 units, limit 1']);
  });
});

function fakeWorker(values: number[], i: number): WorkerResult {
  const h = newHistogram();
  for (const v of values) h.recordValue(v);
  return {
    workerIndex: i, counters: { ...emptyCounters(), attempts: values.length, ok: 1 }, buyerUnits: { A: 1 }, soldOutBySku: {},
    histogram: hdr.encodeIntoCompressedBase64(h), confirmHistogram: hdr.encodeIntoCompressedBase64(newHistogram()), startedAt: 1000 + i, endedAt: 3000 + i, elu: 0.5, loopDelayP99Ms: 1, errorSamples: [],
  };
}

describe('merging worker results', () => {
  it('gives the percentiles of one histogram of all samples', () => {
    const rand = prng(7);
    const a = Array.from({ length: 5000 }, () => 1 + Math.floor(rand() * 2000));
    const b = Array.from({ length: 3000 }, () => 500 + Math.floor(rand() * 90000));
    const merged = mergeWorkerResults([fakeWorker(a, 0), fakeWorker(b, 1)], 8);
    const all = newHistogram();
    for (const v of [...a, ...b]) all.recordValue(v);
    for (const p of [50, 90, 99, 99.9]) expect(merged.histogram.getValueAtPercentile(p)).toBe(all.getValueAtPercentile(p));
    expect(merged.counters.attempts).toBe(8000);
    expect(merged.buyerUnits).toEqual({ A: 2 });
    expect(merged.durationSec).toBeCloseTo(2.001, 3);
    expect(merged.generator.limited).toBe(false);
  });
  it('says when the generator was the bottleneck', () => {
    const busy = { ...fakeWorker([1], 0), elu: 0.97 };
    const m = mergeWorkerResults([busy], 64);
    expect(m.generator.limited).toBe(true);
    expect(m.generator.note).toMatch(/generator-bound: a worker's event loop was 97% busy/);
    const late = mergeWorkerResults([{ ...fakeWorker([1], 0), loopDelayP99Ms: 45 }], 64);
    expect(late.generator.note).toMatch(/requests started up to 45\.0 ms late/);
  });
  it('still judges a run shorter than a second, and says its rates include warm-up', () => {
    const blip = { ...fakeWorker([1], 0), endedAt: 1_400, elu: 0.99 };
    const m = mergeWorkerResults([blip], 64);
    expect(m.generator.limited).toBe(true);
    expect(m.generator.shortRun).toBe(true);
    expect(m.generator.note).toMatch(/generator-bound: .*; the run lasted 0\.40 s, so its rates include warm-up/);
  });
  it('says when a worker began late after the common start', () => {
    const m = mergeWorkerResults([fakeWorker([1], 0), { ...fakeWorker([1], 1), startedAt: 1_250 }], 8, 1_000);
    expect(m.generator.startLagMs).toBe(250);
    expect(m.generator.note).toMatch(/a worker began 250 ms after the common start/);
  });
});

describe('seeded load shape', () => {
  it('repeats the same sequence for the same seed and differs across workers', () => {
    const x = prng(childSeed(1, 0));
    const y = prng(childSeed(1, 0));
    const z = prng(childSeed(1, 1));
    const xs = [x(), x(), x()];
    expect([y(), y(), y()]).toEqual(xs);
    expect([z(), z(), z()]).not.toEqual(xs);
  });
  it('zipf makes the first SKU the hottest; uniform spreads evenly', () => {
    const count = (skew: 'zipf' | 'uniform') => {
      const pick = picker(10, skew, prng(3));
      const n = new Array(10).fill(0);
      for (let i = 0; i < 20000; i++) n[pick()]++;
      return n;
    };
    const z = count('zipf');
    expect(z[0]).toBeGreaterThan(z[9] * 5);
    const u = count('uniform');
    expect(Math.max(...u) / Math.min(...u)).toBeLessThan(1.2);
  });
  it('counts false sold-outs as the refusals the leftover stock could have served', () => {
    const skus = [{ sku: 'A', available: 1 }, { sku: 'B', available: 0 }, { sku: 'C', available: 10 }];
    expect(falseSoldOuts(skus, { A: 4000, B: 50, C: 3 }, 1)).toBe(1 + 0 + 3);
    expect(falseSoldOuts(skus, { A: 4000, C: 30 }, 4)).toBe(0 + 2);
  });
  it('splits attempts and concurrency exactly', () => {
    expect(split(10, 3)).toEqual([4, 3, 3]);
    expect(split(5000, 2).reduce((a, b) => a + b)).toBe(5000);
  });
});

describe('redaction and tool output', () => {
  it('gives redis-benchmark the user, password and db of the Redis URL', () => {
    expect(redisBenchmarkFlags('redis://127.0.0.1:6379')).toEqual(['-h', '127.0.0.1', '-p', '6379']);
    expect(redisBenchmarkFlags('redis://app:pw@cache:6380/3')).toEqual(['-h', 'cache', '-p', '6380', '--user', 'app', '-a', 'pw', '--no-auth-warning', '--dbnum', '3']);
    expect(() => redisBenchmarkFlags('rediss://cache:6380')).toThrow(/redis:\/\/ URL/);
  });
  it('hides passwords in every URL', () => {
    expect(redact('redis://:pw@h:1 and postgres://u:p%40ss@db/x')).toBe('redis://:***@h:1 and postgres://u:***@db/x');
    expect(redact('postgres://u@db/x')).toBe('postgres://u@db/x');
  });
  it('reads redis-benchmark CSV and pgbench summaries', () => {
    const csv = '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"\n"EVALSHA x","124688.28","0.098","0.032","0.087","0.175","0.231","0.831"\n';
    expect(parseRedisBenchmarkCsv(csv)).toEqual({ rps: 124688.28, p50: 0.087, p99: 0.231 });
    const pg = 'number of transactions actually processed: 276676\nnumber of failed transactions: 0 (0.000%)\ntps = 138641.625159 (without initial connection time)\n';
    expect(parsePgbench(pg)).toEqual({ tps: 138641.625159, transactions: 276676, failed: 0 });
  });
});
