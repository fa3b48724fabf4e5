// What `flashsale reconcile` reports (its --json document; mismatches.json holds the rows).
import { z } from 'zod';
import type { ReconcileResult } from '../reconcile/run.js';
import { CATEGORIES } from '../reconcile/categories.js';
import { bool, int, num, str, type Assert, type Same } from './common.js';

export const summaryLineSchema = z
  .object({
    category: z.enum(CATEGORIES as [(typeof CATEGORIES)[number], ...(typeof CATEGORIES)[number][]]),
    currency: str,
    count: int,
    netMinor: int,
    grossMinor: int,
  })
  .strict();

export const fixOutcomeSchema = z
  .object({
    planned: int,
    done: int,
    /** Already in the audit table from an earlier --fix. */
    skipped: int,
    failed: z.array(z.object({ key: str, error: str }).strict()),
    /** Refunded, per currency, in minor units. */
    refundedMinor: z.record(int),
    released: int,
  })
  .strict();

export const reconcileDocumentSchema = z
  .object({
    ok: bool,
    date: str,
    tz: str,
    window: z.object({ start: str, end: str, hours: num }).strict(),
    verdict: z.enum(['RECONCILED', 'BREAKS', 'INCOMPLETE']),
    namespace: str,
    provider: str,
    summary: z.array(summaryLineSchema),
    /** Why the verdict is INCOMPLETE. */
    incomplete: str.optional(),
    breaks: int,
    read: z
      .object({ localTransactions: int, providerCharges: int, pages: int, retries: int, rateLimited: int })
      .strict(),
    elapsedMs: num,
    /** Reading the provider (with the setup before it), then the merge join and the report. */
    phasesMs: z.object({ providerRead: num, matchAndReport: num }).strict(),
    peakRssMb: num,
    outDir: str,
    /** What --fix did, or (without it) would do. */
    fixes: z.object({ applied: bool, planned: z.record(int), outcome: fixOutcomeSchema.optional() }).strict(),
  })
  .strict();
export type ReconcileDocument = z.infer<typeof reconcileDocumentSchema>;

// reconcile/run.ts declares the result this document is made of; the two must not drift apart.
export type _Checked = Assert<Same<ReconcileDocument, ReconcileResult>>;
