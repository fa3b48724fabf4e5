// What `flashsale report merge` writes: the summaries of one sale run as shards on several
// machines (`simulate --shard i/n`) made into the summary of the whole run (report/merge.ts).
import { z } from 'zod';
import { bool, invariantSchema, num, str, strategyNameSchema, thresholdResultSchema } from './common.js';
import { finalitySchema, savedSimulateRunSchema } from './simulate.js';

/** One shard as the merged report lists it: its own verdict, kept apart from the sums. */
export const shardRecordSchema = z
  .object({
    file: str,
    shard: str,
    namespace: str,
    ok: bool,
    startedAt: str.optional(),
    arrivalPhaseSec: num,
    durationSec: num,
    attemptsPerSec: num,
    invariants: z.array(invariantSchema),
    thresholds: z.array(thresholdResultSchema),
    /** No histogram of finality is saved, so its percentiles stay per shard. */
    finality: finalitySchema.optional(),
  })
  .strict();
export type ShardRecord = z.infer<typeof shardRecordSchema>;

export const mergeInfoSchema = z
  .object({
    /** The slices merged, `i/n`, in order. */
    shards: z.array(str),
    of: num,
    complete: bool,
    missing: z.array(str),
    files: z.array(str),
    /** Whether the shards ran their own engines (each its own stock) or drove one shared system. */
    records: z.enum(['per-shard', 'shared']),
    /** Never true: a merge adds up verdicts, it does not read the shared records. */
    sharedRecordsChecked: z.literal(false),
    rules: z.array(str),
    notes: z.array(str),
  })
  .strict();
export type MergeInfo = z.infer<typeof mergeInfoSchema>;

/** One mode of the merged run: simulate's document, its figures over all shards (no shard, timeline or finality of its own). */
export const mergedRunSchema = savedSimulateRunSchema
  .omit({ shard: true, finality: true, timeline: true })
  .extend({ shards: z.array(shardRecordSchema) });
export type MergedRun = z.infer<typeof mergedRunSchema>;

export const mergedOneDocumentSchema = mergedRunSchema.extend({ merge: mergeInfoSchema, outDir: str.optional() });
export const mergedBothDocumentSchema = z
  .object({
    ok: bool,
    mode: z.literal('both'),
    strategy: strategyNameSchema,
    interrupted: bool,
    scenario: str,
    scenarioDigest: str,
    runs: z.array(mergedRunSchema).min(1),
    merge: mergeInfoSchema,
    outDir: str.optional(),
  })
  .strict();

/** summary.json of `flashsale report merge` (`outDir` is set once the command knows it). */
export type MergedDocument = z.infer<typeof mergedOneDocumentSchema> | z.infer<typeof mergedBothDocumentSchema>;
