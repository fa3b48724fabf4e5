// What `flashsale check` reports (its --json document): each recorded sale judged from its records
// as they stand, whoever drove it (docs/design.md#check).
import { z } from 'zod';
import { bool, int, invariantSchema, str, strategyNameSchema } from './common.js';

export const checkedSaleSchema = z
  .object({
    namespace: str,
    strategy: strategyNameSchema,
    /** The run that owns the sale is still going (a `serve` being driven): its records are judged as they stand now. */
    live: bool,
    orders: int,
    paid: int,
    /** Orders payment recovery still owes a lookup, a refund or a release. */
    owed: int,
    /** Where the provider's side was read from, or why it was not. */
    provider: str,
    invariants: z.array(invariantSchema),
    ok: bool,
  })
  .strict();
export type CheckedSale = z.infer<typeof checkedSaleSchema>;

export const checkDocumentSchema = z
  .object({
    ok: bool,
    sales: z.array(checkedSaleSchema),
  })
  .strict();
export type CheckDocument = z.infer<typeof checkDocumentSchema>;
