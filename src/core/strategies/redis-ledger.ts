// What the Redis strategies share: the ledger they record every grant in, and every
// operation but reserve (confirm, release, sweep and snapshot go through the same Lua
// scripts whichever way the units were taken). The plain-command reserve that `list` and
// `decr` share is in plain-command.ts.
import { randomBytes } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import { ServiceError } from '../errors.js';
import {
  connectRedis,
  connectRedisCluster,
  isCluster,
  REDIS_SUGGESTION,
  type RedisConnection,
} from '../redis/client.js';
import {
  checkNamespace,
  confirmHoldCall,
  hashTag,
  namespacePattern,
  releaseHoldCall,
  skuKeys,
  skuListKey,
  sweepExpiredCall,
  type SkuKeys,
  type UnitStore,
} from '../redis/keys.js';
import { defineScripts, ScriptCode, scriptError, type ScriptedRedis } from '../redis/scripts.js';
import type {
  LedgerEntry,
  LoadOptions,
  Reservation,
  ReservationState,
  ReserveRequest,
  ReserveResult,
  SkuStock,
  Snapshot,
  StoreLoss,
  Strategy,
  StrategyContext,
  StrategyName,
} from './types.js';

// --- ledger entry: <state><qty>:<expiresAt>:<user byte length>:<user><idempotency key> ---
// The Lua scripts read and rewrite the same format (src/lua/includes/ledger-entry.lua); the
// state is the first character so a state change rewrites one character, and the user's
// length lets users hold any byte.

const STATE_CHAR: Record<ReservationState, string> = { held: 'h', sold: 's', released: 'r', expired: 'e' };
const CHAR_STATE: Record<string, ReservationState | undefined> = { h: 'held', s: 'sold', r: 'released', e: 'expired' };
const HEADER = /^([hsre])(\d+):(\d+):(\d+):/;

export function encodeEntry(
  state: ReservationState,
  qty: number,
  expiresAt: number,
  user: string,
  idempotencyKey: string,
): string {
  return `${STATE_CHAR[state]}${qty}:${expiresAt}:${Buffer.byteLength(user)}:${user}${idempotencyKey}`;
}

export function decodeEntry(id: string, sku: string, entry: string): LedgerEntry {
  const m = HEADER.exec(entry);
  if (!m) throw new Error(`ledger entry ${id} of ${sku} is malformed: ${JSON.stringify(entry)}`);
  const tail = entry.slice(m[0].length);
  const userBytes = Number(m[4]);
  let user = tail.slice(0, userBytes);
  let idempotencyKey = tail.slice(userBytes);
  // The length is in bytes (Lua's #), so a non-ASCII user is cut from the UTF-8 bytes.
  if (Buffer.byteLength(tail) !== tail.length) {
    const bytes = Buffer.from(tail);
    user = bytes.subarray(0, userBytes).toString();
    idempotencyKey = bytes.subarray(userBytes).toString();
  }
  return {
    id,
    sku,
    qty: Number(m[2]),
    user,
    idempotencyKey,
    state: CHAR_STATE[m[1]]!,
    expiresAt: Number(m[3]),
  };
}

export function reservationOf(e: LedgerEntry): Reservation {
  return { id: e.id, sku: e.sku, qty: e.qty, user: e.user, idempotencyKey: e.idempotencyKey, expiresAt: e.expiresAt };
}

/** The answer to a reserve whose idempotency key already produced reservation `id` (ledger entry `entry`). */
export function duplicateResult(id: string, sku: string, entry: string): ReserveResult {
  return { ok: true, reservation: reservationOf(decodeEntry(id, sku, entry)), duplicate: true, retries: 0 };
}

/** What an instance keeps per SKU after the first call, so a reserve needs no lookup. */
export interface SkuState {
  sku: string;
  keys: SkuKeys;
  initial: number;
  perUserLimit: number;
}

const SWEEP_BATCH = 500;
const SCAN_COUNT = 1_000;
const LOAD_CHUNK = 10_000;

/** Queues pushing `n` tokens onto the list strategy's dispenser, in slices to keep commands small. */
function pushTokens(m: ChainableCommander, key: string, n: number): void {
  for (let done = 0; done < n; done += LOAD_CHUNK)
    m.rpush(key, ...new Array<string>(Math.min(LOAD_CHUNK, n - done)).fill('1'));
}

/** Runs a MULTI and throws the first command's error (EXEC answers a failed command in its reply). */
async function execOrThrow(m: ChainableCommander, what: string): Promise<void> {
  const replies = await m.exec();
  const failed = replies === null ? new Error('EXEC aborted') : replies.find(([err]) => err)?.[0];
  if (failed) throw new Error(`${what} failed: ${failed.message}`);
}

/**
 * Unlinks the keys matching `pattern` on one server. On a cluster node one UNLINK may only
 * name keys of one slot, so keys go in groups by hash tag (same tag, same slot), pipelined.
 */
async function unlinkMatching(node: Redis, pattern: string, bySlot: boolean): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
    if (keys.length && !bySlot) await node.unlink(...keys);
    else if (keys.length) {
      const groups = new Map<string, string[]>();
      for (const key of keys) {
        const tag = hashTag(key);
        const group = groups.get(tag);
        if (group) group.push(key);
        else groups.set(tag, [key]);
      }
      const p = node.pipeline();
      for (const group of groups.values()) p.unlink(...group);
      const failed = (await p.exec())?.find(([err]) => err)?.[0];
      if (failed) throw failed;
    }
    cursor = next;
  } while (cursor !== '0');
}

export abstract class RedisLedgerStrategy implements Strategy {
  abstract readonly name: StrategyName;
  readonly store = 'redis' as const;
  protected readonly namespace: string;
  /** Makes reservation ids unique across instances without a round trip. */
  protected readonly instanceId = randomBytes(6).toString('base64url');
  protected redis?: ScriptedRedis;
  private connecting?: Promise<ScriptedRedis>;
  private seq = 0;
  private readonly skus = new Map<string, SkuState>();

  constructor(
    protected readonly ctx: StrategyContext,
    /** Where units on sale live; release and sweep put units back there. */
    protected readonly units: UnitStore,
  ) {
    this.namespace = checkNamespace(ctx.namespace);
  }

  async connect(skus: string[]): Promise<void> {
    await this.client();
    await Promise.all(skus.map((sku) => this.sku(sku)));
  }

  /**
   * The instance's shared connection, opened on first use. No ioredis auto-pipelining unless
   * asked (ctx.autoPipelining, the sale engine): measured
   * at concurrency 16-32 on a 2-core machine it halved lua's rate (and a bare EVALSHA loop's:
   * 138k/s without, 66k/s with, one thread) and cost list and queue 20-30%.
   */
  protected client(): Promise<ScriptedRedis> {
    if (this.redis) return Promise.resolve(this.redis);
    this.connecting ??= this.open('main', { enableAutoPipelining: this.ctx.autoPipelining ?? false }).then(
      (r) => (this.redis = defineScripts(r)),
    );
    return this.connecting;
  }

  /**
   * A further connection, e.g. for blocking commands that must not stall the shared one. It is
   * named fs:<namespace>:<strategy>:<role> (CLIENT LIST), so a person or a test can find it;
   * the namespace is checked and a role is a fixed word, so the name never holds a space.
   */
  protected open(role: string, options: { enableAutoPipelining?: boolean } = {}): Promise<RedisConnection> {
    const connectionName = `fs:${this.namespace}:${this.name}:${role}`;
    if (this.ctx.redisCluster?.length)
      return connectRedisCluster(this.ctx.redisCluster, `strategy ${this.name}`, { ...options, connectionName });
    if (!this.ctx.redisUrl) {
      return Promise.reject(
        new ServiceError('redis', `strategy ${this.name} needs Redis and no Redis URL was given`, REDIS_SUGGESTION),
      );
    }
    return connectRedis(this.ctx.redisUrl, `strategy ${this.name}`, { ...options, connectionName });
  }

  protected nextId(): string {
    return `${this.instanceId}.${++this.seq}`;
  }

  /** The SKU's state if this instance has seen it: lets the hot path skip an await. */
  protected known(sku: string): SkuState | undefined {
    return this.skus.get(sku);
  }

  protected async sku(sku: string): Promise<SkuState> {
    const known = this.skus.get(sku);
    if (known) return known;
    const r = await this.client();
    const keys = skuKeys(this.namespace, sku);
    const [initial, limit] = await r.hmget(keys.meta, 'initial', 'limit');
    if (initial === null) throw scriptError(ScriptCode.UnknownSku, `${this.name} reserve of ${sku}`);
    const state = { sku, keys, initial: Number(initial), perUserLimit: Number(limit) };
    this.skus.set(sku, state);
    return state;
  }

  protected async skuNames(): Promise<string[]> {
    return (await this.client()).lrange(skuListKey(this.namespace), 0, -1);
  }

  async load(stock: SkuStock[], options: LoadOptions): Promise<void> {
    await this.destroy();
    const r = await this.client();
    for (const { sku, stock: n } of stock) {
      const k = skuKeys(this.namespace, sku);
      const p = r.multi();
      p.hset(k.meta, 'initial', n, 'limit', options.perUserLimit);
      if (this.units === 'counter') p.set(k.stock, n);
      // The list strategy's dispenser: one token per unit.
      else pushTokens(p, k.tokens, n);
      await p.exec();
    }
    // The SKU list has the namespace's hash tag, not a SKU's, so it cannot share a MULTI with
    // the SKU keys on a cluster. Written last: a SKU is listed only once its keys exist.
    const names = stock.map((s) => s.sku);
    for (let i = 0; i < names.length; i += LOAD_CHUNK)
      await r.rpush(skuListKey(this.namespace), ...names.slice(i, i + LOAD_CHUNK));
  }

  abstract reserve(req: ReserveRequest): Promise<ReserveResult>;

  // --- a store that lost its data (docs/design.md#a-store-that-lost-its-data) ---

  async lostKeys(skus: string[]): Promise<StoreLoss> {
    const r = await this.client();
    const [listed, ...metas] = await Promise.all([
      r.exists(skuListKey(this.namespace)),
      ...skus.map((sku) => r.exists(skuKeys(this.namespace, sku).meta)),
    ]);
    return { skus: skus.filter((_, i) => metas[i] === 0), list: listed === 0 };
  }

  async rebuild(
    stock: SkuStock[],
    options: LoadOptions,
    ledgers: Map<string, LedgerEntry[]>,
    list: boolean,
  ): Promise<void> {
    const r = await this.client();
    for (const { sku, stock: initial } of stock) {
      const ledger = ledgers.get(sku);
      if (!ledger) continue;
      const k = skuKeys(this.namespace, sku);
      let taken = 0;
      const users = new Map<string, number>();
      const m = r.multi();
      // Whatever a reserve wrote to the empty store since it came back goes first.
      m.unlink(k.stock, k.tokens, k.ledger, k.holds, k.idem, k.users, k.meta, k.stream);
      for (let i = 0; i < ledger.length; i += LOAD_CHUNK) {
        const slice = ledger.slice(i, i + LOAD_CHUNK);
        m.hset(
          k.ledger,
          ...slice.flatMap((e) => [e.id, encodeEntry(e.state, e.qty, e.expiresAt, e.user, e.idempotencyKey)]),
        );
        const held = slice.filter((e) => e.state === 'held');
        if (held.length) m.zadd(k.holds, ...held.flatMap((e) => [e.expiresAt, e.id]));
        // `lua` needs no index: its reservation id is the idempotency key.
        const indexed = slice.filter((e) => e.id !== e.idempotencyKey);
        if (indexed.length) m.hset(k.idem, ...indexed.flatMap((e) => [e.idempotencyKey, e.id]));
        for (const e of slice) {
          if (e.state !== 'held' && e.state !== 'sold') continue;
          taken += e.qty;
          users.set(e.user, (users.get(e.user) ?? 0) + e.qty);
        }
      }
      if (users.size) m.hset(k.users, ...[...users].flat());
      const left = Math.max(0, initial - taken);
      if (this.units === 'counter') m.set(k.stock, left);
      else pushTokens(m, k.tokens, left);
      m.hset(k.meta, 'initial', initial, 'limit', options.perUserLimit);
      await execOrThrow(m, `${this.name}: rebuild of ${sku}`);
      await this.rebuilt(r, k);
    }
    if (list) {
      const names = stock.map((s) => s.sku);
      const m = r.multi().unlink(skuListKey(this.namespace));
      for (let i = 0; i < names.length; i += LOAD_CHUNK)
        m.rpush(skuListKey(this.namespace), ...names.slice(i, i + LOAD_CHUNK));
      await execOrThrow(m, `${this.name}: rebuild of the SKU list`);
    }
  }

  /** What a strategy needs beside its keys once a SKU is written back (the queue's consumer group). */
  protected async rebuilt(_r: RedisConnection, _k: SkuKeys): Promise<void> {}

  async restoreEnded(entries: LedgerEntry[]): Promise<number> {
    const r = await this.client();
    const added = await Promise.all(
      entries.map(async (e) => {
        const k = skuKeys(this.namespace, e.sku);
        const state = e.state === 'held' || e.state === 'sold' ? 'expired' : e.state;
        const n = await r.hsetnx(k.ledger, e.id, encodeEntry(state, e.qty, e.expiresAt, e.user, e.idempotencyKey));
        if (n === 1 && e.id !== e.idempotencyKey) await r.hsetnx(k.idem, e.idempotencyKey, e.id);
        return n === 1 ? 1 : 0;
      }),
    );
    return added.reduce<number>((a, b) => a + b, 0);
  }

  async confirm(reservation: Reservation, now = Date.now()): Promise<boolean> {
    const r = await this.client();
    const [keys, argv] = confirmHoldCall(skuKeys(this.namespace, reservation.sku), reservation.id, now);
    const code = await r.confirmHold(keys, argv);
    if (code === 1) return true;
    if (code === ScriptCode.UnknownReservation || code === ScriptCode.NotHeld || code === ScriptCode.Expired)
      return false;
    throw scriptError(code, 'confirmHold');
  }

  async release(reservation: Reservation): Promise<boolean> {
    const r = await this.client();
    const [keys, argv] = releaseHoldCall(skuKeys(this.namespace, reservation.sku), this.units, reservation.id);
    const code = await r.releaseHold(keys, argv);
    if (code > 0) return true;
    if (code === ScriptCode.UnknownReservation || code === ScriptCode.NotHeld) return false;
    throw scriptError(code, 'releaseHold');
  }

  async holdState(reservation: Reservation): Promise<ReservationState | undefined> {
    const r = await this.client();
    const entry = await r.hget(skuKeys(this.namespace, reservation.sku).ledger, reservation.id);
    return entry === null ? undefined : decodeEntry(reservation.id, reservation.sku, entry).state;
  }

  async sweepExpired(now: number): Promise<number> {
    const r = await this.client();
    let units = 0;
    for (const sku of await this.skuNames()) {
      const k = skuKeys(this.namespace, sku);
      for (;;) {
        const [keys, argv] = sweepExpiredCall(k, this.units, now, SWEEP_BATCH);
        const [returned, looked] = await r.expireHolds(keys, argv);
        units += returned;
        if (looked < SWEEP_BATCH) break;
      }
    }
    return units;
  }

  async snapshot(): Promise<Snapshot> {
    const r = await this.client();
    const snap: Snapshot = { skus: [], ledger: [] };
    for (const sku of await this.skuNames()) {
      const k = skuKeys(this.namespace, sku);
      const [initial, available] = await Promise.all([
        r.hget(k.meta, 'initial'),
        this.units === 'list' ? r.llen(k.tokens) : r.get(k.stock),
      ]);
      snap.skus.push({ sku, initial: Number(initial), available: Number(available ?? 0) });
      let cursor = '0';
      do {
        const [next, flat] = await r.hscan(k.ledger, cursor, 'COUNT', SCAN_COUNT);
        for (let i = 0; i < flat.length; i += 2) snap.ledger.push(decodeEntry(flat[i], sku, flat[i + 1]));
        cursor = next;
      } while (cursor !== '0');
    }
    return snap;
  }

  async available(sku: string): Promise<number> {
    const r = await this.client();
    const k = skuKeys(this.namespace, sku);
    return Number((this.units === 'list' ? await r.llen(k.tokens) : await r.get(k.stock)) ?? 0);
  }

  async destroy(): Promise<void> {
    const r = await this.client();
    // SCAN sees one server's keys: on a cluster every master is scanned on its own.
    if (isCluster(r))
      await Promise.all(r.nodes('master').map((node) => unlinkMatching(node, namespacePattern(this.namespace), true)));
    else await unlinkMatching(r, namespacePattern(this.namespace), false);
    this.skus.clear();
  }

  async close(): Promise<void> {
    const r = this.redis ?? (await this.connecting?.catch(() => undefined));
    this.redis = undefined;
    this.connecting = undefined;
    if (r) await r.quit().catch(() => r.disconnect());
  }

  /** A reservation the idempotency key already produced, or in_progress while its first request is in flight. */
  protected async duplicateOf(s: SkuState, idempotencyKey: string): Promise<ReserveResult> {
    const r = await this.client();
    const id = await r.hget(s.keys.idem, idempotencyKey);
    const entry = id === null ? null : await r.hget(s.keys.ledger, id);
    if (id === null || entry === null) return { ok: false, reason: 'in_progress', retries: 0 };
    return duplicateResult(id, s.sku, entry);
  }

  /**
   * Writes a granted hold: ledger entry and expiry together, so a sweep never sees one without
   * the other. Throws when either was not written (EXEC answers a failed command in its reply).
   */
  protected async recordHold(r: RedisConnection, s: SkuState, res: Reservation): Promise<void> {
    const replies = await r
      .multi()
      .hset(s.keys.ledger, res.id, encodeEntry('held', res.qty, res.expiresAt, res.user, res.idempotencyKey))
      .zadd(s.keys.holds, res.expiresAt, res.id)
      .exec();
    const failed = replies === null ? new Error('EXEC aborted') : replies.find(([err]) => err)?.[0];
    if (failed) throw new Error(`${this.name}: hold ${res.id} of ${res.sku} was not recorded: ${failed.message}`);
  }

  /** Queues putting `qty` units back where this strategy keeps them. */
  protected giveBack(m: ChainableCommander, s: SkuState, qty: number): void {
    if (this.units === 'counter') m.incrby(s.keys.stock, qty);
    else pushTokens(m, s.keys.tokens, qty);
  }
}
