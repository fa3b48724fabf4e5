// Fragments shared by the report documents (simulate, bench, reconcile, a merge of shards).
// Every object is strict: a field a writer does not write is refused by name when a document
// is read back, so a new field has to be added here, where its type is, before it can be saved.
import { z } from 'zod';
import { STRATEGY_NAMES } from '../strategies/types.js';

export const num = z.number().finite();
export const int = z.number().int();
export const bool = z.boolean();
export const str = z.string();

/** A strict object whose fields are `names`, each of schema `field` (a counter set, a histogram set). */
export function objectOf<K extends string, S extends z.ZodTypeAny>(
  names: readonly K[],
  field: S,
): z.ZodObject<{ [P in K]: S }, 'strict'> {
  return z.object(Object.fromEntries(names.map((n) => [n, field])) as { [P in K]: S }).strict();
}

/** Millisecond percentiles of one HDR histogram (histogram.ts computes them). */
export const latencySummarySchema = z
  .object({ p50: num, p90: num, p95: num, p99: num, p999: num, max: num, mean: num })
  .strict();
export type LatencySummary = z.infer<typeof latencySummarySchema>;

/** One invariant judged from the records (invariants.ts). */
export const invariantSchema = z.object({ name: str, ok: bool, detail: str }).strict();
export type InvariantDocument = z.infer<typeof invariantSchema>;

/** One threshold judged on a finished run: its source text, the verdict and the measured value. */
export const thresholdResultSchema = z.object({ source: str, ok: bool, value: num }).strict();
export type ThresholdResult = z.infer<typeof thresholdResultSchema>;

export const strategyNameSchema = z.enum(STRATEGY_NAMES);
export const storeSchema = z.enum(['redis', 'postgres']);

/** Where each service came from (`--redis-url`, `REDIS_URL`, an embedded server...), per store. */
export const servicesOriginSchema = z.object({ redis: str.optional(), postgres: str.optional() }).strict();

/** A slice of the arrivals (`--shard i/n`). */
export const shardSchema = z.object({ index: int.nonnegative(), count: int.positive() }).strict();

/** Compile-time check that a schema's type and a type declared elsewhere are the same. */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export type Assert<T extends true> = T;
