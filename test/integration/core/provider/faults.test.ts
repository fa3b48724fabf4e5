// Seeded fault injection: decisions repeat for a seed, every injected anomaly is in the ground
// truth with the category reconciliation should produce, and the books really show it. Timeouts
// never turn a retry into a second charge.
import { afterAll, describe, expect, it } from 'vitest';
import { errors, request } from 'undici';
import type pg from 'pg';
import { connectPostgres } from '../../../../src/core/postgres/client.js';
import { UsageError } from '../../../../src/core/errors.js';
import {
  decide,
  parseFaultConfig,
  providerSchemaIdent,
  signToken,
  startProvider,
  verifyToken,
  type Charge,
  type Fault,
  type FaultConfigInput,
  type Provider,
} from '../../../../src/core/provider/index.js';
import { DATABASE_URL, uniqueNamespace } from '../../../helpers/services.js';

const SECRET = 'fault-secret';
const T0 = 1_800_000_000_000;
const namespaces: string[] = [];

afterAll(async () => {
  const raw = await connectPostgres(DATABASE_URL, 'provider faults test', 1);
  for (const n of namespaces) await raw.query(`DROP SCHEMA IF EXISTS ${providerSchemaIdent(n)} CASCADE`);
  await raw.end();
});

async function start(faults: FaultConfigInput, seed: number): Promise<Provider & { namespace: string }> {
  const namespace = uniqueNamespace('provf');
  namespaces.push(namespace);
  return {
    namespace,
    ...(await startProvider({
      databaseUrl: DATABASE_URL,
      namespace,
      secret: SECRET,
      seed,
      faults,
      clock: () => T0,
      reset: true,
    })),
  };
}

/** `timeoutMs`: the client gives up then, as the engine's payment call will. */
async function charge(base: string, txid: string, amount: number, key = `k_${txid}`, timeoutMs?: number) {
  const token = signToken({ transactionId: txid, amount, currency: 'EUR', expiresAt: T0 + 60_000 }, SECRET);
  const res = await request(`${base}/v1/charges`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ amount, currency: 'EUR', metadata: { transaction_id: txid, order_id: `o_${txid}` }, token }),
    ...(timeoutMs ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
  });
  return {
    status: res.statusCode,
    replayed: res.headers['idempotent-replayed'] === 'true',
    json: (await res.body.json()) as any,
  };
}

async function listAll(base: string): Promise<Charge[]> {
  const all: Charge[] = [];
  let after = '';
  for (;;) {
    const res = await request(`${base}/v1/charges?limit=100${after ? `&starting_after=${after}` : ''}`);
    const page = (await res.body.json()) as { data: Charge[]; has_more: boolean };
    all.push(...page.data);
    if (!page.has_more) return all;
    after = page.data.at(-1)!.id;
  }
}

describe('the token', () => {
  const claims = { transactionId: 'tx_1', amount: 1_999, currency: 'EUR', expiresAt: T0 + 1_000 };
  const token = signToken(claims, SECRET);

  it.each([
    ['accepts the claims it was signed over, before expiry', claims, SECRET, T0 + 999, { ok: true }],
    ['refuses it at the expiry instant', claims, SECRET, T0 + 1_000, { ok: false, reason: 'expired' }],
    [
      'refuses another transaction id',
      { ...claims, transactionId: 'tx_2' },
      SECRET,
      T0,
      { ok: false, reason: 'bad_signature' },
    ],
    ['refuses another currency', { ...claims, currency: 'USD' }, SECRET, T0, { ok: false, reason: 'bad_signature' }],
    ['refuses another secret', claims, 'nope', T0, { ok: false, reason: 'bad_signature' }],
  ])('%s', (_name, charge, secret, now, expected) => {
    expect(verifyToken(token, charge, secret, now)).toEqual(expected);
  });

  it('refuses a forged expiry, even a later one', () => {
    const [v, , sig] = token.split('.');
    expect(verifyToken(`${v}.${T0 + 9_000_000}.${sig}`, claims, SECRET, T0)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });
});

describe('fault configuration', () => {
  it.each([
    ['a rate above 1', { decline: 1.5 }, 'faults.decline'],
    ['exclusive rates adding up past 1', { decline: 0.6, serverError: 0.6 }, 'add up to 1.2'],
    ['an unknown fault', { chaos: 1 }, 'chaos'],
    ['a negative hold', { timeoutHoldMs: -1 }, 'faults.timeoutHoldMs'],
  ])('refuses %s, naming it', (_name, raw, text) => {
    expect(() => parseFaultConfig(raw)).toThrow(UsageError);
    expect(() => parseFaultConfig(raw)).toThrow(text);
  });
});

describe('fault decisions', () => {
  const config = parseFaultConfig({ decline: 0.3, amountDrift: 0.2, latency: 0.5, orphan: 0.1 });
  const txids = Array.from({ length: 2_000 }, (_, i) => `tx_${i}`);

  it('repeat exactly for a seed, and differ for another', () => {
    const run = (seed: number) => txids.map((t) => decide(config, seed, t, 1, 1_000));
    expect(run(42)).toEqual(run(42));
    expect(run(43)).not.toEqual(run(42));
  });

  it('fire at about their configured rates and draw afresh per attempt', () => {
    const first = txids.map((t) => decide(config, 7, t, 1, 1_000));
    const rate = (pick: (d: (typeof first)[number]) => boolean) => first.filter(pick).length / first.length;
    expect(rate((d) => d.outcome === 'decline')).toBeCloseTo(0.3, 1);
    expect(rate((d) => d.outcome === 'amountDrift')).toBeCloseTo(0.2, 1);
    expect(rate((d) => d.latencyMs > 0)).toBeCloseTo(0.5, 1);
    expect(
      first.filter((d) => d.outcome === 'amountDrift').every((d) => d.driftedAmount !== 1_000 && d.driftedAmount > 0),
    ).toBe(true);
    const second = txids.map((t) => decide(config, 7, t, 2, 1_000));
    expect(second.filter((d, i) => d.outcome !== first[i].outcome).length).toBeGreaterThan(500);
  });
});

describe('injected faults against the books', () => {
  const faults: FaultConfigInput = {
    serverError: 0.1,
    decline: 0.1,
    amountDrift: 0.12,
    duplicate: 0.12,
    dropped: 0.12,
    nextDaySettlement: 0.12,
    orphan: 0.1,
    latency: 0.1,
    latencyMs: 5,
  };
  const txids = Array.from({ length: 80 }, (_, i) => `tx_${String(i).padStart(3, '0')}`);
  const amountOf = (i: number) => 1_000 + i;

  /** Charges every transaction once, retrying 5xx with the same key as the engine will. */
  async function run(seed: number) {
    const provider = await start(faults, seed);
    const replies = new Map<string, { status: number; json: any }>();
    try {
      for (const [i, txid] of txids.entries()) {
        let reply = await charge(provider.url, txid, amountOf(i));
        while (reply.status === 500) reply = await charge(provider.url, txid, amountOf(i));
        replies.set(txid, reply);
      }
      return { replies, truth: provider.faults(), listed: await listAll(provider.url) };
    } finally {
      await provider.stop();
    }
  }

  it('records each anomaly with the category it should produce, and the list shows it', async () => {
    const a = await run(2026);
    const b = await run(2026);
    expect(b.truth).toEqual(a.truth);

    const { replies, truth, listed } = a;
    const byTx = (txid: string) => listed.filter((c) => c.metadata.transaction_id === txid);
    const kinds = new Set(truth.map((f) => f.kind));
    for (const k of [
      'serverError',
      'decline',
      'amountDrift',
      'duplicate',
      'dropped',
      'nextDaySettlement',
      'orphan',
      'latency',
    ])
      expect(kinds).toContain(k);

    const anomalous = new Set<string>();
    for (const f of truth) {
      const rows = byTx(f.transaction_id);
      const i = txids.indexOf(f.transaction_id);
      if (f.expected !== 'MATCHED') anomalous.add(f.transaction_id);
      switch (f.kind) {
        case 'amountDrift':
          expect(f.expected).toBe('AMOUNT_MISMATCH');
          expect(rows).toHaveLength(1);
          expect(rows[0].amount).not.toBe(amountOf(i));
          expect(rows[0].amount).toBe(f.detail?.recorded);
          expect(replies.get(f.transaction_id)?.json.amount).toBe(amountOf(i));
          break;
        case 'duplicate':
          expect(f.expected).toBe('DUPLICATE_CHARGE');
          expect(rows.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
          break;
        case 'dropped':
          expect(f.expected).toBe('MISSING_AT_PROVIDER');
          expect(replies.get(f.transaction_id)?.status).toBe(200);
          expect(rows).toHaveLength(0);
          break;
        case 'nextDaySettlement':
          expect(f.expected).toBe('SETTLED_OTHER_DAY');
          expect(rows[0].settled_at! - rows[0].created).toBe(86_400);
          break;
        case 'orphan':
          expect(f.expected).toBe('ORPHAN_CHARGE');
          expect(txids).not.toContain(f.transaction_id);
          expect(rows).toHaveLength(1);
          break;
        case 'decline':
          expect(f.expected).toBe('MATCHED');
          expect(replies.get(f.transaction_id)?.status).toBe(402);
          expect(rows.map((r) => r.status)).toEqual(['failed']);
          break;
        default:
          expect(f.expected).toBe('MATCHED');
      }
    }
    // No anomaly the ground truth does not name: everything else is one honest, same-day charge.
    for (const [i, txid] of txids.entries()) {
      if (anomalous.has(txid)) continue;
      const rows = byTx(txid);
      expect(rows, txid).toHaveLength(1);
      expect(rows[0].amount).toBe(amountOf(i));
      if (rows[0].status === 'succeeded') expect(rows[0].settled_at).toBe(rows[0].created);
    }
    const known = new Set([...txids, ...truth.map((f) => f.transaction_id)]);
    expect(listed.filter((c) => !known.has(c.metadata.transaction_id))).toEqual([]);
  });
});

describe('timeouts', () => {
  let raw: pg.Pool;
  afterAll(async () => raw?.end());
  const rowsFor = async (namespace: string, txid: string) => {
    raw ??= await connectPostgres(DATABASE_URL, 'provider faults test', 1);
    return (
      await raw.query(`SELECT id FROM ${providerSchemaIdent(namespace)}.charges WHERE transaction_id = $1`, [txid])
    ).rows;
  };

  /** Retries with the same key past 409 "in use" until the provider answers for good. */
  async function retry(base: string, txid: string, amount: number) {
    for (;;) {
      try {
        const r = await charge(base, txid, amount);
        if (r.status !== 409) return r;
      } catch (err) {
        // A held request that did not commit is cut off without an answer.
        if (!(err instanceof errors.SocketError)) throw err;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('a timeout that commits leaves the charge for a retry with the same key: one charge, not two', async () => {
    const provider = await start({ timeout: 1, timeoutCommit: 1, timeoutHoldMs: 600 }, 5);
    try {
      await expect(charge(provider.url, 'tx_slow', 4_200, 'k_tx_slow', 100)).rejects.toMatchObject({
        name: 'TimeoutError',
      });
      const early = await charge(provider.url, 'tx_slow', 4_200);
      expect(early.json.error.code).toBe('idempotency_key_in_use');
      const later = await retry(provider.url, 'tx_slow', 4_200);
      expect(later).toMatchObject({ status: 200, replayed: true, json: { amount: 4_200, status: 'succeeded' } });
      expect(provider.faults()).toEqual([
        {
          transaction_id: 'tx_slow',
          expected: 'MATCHED',
          kind: 'timeout',
          attempt: 1,
          detail: { committed: true, holdMs: 600 },
        } satisfies Fault,
      ]);
      expect(await rowsFor(provider.namespace, 'tx_slow')).toHaveLength(1);
    } finally {
      await provider.stop();
    }
  });

  it('a timeout that does not commit leaves nothing, and the retry charges once', async () => {
    const config = { timeout: 0.5, timeoutCommit: 0.5, timeoutHoldMs: 300 };
    const parsed = parseFaultConfig(config);
    // Find, with the same pure function the provider uses, a transaction whose first attempt is
    // held and dropped and whose second goes through.
    const txid = Array.from({ length: 200 }, (_, i) => `tx_lost_${i}`).find((t) => {
      const [one, two] = [decide(parsed, 9, t, 1, 800), decide(parsed, 9, t, 2, 800)];
      return one.outcome === 'timeout' && !one.timeoutCommits && two.outcome === 'none';
    })!;
    const provider = await start(config, 9);
    try {
      await expect(charge(provider.url, txid, 800, `k_${txid}`, 100)).rejects.toMatchObject({ name: 'TimeoutError' });
      const later = await retry(provider.url, txid, 800);
      expect(later).toMatchObject({ status: 200, replayed: false, json: { amount: 800 } });
      expect(provider.faults().map((f) => [f.kind, f.attempt, f.detail?.committed])).toEqual([['timeout', 1, false]]);
      expect(await rowsFor(provider.namespace, txid)).toHaveLength(1);
    } finally {
      await provider.stop();
    }
  });
});
