// The sale engine's HTTP API (`flashsale serve`): the SaleApi of ../engine/types.ts over HTTP/1.1
// and JSON. It is also the contract a system must serve to be driven with `simulate --target URL`.
//
//   GET  /v1/availability/:sku  200 {sku, available}
//
//   POST /v1/reservations       body {sku, qty, user, clickId}; clickId may come as the
//                               Idempotency-Key header instead (both: they must be equal)
//     201 {ok: true, orderId, reservationId, sku, qty, amountMinor, currency, expiresAt, duplicate: false}
//     200 the same with duplicate: true: the click was seen before, this is the order it made then
//     409 {ok: false, reason}, reason one of sold_out, limit_exceeded, conflict, in_progress
//     429 {ok: false, reason: 'rate_limited', retryAfterMs} and Retry-After in whole seconds,
//         rounded up so that a client that obeys it is never early
//
//   POST /v1/orders/:id/pay     no body
//     200 {status: 'paid', orderId, chargeId, attempts, duplicate}
//     402 {status: 'declined', orderId, code, attempts}
//     410 {status: 'expired', orderId, refunded}: the hold ran out first; a charge made was refunded
//     502 {status: 'failed', orderId, error, attempts}: the payment provider could not be reached
//
//   GET  /healthz               200 {ok: true}
//
// Every other answer is {error: {code, message, field?}}:
//   400 invalid_request  `field` names the body field, header or path parameter at fault;
//                        qty is a whole number from 1 to 1000, strings are 1 to 200 characters,
//                        unknown body fields are refused (a misspelt field must not pass silently)
//   404 not_found, 405 method_not_allowed (with Allow), 413 body_too_large
//   404 unknown_sku / unknown_order, 400 bad_request: the engine refused the request (never logged)
//   500 internal         the engine threw: a one-line message, never a stack
//
// `now` is not on the wire: over HTTP the server's clock decides, as it would in production.
// Tests that move time use the direct transport.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { PayOutcome, ReserveOutcome, ReserveRequest, SaleApi } from '../engine/types.js';
import { redact } from '../errors.js';
import { MAX_QTY, MAX_TEXT, PATHS, PAY_STATUS, RESERVE_STATUS } from './contract.js';

const MAX_BODY_BYTES = 16 * 1024;
// Longer than Node's 5 s default: a load generator that pauses between stages should find its
// connections still open rather than measure reconnects.
const KEEP_ALIVE_MS = 30_000;
const RESERVE_FIELDS = new Set(['sku', 'qty', 'user', 'clickId']);

export interface ServeOptions {
  /** 0 (default): a free port the OS picks. */
  port?: number;
  host?: string;
  /** Told about engine failures the client only sees as a 500 (the core prints nothing itself). */
  onError?: (err: unknown) => void;
  /** How long stop() waits for requests still inside the engine before cutting their connections. */
  drainMs?: number;
}

export interface SaleServer {
  url: string;
  /** Stops listening and drains; the SaleApi stays open (it belongs to the caller). */
  stop(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

const shown = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

const invalid = (field: string, expected: string, value: unknown) =>
  new HttpError(400, 'invalid_request', `${field}: expected ${expected}, got ${shown(value)}`, field);

function text(field: string, value: unknown): string {
  // No NUL: Postgres text cannot hold it, and the order would fail after its hold was granted.
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TEXT || value.includes('\u0000')) {
    throw invalid(field, `a string of 1 to ${MAX_TEXT} characters without NUL`, value);
  }
  return value;
}

function pathParam(field: string, raw: string): string {
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    throw invalid(field, 'a percent-encoded path segment', raw);
  }
  return text(field, value);
}

// Four fields on the hot path with messages in our own format: checked by hand rather than
// through a schema library, which would cost more per request than the rest of the handler.
function parseReserve(raw: unknown, headerKey: string | string[] | undefined): ReserveRequest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalid('body', 'a JSON object {sku, qty, user, clickId}', raw);
  }
  const body = raw as Record<string, unknown>;
  for (const key in body) {
    if (!RESERVE_FIELDS.has(key)) throw invalid(key, 'no such field (known: sku, qty, user, clickId)', body[key]);
  }
  const sku = text('sku', body.sku);
  const qty = body.qty;
  if (typeof qty !== 'number' || !Number.isInteger(qty) || qty < 1 || qty > MAX_QTY) {
    throw invalid('qty', `a whole number from 1 to ${MAX_QTY}`, qty);
  }
  const user = text('user', body.user);
  let clickId: string;
  if (headerKey === undefined) {
    clickId = text('clickId', body.clickId);
  } else {
    const key = text('Idempotency-Key', Array.isArray(headerKey) ? headerKey[0] : headerKey);
    if (body.clickId !== undefined && body.clickId !== key) {
      throw invalid('clickId', `the Idempotency-Key header's value ${shown(key)} or no clickId`, body.clickId);
    }
    clickId = key;
  }
  return { sku, qty, user, clickId };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        // Closing is the only way to stop a client that keeps sending; the 413 still goes out first.
        reject(
          new HttpError(413, 'body_too_large', `request body over ${MAX_BODY_BYTES} bytes`, 'body', {
            connection: 'close',
          }),
        );
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () =>
      resolve(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req);
  try {
    return JSON.parse(body);
  } catch {
    throw invalid('body', 'a JSON object {sku, qty, user, clickId}', body.length > 0 ? body : undefined);
  }
}

function send(res: ServerResponse, statusCode: number, body: unknown, headers?: Record<string, string>): void {
  const json = JSON.stringify(body);
  res.writeHead(statusCode, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
    ...headers,
  });
  res.end(json);
}

function reserveStatus(outcome: ReserveOutcome): number {
  if (outcome.ok) return outcome.duplicate ? RESERVE_STATUS.duplicate : RESERVE_STATUS.granted;
  return outcome.reason === 'rate_limited' ? RESERVE_STATUS.rateLimited : RESERVE_STATUS.refused;
}

function sendReserve(res: ServerResponse, outcome: ReserveOutcome): void {
  if (!outcome.ok && outcome.reason === 'rate_limited') {
    // An engine that does not say when counts as "in a second": 0 would invite an immediate retry storm.
    const waitMs = outcome.retryAfterMs ?? 1000;
    return send(
      res,
      RESERVE_STATUS.rateLimited,
      { ok: false, reason: 'rate_limited', retryAfterMs: waitMs },
      { 'retry-after': String(Math.max(0, Math.ceil(waitMs / 1000))) },
    );
  }
  send(res, reserveStatus(outcome), outcome);
}

const methodNotAllowed = (method: string | undefined, path: string, allow: string) =>
  new HttpError(405, 'method_not_allowed', `${method} ${path}: use ${allow}`, undefined, { allow });

/** The status of each way the engine refuses a request (engine.ts SaleRequestError). */
const REQUEST_STATUS = { unknown_sku: 404, unknown_order: 404, bad_request: 400 } as const;
type RequestCode = keyof typeof REQUEST_STATUS;

/** The engine's SaleRequestError, recognised by name and code: the transport does not import the engine. */
function requestError(err: unknown): { code: RequestCode; message: string } | undefined {
  if (!(err instanceof Error) || err.name !== 'SaleRequestError') return undefined;
  const code = (err as Error & { code?: string }).code;
  if (code === undefined || !Object.hasOwn(REQUEST_STATUS, code)) return undefined;
  return { code: code as RequestCode, message: escapeControl(redact(err.message)).slice(0, 200) };
}

/** Control characters a client put in an id, shown (`\n`), never obeyed by a terminal or a log. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const escapeControl = (text: string) => text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));

/** An engine error as one line a client can show: no stack, no credentials. */
function shortMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : '';
  const line = escapeControl(redact(message.split('\n', 1)[0].trim()));
  if (!line) return 'internal error';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

export async function serveSaleApi(api: SaleApi, opts: ServeOptions = {}): Promise<SaleServer> {
  const drainMs = opts.drainMs ?? 5_000;
  let inFlight = 0;
  let drained: (() => void) | undefined;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method;

    if (path === PATHS.reservations) {
      if (method !== 'POST') throw methodNotAllowed(method, path, 'POST');
      const request = parseReserve(await readJson(req), req.headers['idempotency-key']);
      return sendReserve(res, await api.reserve(request));
    }
    if (path.startsWith(PATHS.availability) && path.indexOf('/', PATHS.availability.length) === -1) {
      if (method !== 'GET') throw methodNotAllowed(method, path, 'GET');
      const sku = pathParam('sku', path.slice(PATHS.availability.length));
      return send(res, 200, await api.availability(sku));
    }
    if (
      path.startsWith(PATHS.orders) &&
      path.endsWith(PATHS.paySuffix) &&
      path.length >= PATHS.orders.length + PATHS.paySuffix.length
    ) {
      const raw = path.slice(PATHS.orders.length, path.length - PATHS.paySuffix.length);
      if (!raw.includes('/')) {
        if (method !== 'POST') throw methodNotAllowed(method, path, 'POST');
        const outcome: PayOutcome = await api.pay({ orderId: pathParam('orderId', raw) });
        return send(res, PAY_STATUS[outcome.status], outcome);
      }
    }
    if (path === PATHS.health) {
      if (method !== 'GET') throw methodNotAllowed(method, path, 'GET');
      return send(res, 200, { ok: true });
    }
    throw new HttpError(
      404,
      'not_found',
      `${method} ${path} is not part of this API (see GET /v1/availability/:sku, POST /v1/reservations, POST /v1/orders/:id/pay)`,
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    inFlight++;
    try {
      await route(req, res);
    } catch (err) {
      if (res.headersSent || res.destroyed) return;
      if (err instanceof HttpError) {
        const body =
          err.field === undefined
            ? { code: err.code, message: err.message }
            : { code: err.code, field: err.field, message: err.message };
        return send(res, err.statusCode, { error: body }, err.headers);
      }
      // The engine refusing the request (unknown SKU or order, bad quantity) is the client's
      // error, not ours: a 4xx, and nothing of what the client sent reaches the log.
      const refused = requestError(err);
      if (refused) return send(res, REQUEST_STATUS[refused.code], { error: refused });
      opts.onError?.(err);
      send(res, 500, { error: { code: 'internal', message: shortMessage(err) } });
    } finally {
      if (--inFlight === 0) drained?.();
    }
  }

  // HTTP/1.1 connections persist by default; only their idle lifetime needs changing.
  const server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the sale API server has no TCP address');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight > 0) {
          // Answers still owed should go out before the caller closes the engine under them, but a
          // hung engine call must not hang the shutdown.
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, drainMs);
            drained = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        server.closeAllConnections();
        await closed;
      })();
      return stopping;
    },
  };
}
