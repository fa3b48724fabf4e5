// The queue strategy's own promises: one decision per idempotency key even when a request is
// sent twice or outlives its caller, and a restarted consumer finishing a dead one's work.
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import {
  CONSUMER_GROUP,
  decideBatch,
  messageFields,
  parseMessage,
  QueueStrategy,
  type BatchState,
  type QueueMessage,
} from '../../../../src/core/strategies/queue.js';
import { processingKey, skuKeys } from '../../../../src/core/redis/keys.js';
import { checkInvariants } from '../../../../src/core/invariants.js';
import { REDIS_URL, uniqueNamespace } from '../../../helpers/services.js';

const T0 = 1_800_000_000_000;

let n = 0;
function msg(over: Partial<QueueMessage> = {}): QueueMessage {
  n += 1;
  return {
    msgId: `${n}-0`,
    id: `r${n}`,
    qty: 1,
    expiresAt: T0,
    deadline: Number.MAX_SAFE_INTEGER,
    replyTo: 'reply',
    user: `u${n}`,
    key: `k${n}`,
    ...over,
  };
}

function state(over: Partial<BatchState> = {}): BatchState {
  return { stock: 10, perUserLimit: 0, now: 0, stored: new Map(), users: new Map(), ...over };
}

describe('decideBatch', () => {
  it('reads a message back field for field', () => {
    const m = msg({ user: 'a b', key: 'k:1' });
    const { msgId, ...rest } = m;
    expect(parseMessage(msgId, messageFields(rest).map(String))).toEqual(m);
  });

  it('decides in stream order: a request too big for what is left is refused, a smaller later one granted', () => {
    const d = decideBatch([msg({ qty: 2 }), msg({ qty: 2 }), msg({ qty: 1 })], state({ stock: 3 }));
    expect(d.map((x) => (x.kind === 'refuse' ? x.reason : x.kind))).toEqual(['grant', 'sold_out', 'grant']);
  });

  it('counts the units a user was granted earlier in the same batch against the limit', () => {
    const st = state({ perUserLimit: 3, users: new Map([['ann', 1]]) });
    const d = decideBatch([msg({ user: 'ann', qty: 2 }), msg({ user: 'ann' }), msg({ user: 'bob', qty: 3 })], st);
    expect(d.map((x) => (x.kind === 'refuse' ? x.reason : x.kind))).toEqual(['grant', 'limit_exceeded', 'grant']);
    expect(st.stock).toBe(5);
  });

  it('answers a key sent twice in one batch with the first reservation', () => {
    const first = msg({ key: 'same' });
    const d = decideBatch([first, msg({ key: 'same' })], state());
    expect(d[1]).toMatchObject({ kind: 'duplicate', of: first.id, earlier: first });
  });

  it('answers a key already in the store with its reservation, and a re-delivered grant as granted', () => {
    const redelivered = msg({ key: 'mine' });
    const st = state({
      stored: new Map([
        ['old', 'r-old'],
        ['mine', redelivered.id],
      ]),
    });
    const d = decideBatch([msg({ key: 'old' }), redelivered], st);
    expect(d[0]).toMatchObject({ kind: 'duplicate', of: 'r-old' });
    expect(d[1]).toMatchObject({ kind: 'applied' });
    expect(st.stock).toBe(10);
  });

  it('refuses a user past the limit as limit_exceeded even when the SKU is sold out', () => {
    const d = decideBatch([msg({ user: 'ann' })], state({ stock: 0, perUserLimit: 1, users: new Map([['ann', 1]]) }));
    expect(d[0]).toMatchObject({ kind: 'refuse', reason: 'limit_exceeded' });
  });

  it('leaves undecided a request whose caller has given up', () => {
    const d = decideBatch([msg({ deadline: 99 })], state({ now: 100 }));
    expect(d[0].kind).toBe('late');
  });
});

describe('queue on Redis', () => {
  const raw = new Redis(REDIS_URL);
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
    raw.disconnect();
  });

  async function open(stock: number) {
    const namespace = uniqueNamespace('queue');
    const s = new QueueStrategy({ namespace, redisUrl: REDIS_URL });
    cleanup.push(async () => {
      await s.destroy();
      await s.close();
    });
    await s.load([{ sku: 'a', stock }], { perUserLimit: 0 });
    return { s, keys: skuKeys(namespace, 'a'), namespace };
  }

  /** The reply reader's connection id once it is blocked waiting for answers. */
  async function blockedReader(namespace: string): Promise<string> {
    for (const until = Date.now() + 5_000; Date.now() < until;) {
      const line = ((await raw.call('CLIENT', 'LIST')) as string)
        .split('\n')
        .find((l) => l.includes(` name=fs:${namespace}:queue:replies `) && l.includes(' cmd=blmove '));
      if (line) return /(?:^|\s)id=(\d+)/.exec(line)![1];
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('the reply reader is not waiting for answers');
  }

  it('keeps every caller waiting when the reply connection drops, and answers them once it is back', async () => {
    const { s, namespace } = await open(5);
    const settled: unknown[] = [];
    const pending = [1, 2, 3].map((i) =>
      s.reserve({ sku: 'a', qty: 1, user: `u${i}`, idempotencyKey: `drop${i}`, ttlMs: 60_000, now: T0 }).then(
        (r) => (settled.push(r), r),
        (e: unknown) => (settled.push(e), e),
      ),
    );
    await raw.call('CLIENT', 'KILL', 'ID', await blockedReader(namespace));
    await blockedReader(namespace); // reconnected and reading again
    expect(settled).toEqual([]);
    cleanup.push(await s.startBackground());
    const results = await Promise.all(pending);
    expect(results.map((r) => (r as { ok?: boolean }).ok)).toEqual([true, true, true]);
    const snap = await s.snapshot();
    expect(snap.skus[0].available).toBe(2);
    expect(checkInvariants({ snapshot: snap, perUserLimit: 0 }).ok).toBe(true);
  });

  it('answers a caller whose answer the reader had taken but not handled when its connection dropped', async () => {
    const { s, keys, namespace } = await open(5);
    const pending = s.reserve({ sku: 'a', qty: 1, user: 'ann', idempotencyKey: 'moved', ttlMs: 60_000, now: T0 });
    let sent: [string, string[]][] = [];
    while (!sent.length) sent = (await raw.xrange(keys.stream, '-', '+')) as [string, string[]][];
    const m = parseMessage(sent[0][0], sent[0][1]);
    const reader = await blockedReader(namespace);
    // As if BLMOVE had moved this answer and the connection dropped before its reply arrived.
    await raw.rpush(processingKey(m.replyTo), `${m.id}\x1fg`);
    await raw.call('CLIENT', 'KILL', 'ID', reader);
    expect(await pending).toMatchObject({ ok: true, duplicate: false, reservation: { id: m.id, user: 'ann' } });
  });

  it('restarts and processes a pending message a dead consumer left unacknowledged', async () => {
    const { s, keys } = await open(5);
    const pending = s.reserve({ sku: 'a', qty: 2, user: 'ann', idempotencyKey: 'k1', ttlMs: 60_000, now: T0 });
    // A consumer reads the request and dies before deciding it.
    let read: unknown = null;
    while (!read)
      read = await raw.xreadgroup('GROUP', CONSUMER_GROUP, 'dead', 'COUNT', 10, 'STREAMS', keys.stream, '>');
    expect(((await raw.xpending(keys.stream, CONSUMER_GROUP)) as unknown[])[0]).toBe(1);

    const stop = await s.startBackground();
    cleanup.push(stop);
    const result = await pending;
    expect(result).toMatchObject({ ok: true, duplicate: false, reservation: { qty: 2, user: 'ann' } });
    expect(((await raw.xpending(keys.stream, CONSUMER_GROUP)) as unknown[])[0]).toBe(0);
    expect(await raw.xlen(keys.stream)).toBe(0);
    const snap = await s.snapshot();
    expect(snap.skus[0].available).toBe(3);
    expect(snap.ledger).toHaveLength(1);
  });

  it('grants a key sent twice before the consumer runs once, and answers both callers', async () => {
    const { s } = await open(5);
    const twice = [1, 2].map(() =>
      s.reserve({ sku: 'a', qty: 1, user: 'bob', idempotencyKey: 'click', ttlMs: 60_000, now: T0 }),
    );
    await new Promise((r) => setTimeout(r, 50));
    cleanup.push(await s.startBackground());
    const [a, b] = await Promise.all(twice);
    if (!a.ok || !b.ok) throw new Error('refused');
    expect([a.duplicate, b.duplicate]).toEqual([false, true]);
    expect(b.reservation).toEqual(a.reservation);
    const snap = await s.snapshot();
    expect(snap.ledger).toHaveLength(1);
    expect(checkInvariants({ snapshot: snap, perUserLimit: 0 }).ok).toBe(true);
  });

  it("does not grant a request that waited in the stream past its caller's deadline", async () => {
    const { s, keys } = await open(5);
    await raw.xadd(
      keys.stream,
      '*',
      ...messageFields({
        id: 'gone',
        qty: 1,
        expiresAt: T0,
        deadline: Date.now() - 1,
        replyTo: 'nobody',
        user: 'u',
        key: 'late',
      }),
    );
    cleanup.push(await s.startBackground());
    // a live request queued behind it is answered, so the late one has been seen by then
    expect((await s.reserve({ sku: 'a', qty: 1, user: 'v', idempotencyKey: 'live', ttlMs: 60_000, now: T0 })).ok).toBe(
      true,
    );
    const snap = await s.snapshot();
    expect(snap.ledger.map((e) => e.idempotencyKey)).toEqual(['live']);
    expect(snap.skus[0].available).toBe(4);
    expect(await raw.xlen(keys.stream)).toBe(0);
  });

  it('keeps deciding correctly while releases add stock behind the consumer', async () => {
    const { s } = await open(20);
    cleanup.push(await s.startBackground());
    const first = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        s.reserve({ sku: 'a', qty: 1, user: `u${i}`, idempotencyKey: `a${i}`, ttlMs: 60_000, now: T0 }),
      ),
    );
    const [more] = await Promise.all([
      Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          s.reserve({ sku: 'a', qty: 1, user: `w${i}`, idempotencyKey: `b${i}`, ttlMs: 60_000, now: T0 }),
        ),
      ),
      Promise.all(first.map((r) => (r.ok ? s.release(r.reservation) : false))),
    ]);
    expect(more.filter((r) => r.ok)).toHaveLength(20);
    const report = checkInvariants({ snapshot: await s.snapshot(), perUserLimit: 0 });
    expect(report.ok).toBe(true);
    expect(report.skus[0]).toMatchObject({ held: 20, available: 0 });
  });
});
