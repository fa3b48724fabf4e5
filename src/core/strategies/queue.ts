// `queue`: strict serialization. A reserve is a message on its SKU's stream; exactly one
// consumer per SKU decides, in arrival order, and answers on the caller's reply list. No
// two decisions for a SKU ever race, so the decision itself needs no atomic primitive.
// Past 400 lines on purpose: the caller's side and the per-SKU decider share the message format
// and the ordering argument, and are kept in one reading.
import type { Redis } from 'ioredis';
import { connectNodeOf, isCluster, type RedisConnection } from '../redis/client.js';
import { GroupWorker } from '../redis/group-worker.js';
import { BlockingConnection, BlockingReader, Waiters } from '../redis/request-reply.js';
import { processingKey, replyKey, skuKeys, type SkuKeys } from '../redis/keys.js';
import { duplicateResult, encodeEntry, RedisLedgerStrategy } from './redis-ledger.js';
import type { LoadOptions, ReserveRequest, ReserveResult, SkuStock, StrategyContext } from './types.js';

export const CONSUMER_GROUP = 'flashsale';
const BATCH = 100;
const BLOCK_MS = 1_000;
/** How long a request may wait in the stream; the consumer drops it unanswered after that. */
export const REPLY_TIMEOUT_MS = 10_000;
/** The caller waits this much longer than the consumer's cut-off, so it never gives up on a request still being decided. */
const REPLY_GRACE_MS = 2_000;
/** Answers nobody collected (the caller died) disappear with their list. */
const REPLY_TTL_MS = 60_000;
/** How long the reply reader waits before reading again after its connection failed. */
const REREAD_MS = 200;
const SEP = '\x1f';

/** A reserve request as it travels on the stream. */
export interface QueueMessage {
  msgId: string;
  id: string;
  qty: number;
  expiresAt: number;
  /** Wall-clock ms after which the caller has given up. */
  deadline: number;
  replyTo: string;
  user: string;
  key: string;
}

/** XADD field/value pairs; parseMessage reads them back by position. */
export function messageFields(m: Omit<QueueMessage, 'msgId'>): (string | number)[] {
  return ['i', m.id, 'q', m.qty, 'e', m.expiresAt, 'd', m.deadline, 'r', m.replyTo, 'u', m.user, 'k', m.key];
}

export function parseMessage(msgId: string, f: string[]): QueueMessage {
  return {
    msgId,
    id: f[1],
    qty: Number(f[3]),
    expiresAt: Number(f[5]),
    deadline: Number(f[7]),
    replyTo: f[9],
    user: f[11],
    key: f[13],
  };
}

export interface BatchState {
  stock: number;
  perUserLimit: number;
  /** Wall clock, compared with each message's deadline. */
  now: number;
  /** Idempotency key -> reservation id already in the store. */
  stored: Map<string, string>;
  /** User -> units held + bought in the store (only read when there is a limit). */
  users: Map<string, number>;
}

export type Decision =
  | { kind: 'grant'; msg: QueueMessage }
  /** A crashed consumer wrote this very message's grant but never acknowledged it. */
  | { kind: 'applied'; msg: QueueMessage }
  | { kind: 'duplicate'; msg: QueueMessage; of: string; earlier?: QueueMessage }
  | { kind: 'refuse'; msg: QueueMessage; reason: 'sold_out' | 'limit_exceeded' }
  | { kind: 'late'; msg: QueueMessage };

/** The consumer's decisions for one batch, in stream order. Mutates `st` as units are granted. */
export function decideBatch(msgs: QueueMessage[], st: BatchState): Decision[] {
  const granted = new Map<string, QueueMessage>();
  return msgs.map((msg): Decision => {
    const earlier = granted.get(msg.key);
    if (earlier) return { kind: 'duplicate', msg, of: earlier.id, earlier };
    const stored = st.stored.get(msg.key);
    if (stored === msg.id) return { kind: 'applied', msg };
    if (stored !== undefined) return { kind: 'duplicate', msg, of: stored };
    if (msg.deadline < st.now) return { kind: 'late', msg };
    // The per-user limit before the stock, as in reserveStock-4.lua (docs/design.md#order-of-checks).
    const mine = st.users.get(msg.user) ?? 0;
    if (st.perUserLimit > 0 && mine + msg.qty > st.perUserLimit)
      return { kind: 'refuse', msg, reason: 'limit_exceeded' };
    if (msg.qty > st.stock) return { kind: 'refuse', msg, reason: 'sold_out' };
    st.stock -= msg.qty;
    st.users.set(msg.user, mine + msg.qty);
    granted.set(msg.key, msg);
    return { kind: 'grant', msg };
  });
}

// Reply lines: <request id> SEP <verdict> [SEP <reservation id> SEP <ledger entry>]
const GRANTED = 'g';
const DUPLICATE = 'd';
const SOLD_OUT = 'x';
const LIMIT = 'l';

export class QueueStrategy extends RedisLedgerStrategy {
  readonly name = 'queue' as const;
  private readonly waiters = new Waiters<ReserveResult, { req: ReserveRequest; expiresAt: number }>();
  private readonly replyTo: string;
  private replies?: BlockingReader;
  private closed = false;

  constructor(ctx: StrategyContext) {
    super(ctx, 'counter');
    this.replyTo = replyKey(this.namespace, this.instanceId);
  }

  override async load(stock: SkuStock[], options: LoadOptions): Promise<void> {
    await super.load(stock, options);
    const r = await this.client();
    await Promise.all(
      stock.map(({ sku }) => r.xgroup('CREATE', skuKeys(this.namespace, sku).stream, CONSUMER_GROUP, '0', 'MKSTREAM')),
    );
  }

  /** A SKU written back after its store lost it needs its consumer group again; what was queued since is decided from the start. */
  protected override async rebuilt(r: RedisConnection, k: SkuKeys): Promise<void> {
    await r.xgroup('CREATE', k.stream, CONSUMER_GROUP, '0', 'MKSTREAM').catch((err: Error) => {
      if (!err.message.includes('BUSYGROUP')) throw err;
    });
  }

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    const r = this.redis ?? (await this.client());
    const s = this.known(req.sku) ?? (await this.sku(req.sku));
    this.readReplies();
    const id = this.nextId();
    const expiresAt = (req.now ?? Date.now()) + req.ttlMs;
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    const answer = this.waiters.wait(id, REPLY_TIMEOUT_MS + REPLY_GRACE_MS, { req, expiresAt }, ({ reject }) =>
      reject(
        new Error(
          `queue: no answer for ${req.sku} (key ${req.idempotencyKey}) within ${(REPLY_TIMEOUT_MS + REPLY_GRACE_MS) / 1000} s; ` +
            'is startBackground() running? Retrying with the same idempotency key is safe.',
        ),
      ),
    );
    try {
      await r.xadd(
        s.keys.stream,
        '*',
        ...messageFields({
          id,
          qty: req.qty,
          expiresAt,
          deadline,
          replyTo: this.replyTo,
          user: req.user,
          key: req.idempotencyKey,
        }),
      );
    } catch (err) {
      this.waiters.cancel(id);
      throw err;
    }
    return answer;
  }

  override async connect(skus: string[]): Promise<void> {
    await super.connect(skus);
    this.readReplies();
  }

  /** The reply reader's last connection error, kept for a person debugging; it reads on regardless. */
  get replyError(): Error | undefined {
    return this.replies?.lastError;
  }

  /** Starts the one consumer of every SKU of the namespace. */
  async startBackground(): Promise<() => Promise<void>> {
    const consumers = await Promise.all(
      (await this.skuNames()).map(async (sku) => {
        const s = await this.sku(sku);
        const reader = this.blocking('consumer-read', s.keys.stream);
        const [writer] = await Promise.all([
          this.open('consumer-write', { enableAutoPipelining: false }),
          reader.get(),
        ]);
        return new SkuConsumer(s.keys, s.perUserLimit, `${this.instanceId}:${sku}`, reader, writer);
      }),
    );
    return async () => {
      await Promise.all(consumers.map((c) => c.stop()));
    };
  }

  override async close(): Promise<void> {
    this.closed = true;
    await this.replies?.stop();
    const closed = new Error('queue: strategy closed while waiting for an answer');
    this.waiters.settleAll((w) => w.reject(closed));
    await this.redis?.del(processingKey(this.replyTo)).catch(() => undefined);
    await super.close();
  }

  /**
   * One blocking connection per instance collects every answer, so waiting costs no connection
   * per request. Answers are moved, not popped, into a processing list that is emptied only once
   * they were handled: when the connection drops, the reader reconnects, handles what the
   * processing list holds (answers whose reply was lost on the way) and reads on. No waiter is
   * failed for it; each one's own timer decides whether its answer came too late.
   */
  private readReplies(): void {
    if (this.replies || this.closed) return;
    const processing = processingKey(this.replyTo);
    let recovered = false;
    this.replies = new BlockingReader({
      conn: this.blocking('replies', this.replyTo),
      rereadMs: REREAD_MS,
      onError: () => (recovered = false),
      read: async (conn) => {
        if (!recovered) {
          // Some of these may have been handled already: a waiter is answered once, then forgotten.
          for (const line of await conn.lrange(processing, 0, -1)) this.answer(line);
          recovered = true;
        }
        // The previous batch is handled: drop it and take everything waiting, in one atomic step.
        const replies = await conn
          .multi()
          .del(processing)
          .rename(this.replyTo, processing)
          .lrange(processing, 0, -1)
          .exec();
        let lines = (replies?.[2]?.[1] ?? []) as string[];
        if (lines.length === 0) {
          const line = await conn.blmove(this.replyTo, processing, 'LEFT', 'RIGHT', BLOCK_MS / 1000);
          lines = line === null ? [] : [line];
        }
        for (const line of lines) this.answer(line);
      },
    });
  }

  /**
   * A connection for blocking reads of `key`: on a cluster one of its own to the master of the
   * key's slot (a blocking read on the cluster connection would stall that node's other commands).
   */
  private blocking(role: string, key: string): BlockingConnection {
    return new BlockingConnection(async () => {
      const main = await this.client();
      if (!isCluster(main)) return (await this.open(role, { enableAutoPipelining: false })) as Redis;
      return connectNodeOf(main, key, `strategy ${this.name}`, {
        connectionName: `fs:${this.namespace}:${this.name}:${role}`,
        enableAutoPipelining: false,
      });
    });
  }

  private answer(line: string): void {
    const a = line.indexOf(SEP);
    const id = line.slice(0, a);
    const w = this.waiters.take(id);
    if (!w) return; // answered already, or the caller gave up
    const { req, expiresAt } = w.context;
    switch (line.charAt(a + 1)) {
      case GRANTED: {
        const reservation = {
          id,
          sku: req.sku,
          qty: req.qty,
          user: req.user,
          idempotencyKey: req.idempotencyKey,
          expiresAt,
        };
        return w.resolve({ ok: true, reservation, duplicate: false, retries: 0 });
      }
      case DUPLICATE: {
        const b = line.indexOf(SEP, a + 3);
        try {
          return w.resolve(duplicateResult(line.slice(a + 3, b), req.sku, line.slice(b + 1)));
        } catch (err) {
          return w.reject(err as Error);
        }
      }
      case SOLD_OUT:
        return w.resolve({ ok: false, reason: 'sold_out', retries: 0 });
      case LIMIT:
        return w.resolve({ ok: false, reason: 'limit_exceeded', retries: 0 });
      default:
        return w.reject(new Error(`queue: malformed answer ${JSON.stringify(line)}`));
    }
  }
}

/**
 * The one consumer of a SKU's stream. It reads on one connection (blocking) and decides on
 * another, where it WATCHes the stock: release and sweep add units behind its back, and a
 * second consumer started by mistake must not grant the same units; either aborts the
 * batch's EXEC, and the batch is decided again from fresh reads.
 */
class SkuConsumer extends GroupWorker {
  // What a dead consumer read but never acknowledged comes first. Any consumer but this
  // one is dead by design (one per SKU), so nothing has to sit idle before it is taken.
  private cursor = '0-0';
  // After a failed batch, re-read this consumer's own unacknowledged messages ('0') before new ones ('>').
  private from = '>';

  constructor(
    private readonly keys: SkuKeys,
    private readonly perUserLimit: number,
    name: string,
    reader: BlockingConnection,
    private readonly writer: RedisConnection,
  ) {
    super(reader, keys.stream, CONSUMER_GROUP, name, 100);
    this.start();
  }

  async stop(): Promise<void> {
    // Only an idle read is cut short: a batch being applied finishes first.
    await this.stopLoop();
    this.reader.disconnect();
    await this.writer.quit().catch(() => this.writer.disconnect());
  }

  protected override async step(conn: Redis): Promise<void> {
    if (this.cursor !== 'done') {
      const [next, entries] = await this.autoclaim(conn, 0, this.cursor, BATCH);
      if (entries.length) await this.apply(entries as [string, string[]][]);
      this.cursor = next === '0-0' ? 'done' : next;
      return;
    }
    const entries = await this.readGroup(conn, BATCH, BLOCK_MS, this.from);
    if (this.from === '0' && entries.length === 0) this.from = '>';
    if (entries.length) await this.apply(entries as [string, string[]][]);
  }

  protected override failed(): void {
    this.from = '0';
  }

  private async apply(entries: [string, string[]][]): Promise<void> {
    const k = this.keys;
    const w = this.writer;
    const msgs = entries.map(([msgId, f]) => parseMessage(msgId, f));
    const idemKeys = [...new Set(msgs.map((m) => m.key))];
    const users = this.perUserLimit > 0 ? [...new Set(msgs.map((m) => m.user))] : [];
    let decisions: Decision[];
    for (;;) {
      await w.watch(k.stock);
      const p = w
        .pipeline()
        .get(k.stock)
        .hmget(k.idem, ...idemKeys);
      if (users.length) p.hmget(k.users, ...users);
      const [stock, stored, units] = unwrap(await p.exec()) as [
        string | null,
        (string | null)[],
        (string | null)[] | undefined,
      ];
      const st: BatchState = {
        stock: Number(stock ?? 0),
        perUserLimit: this.perUserLimit,
        now: Date.now(),
        stored: new Map(),
        users: new Map(),
      };
      idemKeys.forEach((key, i) => stored[i] !== null && st.stored.set(key, stored[i]!));
      users.forEach((u, i) => st.users.set(u, Number(units?.[i] ?? 0)));
      decisions = decideBatch(msgs, st);
      const grants = decisions.filter((d) => d.kind === 'grant').map((d) => d.msg);
      if (grants.length === 0) {
        await w.unwatch();
        break;
      }
      const m = w.multi().decrby(
        k.stock,
        grants.reduce((n, g) => n + g.qty, 0),
      );
      m.hset(k.ledger, ...grants.flatMap((g) => [g.id, encodeEntry('held', g.qty, g.expiresAt, g.user, g.key)]));
      m.zadd(k.holds, ...grants.flatMap((g) => [g.expiresAt, g.id]));
      m.hset(k.idem, ...grants.flatMap((g) => [g.key, g.id]));
      const perUser = new Map<string, number>();
      for (const g of grants) perUser.set(g.user, (perUser.get(g.user) ?? 0) + g.qty);
      for (const [u, n] of perUser) m.hincrby(k.users, u, n);
      if ((await m.exec()) !== null) break;
    }
    await this.answer(decisions);
  }

  /** Answers after the state is written, acknowledges after answering: a crash in between re-decides, and idempotency makes that harmless. */
  private async answer(decisions: Decision[]): Promise<void> {
    const k = this.keys;
    const w = this.writer;
    const olderIds = [...new Set(decisions.flatMap((d) => (d.kind === 'duplicate' && !d.earlier ? [d.of] : [])))];
    const olderEntries = new Map<string, string | null>();
    if (olderIds.length) (await w.hmget(k.ledger, ...olderIds)).forEach((e, i) => olderEntries.set(olderIds[i], e));
    const lines = new Map<string, string[]>();
    for (const d of decisions) {
      let line: string;
      if (d.kind === 'grant' || d.kind === 'applied') line = d.msg.id + SEP + GRANTED;
      else if (d.kind === 'refuse') line = d.msg.id + SEP + (d.reason === 'sold_out' ? SOLD_OUT : LIMIT);
      else if (d.kind === 'duplicate') {
        const e = d.earlier;
        const entry = e ? encodeEntry('held', e.qty, e.expiresAt, e.user, e.key) : olderEntries.get(d.of);
        if (!entry) continue; // cannot happen: ledger and idempotency hash are written together
        line = d.msg.id + SEP + DUPLICATE + SEP + d.of + SEP + entry;
      } else continue; // late: its caller has given up
      const list = lines.get(d.msg.replyTo);
      if (list) list.push(line);
      else lines.set(d.msg.replyTo, [line]);
    }
    const p = w.pipeline();
    for (const [to, ls] of lines) p.rpush(to, ...ls).pexpire(to, REPLY_TTL_MS);
    // On a cluster the reply lists (the namespace's hash tag) and the stream (the SKU's) may
    // live on different nodes, and one pipeline may only go to one: answer, then acknowledge.
    const ack = isCluster(w) ? w.pipeline() : p;
    if (ack !== p) unwrap(await p.exec());
    const ids = decisions.map((d) => d.msg.msgId);
    // Acknowledged messages are deleted too: the stream only ever holds undecided requests.
    ack.xack(k.stream, CONSUMER_GROUP, ...ids).xdel(k.stream, ...ids);
    unwrap(await ack.exec());
  }
}

function unwrap(results: [Error | null, unknown][] | null): unknown[] {
  if (!results) throw new Error('queue: pipeline returned nothing');
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
