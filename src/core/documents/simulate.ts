// What `flashsale simulate` writes to summary.json (and prints with --json): one document per
// mode, or with --mode both the same per mode under `runs`. The run's result types in
// simulate/run.ts are these types, so a new figure is typed here once and `report DIR` reads it back.
import { z } from 'zod';
import type { OrderFinality, RecoveryTally } from '../engine/types.js';
import type { InvariantResult } from '../invariants.js';
import type { Fault } from '../provider/faults.js';
import { CATEGORIES } from '../reconcile/categories.js';
import {
  bool,
  int,
  invariantSchema,
  latencySummarySchema,
  num,
  objectOf,
  servicesOriginSchema,
  shardSchema,
  str,
  strategyNameSchema,
  thresholdResultSchema,
  type Assert,
  type InvariantDocument,
  type Same,
} from './common.js';

/** The latency histograms of a sale, in the order they are reported: the workers', the run's and the shards'. */
export const SIMULATE_HISTOGRAMS = ['reserve', 'pay', 'endToEnd', 'lateness'] as const;
export type SimulateHistogram = (typeof SIMULATE_HISTOGRAMS)[number];

export const modeSchema = z.enum(['sync', 'async']);
export const transportSchema = z.enum(['direct', 'http']);

/** What the buyers' journeys counted (simulate/journey.ts records them). */
export const journeyCountersSchema = z
  .object({
    journeys: int,
    availabilityChecks: int,
    /** Buyers who saw the SKU sold out on the availability check and left without reserving. */
    sawSoldOut: int,
    /** Every reserve call, including double clicks, retries and bots. */
    reserveCalls: int,
    /** New orders (a reservation granted for the first time). */
    orders: int,
    /** Reserve calls answered with the order an earlier call of the same click made. */
    duplicatesSuppressed: int,
    soldOut: int,
    limitExceeded: int,
    rateLimited: int,
    conflicts: int,
    abandoned: int,
    paid: int,
    declined: int,
    expired: int,
    payFailed: int,
    errors: int,
    botCalls: int,
    botOrders: int,
  })
  .strict();
export type JourneyCounters = z.infer<typeof journeyCountersSchema>;

/** Over the orders: createdAt (the buyer's click) to updatedAt of the final status (engine/types.ts OrderFinality). */
export const finalitySchema = z
  .object({
    orders: int,
    final: int,
    /** Still PendingPayment. */
    pending: int,
    p50Ms: num,
    p95Ms: num,
    /** The longest an order took from creation to final. */
    maxMs: num,
    /** When the last order became final (epoch ms); absent when none is. */
    lastFinalAt: num.optional(),
  })
  .strict();

export const timelineBucketSchema = z
  .object({
    /** Start of the bucket, ms from the run's common start. */
    t: num,
    started: int,
    completed: int,
    orders: int,
    /** Reserve latency (ms) of the journeys whose reserve was sent in this bucket; count 0 = none sent. */
    reserve: z.object({ count: int, p50: num, p95: num, p99: num }).strict(),
  })
  .strict();
export type TimelineBucket = z.infer<typeof timelineBucketSchema>;

export const stockSampleSchema = z
  .object({
    /** ms from the run's common start. */
    t: num,
    sku: str,
    available: num,
  })
  .strict();
export type StockSample = z.infer<typeof stockSampleSchema>;

/** Per time bucket from the common start, and stock per SKU over time: the report's charts. */
export const timelineSchema = z
  .object({
    bucketMs: num,
    buckets: z.array(timelineBucketSchema),
    /** Empty when no engine ran in this process (an external --target): nothing of ours to read. */
    stock: z.array(stockSampleSchema),
  })
  .strict();
export type SimTimeline = z.infer<typeof timelineSchema>;

export const skuSummarySchema = z
  .object({ sku: str, stock: int, sold: int, held: int, remaining: int, revenueMinor: int, currency: str })
  .strict();
export type SkuSummary = z.infer<typeof skuSummarySchema>;

/** A fault the bundled mock provider injected, with the reconcile category it should cause (provider/faults.ts Fault). */
export const faultSchema = z
  .object({
    transaction_id: str,
    expected: z.enum(CATEGORIES as [string, ...string[]]),
    kind: str,
    /** Which attempt at the transaction (1-based) it was injected into. */
    attempt: int,
    detail: z.record(z.union([str, num, bool])).optional(),
  })
  .strict();

export const recoveryTallySchema = z
  .object({
    paid: int,
    refunded: int,
    released: int,
    declined: int,
    noCharge: int,
    waiting: int,
    errors: int,
    lastError: str.optional(),
  })
  .strict();

/** A stock store found without its data and written back from the orders (docs/design.md#a-store-that-lost-its-data). */
export const storeRebuildSchema = z
  .object({
    at: int,
    skus: z.array(str),
    held: int,
    sold: int,
    ended: int,
    lateEnded: int,
    lateSold: int,
  })
  .strict();

/** Everything a simulate run measured and judged, but its orders (those go to orders.csv). */
export const simulationSchema = z
  .object({
    ok: bool,
    namespace: str,
    strategy: strategyNameSchema,
    mode: modeSchema,
    /** How long orders took to become final (Paid, PaymentFailed, Expired), from the click. */
    finality: finalitySchema.optional(),
    transport: transportSchema,
    /** The external system driven (`--target`): judged from its buyers' side, `strategy` only a label. */
    target: str.optional(),
    stock: int,
    sold: int,
    oversold: int,
    durationSec: num,
    /** From the first arrival to the last one started (open model); the per-second rates are over it. */
    arrivalPhaseSec: num,
    /** Buyers' attempts to buy (arrivals served: journeys) per second. */
    attemptsPerSec: num,
    /** Reserve requests per second (double clicks, retries and bots included). */
    reserveCallsPerSec: num,
    /** New orders per second. */
    successPerSec: num,
    droppedArrivals: int,
    droppedLate: int,
    droppedInFlightCap: int,
    counters: journeyCountersSchema,
    latencyMs: objectOf(SIMULATE_HISTOGRAMS, latencySummarySchema),
    /** Buyers refused as sold out although a later arrival got stock of the same SKU. */
    unfairRefusals: int,
    timeline: timelineSchema,
    invariants: z.array(invariantSchema),
    skus: z.array(skuSummarySchema),
    providerFaults: z.array(faultSchema),
    /** What payment recovery finished (docs/design.md#payment-recovery); absent for an external target. */
    recovery: recoveryTallySchema.optional(),
    /**
     * Orders still PendingPayment when the run was judged, by cause: holds whose time is not up
     * yet (abandoned by their buyers: expected), and anything else (a payment in flight, a hold past
     * its end), which makes the run invalid. Absent for an external target.
     */
    pendingAtEnd: z.object({ holdsLive: int, stuck: int }).strict().optional(),
    /** Each time the stock store lost its data mid-sale (a Redis restarted empty) and was rebuilt; absent when it never did. */
    storeRebuilds: z.array(storeRebuildSchema).optional(),
    errorSamples: z.array(str),
    /** What the provider said to the last payment it gave no answer to (status and body excerpt, or the connection error). */
    lastPayFailure: str.optional(),
    /** Compressed base64 HDR histograms (µs): what `flashsale report merge` adds up exactly. */
    histograms: objectOf(SIMULATE_HISTOGRAMS, str),
    /** The slice of the arrivals this run played (`--shard i/n`); a merge refuses overlaps. */
    shard: shardSchema,
    /** Of the scenario as run (seed override included): shards of one sale must agree on it. */
    scenarioDigest: str,
    /** When the arrivals started (ISO): shards of one sale are meant to start together. */
    startedAt: str,
  })
  .strict();
export type Simulation = z.infer<typeof simulationSchema>;

/** What the command adds to each mode's result: the verdict on thresholds and how the run was set up. */
const runContext = {
  /** Ctrl-C stopped the run: it holds what happened until then. */
  interrupted: bool,
  scenario: str,
  /** Why this strategy ("asked for", or what `auto` found). */
  strategyChoice: str,
  thresholds: z.array(thresholdResultSchema),
  /** Whether the run delivered its load (docs/design.md#run-validity); an invalid run is not a pass. */
  valid: bool,
  validity: z
    .object({
      reasons: z.array(str),
      relaxed: z.array(str),
      /** A service the run could not use at all, with its last answer: exit 6. */
      deadService: str.optional(),
    })
    .strict(),
  services: servicesOriginSchema,
};

/** One mode of a simulate run as summary.json keeps it: the result without its orders, with its verdicts. */
export const simulateRunDocumentSchema = simulationSchema.extend(runContext);
export type SimulateRunDocument = z.infer<typeof simulateRunDocumentSchema>;

/** `simulate` with one mode: that mode's document and where the report went. */
export const simulateOneDocumentSchema = simulateRunDocumentSchema.extend({ outDir: str });

/** `simulate --mode both`: the same sale twice, one document per mode under `runs`. */
export const simulateBothDocumentSchema = z
  .object({
    ok: bool,
    mode: z.literal('both'),
    strategy: strategyNameSchema,
    interrupted: bool,
    scenario: str,
    runs: z.array(simulateRunDocumentSchema).min(1),
    outDir: str,
  })
  .strict();

export type SimulateOneDocument = z.infer<typeof simulateOneDocumentSchema>;
export type SimulateBothDocument = z.infer<typeof simulateBothDocumentSchema>;
/** summary.json of `flashsale simulate`. */
export type SimulateDocument = SimulateOneDocument | SimulateBothDocument;

/**
 * As `flashsale report` reads a simulate run back: also what summaries written before the
 * timeline, the strategy choice and the services were recorded look like (and what hand-made
 * shards in tests hold), so those three may be absent; every field present must be one of these.
 */
export const savedSimulateRunSchema = simulateRunDocumentSchema.partial({
  valid: true,
  validity: true,
  timeline: true,
  strategyChoice: true,
  services: true,
});
export const savedSimulateOneSchema = savedSimulateRunSchema.extend({ outDir: str.optional() });
export const savedSimulateBothSchema = simulateBothDocumentSchema.extend({
  runs: z.array(savedSimulateRunSchema).min(1),
  outDir: str.optional(),
});
export type SavedSimulateRun = z.infer<typeof savedSimulateRunSchema>;

// Declared by the modules that make them; a field added there and not here fails to compile.
// A fault's kind and category are unions over there and plain strings in the document.
export type _Checked = [
  Assert<Same<z.infer<typeof finalitySchema>, OrderFinality>>,
  Assert<Same<z.infer<typeof recoveryTallySchema>, RecoveryTally>>,
  Assert<Same<InvariantDocument, InvariantResult>>,
  Assert<Fault extends z.infer<typeof faultSchema> ? true : false>,
];
