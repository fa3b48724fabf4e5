// Report documents as their writers build them (the commands' summary.json), with made-up
// figures: what the schema tests feed the loaders.
import { encodeHistogram, latencySummary, newHistogram } from '../../src/core/histogram.js';
import type { BenchDocument } from '../../src/core/documents/bench.js';
import type { ReconcileDocument } from '../../src/core/documents/reconcile.js';
import type {
  SimulateBothDocument,
  SimulateOneDocument,
  SimulateRunDocument,
} from '../../src/core/documents/simulate.js';
import { emptyJourneyCounters } from '../../src/core/simulate/journey.js';
import type { SimulationResult } from '../../src/core/simulate/run.js';

function histogram(samples: number[]) {
  const h = newHistogram();
  for (const us of samples) h.recordValue(us);
  return h;
}

/** What runSimulation returns for one mode. */
export function simulationResult(mode: 'sync' | 'async' = 'sync', shard = { index: 0, count: 1 }): SimulationResult {
  const reserve = histogram([800, 1_200, 5_000]);
  const empty = newHistogram();
  return {
    ok: true,
    namespace: `sim_${mode}${shard.index}`,
    strategy: 'lua',
    mode,
    finality: { orders: 3, final: 3, pending: 0, p50Ms: 20, p95Ms: 40, maxMs: 41, lastFinalAt: 1_764_000_000_000 },
    transport: 'direct',
    stock: 10,
    sold: 3,
    oversold: 0,
    durationSec: 2.5,
    arrivalPhaseSec: 2,
    attemptsPerSec: 2.5,
    reserveCallsPerSec: 3,
    successPerSec: 1.5,
    droppedArrivals: 0,
    droppedLate: 0,
    droppedInFlightCap: 0,
    counters: { ...emptyJourneyCounters(), journeys: 5, reserveCalls: 6, orders: 3, paid: 3 },
    latencyMs: {
      reserve: latencySummary(reserve),
      pay: latencySummary(empty),
      endToEnd: latencySummary(empty),
      lateness: latencySummary(empty),
    },
    unfairRefusals: 0,
    timeline: {
      bucketMs: 250,
      buckets: [{ t: 0, started: 5, completed: 5, orders: 3, reserve: { count: 3, p50: 1.2, p95: 5, p99: 5 } }],
      stock: [{ t: 10, sku: 'sku-1', available: 7 }],
    },
    invariants: [{ name: 'no oversell', ok: true, detail: '3 of 10 units granted across 1 SKU(s)' }],
    skus: [{ sku: 'sku-1', stock: 10, sold: 3, held: 0, remaining: 7, revenueMinor: 300, currency: 'EUR' }],
    orders: [],
    providerFaults: [
      { transaction_id: 'txn-1', expected: 'MISSING_AT_PROVIDER', kind: 'timeout', attempt: 1, detail: { lostMs: 30 } },
    ],
    errorSamples: [],
    histograms: {
      reserve: encodeHistogram(reserve),
      pay: encodeHistogram(empty),
      endToEnd: encodeHistogram(empty),
      lateness: encodeHistogram(empty),
    },
    shard,
    scenarioDigest: 'abc123',
    startedAt: '2026-11-21T10:00:00.000Z',
  };
}

/** One mode's entry, as `flashsale simulate` adds its context to the result (orders go to orders.csv). */
export function simulateRun(r: SimulationResult): SimulateRunDocument {
  const { orders: _orders, ...rest } = r;
  return {
    ...rest,
    interrupted: false,
    scenario: 'smoke',
    strategyChoice: 'asked for',
    thresholds: [{ source: 'oversold==0', ok: true, value: 0 }],
    services: { redis: '--redis-url', postgres: '--database-url' },
  };
}

export const simulateOne = (shard = { index: 0, count: 1 }): SimulateOneDocument => ({
  ...simulateRun(simulationResult('sync', shard)),
  outDir: '/tmp/out',
});

export const simulateBoth = (shard = { index: 0, count: 1 }): SimulateBothDocument => ({
  ok: true,
  mode: 'both',
  strategy: 'lua',
  interrupted: false,
  scenario: 'smoke',
  runs: [simulateRun(simulationResult('sync', shard)), simulateRun(simulationResult('async', shard))],
  outDir: '/tmp/out',
});

const lat = { p50: 1, p90: 2, p95: 2.5, p99: 3, p999: 4, max: 5, mean: 1.4 };

export function benchDocument(): BenchDocument {
  const calibration = { redisOpsPerSec: 50_000, postgresOpsPerSec: 9_000 };
  return {
    ok: true,
    interrupted: false,
    config: {
      strategies: ['lua'],
      skus: 1,
      stock: 100,
      qty: 1,
      buyers: 300,
      concurrency: 64,
      workers: 1,
      skew: 'uniform',
      seed: 1,
      ttlMs: 600_000,
      perUserLimit: 0,
      confirmRate: 1,
      naiveStore: 'postgres',
    },
    services: { redis: 'REDIS_URL' },
    strategies: [
      {
        strategy: 'lua',
        store: 'redis',
        skus: 1,
        stock: 100,
        attempts: 300,
        sold: 100,
        held: 0,
        oversold: 0,
        falseSoldOut: 0,
        durationSec: 0.4,
        attemptsPerSec: 750,
        successPerSec: 250,
        counters: {
          attempts: 300,
          ok: 100,
          duplicates: 0,
          soldOut: 200,
          limitExceeded: 0,
          conflicts: 0,
          inProgress: 0,
          errors: 0,
          retries: 0,
          confirmed: 100,
          confirmFailed: 0,
        },
        latencyMs: lat,
        confirmLatencyMs: lat,
        generator: {
          workers: 1,
          targetConcurrency: 64,
          eluMax: 0.5,
          loopDelayP99Ms: 1.2,
          startLagMs: 0,
          limited: false,
          shortRun: true,
          note: 'short',
        },
        invariants: [{ name: 'no oversell', ok: true, detail: '100 of 100 units granted across 1 SKU(s)' }],
        ok: true,
        errorSamples: [],
        histogram: encodeHistogram(newHistogram()),
        thresholds: [],
      },
    ],
    reference: [
      {
        name: 'minimal script',
        strategy: 'lua',
        tool: 'redis-benchmark',
        concurrency: 16,
        oursPerSec: 1000,
        theirsPerSec: 1200,
        ratio: 0.83,
        target: 0.5,
        detail: 'EVALSHA',
      },
    ],
    calibration: { ...calibration, strategies: { lua: 50_000 } },
    baseline: {
      file: 'baseline.json',
      createdAt: '2026-11-20T10:00:00.000Z',
      maxRegression: 0.3,
      calibration: { baseline: calibration, now: calibration },
      rows: [
        {
          strategy: 'lua',
          store: 'redis',
          baselineEfficiency: 0.005,
          efficiency: 0.005,
          baselineSuccessPerSec: 250,
          successPerSec: 250,
          delta: 0,
          ok: true,
        },
      ],
      notCompared: [],
      ok: true,
    },
    outDir: '/tmp/bench',
  };
}

/** reconcile's --json document: the result with `fixes` moved last, as the command prints it. */
export function reconcileDocument(): ReconcileDocument {
  return {
    ok: false,
    date: '2026-11-21',
    tz: 'UTC',
    window: { start: '2026-11-21T00:00:00.000Z', end: '2026-11-22T00:00:00.000Z', hours: 24 },
    verdict: 'BREAKS',
    namespace: 'sim_abcd',
    provider: 'the bundled mock',
    summary: [{ category: 'ORPHAN_CHARGE', currency: 'EUR', count: 1, netMinor: 100, grossMinor: 100 }],
    breaks: 1,
    read: { localTransactions: 10, providerCharges: 11, pages: 1, retries: 0, rateLimited: 0 },
    elapsedMs: 120,
    phasesMs: { providerRead: 80, matchAndReport: 40 },
    peakRssMb: 90,
    outDir: '/tmp/reconcile',
    fixes: { applied: false, planned: { refund_charge: 1 } },
  };
}
