// Seeded fault injection for the mock provider, and the ground truth it leaves behind.
//
// A decision is a pure function of (seed, transaction id, attempt number), never of arrival order,
// so the same seed misbehaves the same way however the burst's requests interleave. Each attempt
// gets at most one "outcome" fault (the rates of those are probabilities of disjoint events and
// must sum to at most 1), so every anomalous transaction has exactly one expected reconciliation
// category; extra latency and orphan charges are independent of the outcome.
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { childSeed, prng } from '../random.js';
import type { ReconCategory } from '../reconcile/categories.js';

/** Disjoint per attempt, in the order the cumulative draw walks them. */
const OUTCOMES = [
  'serverError',
  'timeout',
  'decline',
  'amountDrift',
  'duplicate',
  'dropped',
  'nextDaySettlement',
] as const;
type OutcomeKey = (typeof OUTCOMES)[number];
export type Outcome = OutcomeKey | 'none';
export type FaultKind = OutcomeKey | 'latency' | 'orphan';

/**
 * What reconciliation should say about the transaction afterwards. The transient faults are MATCHED
 * because the engine is expected to retry with the same Idempotency-Key (5xx, timeouts) or to record
 * the failure (declines): they are in the ground truth so a run can show they did no harm.
 */
export const EXPECTED: Record<FaultKind, ReconCategory> = {
  serverError: 'MATCHED',
  timeout: 'MATCHED',
  decline: 'MATCHED',
  latency: 'MATCHED',
  amountDrift: 'AMOUNT_MISMATCH',
  duplicate: 'DUPLICATE_CHARGE',
  dropped: 'MISSING_AT_PROVIDER',
  nextDaySettlement: 'SETTLED_OTHER_DAY',
  orphan: 'ORPHAN_CHARGE',
};

const rate = z.number().min(0).max(1);
const ms = (max: number) => z.number().int().min(0).max(max);

const configSchema = z
  .object({
    serverError: rate.default(0),
    timeout: rate.default(0),
    decline: rate.default(0),
    amountDrift: rate.default(0),
    duplicate: rate.default(0),
    dropped: rate.default(0),
    nextDaySettlement: rate.default(0),
    latency: rate.default(0),
    orphan: rate.default(0),
    /** Upper bound of the extra latency; the delay is uniform in [1, latencyMs]. */
    latencyMs: ms(60_000).default(200),
    /** How long a timed-out request is held; must exceed the client's timeout to mean anything. */
    timeoutHoldMs: ms(600_000).default(10_000),
    /** Probability that a held request commits its charge after all. */
    timeoutCommit: rate.default(0.5),
  })
  .strict()
  .superRefine((c, ctx) => {
    const sum = OUTCOMES.reduce((s, k) => s + c[k], 0);
    if (sum > 1 + 1e-9) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [],
        message: `rates of ${OUTCOMES.join(', ')} that add up to at most 1 (they exclude each other per attempt); they add up to ${sum}`,
      });
    }
  });

export type FaultConfig = z.infer<typeof configSchema>;
export type FaultConfigInput = z.input<typeof configSchema>;

/** Validates a plain fault object (e.g. a scenario's `provider.faults`); `field` prefixes the path in messages. */
export function parseFaultConfig(raw: unknown, field = 'faults'): FaultConfig {
  const parsed = configSchema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = [field, ...issue.path].join('.');
  const value = issue.path.reduce<unknown>(
    (v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
    raw,
  );
  const shown = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : (JSON.stringify(value) ?? 'nothing');
  throw new UsageError(
    `${path}: expected ${issue.code === 'unrecognized_keys' ? `only known faults (${[...OUTCOMES, 'latency', 'orphan', 'latencyMs', 'timeoutHoldMs', 'timeoutCommit'].join(', ')})` : issue.message}, got ${shown}`,
  );
}

export interface Decision {
  outcome: Outcome;
  /** Extra delay before anything else happens; 0 when the latency fault did not fire. */
  latencyMs: number;
  /** Only meaningful for outcome 'timeout'. */
  timeoutCommits: boolean;
  /** The amount the ledger records instead of the requested one; only for 'amountDrift'. */
  driftedAmount: number;
  /** A transaction id nobody sent, charged alongside this one; null when the fault did not fire. */
  orphanTransactionId: string | null;
}

/** FNV-1a: a transaction id to 32 bits, so it can select a PRNG stream. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const hex8 = (u: number) =>
  Math.floor(u * 2 ** 32)
    .toString(16)
    .padStart(8, '0');

/** The decision for one attempt. Every draw is taken whatever fires, so enabling one fault never shifts another's. */
export function decide(
  config: FaultConfig,
  seed: number,
  transactionId: string,
  attempt: number,
  amount: number,
): Decision {
  const rand = prng(childSeed(childSeed(seed, hash32(transactionId)), attempt));
  const [uOutcome, uLatency, uLatencyMs, uCommit, uDrift, uSign, uOrphan, uId1, uId2] = Array.from({ length: 9 }, rand);
  let outcome: Outcome = 'none';
  let edge = 0;
  for (const k of OUTCOMES) {
    edge += config[k];
    if (uOutcome < edge) {
      outcome = k;
      break;
    }
  }
  // A drift of up to 10% (at least one minor unit), never to zero or below.
  const magnitude = 1 + Math.floor(uDrift * Math.max(1, Math.round(amount * 0.1)));
  const driftedAmount = uSign < 0.5 && amount - magnitude >= 1 ? amount - magnitude : amount + magnitude;
  return {
    outcome,
    latencyMs: uLatency < config.latency && config.latencyMs > 0 ? 1 + Math.floor(uLatencyMs * config.latencyMs) : 0,
    timeoutCommits: uCommit < config.timeoutCommit,
    driftedAmount,
    orphanTransactionId: uOrphan < config.orphan ? `orphan_${hex8(uId1)}${hex8(uId2)}` : null,
  };
}

/** One injected anomaly: the `provider-faults.json` row (`transaction_id`, `expected`) plus how it came about. */
export interface Fault {
  transaction_id: string;
  expected: ReconCategory;
  /** What was injected; `unrecovered`: a charge the run left live with no Paid order (engine/money.ts). */
  kind: FaultKind | 'unrecovered';
  /** Which attempt at the transaction (1-based) it was injected into. */
  attempt: number;
  detail?: Record<string, string | number | boolean>;
}

/** Counts attempts per transaction, hands out decisions and keeps the ground truth. */
export class FaultInjector {
  private readonly attempts = new Map<string, number>();
  private readonly log: Fault[] = [];

  constructor(
    readonly config: FaultConfig,
    readonly seed: number,
  ) {}

  /** The next attempt at `transactionId`: its number and what happens to it. */
  next(transactionId: string, amount: number): { attempt: number; decision: Decision } {
    const attempt = (this.attempts.get(transactionId) ?? 0) + 1;
    this.attempts.set(transactionId, attempt);
    return { attempt, decision: decide(this.config, this.seed, transactionId, attempt, amount) };
  }

  record(kind: FaultKind, transactionId: string, attempt: number, detail?: Fault['detail']): void {
    this.log.push({
      transaction_id: transactionId,
      expected: EXPECTED[kind],
      kind,
      attempt,
      ...(detail ? { detail } : {}),
    });
  }

  /** Sorted, so the same seed and the same requests give the same array whatever the interleaving. */
  list(): Fault[] {
    const key = (f: Fault) => `${f.transaction_id}\u0000${String(f.attempt).padStart(6, '0')}\u0000${f.kind}`;
    return [...this.log].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }
}
