// The SaleApi over HTTP (`--transport http`, `--target URL`): the API of server.ts through an undici
// Pool, answering with exactly the outcomes the in-process engine gives, so the traffic generator
// cannot tell the transports apart. What it cannot map (5xx, a network error, a timeout, an answer
// outside the contract) it throws, and the generator counts an error.
//
// It is benchmarked against autocannon on the same endpoint (bench/http-vs-autocannon.mjs), so
// it avoids what it can per call: pool.dispatch with a small handler instead of pool.request
// (which makes a Readable stream and an AsyncResource for every answer), one shared headers
// object, the body built as one string.
import { Pool, type Dispatcher } from 'undici';
import type { PayOutcome, ReserveOutcome, ReserveRequest, SaleApi } from '../engine/types.js';
import { redact, UsageError } from '../errors.js';
import { PATHS, PAY_STATUS, RESERVE_STATUS } from './contract.js';

export interface HttpSaleApiOptions {
  /** Sockets to the server; requests beyond connections × pipelining wait in the pool's queue. */
  connections: number;
  /** Requests in flight per socket; 1 (default) is plain keep-alive. */
  pipelining?: number;
  /** Per phase (connect, headers, body): a server silent that long is an error, not a slow answer. */
  timeoutMs: number;
}

/** An answer the generator counts as an error; `status` is absent when there was no HTTP answer. */
export class SaleApiHttpError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SaleApiHttpError';
  }
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const REASONS = new Set(['sold_out', 'limit_exceeded', 'conflict', 'in_progress']);

type Json = Record<string, unknown>;

/** One whole answer; headers stay raw (name, value, …) since only a 429's Retry-After is read. */
interface Answer {
  status: number;
  rawHeaders: Buffer[];
  text: string;
}

/** Collects one answer. 1xx interim answers are skipped; the final one is kept. */
class Collect implements Dispatcher.DispatchHandlers {
  private status = 0;
  private rawHeaders: Buffer[] = [];
  private chunks: Buffer[] = [];

  constructor(
    private readonly resolve: (answer: Answer) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  onConnect(): void {}

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode >= 200) {
      this.status = statusCode;
      this.rawHeaders = rawHeaders;
      this.chunks = [];
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    const c = this.chunks;
    const text = c.length === 0 ? '' : c.length === 1 ? c[0].toString('utf8') : Buffer.concat(c).toString('utf8');
    this.resolve({ status: this.status, rawHeaders: this.rawHeaders, text });
  }

  onError(err: Error): void {
    this.reject(err);
  }
}

function rawHeader(raw: Buffer[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i].toString('latin1').toLowerCase() === name) return raw[i + 1].toString('latin1');
  }
  return undefined;
}

function positiveInt(name: string, value: number | undefined): number {
  if (value === undefined || !Number.isInteger(value) || value < 1) {
    throw new UsageError(`${name}: expected a whole number ≥ 1, got ${JSON.stringify(value ?? null)}`);
  }
  return value;
}

export function httpSaleApi(baseUrl: string, opts: HttpSaleApiOptions): SaleApi {
  let base: URL;
  try {
    base = new URL(baseUrl);
  } catch {
    throw new UsageError(`target URL: expected an http:// or https:// URL, got ${JSON.stringify(redact(baseUrl))}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new UsageError(`target URL: expected an http:// or https:// URL, got ${JSON.stringify(redact(baseUrl))}`);
  }
  const timeoutMs = positiveInt('timeoutMs', opts.timeoutMs);
  // A target mounted under a prefix (https://shop.test/api) keeps it in front of every path.
  const prefix = base.pathname.replace(/\/+$/, '');
  const where = base.origin;
  const pool = new Pool(base.origin, {
    connections: positiveInt('connections', opts.connections),
    pipelining: positiveInt('pipelining', opts.pipelining ?? 1),
    connectTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const reservePath = prefix + PATHS.reservations;

  /** One request, its answer read whole (which is what frees the connection for the next). */
  async function exchange(method: 'GET' | 'POST', path: string, body?: string): Promise<Answer> {
    try {
      return await new Promise<Answer>((resolve, reject) => {
        pool.dispatch(
          body === undefined ? { method, path } : { method, path, headers: JSON_HEADERS, body },
          new Collect(resolve, reject),
        );
      });
    } catch (err) {
      throw new SaleApiHttpError(`${method} ${path}: ${where}: ${describe(err, timeoutMs)}`, undefined, { cause: err });
    }
  }

  return {
    async availability(sku) {
      const path = prefix + PATHS.availability + encodeURIComponent(sku);
      const res = await exchange('GET', path);
      if (res.status !== 200) throw unexpected('GET', path, res.status, res.text);
      const body = parse('GET', path, res.status, res.text);
      return { sku: str(body, 'sku', path), available: num(body, 'available', path) };
    },

    async reserve(req: ReserveRequest): Promise<ReserveOutcome> {
      // Concatenated rather than JSON.stringify({…}): one string, no intermediate object. Each
      // string goes through JSON.stringify for its escaping; qty is a number the server checks.
      const payload = `{"sku":${JSON.stringify(req.sku)},"qty":${req.qty},"user":${JSON.stringify(req.user)},"clickId":${JSON.stringify(req.clickId)}}`;
      const { status, rawHeaders, text } = await exchange('POST', reservePath, payload);
      if (status === RESERVE_STATUS.granted || status === RESERVE_STATUS.duplicate) {
        const body = parse('POST', reservePath, status, text);
        return {
          ok: true,
          orderId: str(body, 'orderId', reservePath),
          reservationId: str(body, 'reservationId', reservePath),
          sku: str(body, 'sku', reservePath),
          qty: num(body, 'qty', reservePath),
          amountMinor: num(body, 'amountMinor', reservePath),
          currency: str(body, 'currency', reservePath),
          expiresAt: num(body, 'expiresAt', reservePath),
          // The status is the contract; a target's body need not repeat it.
          duplicate: status === RESERVE_STATUS.duplicate,
        };
      }
      if (status === RESERVE_STATUS.refused) {
        const reason = parse('POST', reservePath, status, text).reason;
        if (typeof reason !== 'string' || !REASONS.has(reason))
          throw outsideContract(reservePath, status, `reason ${JSON.stringify(reason)}`);
        return { ok: false, reason: reason as 'sold_out' | 'limit_exceeded' | 'conflict' | 'in_progress' };
      }
      if (status === RESERVE_STATUS.rateLimited)
        return { ok: false, reason: 'rate_limited', retryAfterMs: retryAfterMs(rawHeaders, text) };
      throw unexpected('POST', reservePath, status, text);
    },

    async pay({ orderId }): Promise<PayOutcome> {
      const path = prefix + PATHS.orders + encodeURIComponent(orderId) + PATHS.paySuffix;
      const res = await exchange('POST', path);
      const status = res.status;
      const known =
        status === PAY_STATUS.paid ||
        status === PAY_STATUS.declined ||
        status === PAY_STATUS.expired ||
        status === PAY_STATUS.failed;
      const body = known ? tryParse(res.text) : undefined;
      // A 502 without the engine's body came from a proxy in front of it: an error, not an outcome.
      if (!body || (status === PAY_STATUS.failed && body.status !== 'failed'))
        throw unexpected('POST', path, status, res.text);
      const id = str(body, 'orderId', path);
      switch (status) {
        case PAY_STATUS.paid:
          return {
            status: 'paid',
            orderId: id,
            chargeId: str(body, 'chargeId', path),
            attempts: num(body, 'attempts', path),
            duplicate: body.duplicate === true,
          };
        case PAY_STATUS.declined:
          return {
            status: 'declined',
            orderId: id,
            code: str(body, 'code', path),
            attempts: num(body, 'attempts', path),
          };
        case PAY_STATUS.expired:
          return { status: 'expired', orderId: id, refunded: body.refunded === true };
        default:
          return {
            status: 'failed',
            orderId: id,
            error: str(body, 'error', path),
            attempts: num(body, 'attempts', path),
          };
      }
    },

    async close() {
      await pool.close();
    },
  };
}

function retryAfterMs(rawHeaders: Buffer[], text: string): number {
  // The body's milliseconds are finer than the header's whole seconds; a target may send only the header.
  const ms = tryParse(text)?.retryAfterMs;
  if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return ms;
  const header = rawHeader(rawHeaders, 'retry-after');
  const seconds = header === undefined ? NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 1000;
}

function tryParse(text: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

function parse(method: string, path: string, status: number, text: string): Json {
  const body = tryParse(text);
  if (!body)
    throw new SaleApiHttpError(
      `${method} ${path}: HTTP ${status} with a body that is not a JSON object: ${clip(text)}`,
      status,
    );
  return body;
}

function str(body: Json, field: string, path: string): string {
  const value = body[field];
  if (typeof value !== 'string')
    throw outsideContract(path, undefined, `${field} ${JSON.stringify(value ?? null)} is not a string`);
  return value;
}

function num(body: Json, field: string, path: string): number {
  const value = body[field];
  if (typeof value !== 'number')
    throw outsideContract(path, undefined, `${field} ${JSON.stringify(value ?? null)} is not a number`);
  return value;
}

const outsideContract = (path: string, status: number | undefined, what: string) =>
  new SaleApiHttpError(`${path}: the answer is outside the sale API contract: ${what}`, status);

/** Any status the contract gives no outcome for, with the server's own message when it sent one. */
function unexpected(method: string, path: string, status: number, text: string): SaleApiHttpError {
  const error = tryParse(text)?.error as Json | undefined;
  const message = error && typeof error.message === 'string' ? error.message : clip(text) || 'no body';
  const code = error && typeof error.code === 'string' ? ` ${error.code}` : '';
  return new SaleApiHttpError(`${method} ${path}: HTTP ${status}${code}: ${message}`, status);
}

const clip = (text: string) => (text.length > 200 ? `${text.slice(0, 197)}...` : text);

function describe(err: unknown, timeoutMs: number): string {
  const code = (err as { code?: string } | null)?.code;
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return `no answer within ${timeoutMs} ms`;
  }
  if (code === 'ECONNREFUSED') return 'connection refused (is `flashsale serve` or the target running?)';
  return `unreachable: ${err instanceof Error ? err.message : String(err)}${code ? ` (${code})` : ''}`;
}
