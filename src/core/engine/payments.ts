// The engine's side of the payment provider: charges and refunds over a keep-alive undici pool,
// retried with the same Idempotency-Key until the provider gives a final answer.
//
// Why every retry reuses the key: a request that timed out may still be running at the provider
// (or have committed with its reply lost). Asking again with the same key is the only way to
// learn which without risking a second charge: the provider answers 409 while the first request
// is still held, replays its stored answer once it committed, and starts afresh if it never did.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { signToken } from '../provider/token.js';
import { toProviderCharge } from '../reconcile/provider-charge.js';
import type { ProviderCharge } from '../reconcile/types.js';
import type { PaymentConfig } from './types.js';

/** What the engine needs of an order to charge it. */
export interface Chargeable {
  orderId: string;
  transactionId: string;
  amountMinor: number;
  currency: string;
  /** The hold's expiry: the token is no good after it either. */
  expiresAt: number;
}

export type ChargeAnswer =
  | { kind: 'paid'; chargeId: string; attempts: number }
  | { kind: 'declined'; code: string; chargeId?: string; attempts: number }
  | { kind: 'failed'; error: string; attempts: number };

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

type Attempt = { final: true; reply: Reply } | { final: false; error: string; inUse?: boolean };

/** Keep-alive connections per engine instance; one instance per worker thread. */
const CONNECTIONS = 32;

/** Backoff before retry `n` (1-based): doubled each time, with "equal jitter" so it never drops below half. */
export function backoffMs(
  config: Pick<PaymentConfig, 'backoffMs'>,
  n: number,
  rand: () => number = Math.random,
): number {
  const full = config.backoffMs * 2 ** (n - 1);
  return full / 2 + (rand() * full) / 2;
}

/** The longest a charge can take with every attempt timing out: what the hold must outlast. */
export function worstCaseMs(config: PaymentConfig): number {
  return config.timeoutMs * (config.retries + 1) + config.backoffMs * (2 ** config.retries - 1);
}

/** 5xx, 409 (key in use: the first request with it is still held) and 429 mean "ask again later". */
function retryable(status: number): boolean {
  return status >= 500 || status === 409 || status === 429;
}

function errorOf(body: Record<string, unknown>): Record<string, unknown> {
  const e = body.error;
  return e && typeof e === 'object' ? (e as Record<string, unknown>) : {};
}

export class PaymentClient {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(
    providerUrl: string,
    private readonly secret: string,
    private readonly config: PaymentConfig,
  ) {
    const url = new URL(providerUrl);
    this.pool = new Pool(url.origin, { connections: CONNECTIONS });
    // A provider mounted under a path (a gateway) keeps it: /api + /v1/charges.
    this.basePath = url.pathname.replace(/\/+$/, '');
  }

  /**
   * Charges an order. The body is a pure function of the order, so every retry sends the very
   * request the key was first used with (the provider refuses a key reused with another body).
   */
  async charge(order: Chargeable, deadlineEpochMs?: number): Promise<ChargeAnswer> {
    const token = signToken(
      {
        transactionId: order.transactionId,
        amount: order.amountMinor,
        currency: order.currency,
        expiresAt: order.expiresAt,
      },
      this.secret,
    );
    const body = {
      amount: order.amountMinor,
      currency: order.currency,
      metadata: { transaction_id: order.transactionId, order_id: order.orderId },
      token,
    };
    const { reply, attempts, error } = await this.withRetries(
      '/v1/charges',
      `order-${order.orderId}`,
      body,
      deadlineEpochMs,
    );
    if (!reply) return { kind: 'failed', error, attempts };
    if (reply.status === 200 && typeof reply.body.id === 'string')
      return { kind: 'paid', chargeId: reply.body.id, attempts };
    const err = errorOf(reply.body);
    if (reply.status === 402) {
      const code = typeof err.decline_code === 'string' ? err.decline_code : String(err.code ?? 'card_declined');
      return { kind: 'declined', code, ...(typeof err.charge === 'string' ? { chargeId: err.charge } : {}), attempts };
    }
    return {
      kind: 'failed',
      error: `provider answered ${reply.status}: ${String(err.message ?? JSON.stringify(reply.body))}`,
      attempts,
    };
  }

  /** Refunds a whole charge; resolves once the provider confirms it (or says it already was). */
  async refund(orderId: string, chargeId: string): Promise<void> {
    const { reply, error } = await this.withRetries('/v1/refunds', `refund-${orderId}`, { charge: chargeId });
    if (reply?.status === 200) return;
    if (reply && errorOf(reply.body).code === 'charge_already_refunded') return;
    throw new Error(
      `refund of ${chargeId} (order ${orderId}) failed: ${reply ? `provider answered ${reply.status}: ${JSON.stringify(reply.body)}` : error}`,
    );
  }

  /**
   * What became of a transaction at the provider: its charges, found by the transaction id the
   * charge carried in its metadata (Stripe's charge search). A lookup, never a new charge: this is
   * how payment recovery learns the outcome of a charge whose answer never came
   * (docs/design.md#payment-recovery). Throws when the provider gives no usable answer.
   */
  async lookup(transactionId: string): Promise<ProviderCharge[]> {
    const query = new URLSearchParams({ query: `metadata['transaction_id']:'${transactionId}'`, limit: '100' });
    const res = await this.pool.request({
      path: `${this.basePath}/v1/charges/search?${query.toString()}`,
      method: 'GET',
      signal: AbortSignal.timeout(Math.max(1000, this.config.timeoutMs)),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200)
      throw new Error(`charge search for ${transactionId}: provider answered ${res.statusCode}: ${text.slice(0, 200)}`);
    const body = JSON.parse(text) as { data?: unknown };
    if (!Array.isArray(body.data))
      throw new Error(`charge search for ${transactionId}: the answer has no data list: ${text.slice(0, 200)}`);
    // Search matches on the field; keep only exact matches all the same (a provider's search may be fuzzy).
    return body.data
      .map((c) => toProviderCharge(c as Record<string, unknown>))
      .filter((c) => c.transactionId === transactionId);
  }

  /**
   * Posts until a final answer (anything but a retryable status or no answer) or the retries run
   * out. A 409 does not use up a retry: it says the first request with this key is still being
   * processed, and giving up then would abandon a charge that may yet commit (the order would
   * expire and the money stay taken). Those are asked again until the worst case of the retry
   * budget has passed. `deadline` (epoch ms; the caller's, when it has a hold to respect) bounds
   * every attempt too: the last one is cut to what is left, so no request is still out after it.
   */
  private async withRetries(
    path: string,
    key: string,
    body: object,
    deadlineEpochMs?: number,
  ): Promise<{ reply?: Reply; attempts: number; error: string }> {
    const text = JSON.stringify(body);
    const budget = deadlineEpochMs === undefined ? worstCaseMs(this.config) : deadlineEpochMs - Date.now();
    const deadline = performance.now() + budget;
    let error = '';
    let attempts = 0;
    let counted = 0;
    let inUse = 0;
    for (;;) {
      const left = deadline - performance.now();
      if (left < 1) break;
      attempts++;
      const got = await this.attempt(path, key, text, Math.min(this.config.timeoutMs, left));
      if (got.final) return { reply: got.reply, attempts, error };
      error = got.error;
      if (got.inUse) inUse++;
      if (!got.inUse && ++counted > this.config.retries) break;
      const wait = backoffMs(this.config, Math.max(1, counted));
      if (performance.now() + wait >= deadline) break;
      await sleep(wait);
    }
    // The last attempt may be cut to the few ms left before the deadline; a 409 seen earlier is the
    // fact worth naming: the first request with this key was still being processed and may yet commit.
    const held = inUse > 0 && !error.startsWith('409') ? `; ${inUse} answered 409 idempotency_key_in_use` : '';
    return { attempts, error: `no final answer after ${attempts} attempts; last: ${error}${held}` };
  }

  private async attempt(path: string, key: string, text: string, timeoutMs: number): Promise<Attempt> {
    const signal = AbortSignal.timeout(Math.max(1, Math.floor(timeoutMs)));
    try {
      const res = await this.pool.request({
        path: this.basePath + path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: text,
        signal,
      });
      const raw = await res.body.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = { raw };
      }
      const reply = {
        status: res.statusCode,
        body: parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {},
      };
      if (retryable(res.statusCode))
        return {
          final: false,
          // status, code and the provider's own words: what a person needs to see why payments fail
          error: [res.statusCode, errorOf(reply.body).code, errorOf(reply.body).message]
            .filter((x) => x !== undefined && x !== '')
            .join(' ')
            .slice(0, 200),
          inUse: res.statusCode === 409,
        };
      return { final: true, reply };
    } catch (err) {
      // No answer: the charge may or may not have happened; only the next attempt with the key can tell.
      if (signal.aborted) return { final: false, error: `no answer within ${Math.floor(timeoutMs)} ms` };
      return { final: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
