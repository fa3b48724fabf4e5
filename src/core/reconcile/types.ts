// The shapes reconciliation works on: one local transaction (what the sale recorded), the
// provider's charges for the same transaction id, and the report row a mismatch becomes.
// Money is integer minor units; times are epoch milliseconds (UTC instants).
import type { ReconCategory } from './categories.js';

export type { ReconCategory };

export type LocalStatus = 'succeeded' | 'failed' | 'refunded';

/** A row of the sale's `transactions` table. */
export interface LocalTxn {
  transactionId: string;
  orderId: string;
  amountMinor: number;
  currency: string;
  status: LocalStatus;
  /** The charge the engine bound to the order; null when it never learned one. */
  chargeId: string | null;
  createdMs: number;
}

export type ProviderStatus = 'succeeded' | 'failed' | 'pending';

/** A charge as the provider's list endpoint returns it, reduced to what matching needs. */
export interface ProviderCharge {
  id: string;
  /** metadata.transaction_id; the join key. */
  transactionId: string;
  orderId: string | null;
  amount: number;
  amountRefunded: number;
  currency: string;
  status: ProviderStatus;
  createdMs: number;
  settledMs: number | null;
}

/** Half-open [startMs, endMs): one calendar day in a named zone, as UTC instants. */
export interface DayWindow {
  date: string;
  tz: string;
  startMs: number;
  endMs: number;
  /** 24, or 23 / 25 on a DST change. */
  hours: number;
}

export type Verdict = 'RECONCILED' | 'BREAKS' | 'INCOMPLETE';

/** What a --fix would do (or did) about a row. */
export type SuggestedAction =
  | 'none'
  | 'wait'
  | 'refund_charge'
  | 'refund_duplicates'
  | 'release_stock_and_fail_order'
  | 'investigate_amount'
  | 'investigate_currency'
  | 'investigate_status'
  | 'expect_settlement_other_day';

/** One row of mismatches.csv / mismatches.json. MATCHED rows are counted, not written. */
export interface MismatchRow {
  break_id: string;
  category: ReconCategory;
  transaction_id: string;
  order_id: string;
  /** Every provider charge on the transaction id, ';'-joined in the CSV. */
  provider_charge_ids: string[];
  local_status: string;
  provider_status: string;
  currency: string;
  local_amount_minor: number | null;
  provider_amount_minor: number | null;
  /** provider - local, in minor units; what the summary's net and gross sum. */
  delta_minor: number;
  /** ISO 8601 UTC, or '' when that side has no record. */
  local_time: string;
  provider_time: string;
  suggested_action: SuggestedAction;
}

export interface SummaryLine {
  category: ReconCategory;
  currency: string;
  count: number;
  netMinor: number;
  grossMinor: number;
}
