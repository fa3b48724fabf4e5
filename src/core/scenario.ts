// Scenario files (scenarios/*.json): a whole flash sale as data. Validated before any service is
// touched; every problem names the file, the field path, the bad value and what is accepted.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { z } from 'zod';
import { UsageError } from './errors.js';
import { MAX_AMOUNT } from './provider/http.js';
import { parseFaultConfig, type FaultConfig } from './provider/index.js';
import { worstCaseMs } from './engine/payments.js';
import { STRATEGY_NAMES, type StrategyName } from './strategies/types.js';
import { scenarioThresholdSources } from './thresholds.js';
import type { EngineConfig, SkuConfig } from './engine/types.js';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .number({ invalid_type_error: 'a number' })
    .int({ message: 'a whole number' })
    .min(min, { message: `at least ${min}` })
    .max(max, { message: `at most ${max}` });
const rate = z
  .number({ invalid_type_error: 'a number' })
  .min(0, { message: 'a rate from 0 to 1' })
  .max(1, { message: 'a rate from 0 to 1' });
const currency = z.string().regex(/^[A-Z]{3}$/, { message: 'an ISO 4217 code in upper case, e.g. "EUR"' });

const skuList = z
  .array(
    z
      .object({
        // printable: a SKU name ends up in keys, logs and reports
        sku: z
          .string()
          .min(1)
          .max(100)
          // eslint-disable-next-line no-control-regex -- refusing control characters is the point
          .regex(/^[^\u0000-\u001f\u007f]+$/, { message: 'a printable name (no NUL or other control characters)' }),
        stock: int(0, 100_000_000),
        priceMinor: int(1),
        currency,
      })
      .strict(),
  )
  .min(1, { message: 'at least one SKU' });
const skuGrid = z
  .object({ count: int(1, 10_000), stockEach: int(0, 100_000_000), priceMinor: int(1), currency })
  .strict();

const stage = z
  .object({
    durationMs: int(0, 3_600_000),
    target: z
      .number({ invalid_type_error: 'a number' })
      .min(0, { message: 'arrivals/s from 0 to 1,000,000' })
      .max(1_000_000, { message: 'arrivals/s from 0 to 1,000,000' }),
  })
  .strict();

const openModel = z
  .object({
    model: z.literal('open'),
    /** ramping-arrival-rate: `target` arrivals/s at the end of each stage, from 0. */
    stages: z.array(stage).min(1, { message: 'at least one stage' }),
    /** Total buyers: the schedule ends once this many have arrived. */
    maxArrivals: int(1, 10_000_000).optional(),
    /** Buyers in flight at once per run; an arrival finding them all busy is dropped and counted. */
    maxInFlight: int(1, 100_000).default(2_000),
    /** An arrival that cannot start this late is dropped and counted (never started late). */
    maxLatenessMs: int(1, 60_000).default(100),
  })
  .strict();

const closedModel = z
  .object({
    model: z.literal('closed'),
    /** Virtual buyers, each running journeys back to back. */
    buyers: int(1, 100_000),
    /** Journeys in all (the run ends when done) … */
    iterations: int(1, 10_000_000).optional(),
    /** … or how long the buyers keep going. */
    durationMs: int(1, 3_600_000).optional(),
  })
  .strict();

const scenarioSchema = z
  .object({
    name: z.string().min(1).max(100),
    description: z.string().max(2_000).optional(),
    seed: int(0, 2 ** 32 - 1).default(1),
    strategy: z
      .enum([...STRATEGY_NAMES, 'auto'] as [string, ...string[]], {
        errorMap: () => ({ message: `one of ${[...STRATEGY_NAMES, 'auto'].join(', ')}` }),
      })
      .default('auto'),
    mode: z
      .enum(['sync', 'async', 'both'], { errorMap: () => ({ message: 'one of sync, async, both' }) })
      .default('sync'),
    skus: z.union([skuGrid, skuList], {
      errorMap: () => ({
        message: 'either {count, stockEach, priceMinor, currency} or a list of {sku, stock, priceMinor, currency}',
      }),
    }),
    holdTtlMs: int(1, 86_400_000).default(600_000),
    perUserLimit: int(0).default(0),
    rateLimit: z
      .object({ perSec: z.number().positive({ message: 'requests/s > 0' }), burst: int(1) })
      .strict()
      .optional(),
    traffic: z.discriminatedUnion('model', [openModel, closedModel], {
      errorMap: (issue, ctx) =>
        issue.code === 'invalid_union_discriminator'
          ? { message: 'model "open" (arrival-rate stages) or "closed" (virtual buyers)' }
          : { message: ctx.defaultError },
    }),
    buyers: z
      .object({
        /** Distinct people the arrivals are drawn from. */
        users: int(1, 100_000_000),
        qty: z.union([int(1, 1_000), z.object({ min: int(1, 1_000), max: int(1, 1_000) }).strict()]).default(1),
        skew: z.enum(['uniform', 'zipf'], { errorMap: () => ({ message: 'one of uniform, zipf' }) }).default('uniform'),
        /** Look at the stock before reserving (a GET per journey, as a product page does). */
        checkAvailability: z.boolean().default(true),
        /** Holds the buyer walks away from (they expire). */
        abandonRate: rate.default(0),
        /**
         * How long a buyer takes between the hold and paying (typing in a card), uniform in
         * [min, max] ms. Not counted in any latency: it is the buyer's time, not the system's.
         */
        payAfterMs: z
          .union([int(0, 600_000), z.object({ min: int(0, 600_000), max: int(0, 600_000) }).strict()])
          .default(0),
        /** Clicks sent twice at once with the same click id. */
        doubleClickRate: rate.default(0),
        /** Requests a client sends again (same click id) as if the answer was lost. */
        retryRate: rate.default(0),
        /** Share of users who are bots hammering reserve; the rate limit must stop them. */
        bots: z
          .object({ fraction: rate, requestsPerArrival: int(1, 1_000) })
          .strict()
          .default({ fraction: 0, requestsPerArrival: 1 }),
      })
      .strict(),
    payment: z
      .object({
        timeoutMs: int(1, 120_000).default(2_000),
        retries: int(0, 20).default(3),
        backoffMs: int(0, 60_000).default(50),
        /** The mock provider's fault rates (see src/core/provider/faults.ts); checked there. */
        faults: z.unknown().optional(),
      })
      .strict()
      .default({}),
    sweepIntervalMs: int(10, 600_000).default(1_000),
    /** k6's shape: metric → conditions, {"reserve.p99": ["<50"]}; names checked in parseScenario (thresholds.ts). */
    thresholds: z
      .record(
        z.array(z.string({ invalid_type_error: 'a condition string such as "<50"' }), {
          invalid_type_error: 'an array of conditions such as ["<50"]',
        }),
        {
          invalid_type_error: 'an object of metric → conditions, e.g. {"oversold": ["==0"]}',
        },
      )
      .optional(),
  })
  .strict();

type Parsed = z.infer<typeof scenarioSchema>;

export interface Scenario extends Omit<Parsed, 'skus' | 'strategy' | 'payment' | 'buyers'> {
  strategy: StrategyName | 'auto';
  buyers: Omit<Parsed['buyers'], 'qty' | 'payAfterMs'> & {
    qty: { min: number; max: number };
    payAfterMs: { min: number; max: number };
  };
  skus: SkuConfig[];
  payment: { timeoutMs: number; retries: number; backoffMs: number; faults: FaultConfig };
  /** Where it came from, for messages and reports. */
  source: string;
}

function describeValue(raw: unknown, path: (string | number)[]): string {
  let v: unknown = raw;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined;
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

/** {count: 10, …} → sku-01 … sku-10, named as the bench names them. */
function gridSkus(g: z.infer<typeof skuGrid>): SkuConfig[] {
  const width = String(g.count).length;
  return Array.from({ length: g.count }, (_, i) => ({
    sku: `sku-${String(i + 1).padStart(width, '0')}`,
    stock: g.stockEach,
    priceMinor: g.priceMinor,
    currency: g.currency,
  }));
}

/** Validates a parsed scenario object; `source` names it in errors. */
export function parseScenario(raw: unknown, source = 'scenario'): Scenario {
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue.path.join('.') || '(top level)';
    const got =
      issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : describeValue(raw, issue.path);
    const expected = issue.code === 'unrecognized_keys' ? 'only the fields documented in README.md' : issue.message;
    throw new UsageError(`${source}: ${path}: expected ${expected}, got ${got}`);
  }
  const s = parsed.data;
  const skus: SkuConfig[] = Array.isArray(s.skus) ? s.skus : gridSkus(s.skus);
  if (new Set(skus.map((k) => k.sku)).size !== skus.length)
    throw new UsageError(`${source}: skus: expected distinct SKU names, got a repeated one`);
  if (s.traffic.model === 'closed' && (s.traffic.iterations === undefined) === (s.traffic.durationMs === undefined)) {
    throw new UsageError(
      `${source}: traffic: expected exactly one of iterations or durationMs for the closed model, got ${s.traffic.iterations === undefined ? 'neither' : 'both'}`,
    );
  }
  const qty = typeof s.buyers.qty === 'number' ? { min: s.buyers.qty, max: s.buyers.qty } : s.buyers.qty;
  if (qty.min > qty.max)
    throw new UsageError(`${source}: buyers.qty: expected min ≤ max, got ${JSON.stringify(s.buyers.qty)}`);
  const payAfterMs =
    typeof s.buyers.payAfterMs === 'number'
      ? { min: s.buyers.payAfterMs, max: s.buyers.payAfterMs }
      : s.buyers.payAfterMs;
  if (payAfterMs.min > payAfterMs.max)
    throw new UsageError(
      `${source}: buyers.payAfterMs: expected min ≤ max, got ${JSON.stringify(s.buyers.payAfterMs)}`,
    );
  // An order is priceMinor × qty; the provider takes at most MAX_AMOUNT minor units per charge.
  const priciest = skus.reduce((i, k, j) => (k.priceMinor > skus[i].priceMinor ? j : i), 0);
  if (skus[priciest].priceMinor * qty.max > MAX_AMOUNT) {
    const where = Array.isArray(s.skus) ? `skus[${priciest}].priceMinor` : 'skus.priceMinor';
    throw new UsageError(
      `${source}: ${where}: expected at most ${Math.floor(MAX_AMOUNT / qty.max)} (an order of buyers.qty.max ${qty.max} units is charged at most ${MAX_AMOUNT} minor units by the provider), got ${skus[priciest].priceMinor}`,
    );
  }
  const payWorst = worstCaseMs(s.payment);
  if (payWorst >= s.holdTtlMs) {
    throw new UsageError(
      `${source}: holdTtlMs: expected more than a payment can take (payment.timeoutMs × (retries + 1) plus backoff = ${payWorst} ms), got ${s.holdTtlMs}: every payment would be refused as too late; raise holdTtlMs or lower payment.timeoutMs / retries`,
    );
  }
  if (payAfterMs.max > 0 && payAfterMs.max + payWorst >= s.holdTtlMs) {
    throw new UsageError(
      `${source}: holdTtlMs: expected more than the slowest buyer's pause before paying (buyers.payAfterMs ${payAfterMs.max} ms) plus the longest a payment can take (${payWorst} ms), got ${s.holdTtlMs}; raise holdTtlMs or shorten the pause`,
    );
  }
  scenarioThresholdSources(s.thresholds, source);
  const faults = (() => {
    try {
      return parseFaultConfig(s.payment.faults, 'payment.faults');
    } catch (err) {
      throw new UsageError(`${source}: ${(err as Error).message}`);
    }
  })();
  return {
    ...s,
    skus,
    strategy: s.strategy as StrategyName | 'auto',
    buyers: { ...s.buyers, qty, payAfterMs },
    payment: { ...s.payment, faults },
    source,
  };
}

/** Reads and validates a scenario file. */
export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(
      `--scenario: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      'the bundled ones are in scenarios/ (smoke, black-friday, abandon-heavy, payment-chaos, multi-sku, tight-hold, deep-stock)',
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--scenario: ${basename(file)} is not valid JSON: ${(err as Error).message}`);
  }
  return parseScenario(raw, basename(file));
}

/** Where the engine of a sale connects, beside what the scenario says. */
export type SaleWiring = Pick<
  EngineConfig,
  'namespace' | 'strategy' | 'redisUrl' | 'redisCluster' | 'databaseUrl' | 'providerUrl' | 'providerSecret'
>;

/** The engine configuration a scenario describes (simulate, serve and the benches share it). */
export function engineConfigOf(scenario: Scenario, wiring: SaleWiring): EngineConfig {
  return {
    ...wiring,
    skus: scenario.skus,
    holdTtlMs: scenario.holdTtlMs,
    perUserLimit: scenario.perUserLimit,
    rateLimit: scenario.rateLimit,
    payment: {
      timeoutMs: scenario.payment.timeoutMs,
      retries: scenario.payment.retries,
      backoffMs: scenario.payment.backoffMs,
    },
    sweepIntervalMs: scenario.sweepIntervalMs,
  };
}
