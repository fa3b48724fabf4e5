// What `flashsale bench` writes to summary.json (and prints with --json). The result types of
// bench/types.ts are these types, so a new figure is typed here once and `report DIR` reads it back.
import { z } from 'zod';
import {
  bool,
  int,
  invariantSchema,
  latencySummarySchema,
  num,
  servicesOriginSchema,
  storeSchema,
  str,
  strategyNameSchema,
  thresholdResultSchema,
} from './common.js';

/** A validated `bench` configuration (the command builds it from options). */
export const benchConfigSchema = z
  .object({
    strategies: z.array(strategyNameSchema),
    skus: int,
    stock: int,
    qty: int,
    /** Total attempts across all workers; the run stops when they are done. */
    buyers: int.optional(),
    /** Seconds; unbounded buyers until then. */
    durationSec: num.optional(),
    concurrency: int,
    workers: int,
    skew: z.enum(['uniform', 'zipf']),
    seed: int,
    ttlMs: int,
    perUserLimit: int,
    /** Distinct buyers the attempts are drawn from; default one per attempt. */
    users: int.optional(),
    /** Fraction of successful holds confirmed into sales right away, 0..1. */
    confirmRate: num,
    naiveStore: storeSchema,
  })
  .strict();
export type BenchConfig = z.infer<typeof benchConfigSchema>;

export const benchCountersSchema = z
  .object({
    attempts: int,
    /** Reservations granted (new ones; duplicates are counted apart). */
    ok: int,
    duplicates: int,
    soldOut: int,
    limitExceeded: int,
    conflicts: int,
    inProgress: int,
    errors: int,
    retries: int,
    confirmed: int,
    confirmFailed: int,
  })
  .strict();
export type Counters = z.infer<typeof benchCountersSchema>;

export const generatorReportSchema = z
  .object({
    workers: int,
    targetConcurrency: int,
    /** Busiest worker's event-loop utilisation. */
    eluMax: num,
    loopDelayP99Ms: num,
    /** How long after the common start the last worker began (slow connects show here). */
    startLagMs: num,
    /** True when the generator, not the system under test, was the bottleneck. */
    limited: bool,
    /** Too short to judge the generator or quote a rate: warm-up dominates. */
    shortRun: bool,
    note: str,
  })
  .strict();
export type GeneratorReport = z.infer<typeof generatorReportSchema>;

/** One strategy's run, as bench/run.ts returns it. */
export const strategyBenchResultSchema = z
  .object({
    strategy: strategyNameSchema,
    store: storeSchema,
    skus: int,
    stock: int,
    attempts: int,
    sold: int,
    held: int,
    oversold: int,
    falseSoldOut: int,
    durationSec: num,
    attemptsPerSec: num,
    successPerSec: num,
    counters: benchCountersSchema,
    latencyMs: latencySummarySchema,
    /** Confirm latency (holds turned into sales), apart from reserve latency. */
    confirmLatencyMs: latencySummarySchema,
    generator: generatorReportSchema,
    invariants: z.array(invariantSchema),
    ok: bool,
    errorSamples: z.array(str),
    /** The merged histogram (compressed base64), kept for reports and merges. */
    histogram: str,
  })
  .strict();
export type StrategyBenchResult = z.infer<typeof strategyBenchResultSchema>;

export const referenceComparisonSchema = z
  .object({
    name: str,
    strategy: str,
    tool: str,
    concurrency: int,
    oursPerSec: num,
    theirsPerSec: num,
    ratio: num,
    target: num,
    detail: str,
  })
  .strict();

export type ReferenceComparison = z.infer<typeof referenceComparisonSchema>;

const calibrationFields = { redisOpsPerSec: num.optional(), postgresOpsPerSec: num.optional() };
const calibrationSchema = z.object(calibrationFields).strict();
export const runCalibrationSchema = z.object({ ...calibrationFields, strategies: z.record(num) }).strict();
/** Bare round trips per second of each store (bench/calibrate.ts measures them). */
export type Calibration = z.infer<typeof calibrationSchema>;
export type RunCalibration = z.infer<typeof runCalibrationSchema>;

/** One strategy against the baseline file (bench/baseline.ts compares them). */
export const baselineRowSchema = z
  .object({
    strategy: str,
    store: storeSchema,
    baselineEfficiency: num,
    efficiency: num,
    baselineSuccessPerSec: num,
    successPerSec: num,
    /** efficiency ÷ baseline efficiency − 1: −0.12 is a 12% drop. */
    delta: num,
    ok: bool,
    /** Why the figure may not mean what it seems (a sold-out run). */
    note: str.optional(),
  })
  .strict();
export type BaselineRow = z.infer<typeof baselineRowSchema>;

export const baselineComparisonSchema = z
  .object({
    file: str,
    createdAt: str,
    /** A fraction: 0.1 fails a drop of more than 10%. */
    maxRegression: num,
    calibration: z.object({ baseline: calibrationSchema, now: calibrationSchema }).strict(),
    rows: z.array(baselineRowSchema),
    notCompared: z.array(z.object({ strategy: str, reason: str }).strict()),
    ok: bool,
  })
  .strict();
export type BaselineComparison = z.infer<typeof baselineComparisonSchema>;

/**
 * summary.json of `flashsale bench`. `strategies` comes right after `ok`: a document's first
 * problem is the one reported, and the figures are what a reader of a broken file needs named.
 */
export const benchDocumentSchema = z
  .object({
    ok: bool,
    /** Each with its own verdict on every --threshold. */
    strategies: z.array(strategyBenchResultSchema.extend({ thresholds: z.array(thresholdResultSchema) })),
    /** Ctrl-C stopped the run: the strategies listed ran (the last one cut short), the rest did not. */
    interrupted: bool,
    config: benchConfigSchema,
    services: servicesOriginSchema,
    reference: z.array(referenceComparisonSchema).optional(),
    /** With --baseline / --save-baseline: this run's bare round trips/s per store (the efficiency yardstick). */
    calibration: runCalibrationSchema.optional(),
    /** With --baseline: each strategy's efficiency against the file's. */
    baseline: baselineComparisonSchema.optional(),
    outDir: str,
  })
  .strict();
export type BenchDocument = z.infer<typeof benchDocumentSchema>;
