// The tables of the sale's own records (orders, sales, transactions) and the schema they live in.
import { UsageError } from '../errors.js';
import { schemaName } from '../strategies/pg-statements.js';

const MAX_IDENTIFIER = 63;
const SUFFIX = '_sale';
const MAX_NAMESPACE = MAX_IDENTIFIER - 'flashsale_'.length - SUFFIX.length;

/** `"flashsale_<namespace>_sale"`, quoted; validated like the strategies' schema names. */
export function orderSchemaIdent(namespace: string): string {
  const name = schemaName(namespace) + SUFFIX;
  if (name.length > MAX_IDENTIFIER) {
    throw new UsageError(
      `namespace "${namespace}" is too long for the order schema: at most ${MAX_NAMESPACE} characters`,
    );
  }
  return `"${name}"`;
}

export function ddl(s: string): string {
  return `
SET LOCAL client_min_messages = warning;
DROP SCHEMA IF EXISTS ${s} CASCADE;
CREATE SCHEMA ${s};
CREATE TABLE ${s}.orders (
  order_id text PRIMARY KEY,
  reservation_id text NOT NULL,
  click_id text NOT NULL,
  sku text NOT NULL,
  qty int NOT NULL CHECK (qty > 0),
  user_id text NOT NULL,
  amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
  currency text NOT NULL,
  status text NOT NULL CHECK (status IN ('PendingPayment', 'Paid', 'PaymentFailed', 'Expired')),
  transaction_id text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  -- Set by the pay that got the provider's answer first: the sweeper leaves such an order to it.
  charge_id text,
  decline_code text,
  refunded boolean NOT NULL DEFAULT false,
  -- What payment recovery still owes the order (docs/design.md#payment-recovery): 'lookup' from
  -- the moment a charge request may be out until its outcome is recorded, 'refund' for a charge
  -- taken on an order that did not keep its units, 'release' for units a failed order still holds.
  recovery text CHECK (recovery IN ('lookup', 'refund', 'release')),
  recovery_since timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (sku, reservation_id),
  UNIQUE (sku, click_id)
);
CREATE INDEX orders_pending_expiry ON ${s}.orders (expires_at) WHERE status = 'PendingPayment';
CREATE INDEX orders_recovery ON ${s}.orders (recovery_since) WHERE recovery IS NOT NULL;
-- One row: what \`flashsale recover\` needs to reopen a sale whose run died (docs/design.md#payment-recovery).
CREATE TABLE ${s}.sale (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  config jsonb NOT NULL,
  owner_pid int NOT NULL,
  owner_host text NOT NULL,
  started_at timestamptz NOT NULL,
  ended_at timestamptz
);
CREATE TABLE ${s}.sales (
  order_id text PRIMARY KEY REFERENCES ${s}.orders,
  sku text NOT NULL,
  qty int NOT NULL,
  amount_minor bigint NOT NULL,
  currency text NOT NULL,
  charge_id text NOT NULL UNIQUE,
  at timestamptz NOT NULL
);
CREATE TABLE ${s}.transactions (
  transaction_id text PRIMARY KEY,
  order_id text NOT NULL UNIQUE REFERENCES ${s}.orders,
  amount_minor bigint NOT NULL,
  currency text NOT NULL,
  status text NOT NULL CHECK (status IN ('succeeded', 'failed', 'refunded')),
  charge_id text,
  created_at timestamptz NOT NULL
);`;
}
