// PaymentClient against the real mock provider, on the one path that used to lose money: a charge
// the provider holds (a timeout fault) while the client's retries with the same Idempotency-Key
// get 409 `idempotency_key_in_use`. Those 409s used to burn the retries in a few milliseconds, so
// the client gave up ('failed') while the held charge could still commit: money taken for an order
// that then expired (an ORPHAN_CHARGE). A 409 now costs no retry; the client keeps asking with the
// same key until worstCaseMs(config) has passed since the first attempt.
//
// Why timeout rate 1 still lets a charge through: the provider claims the key before it asks the
// fault injector (server.ts charge → answeredByKey → injector.next), so a 409 or a replay draws no
// fault decision; only an attempt that gets the key (the first, or one after a held request gave
// the key back) draws one.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { PaymentClient, worstCaseMs, type Chargeable } from '../../../../src/core/engine/payments.js';
import type { PaymentConfig } from '../../../../src/core/engine/types.js';
import {
  decide,
  parseFaultConfig,
  type Charge,
  type FaultConfigInput,
  type Provider,
} from '../../../../src/core/provider/index.js';
import { providerFixtures } from '../../../helpers/engine.js';

const SEED = 1;
const fx = providerFixtures('epay');
const clients: PaymentClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  // stop() aborts any request still held, so this never waits out a long timeout fault.
  await fx.stop(fx.started.splice(0));
});

function client(provider: Provider, config: PaymentConfig): PaymentClient {
  const c = new PaymentClient(provider.url, fx.secret, config);
  clients.push(c);
  return c;
}

function order(transactionId = `tx_${randomBytes(8).toString('hex')}`): Chargeable {
  return {
    orderId: `o_${randomBytes(8).toString('hex')}`,
    transactionId,
    amountMinor: 1_250,
    currency: 'EUR',
    expiresAt: Date.now() + 3_600_000,
  };
}

/** The provider's books for one transaction, read the way reconciliation reads them (GET /v1/charges, every page). */
async function chargesOf(provider: Provider, transactionId: string): Promise<Charge[]> {
  const all: Charge[] = [];
  let after: string | undefined;
  for (;;) {
    const qs = new URLSearchParams({ limit: '100', ...(after ? { starting_after: after } : {}) });
    const res = await request(`${provider.url}/v1/charges?${qs}`);
    expect(res.statusCode).toBe(200);
    const page = (await res.body.json()) as { data: Charge[]; has_more: boolean };
    all.push(...page.data);
    if (!page.has_more || page.data.length === 0) break;
    after = page.data[page.data.length - 1].id;
  }
  return all.filter((c) => c.metadata?.transaction_id === transactionId);
}

const succeeded = (charges: Charge[]) => charges.filter((c) => c.status === 'succeeded');

describe('PaymentClient: 409 idempotency_key_in_use does not use up a retry', () => {
  it('waits out a held request that commits and gets its replayed charge: paid, exactly one succeeded charge', async () => {
    // The hold (400 ms) outlasts the old retry budget (~200 ms timeout + two fast 409s) but not
    // worstCaseMs (630 ms): the case the change is for.
    const faults: FaultConfigInput = { timeout: 1, timeoutHoldMs: 400, timeoutCommit: 1 };
    const config: PaymentConfig = { timeoutMs: 200, retries: 2, backoffMs: 10 };
    expect(worstCaseMs(config)).toBeGreaterThan(faults.timeoutHoldMs! + 150);
    const provider = await fx.provider(faults, SEED);
    const o = order();

    const answer = await client(provider, config).charge(o);

    expect(answer).toMatchObject({ kind: 'paid' });
    expect(answer.attempts).toBeGreaterThan(config.retries + 1);
    const charges = await chargesOf(provider, o.transactionId);
    expect(succeeded(charges)).toHaveLength(1);
    expect(charges).toHaveLength(1);
    if (answer.kind === 'paid') expect(answer.chargeId).toBe(charges[0].id);
    expect(charges[0]).toMatchObject({
      amount: o.amountMinor,
      currency: o.currency,
      metadata: { transaction_id: o.transactionId, order_id: o.orderId },
    });
    // One attempt drew a fault (the held one, committed); the 409s and the replay drew none.
    expect(provider.faults()).toEqual([
      expect.objectContaining({
        transaction_id: o.transactionId,
        kind: 'timeout',
        attempt: 1,
        detail: { committed: true, holdMs: 400 },
      }),
    ]);
  });

  it('a held request that never commits: gives up within worstCaseMs + one timeout, after retrying afresh once the key came back; no charge', async () => {
    const faults: FaultConfigInput = { timeout: 1, timeoutHoldMs: 400, timeoutCommit: 0 };
    const config: PaymentConfig = { timeoutMs: 200, retries: 2, backoffMs: 10 };
    const provider = await fx.provider(faults, SEED);
    const o = order();

    const t0 = performance.now();
    const answer = await client(provider, config).charge(o);
    const elapsed = performance.now() - t0;

    // Every attempt that gets the key times out and never commits, so nothing can be paid.
    expect(answer).toMatchObject({ kind: 'failed' });
    expect(elapsed).toBeLessThan(worstCaseMs(config) + config.timeoutMs + 300);
    // Let whatever the provider still holds end on its own (it cannot outlive the answer by more than the hold).
    await sleep(faults.timeoutHoldMs! + 150);
    const charges = await chargesOf(provider, o.transactionId);
    expect(succeeded(charges).length).toBeLessThanOrEqual(1);
    expect(succeeded(charges)).toHaveLength(0);
    // The key was given back at ~400 ms, inside the budget: the client asked afresh and drew a second fault.
    const timeouts = provider.faults().filter((f) => f.transaction_id === o.transactionId && f.kind === 'timeout');
    expect(timeouts.length).toBeGreaterThanOrEqual(2);
    expect(timeouts.every((f) => f.detail?.committed === false)).toBe(true);
  });

  it('a held request that never commits, then a fresh attempt that goes through: paid, exactly one succeeded charge', async () => {
    const faults: FaultConfigInput = { timeout: 0.5, timeoutHoldMs: 400, timeoutCommit: 0 };
    const config: PaymentConfig = { timeoutMs: 200, retries: 2, backoffMs: 10 };
    // Decisions are a pure function of (seed, transaction id, attempt): pick a transaction whose
    // first attempt is held and never commits and whose second goes through untouched.
    const parsed = parseFaultConfig(faults);
    let txid = '';
    for (let i = 0; i < 10_000 && !txid; i++) {
      const candidate = `tx_${randomBytes(8).toString('hex')}`;
      const first = decide(parsed, SEED, candidate, 1, 1_250);
      const second = decide(parsed, SEED, candidate, 2, 1_250);
      if (
        first.outcome === 'timeout' &&
        !first.timeoutCommits &&
        second.outcome === 'none' &&
        second.latencyMs === 0 &&
        !second.orphanTransactionId
      )
        txid = candidate;
    }
    expect(txid).not.toBe('');
    const provider = await fx.provider(faults, SEED);
    const o = order(txid);

    const answer = await client(provider, config).charge(o);

    expect(answer).toMatchObject({ kind: 'paid' });
    expect(answer.attempts).toBeGreaterThan(config.retries + 1);
    const charges = await chargesOf(provider, o.transactionId);
    expect(succeeded(charges).length).toBeLessThanOrEqual(1);
    if (answer.kind === 'paid') {
      expect(succeeded(charges)).toHaveLength(1);
      expect(succeeded(charges)[0].id).toBe(answer.chargeId);
    }
    expect(provider.faults()).toEqual([
      expect.objectContaining({
        transaction_id: txid,
        kind: 'timeout',
        attempt: 1,
        detail: { committed: false, holdMs: 400 },
      }),
    ]);
  });

  it('the 409 loop is bounded by the deadline: a provider holding past the budget gets a failed answer, not a hang', async () => {
    const faults: FaultConfigInput = { timeout: 1, timeoutHoldMs: 2_000, timeoutCommit: 0 };
    const config: PaymentConfig = { timeoutMs: 100, retries: 2, backoffMs: 10 };
    expect(worstCaseMs(config)).toBe(330);
    const provider = await fx.provider(faults, SEED);
    const o = order();

    const t0 = performance.now();
    const answer = await client(provider, config).charge(o);
    const elapsed = performance.now() - t0;

    expect(answer).toMatchObject({ kind: 'failed' });
    if (answer.kind === 'failed') expect(answer.error).toContain('409 idempotency_key_in_use');
    // A bound on giving up, not a performance figure.
    expect(elapsed).toBeLessThan(1_500);
    // It kept asking until (about) the deadline instead of stopping after retries + 1 attempts.
    expect(answer.attempts).toBeGreaterThan(config.retries + 1);
    expect(elapsed).toBeGreaterThanOrEqual(worstCaseMs(config) - config.backoffMs * 2 ** config.retries);
  });

  it('a deadline from the caller cuts the attempt in flight: no request is still out after it', async () => {
    // The provider holds every first attempt for 2 s; the client would wait 3 s for an answer.
    const faults: FaultConfigInput = { timeout: 1, timeoutHoldMs: 2_000, timeoutCommit: 0 };
    const config: PaymentConfig = { timeoutMs: 3_000, retries: 2, backoffMs: 10 };
    const provider = await fx.provider(faults, SEED);
    const t0 = performance.now();
    const answer = await client(provider, config).charge(order(), Date.now() + 300);
    const elapsed = performance.now() - t0;
    expect(answer).toMatchObject({ kind: 'failed' });
    if (answer.kind === 'failed') expect(answer.error).toMatch(/no answer within \d+ ms/);
    // Without the deadline the first attempt alone would have waited 3,000 ms.
    expect(elapsed).toBeLessThan(1_500);
  });
});
