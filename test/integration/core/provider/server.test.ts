// The mock provider's API against the real Postgres: idempotency, token checks, validation,
// paging, rate limiting and refunds. Fault injection is in provider-faults.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type pg from 'pg';
import { connectPostgres } from '../../../../src/core/postgres/client.js';
import { UsageError } from '../../../../src/core/errors.js';
import {
  providerSchemaIdent,
  providerSchemaName,
  signToken,
  startProvider,
  type Charge,
  type Provider,
} from '../../../../src/core/provider/index.js';
import { DATABASE_URL, uniqueNamespace } from '../../../helpers/services.js';

const SECRET = 'test-secret';
const T0 = 1_800_000_000_000;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: any;
}

async function call(base: string, method: 'GET' | 'POST', path: string, body?: unknown, key?: string): Promise<Reply> {
  const res = await request(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, headers: res.headers, json: await res.body.json() };
}

function chargeBody(txid: string, amount: number, now: number, over: Record<string, unknown> = {}) {
  const token = signToken({ transactionId: txid, amount, currency: 'EUR', expiresAt: now + 60_000 }, SECRET);
  return { amount, currency: 'EUR', metadata: { transaction_id: txid, order_id: `o_${txid}` }, token, ...over };
}

describe('provider schema names', () => {
  it("keeps provider ledgers out of the strategies' flashsale_ prefix", () => {
    expect(providerSchemaName('public')).toBe('mockpay_public');
  });
  it.each([['Run'], ['a-b'], ['x"; DROP SCHEMA public; --'], [''], ['n'.repeat(56)]])(
    'refuses namespace %j',
    (namespace) => {
      expect(() => providerSchemaName(namespace)).toThrow(UsageError);
    },
  );
});

describe('the mock provider API', () => {
  const namespace = uniqueNamespace('prov');
  let now = T0;
  let provider: Provider;
  let raw: pg.Pool;
  const s = providerSchemaIdent(namespace);
  const rowsFor = async (txid: string) =>
    (await raw.query(`SELECT id, amount, status FROM ${s}.charges WHERE transaction_id = $1`, [txid])).rows;

  beforeAll(async () => {
    raw = await connectPostgres(DATABASE_URL, 'provider test', 2);
    provider = await startProvider({
      databaseUrl: DATABASE_URL,
      namespace,
      secret: SECRET,
      seed: 1,
      clock: () => now,
      reset: true,
    });
  });
  afterAll(async () => {
    await provider?.stop();
    await raw?.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await raw?.end();
  });

  it('listens on loopback only', () => {
    expect(provider.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('replays the same charge for the same key and body, and records one row', async () => {
    const body = chargeBody('tx_replay', 1_250, now);
    const first = await call(provider.url, 'POST', '/v1/charges', body, 'k_replay');
    const again = await call(
      provider.url,
      'POST',
      '/v1/charges',
      { ...body, metadata: { order_id: 'o_tx_replay', transaction_id: 'tx_replay' } },
      'k_replay',
    );
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ status: 'succeeded', amount: 1_250, currency: 'EUR', created: T0 / 1000 });
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(again.status).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json).toEqual(first.json);
    expect(await rowsFor('tx_replay')).toHaveLength(1);
  });

  it('refuses the same key with a different body (422) and charges nothing more', async () => {
    await call(provider.url, 'POST', '/v1/charges', chargeBody('tx_reuse', 500, now), 'k_reuse');
    const other = await call(provider.url, 'POST', '/v1/charges', chargeBody('tx_reuse', 600, now), 'k_reuse');
    expect(other.status).toBe(422);
    expect(other.json.error.code).toBe('idempotency_key_reused');
    expect((await rowsFor('tx_reuse')).map((r) => r.amount)).toEqual([500]);
  });

  it('charges once when the same key arrives many times at once', async () => {
    const body = chargeBody('tx_burst', 700, now);
    const replies = await Promise.all(
      Array.from({ length: 8 }, () => call(provider.url, 'POST', '/v1/charges', body, 'k_burst')),
    );
    const ids = new Set(replies.filter((r) => r.status === 200).map((r) => r.json.id));
    expect(
      replies.every((r) => r.status === 200 || (r.status === 409 && r.json.error.code === 'idempotency_key_in_use')),
    ).toBe(true);
    expect(ids.size).toBe(1);
    expect(await rowsFor('tx_burst')).toHaveLength(1);
  });

  it.each([
    [
      'a token signed with another secret',
      (n: number) =>
        signToken({ transactionId: 'tx_bad1', amount: 900, currency: 'EUR', expiresAt: n + 60_000 }, 'other'),
      'tx_bad1',
    ],
    [
      'a token for another amount',
      (n: number) =>
        signToken({ transactionId: 'tx_bad2', amount: 901, currency: 'EUR', expiresAt: n + 60_000 }, SECRET),
      'tx_bad2',
    ],
    [
      'an expired token',
      (n: number) => signToken({ transactionId: 'tx_bad3', amount: 900, currency: 'EUR', expiresAt: n }, SECRET),
      'tx_bad3',
    ],
    ['a token that is not one', () => 'not-a-token', 'tx_bad4'],
  ])('declines %s with 402 invalid_token and records the charge as failed', async (_name, token, txid) => {
    const res = await call(
      provider.url,
      'POST',
      '/v1/charges',
      chargeBody(txid, 900, now, { token: token(now) }),
      `k_${txid}`,
    );
    expect(res.status).toBe(402);
    expect(res.json.error).toMatchObject({ type: 'card_error', decline_code: 'invalid_token' });
    const stored = await call(provider.url, 'GET', `/v1/charges/${res.json.error.charge}`);
    expect(stored.json).toMatchObject({ status: 'failed', failure_code: 'invalid_token', settled_at: null });
  });

  it.each([
    ['a fractional amount', { amount: 12.5 }, 'amount'],
    ['a zero amount', { amount: 0 }, 'amount'],
    ['a lower-case currency', { currency: 'eur' }, 'currency'],
    ['a missing transaction id', { metadata: { order_id: 'o' } }, 'metadata[transaction_id]'],
    ['an unknown field', { capture: true }, 'capture'],
  ])('answers 400 naming the field for %s', async (_name, over, param) => {
    const res = await call(
      provider.url,
      'POST',
      '/v1/charges',
      chargeBody('tx_invalid', 100, now, over),
      `k_invalid_${param}`,
    );
    expect(res.status).toBe(400);
    expect(res.json.error.param).toBe(param);
    expect(res.json.error.message).toContain(param);
  });

  it('requires an Idempotency-Key on a charge', async () => {
    const res = await call(provider.url, 'POST', '/v1/charges', chargeBody('tx_nokey', 100, now));
    expect(res.status).toBe(400);
    expect(res.json.error.param).toBe('Idempotency-Key');
    expect(await rowsFor('tx_nokey')).toHaveLength(0);
  });

  describe('listing', () => {
    const base = T0 + 10 * 86_400_000;
    const created: string[] = [];

    beforeAll(async () => {
      // Five charges per second, all at the same millisecond: only the id can order them.
      for (let i = 0; i < 23; i++) {
        now = base + Math.floor(i / 5) * 1_000;
        const res = await call(
          provider.url,
          'POST',
          '/v1/charges',
          chargeBody(`tx_page_${i}`, 100 + i, now),
          `k_page_${i}`,
        );
        created.push(res.json.id);
      }
    });

    const window = `created[gte]=${base / 1000}&created[lt]=${base / 1000 + 5}`;

    it('returns every charge of the window exactly once across pages, in (created, id) order', async () => {
      const seen: Charge[] = [];
      let after = '';
      let pages = 0;
      for (;;) {
        const res = await call(
          provider.url,
          'GET',
          `/v1/charges?${window}&limit=4${after ? `&starting_after=${after}` : ''}`,
        );
        expect(res.status).toBe(200);
        seen.push(...res.json.data);
        pages += 1;
        if (!res.json.has_more) break;
        after = res.json.data.at(-1).id;
      }
      expect(pages).toBe(6);
      expect(seen.map((c) => c.id).sort()).toEqual([...created].sort());
      const order = seen.map((c) => [c.created, c.id] as const);
      const sorted = [...order].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
      expect(order).toEqual(sorted);
    });

    it('treats the created window as half-open', async () => {
      const res = await call(
        provider.url,
        'GET',
        `/v1/charges?created[gte]=${base / 1000 + 1}&created[lt]=${base / 1000 + 3}&limit=100`,
      );
      expect(res.json.data.map((c: Charge) => c.metadata.transaction_id).sort()).toEqual(
        Array.from({ length: 10 }, (_, i) => `tx_page_${i + 5}`).sort(),
      );
      expect(res.json.has_more).toBe(false);
    });

    it.each([
      ['a limit over 100', 'limit=101', 'limit'],
      ['an unknown filter', 'created[gt]=1', 'created[gt]'],
      ['a cursor naming no charge', 'starting_after=ch_nope', 'starting_after'],
    ])('refuses %s with 400', async (_name, query, param) => {
      const res = await call(provider.url, 'GET', `/v1/charges?${query}`);
      expect(res.status).toBe(400);
      expect(res.json.error.param).toBe(param);
    });
  });

  describe('refunds', () => {
    let chargeId = '';
    beforeAll(async () => {
      chargeId = (
        await call(provider.url, 'POST', '/v1/charges', chargeBody('tx_refund', 1_000, now), 'k_refund_charge')
      ).json.id;
    });

    it('refunds part, replays by key, and never more than the charge even when asked at once', async () => {
      const part = await call(provider.url, 'POST', '/v1/refunds', { charge: chargeId, amount: 300 }, 'k_r1');
      const replay = await call(provider.url, 'POST', '/v1/refunds', { charge: chargeId, amount: 300 }, 'k_r1');
      expect(part.status).toBe(200);
      expect(part.json).toMatchObject({ object: 'refund', amount: 300, charge: chargeId, currency: 'EUR' });
      expect(replay.json).toEqual(part.json);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      // 700 left; five concurrent 200s: three fit, two must be refused.
      const burst = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          call(provider.url, 'POST', '/v1/refunds', { charge: chargeId, amount: 200 }, `k_rb${i}`),
        ),
      );
      expect(burst.filter((r) => r.status === 200)).toHaveLength(3);
      expect(burst.filter((r) => r.status === 400).every((r) => r.json.error.code === 'amount_too_large')).toBe(true);
      const after = await call(provider.url, 'GET', `/v1/charges/${chargeId}`);
      expect(after.json.amount_refunded).toBe(900);
      const rest = await call(provider.url, 'POST', '/v1/refunds', { charge: chargeId }, 'k_rest');
      expect(rest.json.amount).toBe(100);
      const none = await call(provider.url, 'POST', '/v1/refunds', { charge: chargeId, amount: 1 }, 'k_none');
      expect(none.json.error.code).toBe('charge_already_refunded');
    });

    it('refuses a refund of a charge that does not exist', async () => {
      const res = await call(provider.url, 'POST', '/v1/refunds', { charge: 'ch_missing', amount: 1 }, 'k_missing');
      expect(res.status).toBe(404);
      expect(res.json.error.param).toBe('charge');
    });
  });
});

describe('rate limiting', () => {
  const namespace = uniqueNamespace('provrl');
  let provider: Provider;
  beforeAll(async () => {
    provider = await startProvider({
      databaseUrl: DATABASE_URL,
      namespace,
      secret: SECRET,
      seed: 1,
      rateLimit: { perSecond: 0.5, burst: 2 },
      reset: true,
    });
  });
  afterAll(async () => {
    await provider?.stop();
    const raw = await connectPostgres(DATABASE_URL, 'provider test', 1);
    await raw.query(`DROP SCHEMA IF EXISTS ${providerSchemaIdent(namespace)} CASCADE`);
    await raw.end();
  });

  it('answers 429 with Retry-After once the burst is spent', async () => {
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(await call(provider.url, 'GET', '/v1/charges'));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 429]);
    // One token back takes 2 s at 0.5 per second.
    expect(Number(replies[2].headers['retry-after'])).toBe(2);
  });
});
