// The mock payment provider: a Stripe-shaped HTTP API on loopback over the ledger in ledger.ts,
// misbehaving as faults.ts decides.
//
// Idempotency, as Stripe does it, with one choice of ours:
// - a key is taken before any work; a second request with it while the first runs gets
//   409 `idempotency_key_in_use` (retry later), which is what keeps a held (timed-out) request and
//   the client's retry from both charging;
// - a finished key replays the stored status and body with `Idempotent-Replayed: true`;
// - the same key with another body or path gets 422 `idempotency_key_reused` (Stripe says 400;
//   422 keeps "your parameters are invalid" and "your key is taken" apart for a client's retry logic);
// - 5xx, a timeout that did not commit and a refused refund give the key back, so a retry starts afresh.
//
// The caller always sees the charge it asked for: amount drift, duplicates, dropped records,
// next-day settlement and orphans exist only in the books (the list endpoint, the ledger), as they
// would at a provider with a bug, and only reconciliation can find them.
import { setMaxListeners } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  FaultInjector,
  parseFaultConfig,
  type Fault,
  type FaultConfig,
  type FaultConfigInput,
  type FaultKind,
} from './faults.js';
import {
  fingerprint,
  parseChargeRequest,
  parseListQuery,
  parseRefundRequest,
  parseSearchQuery,
  readJson,
  RequestError,
  sendJson,
  tokenBucket,
  type ChargeRequest,
  type RateLimit,
} from './http.js';
import { ProviderLedger, type Charge, type ChargeRow } from './ledger.js';
import { verifyToken } from './token.js';

const DAY_MS = 86_400_000;
const MAX_KEY_LENGTH = 255;

export interface ProviderOptions {
  databaseUrl: string;
  /** Ledger schema `mockpay_<namespace>`. */
  namespace: string;
  /** 0 (default): a free port the OS picks. Always bound to 127.0.0.1. */
  port?: number;
  /** Shared with whoever signs tokens (signToken). */
  secret: string;
  /** Rates 0..1 per fault; none by default. Validated: a bad field is a UsageError naming it. */
  faults?: FaultConfigInput | FaultConfig;
  seed: number;
  /** Epoch ms for `created` and token expiry; Date.now by default. */
  clock?: () => number;
  /** 429 with Retry-After beyond this rate; off by default. */
  rateLimit?: RateLimit;
  /** Drop the namespace's ledger first instead of adding to it. */
  reset?: boolean;
  connections?: number;
  /** Told about failures the client only sees as a 500 (the core prints nothing itself). */
  onError?: (err: unknown) => void;
}

export interface Provider {
  url: string;
  stop(): Promise<void>;
  /** The ground truth so far: `provider-faults.json`. */
  faults(): Fault[];
  /** Every charge in the ledger, as the API shows them (read directly, not through the list). */
  charges(): Promise<Charge[]>;
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

function idempotencyKey(req: IncomingMessage): string {
  const key = req.headers['idempotency-key'];
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new RequestError(
      400,
      'idempotency_key_required',
      `Idempotency-Key: expected a header of 1 to ${MAX_KEY_LENGTH} characters, got ${JSON.stringify(key ?? null)}`,
      'Idempotency-Key',
    );
  }
  return key;
}

const idempotencyError = (code: string, message: string) => ({ error: { type: 'idempotency_error', code, message } });

export async function startProvider(opts: ProviderOptions): Promise<Provider> {
  const config = parseFaultConfig(opts.faults ?? {});
  const clock = opts.clock ?? Date.now;
  const injector = new FaultInjector(config, opts.seed);
  const limiter = opts.rateLimit ? tokenBucket(opts.rateLimit) : undefined;
  const ledger = await ProviderLedger.open(opts.databaseUrl, opts.namespace, {
    connections: opts.connections ?? 8,
    reset: opts.reset ?? false,
  });
  // Aborts the sleeps of held requests on stop(), so stopping never waits out a timeout fault.
  const stopping = new AbortController();
  // Every delayed request waits on this one signal at once: hundreds of listeners are the design.
  setMaxListeners(0, stopping.signal);
  const inFlight = new Set<Promise<void>>();

  /** A request that holds `key` and must answer or give it back, whatever happens. */
  async function withKey(key: string, work: () => Promise<boolean>): Promise<void> {
    let answered = false;
    try {
      answered = await work();
    } finally {
      if (!answered) await ledger.release(key).catch(() => undefined);
    }
  }

  /**
   * Claims the Idempotency-Key for this request, or answers from it: the stored response of an
   * earlier identical request (replayed), 409 while that request still runs, 422 when the key
   * came with a different request. True when the request has been answered here.
   */
  async function answeredByKey(
    res: ServerResponse,
    key: string,
    path: string,
    body: object,
    what: string,
  ): Promise<boolean> {
    const claim = await ledger.claim(key, path, fingerprint(body), clock());
    if (claim.kind === 'replay') sendJson(res, claim.statusCode, claim.response, { 'idempotent-replayed': 'true' });
    else if (claim.kind === 'in_use')
      sendJson(
        res,
        409,
        idempotencyError(
          'idempotency_key_in_use',
          `Idempotency-Key ${key}: another request with this key is still being processed; retry later`,
        ),
      );
    else if (claim.kind === 'mismatch')
      sendJson(
        res,
        422,
        idempotencyError(
          'idempotency_key_reused',
          `Idempotency-Key ${key}: already used with a different request; use a new key for a new ${what}`,
        ),
      );
    else return false;
    return true;
  }

  async function charge(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const key = idempotencyKey(req);
    const body = parseChargeRequest(await readJson(req));
    if (await answeredByKey(res, key, '/v1/charges', body, 'charge')) return;

    const txid = body.metadata.transaction_id;
    const { attempt, decision } = injector.next(txid, body.amount);
    const note = (kind: FaultKind, detail?: Fault['detail'], transactionId = txid) =>
      injector.record(kind, transactionId, attempt, detail);
    await withKey(key, async () => {
      if (decision.latencyMs > 0) {
        note('latency', { ms: decision.latencyMs });
        await sleep(decision.latencyMs, undefined, { signal: stopping.signal });
      }
      if (decision.outcome === 'serverError') {
        note('serverError');
        sendJson(res, 500, {
          error: {
            type: 'api_error',
            code: 'injected_fault',
            message: 'injected server error; retry with the same Idempotency-Key',
          },
        });
        return false;
      }
      if (decision.outcome === 'timeout') {
        let commits = decision.timeoutCommits;
        try {
          await sleep(config.timeoutHoldMs, undefined, { signal: stopping.signal });
        } catch {
          commits = false;
        }
        note('timeout', { committed: commits, holdMs: config.timeoutHoldMs });
        if (!commits) {
          // No answer at all, as when a provider dies mid-request: the client cannot tell this from a lost reply.
          res.destroy();
          return false;
        }
      }
      const { answer, rows, pending } = chargeOutcome(body, key, attempt, decision);
      await ledger.recordCharges(key, rows, answer);
      // Only now: an anomaly that never reached the ledger is no ground truth.
      for (const [kind, detail, transactionId] of pending) note(kind, detail, transactionId);
      sendJson(res, answer.statusCode, answer.body);
      return true;
    });
  }

  type Pending = [FaultKind, Fault['detail'], string];

  /** What to write and what to answer for a charge that goes through (succeeds or is declined). */
  function chargeOutcome(
    body: ChargeRequest,
    key: string,
    attempt: number,
    decision: ReturnType<FaultInjector['next']>['decision'],
  ) {
    const txid = body.metadata.transaction_id;
    const now = clock();
    const check = verifyToken(
      body.token,
      { transactionId: txid, amount: body.amount, currency: body.currency },
      opts.secret,
      now,
    );
    const declined = !check.ok ? 'invalid_token' : decision.outcome === 'decline' ? 'generic_decline' : null;
    const honest: ChargeRow = {
      id: newId('ch'),
      amount: body.amount,
      currency: body.currency,
      status: declined ? 'failed' : 'succeeded',
      failure_code: declined,
      metadata: body.metadata,
      created_ms: now,
      settled_ms: declined ? null : now,
      idempotency_key: key,
    };
    const pending: Pending[] = [];
    let rows: ChargeRow[] = [honest];
    if (declined === 'generic_decline') pending.push(['decline', undefined, txid]);
    if (!declined) {
      switch (decision.outcome) {
        case 'amountDrift':
          rows = [{ ...honest, amount: decision.driftedAmount }];
          pending.push(['amountDrift', { requested: body.amount, recorded: decision.driftedAmount }, txid]);
          break;
        case 'duplicate':
          rows.push({ ...honest, id: newId('ch') });
          pending.push(['duplicate', { rows: 2 }, txid]);
          break;
        case 'dropped':
          rows = [];
          pending.push(['dropped', undefined, txid]);
          break;
        case 'nextDaySettlement':
          rows = [{ ...honest, settled_ms: now + DAY_MS }];
          pending.push(['nextDaySettlement', undefined, txid]);
          break;
        default:
      }
      if (decision.orphanTransactionId) {
        const orphan = decision.orphanTransactionId;
        rows.push({ ...honest, id: newId('ch'), metadata: { transaction_id: orphan }, idempotency_key: null });
        pending.push(['orphan', { alongside: txid }, orphan]);
      }
    }
    const shown = toCharge(honest);
    const answer = declined
      ? {
          statusCode: 402,
          body: {
            error: {
              type: 'card_error',
              code: 'card_declined',
              decline_code: declined,
              charge: honest.id,
              message: check.ok ? 'the card was declined' : `the token was refused: ${check.reason}`,
            },
          },
        }
      : { statusCode: 200, body: shown };
    return { answer, rows, pending };
  }

  async function refund(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const key = idempotencyKey(req);
    const body = parseRefundRequest(await readJson(req));
    if (await answeredByKey(res, key, '/v1/refunds', body, 'refund')) return;
    await withKey(key, async () => {
      const answer = await ledger.refund(key, body.charge, body.amount, newId('re'), clock());
      sendJson(res, answer.statusCode, answer.body);
      return answer.statusCode === 200;
    });
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const one = /^\/v1\/charges\/([^/]+)$/.exec(url.pathname);
    if (url.pathname === '/v1/charges' && req.method === 'POST') return charge(req, res);
    if (url.pathname === '/v1/refunds' && req.method === 'POST') return refund(req, res);
    if (url.pathname === '/v1/charges' && req.method === 'GET') {
      const q = parseListQuery(url.searchParams);
      const page = await ledger.list(q);
      if (!page)
        throw new RequestError(
          400,
          'resource_missing',
          `starting_after: no such charge: ${q.startingAfter}`,
          'starting_after',
        );
      return sendJson(res, 200, { object: 'list', ...page });
    }
    if (url.pathname === '/v1/charges/search' && req.method === 'GET') {
      const q = parseSearchQuery(url.searchParams);
      // One more than asked for tells whether there are more, as with the list.
      const found = await ledger.search(q.field, q.value, q.limit + 1);
      const data = found.slice(0, q.limit);
      return sendJson(res, 200, {
        object: 'search_result',
        url: '/v1/charges/search',
        data,
        has_more: found.length > q.limit,
      });
    }
    if (one && req.method === 'GET') {
      const found = await ledger.get(decodeURIComponent(one[1]));
      if (!found) throw new RequestError(404, 'resource_missing', `no such charge: ${one[1]}`, 'id');
      return sendJson(res, 200, found);
    }
    const known = url.pathname === '/v1/charges' || url.pathname === '/v1/refunds' || one;
    throw new RequestError(
      known ? 405 : 404,
      known ? 'method_not_allowed' : 'resource_missing',
      `${req.method} ${url.pathname} is not part of this API`,
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const wait = limiter?.take() ?? 0;
      if (wait > 0) {
        // Whole seconds, as HTTP requires; rounding up so a client that obeys is never early.
        return sendJson(
          res,
          429,
          {
            error: {
              type: 'rate_limit_error',
              code: 'rate_limit',
              message: 'too many requests; retry after the Retry-After seconds',
            },
          },
          { 'retry-after': String(Math.ceil(wait)) },
        );
      }
      await route(req, res);
    } catch (err) {
      if (res.headersSent || res.destroyed) return;
      // A request cut short by stop() is not a bug worth reporting.
      if (stopping.signal.aborted) return void res.destroy();
      if (err instanceof RequestError) return sendJson(res, err.statusCode, err.body());
      opts.onError?.(err);
      sendJson(res, 500, { error: { type: 'api_error', code: 'internal', message: 'internal error' } });
    }
  }

  const server = createServer((req, res) => {
    const p = handle(req, res).finally(() => inFlight.delete(p));
    inFlight.add(p);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
    });
  } catch (err) {
    await ledger.close();
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    url: `http://127.0.0.1:${port}`,
    faults: () => injector.list(),
    charges: () => ledger.all(),
    async stop() {
      stopping.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Handlers still touching the ledger must finish before its pool goes.
      await Promise.allSettled([...inFlight]);
      server.closeAllConnections();
      await closed;
      await ledger.close();
    },
  };
}

/** The API's view of a row about to be written. */
function toCharge(row: ChargeRow): Charge {
  return {
    id: row.id,
    object: 'charge',
    status: row.status,
    amount: row.amount,
    amount_refunded: 0,
    currency: row.currency,
    created: Math.floor(row.created_ms / 1000),
    settled_at: row.settled_ms === null ? null : Math.floor(row.settled_ms / 1000),
    failure_code: row.failure_code,
    metadata: row.metadata,
  };
}
