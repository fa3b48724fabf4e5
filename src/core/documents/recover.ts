// What `flashsale recover` reports (its --json document): per sale reopened, what payment
// recovery finished, what was expired, and the sale judged again.
import { z } from 'zod';
import { bool, int, invariantSchema, str, strategyNameSchema } from './common.js';
import { recoveryTallySchema } from './simulate.js';

export const recoveredSaleSchema = z
  .object({
    namespace: str,
    strategy: strategyNameSchema,
    /** Orders that owed payment recovery a lookup, refund or release when recover started. */
    owedBefore: int,
    /** Still owed at the end (-1: the records could not be read): recover exits 6 then. */
    owed: int,
    recovery: recoveryTallySchema,
    /** The sale is over: unpaid orders and the holds of buyers who are gone, ended by recover. */
    expired: z.object({ orders: int, units: int }).strict(),
    provider: str,
    invariants: z.array(invariantSchema),
    ok: bool,
  })
  .strict();
export type RecoveredSale = z.infer<typeof recoveredSaleSchema>;

export const recoverDocumentSchema = z
  .object({
    ok: bool,
    sales: z.array(recoveredSaleSchema),
    /** Sales found but not touched, and why (a run that is still going). */
    skipped: z.array(z.object({ namespace: str, reason: str }).strict()),
  })
  .strict();
export type RecoverDocument = z.infer<typeof recoverDocumentSchema>;
