// Reconciliation's side of the provider: every charge created in a time range, page by page
// (`starting_after`, `has_more`), and the refunds `--fix` issues. Any provider that serves the
// Stripe-shaped API of docs/design.md#payment-provider will do.
//
// A page is asked for again after a 5xx, a dropped connection or a timeout (with backoff), and
// after a 429 once its Retry-After has passed. A page that still cannot be had ends the listing
// with PageUnavailable: the caller then says INCOMPLETE instead of calling the charges it did not
// see missing.
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { redact, ServiceError } from '../errors.js';
import { backoffMs } from '../engine/payments.js';
import { toProviderCharge } from './provider-charge.js';
import type { ProviderCharge } from './types.js';

export { toProviderCharge };

/** Stripe's (and the mock's) largest page. */
export const PAGE_LIMIT = 100;

export interface PagerOptions {
  /** Per request: headers and body must both arrive within it. */
  timeoutMs: number;
  /** Attempts per page for 5xx / timeouts / lost connections, the first included. */
  attempts: number;
  /** First backoff; doubled per attempt, with jitter. */
  backoffMs: number;
  /** A Retry-After beyond this is not waited for: the page counts as unavailable. */
  maxRetryAfterMs: number;
  /** 429s obeyed per page before it counts as unavailable. */
  max429: number;
  signal?: AbortSignal;
}

export const DEFAULT_PAGER: PagerOptions = {
  timeoutMs: 15_000,
  attempts: 6,
  backoffMs: 200,
  maxRetryAfterMs: 60_000,
  max429: 50,
};

/** A page that could not be read: the listing is incomplete. */
export class PageUnavailable extends Error {
  constructor(
    readonly page: { createdGte: number; createdLt: number; startingAfter?: string },
    readonly lastError: string,
    readonly attempts: number,
  ) {
    super(
      `the provider's charges page created[gte]=${page.createdGte}&created[lt]=${page.createdLt}${page.startingAfter ? `&starting_after=${page.startingAfter}` : ''} could not be read after ${attempts} attempts; last: ${lastError}`,
    );
  }
}

export interface ListStats {
  pages: number;
  retries: number;
  rateLimited: number;
}

type Raw = Record<string, unknown>;

export class ProviderReader {
  private readonly pool: Pool;
  private readonly basePath: string;
  readonly stats: ListStats = { pages: 0, retries: 0, rateLimited: 0 };

  constructor(
    readonly url: string,
    private readonly opts: PagerOptions = DEFAULT_PAGER,
  ) {
    const u = new URL(url);
    // Keep-alive: ten thousand pages over a handful of connections, not ten thousand handshakes.
    this.pool = new Pool(u.origin, {
      connections: 8,
      keepAliveTimeout: 30_000,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
    this.basePath = u.pathname.replace(/\/+$/, '');
  }

  /** One GET, without retries; throws on no answer. */
  private async get(path: string): Promise<{ status: number; body: Raw; retryAfterMs: number | null }> {
    const signal = AbortSignal.any([
      AbortSignal.timeout(this.opts.timeoutMs),
      ...(this.opts.signal ? [this.opts.signal] : []),
    ]);
    const res = await this.pool.request({ path: this.basePath + path, method: 'GET', signal });
    const text = await res.body.text();
    let body: Raw = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object') body = parsed as Raw;
    } catch {
      body = { raw: text.slice(0, 200) };
    }
    const ra = res.headers['retry-after'];
    const seconds = Number(Array.isArray(ra) ? ra[0] : ra);
    return {
      status: res.statusCode,
      body,
      retryAfterMs: Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null,
    };
  }

  /**
   * Fails fast, as a ServiceError (exit 6), when nothing answers at the URL at all, so a wrong
   * --provider-url is one line, not a minute of retries and an INCOMPLETE report.
   */
  async probe(): Promise<void> {
    try {
      const r = await this.get(`/v1/charges?limit=1`);
      if (r.status === 404 || r.status === 405)
        throw new ServiceError(
          'provider',
          `the provider at ${redact(this.url)} answered ${r.status} to GET /v1/charges: not the Stripe-shaped charges API flashsale reads (docs/design.md#payment-provider)`,
        );
      // Refused credentials or a provider failing on its own: no payment of the run would go through.
      if (r.status === 401 || r.status === 403 || r.status >= 500)
        throw new ServiceError(
          'provider',
          `the provider at ${redact(this.url)} answered ${r.status} to GET /v1/charges: ${JSON.stringify(r.body).slice(0, 200)}`,
          r.status < 500 ? 'check the provider secret / key it expects' : 'bring the provider back, then run again',
        );
    } catch (err) {
      if (err instanceof ServiceError) throw err;
      throw new ServiceError(
        'provider',
        `the payment provider at ${redact(this.url)} does not answer: ${(err as Error).message || (err as { code?: string }).code}`,
        'start it (flashsale provider), or pass --provider-url with a provider that serves GET /v1/charges',
      );
    }
  }

  /** Every charge with created in [gteSec, ltSec), page by page in the provider's order. */
  async *charges(gteSec: number, ltSec: number): AsyncGenerator<ProviderCharge[]> {
    let after: string | undefined;
    for (;;) {
      const q = new URLSearchParams({
        'created[gte]': String(gteSec),
        'created[lt]': String(ltSec),
        limit: String(PAGE_LIMIT),
      });
      if (after) q.set('starting_after', after);
      const body = await this.page(`/v1/charges?${q}`, { createdGte: gteSec, createdLt: ltSec, startingAfter: after });
      const data = Array.isArray(body.data) ? (body.data as Raw[]) : null;
      if (!data)
        throw new PageUnavailable(
          { createdGte: gteSec, createdLt: ltSec, startingAfter: after },
          `the answer has no data array: ${JSON.stringify(body).slice(0, 200)}`,
          1,
        );
      const charges = data.map(toProviderCharge);
      this.stats.pages++;
      if (charges.length > 0) yield charges;
      if (body.has_more !== true || charges.length === 0) return;
      const last = charges[charges.length - 1].id;
      // A provider that ignores starting_after would send this page forever, each pass staged again.
      if (last === after)
        throw new PageUnavailable(
          { createdGte: gteSec, createdLt: ltSec, startingAfter: after },
          `the provider sent the same page again for starting_after=${after}: it does not page`,
          1,
        );
      after = last;
    }
  }

  private async page(path: string, where: PageUnavailable['page']): Promise<Raw> {
    let failures = 0;
    let limited = 0;
    let last = '';
    for (;;) {
      if (this.opts.signal?.aborted) throw new PageUnavailable(where, 'interrupted', failures + limited);
      let wait: number;
      try {
        const r = await this.get(path);
        if (r.status === 200) return r.body;
        const e = (r.body.error && typeof r.body.error === 'object' ? r.body.error : {}) as Raw;
        last = `${r.status} ${String(e.code ?? e.message ?? '')}`.trim();
        if (r.status === 429) {
          limited++;
          this.stats.rateLimited++;
          wait = r.retryAfterMs ?? this.backoff(limited);
          if (limited > this.opts.max429 || wait > this.opts.maxRetryAfterMs)
            throw new PageUnavailable(where, `${last} (Retry-After ${Math.round(wait / 1000)} s)`, failures + limited);
        } else if (r.status >= 500) {
          failures++;
          wait = this.backoff(failures);
        } else {
          // A 4xx other than 429 will not change on a retry: this provider does not serve our query.
          throw new PageUnavailable(where, last, failures + limited + 1);
        }
      } catch (err) {
        if (err instanceof PageUnavailable) throw err;
        failures++;
        last =
          (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError'
            ? `no answer within ${this.opts.timeoutMs} ms`
            : (err as Error).message || String((err as { code?: string }).code);
        wait = this.backoff(failures);
      }
      if (failures >= this.opts.attempts) throw new PageUnavailable(where, last, failures + limited);
      this.stats.retries++;
      await sleep(wait, undefined, this.opts.signal ? { signal: this.opts.signal } : undefined).catch(() => undefined);
    }
  }

  private backoff(n: number): number {
    return backoffMs(this.opts, n);
  }

  /**
   * Refunds what is left of `chargeId` with `key`: the same key after a crash replays the first
   * refund instead of making a second. Resolves to the refunded amount, 0 if it already was.
   */
  async refund(chargeId: string, key: string): Promise<{ refundId: string | null; amount: number }> {
    let last = '';
    for (let n = 1; n <= this.opts.attempts; n++) {
      try {
        const res = await this.pool.request({
          path: `${this.basePath}/v1/refunds`,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify({ charge: chargeId }),
          signal: AbortSignal.timeout(this.opts.timeoutMs),
        });
        const body = (await res.body.json().catch(() => ({}))) as Raw;
        const e = (body.error && typeof body.error === 'object' ? body.error : {}) as Raw;
        if (res.statusCode === 200)
          return {
            refundId: typeof body.id === 'string' ? body.id : null,
            amount: typeof body.amount === 'number' ? body.amount : 0,
          };
        if (res.statusCode === 400 && e.code === 'charge_already_refunded') return { refundId: null, amount: 0 };
        last = `${res.statusCode} ${String(e.code ?? '')}: ${String(e.message ?? '')}`;
        if (res.statusCode < 500 && res.statusCode !== 409 && res.statusCode !== 429) break;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(this.backoff(n));
    }
    throw new Error(`refund of ${chargeId} failed: ${last}`);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
