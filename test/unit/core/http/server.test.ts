// The sale API over HTTP: server.ts and client.ts against an in-memory SaleApi, so what is tested is
// the transport (routes, status codes, validation, mapping back to the engine's outcomes), not an engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { setImmediate as tick } from 'node:timers/promises';
import { request } from 'undici';
import type { PayOutcome, ReserveOutcome, SaleApi } from '../../../../src/core/engine/types.js';
import { serveSaleApi, type SaleServer } from '../../../../src/core/http/server.js';
import { SaleRequestError } from '../../../../src/core/engine/engine.js';
import { httpSaleApi, SaleApiHttpError } from '../../../../src/core/http/client.js';

const EXPIRES = 1_900_000_000_000;
const REFUSALS = ['sold_out', 'limit_exceeded', 'conflict', 'in_progress'] as const;

/**
 * A sale of `stock` units of every SKU. A user named after a refusal reason is refused with it;
 * pay answers by the order id's prefix (declined-, expired-, failed-, boom) and pays anything else.
 */
function fakeSale(stock: number): SaleApi & { hang: () => void; release: () => void } {
  const left = new Map<string, number>();
  const byClick = new Map<string, Extract<ReserveOutcome, { ok: true }>>();
  const paid = new Set<string>();
  let hanging: Promise<void> | undefined;
  let release = () => {};
  return {
    async availability(sku) {
      return { sku, available: left.get(sku) ?? stock };
    },
    async reserve({ sku, qty, user, clickId }) {
      // A real await, so concurrent requests interleave as they would against an engine.
      await tick();
      if (user === 'rate_limited') return { ok: false, reason: 'rate_limited', retryAfterMs: 1500 };
      if ((REFUSALS as readonly string[]).includes(user))
        return { ok: false, reason: user as (typeof REFUSALS)[number] };
      const seen = byClick.get(clickId);
      if (seen) return { ...seen, duplicate: true };
      const available = left.get(sku) ?? stock;
      if (available < qty) return { ok: false, reason: 'sold_out' };
      left.set(sku, available - qty);
      const outcome = {
        ok: true as const,
        orderId: `o${byClick.size + 1}`,
        reservationId: `r${byClick.size + 1}`,
        sku,
        qty,
        amountMinor: 1999 * qty,
        currency: 'EUR',
        expiresAt: EXPIRES,
        duplicate: false,
      };
      byClick.set(clickId, outcome);
      return outcome;
    },
    async pay({ orderId }): Promise<PayOutcome> {
      if (hanging) await hanging;
      if (orderId.startsWith('declined-')) return { status: 'declined', orderId, code: 'card_declined', attempts: 1 };
      if (orderId.startsWith('expired-')) return { status: 'expired', orderId, refunded: true };
      if (orderId.startsWith('failed-')) return { status: 'failed', orderId, error: 'provider timeout', attempts: 3 };
      if (orderId.startsWith('unknown-'))
        throw new SaleRequestError('unknown_order', `no order ${JSON.stringify(orderId)} in this sale`);
      if (orderId === 'boom')
        throw new Error(
          'connect ECONNREFUSED redis://buyer:s3cret@10.0.0.9:6379\n    at Socket.connect (node:net:1:1)',
        );
      const duplicate = paid.has(orderId);
      paid.add(orderId);
      return { status: 'paid', orderId, chargeId: `ch_${orderId}`, attempts: 1, duplicate };
    },
    async close() {},
    hang() {
      hanging = new Promise((resolve) => (release = resolve));
    },
    release() {
      hanging = undefined;
      release();
    },
  };
}

async function raw(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await request(base + path, {
    method: method as 'GET',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: JSON.parse(text) };
}

describe('the sale API over HTTP', () => {
  const errors: unknown[] = [];
  let sale: ReturnType<typeof fakeSale>;
  let server: SaleServer;
  let api: SaleApi;

  beforeAll(async () => {
    sale = fakeSale(10);
    server = await serveSaleApi(sale, { onError: (err) => errors.push(err) });
    api = httpSaleApi(server.url, { connections: 2, timeoutMs: 2_000 });
  });
  afterAll(async () => {
    await api?.close();
    await server?.stop();
  });

  it('answers the health check', async () => {
    const res = await raw(server.url, 'GET', '/healthz');
    expect([res.status, res.json]).toEqual([200, { ok: true }]);
  });

  it('reports availability, and a reservation takes from it, for a SKU that needs percent-encoding', async () => {
    const sku = 'tee/XL blue';
    expect(await api.availability(sku)).toEqual({ sku, available: 10 });
    await api.reserve({ sku, qty: 3, user: 'ann', clickId: 'avail-1' });
    expect(await api.availability(sku)).toEqual({ sku, available: 7 });
  });

  it('grants a new reservation with 201 and the engine outcome, field for field', async () => {
    const res = await raw(server.url, 'POST', '/v1/reservations', {
      sku: 'cap',
      qty: 2,
      user: 'bob',
      clickId: 'new-1',
    });
    expect(res.status).toBe(201);
    const viaClient = await api.reserve({ sku: 'cap', qty: 1, user: 'bob', clickId: 'new-2' });
    expect(viaClient).toEqual({
      ok: true,
      orderId: expect.any(String),
      reservationId: expect.any(String),
      sku: 'cap',
      qty: 1,
      amountMinor: 1999,
      currency: 'EUR',
      expiresAt: EXPIRES,
      duplicate: false,
    });
    expect(viaClient.ok && viaClient.orderId).not.toBe(res.json.orderId);
  });

  it('answers a double click with 200, duplicate: true and the order of the first click', async () => {
    const first = await api.reserve({ sku: 'mug', qty: 1, user: 'cy', clickId: 'dbl-1' });
    const again = await raw(server.url, 'POST', '/v1/reservations', {
      sku: 'mug',
      qty: 1,
      user: 'cy',
      clickId: 'dbl-1',
    });
    const viaClient = await api.reserve({ sku: 'mug', qty: 1, user: 'cy', clickId: 'dbl-1' });
    expect(again.status).toBe(200);
    expect(again.json.duplicate).toBe(true);
    expect(viaClient).toEqual({ ...first, duplicate: true });
    expect(await api.availability('mug')).toEqual({ sku: 'mug', available: 9 });
  });

  it('takes the clickId from the Idempotency-Key header', async () => {
    const body = { sku: 'pin', qty: 1, user: 'dee' };
    const first = await raw(server.url, 'POST', '/v1/reservations', body, { 'idempotency-key': 'hdr-1' });
    const again = await raw(server.url, 'POST', '/v1/reservations', body, { 'idempotency-key': 'hdr-1' });
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.json.orderId).toBe(first.json.orderId);
  });

  it.each(REFUSALS)('refuses %s with 409, mapped back to the same outcome', async (reason) => {
    const res = await raw(server.url, 'POST', '/v1/reservations', {
      sku: 'hat',
      qty: 1,
      user: reason,
      clickId: `ref-${reason}`,
    });
    expect([res.status, res.json]).toEqual([409, { ok: false, reason }]);
    expect(await api.reserve({ sku: 'hat', qty: 1, user: reason, clickId: `ref-${reason}-c` })).toEqual({
      ok: false,
      reason,
    });
  });

  it('refuses sold out when the stock cannot cover the quantity', async () => {
    expect(await api.reserve({ sku: 'bag', qty: 11, user: 'eve', clickId: 'big-1' })).toEqual({
      ok: false,
      reason: 'sold_out',
    });
  });

  it('answers rate_limited with 429 and Retry-After in whole seconds rounded up', async () => {
    const res = await raw(server.url, 'POST', '/v1/reservations', {
      sku: 'hat',
      qty: 1,
      user: 'rate_limited',
      clickId: 'rl-1',
    });
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('2');
    expect(await api.reserve({ sku: 'hat', qty: 1, user: 'rate_limited', clickId: 'rl-2' })).toEqual({
      ok: false,
      reason: 'rate_limited',
      retryAfterMs: 1500,
    });
  });

  it.each([
    ['orderX', 200, { status: 'paid', orderId: 'orderX', chargeId: 'ch_orderX', attempts: 1, duplicate: false }],
    ['declined-1', 402, { status: 'declined', orderId: 'declined-1', code: 'card_declined', attempts: 1 }],
    ['expired-1', 410, { status: 'expired', orderId: 'expired-1', refunded: true }],
    ['failed-1', 502, { status: 'failed', orderId: 'failed-1', error: 'provider timeout', attempts: 3 }],
  ])('pays order %s with status %i and maps it back', async (orderId, status, outcome) => {
    const res = await raw(server.url, 'POST', `/v1/orders/${orderId}/pay`);
    expect([res.status, res.json]).toEqual([status, outcome]);
    // The raw call paid orderX already, so the client's call is the second charge attempt.
    const expected = outcome.status === 'paid' ? { ...outcome, duplicate: true } : outcome;
    expect(await api.pay({ orderId })).toEqual(expected);
  });

  it('pays a reserved order once; paying it again says duplicate', async () => {
    const r = await api.reserve({ sku: 'sock', qty: 1, user: 'fay', clickId: 'pay-1' });
    if (!r.ok) throw new Error(`reserve refused: ${r.reason}`);
    expect(await api.pay({ orderId: r.orderId })).toMatchObject({ status: 'paid', duplicate: false });
    expect(await api.pay({ orderId: r.orderId })).toMatchObject({ status: 'paid', duplicate: true });
  });

  describe('validation names the field', () => {
    const ok = { sku: 'hat', qty: 1, user: 'gus', clickId: 'val-1' };
    it.each([
      ['qty 0', { ...ok, qty: 0 }, 'qty'],
      ['qty 1.5', { ...ok, qty: 1.5 }, 'qty'],
      ['qty 1001', { ...ok, qty: 1001 }, 'qty'],
      ['qty as a string', { ...ok, qty: '2' }, 'qty'],
      ['an empty sku', { ...ok, sku: '' }, 'sku'],
      ['a sku of 201 characters', { ...ok, sku: 's'.repeat(201) }, 'sku'],
      ['no user', { sku: 'hat', qty: 1, clickId: 'val-1' }, 'user'],
      ['a numeric user', { ...ok, user: 7 }, 'user'],
      ['no clickId and no Idempotency-Key', { sku: 'hat', qty: 1, user: 'gus' }, 'clickId'],
      ['an unknown field', { ...ok, now: 5 }, 'now'],
      ['an array body', [ok], 'body'],
      ['a body that is not JSON', '{"sku": ', 'body'],
    ])('refuses %s', async (_name, body, field) => {
      const res = await raw(server.url, 'POST', '/v1/reservations', body);
      expect(res.status).toBe(400);
      expect(res.json.error).toMatchObject({ code: 'invalid_request', field });
      expect(res.json.error.message).toMatch(new RegExp(`^${field}: expected `));
    });

    it('refuses a clickId that contradicts the Idempotency-Key header', async () => {
      const res = await raw(server.url, 'POST', '/v1/reservations', ok, { 'idempotency-key': 'other' });
      expect([res.status, res.json.error.field]).toEqual([400, 'clickId']);
    });

    it('refuses path parameters over 200 characters', async () => {
      const sku = await raw(server.url, 'GET', `/v1/availability/${'s'.repeat(201)}`);
      const order = await raw(server.url, 'POST', `/v1/orders/${'o'.repeat(201)}/pay`);
      expect([sku.status, sku.json.error.field, order.status, order.json.error.field]).toEqual([
        400,
        'sku',
        400,
        'orderId',
      ]);
    });

    it("makes the client throw with the server's message", async () => {
      await expect(api.reserve({ ...ok, qty: 0 })).rejects.toThrow(
        /HTTP 400 invalid_request: qty: expected a whole number from 1 to 1000, got 0/,
      );
    });
  });

  it.each([
    ['GET', '/v1/nothing', 404, undefined],
    ['POST', '/v1/orders/abc', 404, undefined],
    ['GET', '/v1/reservations', 405, 'POST'],
    ['DELETE', '/v1/availability/hat', 405, 'GET'],
    ['GET', '/v1/orders/abc/pay', 405, 'POST'],
    ['POST', '/healthz', 405, 'GET'],
  ])('answers %s %s with %i', async (method, path, status, allow) => {
    const res = await raw(server.url, method, path);
    expect(res.status).toBe(status);
    expect(res.headers.allow).toBe(allow);
    expect(res.json.error.code).toBe(status === 404 ? 'not_found' : 'method_not_allowed');
  });

  it('refuses a body over 16 KiB with 413 and closes the connection', async () => {
    const res = await raw(server.url, 'POST', '/v1/reservations', {
      sku: 'hat',
      qty: 1,
      user: 'x'.repeat(20_000),
      clickId: 'big',
    });
    expect([res.status, res.json.error.code, res.headers.connection]).toEqual([413, 'body_too_large', 'close']);
  });

  it('an order the engine does not know is 404, not 500, and what the client sent never reaches the log', async () => {
    const before = errors.length;
    // %0A decodes to a newline inside the order id: a forged log line if it were printed as is.
    const res = await raw(server.url, 'POST', '/v1/orders/unknown-x%0Aserve%3A%20all%20fine/pay');
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe('unknown_order');
    expect(res.json.error.message).toBe('no order "unknown-x\\nserve: all fine" in this sale');
    expect(errors.length).toBe(before);
  });

  it('turns an engine exception into a 500 with one redacted line, and the client throws it', async () => {
    const res = await raw(server.url, 'POST', '/v1/orders/boom/pay');
    expect(res.status).toBe(500);
    expect(res.json).toEqual({
      error: { code: 'internal', message: 'connect ECONNREFUSED redis://buyer:***@10.0.0.9:6379' },
    });
    expect(res.text).not.toContain('at Socket');
    expect(errors.length).toBeGreaterThan(0);
    const err = await api.pay({ orderId: 'boom' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SaleApiHttpError);
    expect((err as SaleApiHttpError).status).toBe(500);
    expect((err as Error).message).toContain('HTTP 500 internal: connect ECONNREFUSED redis://buyer:***@10.0.0.9:6379');
  });
});

describe('concurrent buyers through a pool of 8 connections', () => {
  it.each([1, 4])('200 reserves against stock 50 grant exactly 50 (pipelining %i)', async (pipelining) => {
    const server = await serveSaleApi(fakeSale(50));
    const api = httpSaleApi(server.url, { connections: 8, pipelining, timeoutMs: 5_000 });
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 200 }, (_, i) => api.reserve({ sku: 'gpu', qty: 1, user: `u${i}`, clickId: `c${i}` })),
      );
      const granted = outcomes.filter((o) => o.ok);
      expect(granted).toHaveLength(50);
      expect(new Set(granted.map((o) => o.ok && o.orderId)).size).toBe(50);
      expect(outcomes.filter((o) => !o.ok && o.reason === 'sold_out')).toHaveLength(150);
      expect(await api.availability('gpu')).toEqual({ sku: 'gpu', available: 0 });
    } finally {
      await api.close();
      await server.stop();
    }
  });
});

describe('failures the client cannot map', () => {
  it('throws "connection refused" when nothing listens', async () => {
    const server = await serveSaleApi(fakeSale(1));
    const url = server.url;
    await server.stop();
    const api = httpSaleApi(url, { connections: 1, timeoutMs: 1_000 });
    try {
      await expect(api.availability('hat')).rejects.toThrow(/connection refused/);
    } finally {
      await api.close();
    }
  });

  it('throws after timeoutMs when the engine does not answer, and stop() does not wait for it past drainMs', async () => {
    const sale = fakeSale(1);
    const server = await serveSaleApi(sale, { drainMs: 100 });
    const api = httpSaleApi(server.url, { connections: 1, timeoutMs: 200 });
    sale.hang();
    try {
      await expect(api.pay({ orderId: 'slow' })).rejects.toThrow(/no answer within 200 ms/);
      const started = Date.now();
      const pending = raw(server.url, 'POST', '/v1/orders/slow-2/pay').catch((e: unknown) => e);
      await tick();
      await server.stop();
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(await pending).toBeInstanceOf(Error);
    } finally {
      sale.release();
      await api.close();
    }
  });

  describe('a foreign target under a path prefix', () => {
    let foreign: Server;
    let base: string;
    beforeAll(async () => {
      // What a proxy or another implementation might answer: only the header, HTML on a 502.
      foreign = createServer((req, res) => {
        if (req.url === '/api/v1/reservations') {
          res.writeHead(429, { 'retry-after': '3' });
          return void res.end();
        }
        if (req.url === '/api/v1/orders/o1/pay') {
          res.writeHead(502, { 'content-type': 'text/html' });
          return void res.end('<html>Bad Gateway</html>');
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ sku: 'hat', available: 'lots' }));
      });
      await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
      const address = foreign.address();
      base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/api/`;
    });
    afterAll(() => new Promise<void>((resolve) => foreign.close(() => resolve())));

    it('reads Retry-After when the body has no retryAfterMs', async () => {
      const api = httpSaleApi(base, { connections: 1, timeoutMs: 1_000 });
      try {
        expect(await api.reserve({ sku: 'hat', qty: 1, user: 'u', clickId: 'c' })).toEqual({
          ok: false,
          reason: 'rate_limited',
          retryAfterMs: 3000,
        });
      } finally {
        await api.close();
      }
    });

    it("throws on a 502 that is not the engine's failed payment, and on a body outside the contract", async () => {
      const api = httpSaleApi(base, { connections: 1, timeoutMs: 1_000 });
      try {
        await expect(api.pay({ orderId: 'o1' })).rejects.toThrow(/HTTP 502: <html>Bad Gateway/);
        await expect(api.availability('hat')).rejects.toThrow(
          /outside the sale API contract: available "lots" is not a number/,
        );
      } finally {
        await api.close();
      }
    });
  });
});
