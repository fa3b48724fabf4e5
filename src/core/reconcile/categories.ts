// Reconciliation's vocabulary: what a transaction can turn out to be once the sale's records
// and the provider's are compared. A leaf module, so the mock provider can name the category
// each fault it injects should produce without pulling reconciliation in.

/** Every category of docs/design.md#reconciliation-categories, in the order the summary lists them. */
const ALL = [
  'MATCHED',
  'PENDING',
  'MISSING_AT_PROVIDER',
  'ORPHAN_CHARGE',
  'DUPLICATE_CHARGE',
  'AMOUNT_MISMATCH',
  'CURRENCY_MISMATCH',
  'STATUS_MISMATCH',
  'SETTLED_OTHER_DAY',
] as const;

export type ReconCategory = (typeof ALL)[number];

export const CATEGORIES: readonly ReconCategory[] = ALL;

/** Not breaks: the verdict stays RECONCILED with only these. */
export const NOT_BREAKS: ReadonlySet<ReconCategory> = new Set(['MATCHED', 'PENDING']);
