// The mock provider's HTTP plumbing: request validation with Stripe-shaped error bodies that name
// the parameter, JSON replies, and the token bucket behind 429.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Stripe's ceiling for one charge (eight digits of minor units); it also keeps amounts in int4. */
export const MAX_AMOUNT = 99_999_999;
export const MAX_PAGE = 100;
const MAX_BODY_BYTES = 64 * 1024;

/** A request the provider refuses before doing anything; `param` names the offending field as Stripe would. */
export class RequestError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly param?: string,
  ) {
    super(message);
  }

  body() {
    return {
      error: {
        type: 'invalid_request_error',
        code: this.code,
        message: this.message,
        ...(this.param ? { param: this.param } : {}),
      },
    };
  }
}

export function sendJson(
  res: ServerResponse,
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(statusCode, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new RequestError(413, 'body_too_large', `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
  } catch {
    throw new RequestError(400, 'invalid_json', 'request body: expected a JSON object');
  }
}

/** Stripe's parameter spelling for a nested field: metadata.transaction_id → metadata[transaction_id]. */
function paramName(path: (string | number)[]): string {
  return path.map((p, i) => (i === 0 ? String(p) : `[${p}]`)).join('');
}

function parseBody<T>(schema: z.ZodType<T>, raw: unknown): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue.code === 'unrecognized_keys')
    throw new RequestError(400, 'parameter_unknown', `${issue.keys[0]}: unknown parameter`, issue.keys[0]);
  const param = paramName(issue.path) || 'body';
  const missing = issue.code === 'invalid_type' && issue.received === 'undefined';
  const value = issue.path.reduce<unknown>(
    (v, k) => (v && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined),
    raw,
  );
  const shown = missing ? 'nothing' : JSON.stringify(value);
  throw new RequestError(
    400,
    missing ? 'parameter_missing' : 'parameter_invalid',
    `${param}: expected ${issue.message}, got ${shown}`,
    param,
  );
}

const amount = z
  .number({ message: `a whole number of minor units from 1 to ${MAX_AMOUNT}` })
  .int({ message: `a whole number of minor units from 1 to ${MAX_AMOUNT}` })
  .min(1, { message: `a whole number of minor units from 1 to ${MAX_AMOUNT}` })
  .max(MAX_AMOUNT, { message: `a whole number of minor units from 1 to ${MAX_AMOUNT}` });
const text = (what: string) =>
  z
    .string({ message: what })
    .min(1, { message: what })
    .max(200, { message: `${what} of at most 200 characters` });

const chargeSchema = z
  .object({
    amount,
    currency: z
      .string({ message: 'an ISO 4217 code in upper case, e.g. EUR' })
      .regex(/^[A-Z]{3}$/, { message: 'an ISO 4217 code in upper case, e.g. EUR' }),
    // Extra metadata is kept, as Stripe keeps it; the two ids reconciliation joins on are required.
    metadata: z
      .object(
        { transaction_id: text('a transaction id'), order_id: text('an order id') },
        { message: 'an object with transaction_id and order_id' },
      )
      .catchall(z.string({ message: 'a string (metadata values are strings)' }).max(500)),
    token: text('a token from signToken'),
  })
  .strict();
export type ChargeRequest = z.infer<typeof chargeSchema>;

const refundSchema = z.object({ charge: text('a charge id'), amount: amount.optional() }).strict();
export type RefundRequest = z.infer<typeof refundSchema>;

export const parseChargeRequest = (raw: unknown) => parseBody(chargeSchema, raw);
export const parseRefundRequest = (raw: unknown) => parseBody(refundSchema, raw);

const whole = (param: string, value: string | null, min: number, max: number): number | undefined => {
  if (value === null) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new RequestError(
      400,
      'parameter_invalid',
      `${param}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
      param,
    );
  }
  return n;
};

const LIST_PARAMS = new Set(['created[gte]', 'created[lt]', 'limit', 'starting_after']);

/** The list endpoint's query; unknown parameters are refused so a misspelt filter cannot silently widen the page. */
export function parseListQuery(params: URLSearchParams) {
  for (const key of params.keys()) {
    if (!LIST_PARAMS.has(key))
      throw new RequestError(
        400,
        'parameter_unknown',
        `${key}: unknown parameter; known: ${[...LIST_PARAMS].join(', ')}`,
        key,
      );
  }
  const after = params.get('starting_after');
  return {
    createdGte: whole('created[gte]', params.get('created[gte]'), 0, 1e11),
    createdLt: whole('created[lt]', params.get('created[lt]'), 0, 1e11),
    limit: whole('limit', params.get('limit'), 1, MAX_PAGE) ?? 10,
    startingAfter: after === null ? undefined : after,
  };
}

/** The metadata fields a charge search may ask for (the ones flashsale's charges carry). */
const SEARCH_FIELDS = ['transaction_id', 'order_id'] as const;
export type SearchField = (typeof SEARCH_FIELDS)[number];

/**
 * Stripe's search query, the one clause flashsale needs of it: `metadata['transaction_id']:'txn_…'`
 * (double quotes too). Payment recovery finds an order's charge with it, never by charging again.
 */
export function parseSearchQuery(params: URLSearchParams): { field: SearchField; value: string; limit: number } {
  for (const key of params.keys()) {
    if (key !== 'query' && key !== 'limit')
      throw new RequestError(400, 'parameter_unknown', `${key}: unknown parameter; known: query, limit`, key);
  }
  const query = params.get('query') ?? '';
  const m = /^\s*metadata\[(['"])([a-z_]+)\1\]\s*:\s*(['"])([^'"]*)\3\s*$/.exec(query);
  if (!m || !(SEARCH_FIELDS as readonly string[]).includes(m[2]))
    throw new RequestError(
      400,
      'parameter_invalid',
      `query: expected metadata['<field>']:'<value>' with field one of ${SEARCH_FIELDS.join(', ')}, got ${JSON.stringify(query.slice(0, 80))}`,
      'query',
    );
  return { field: m[2] as SearchField, value: m[4], limit: whole('limit', params.get('limit'), 1, MAX_PAGE) ?? 10 };
}

/** The same request, whatever the key order of its JSON: what an Idempotency-Key is bound to. */
export function fingerprint(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
        )
      : v;
  return createHash('sha256')
    .update(JSON.stringify(canonical(value)))
    .digest('hex');
}

export interface RateLimit {
  /** Sustained requests per second. */
  perSecond: number;
  /** Requests allowed at once after a quiet spell. */
  burst: number;
}

/**
 * A token bucket on a monotonic clock (not the provider's injectable clock, which tests freeze).
 * take() returns 0 when a request may go, else the seconds until one token is back.
 */
export function tokenBucket(limit: RateLimit, now: () => number = () => performance.now()) {
  if (!(limit.perSecond > 0) || !(limit.burst >= 1))
    throw new RangeError('rateLimit: perSecond must be > 0 and burst ≥ 1');
  let tokens = limit.burst;
  let last = now();
  return {
    take(): number {
      const t = now();
      tokens = Math.min(limit.burst, tokens + ((t - last) / 1000) * limit.perSecond);
      last = t;
      if (tokens >= 1) {
        tokens -= 1;
        return 0;
      }
      return (1 - tokens) / limit.perSecond;
    },
  };
}
