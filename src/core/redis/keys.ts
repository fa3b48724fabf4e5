// Key names and the KEYS/ARGV of every script call, as pure functions so key order is
// unit-tested. Every key of a SKU carries the hash tag {<namespace>:<sku>}: a script or
// MULTI only ever touches one SKU, so the Redis strategies run on Redis Cluster unchanged.

export interface SkuKeys {
  /** Units on sale as an integer (lua, decr, queue, naive). */
  stock: string;
  /** Units on sale as one token per unit (list). */
  tokens: string;
  /** reservation id -> ledger entry. */
  ledger: string;
  /** Live holds, reservation id scored by expiresAt. */
  holds: string;
  /** idempotency key -> reservation id. */
  idem: string;
  /** user -> units held + bought, for the per-user limit. */
  users: string;
  /** initial stock and per-user limit, written by load(). */
  meta: string;
  /** queue: requests waiting for the SKU's one consumer. */
  stream: string;
}

/** Where a strategy keeps the units on sale; release and sweep put them back there. */
export type UnitStore = 'counter' | 'list';

// ':' would make one namespace a prefix of another in destroy()'s SCAN, braces would
// move the hash tag.
const BAD_NAMESPACE = /[:{}\s*?[\]\\]/;

export function checkNamespace(namespace: string): string {
  if (!namespace || BAD_NAMESPACE.test(namespace)) {
    throw new Error(`Redis namespace "${namespace}" must be non-empty without ':', braces, spaces or glob characters`);
  }
  return namespace;
}

export function skuKeys(namespace: string, sku: string): SkuKeys {
  const p = `fs:{${namespace}:${sku}}:`;
  return {
    stock: p + 'stock',
    tokens: p + 'tokens',
    ledger: p + 'ledger',
    holds: p + 'holds',
    idem: p + 'idem',
    users: p + 'users',
    meta: p + 'meta',
    stream: p + 'stream',
  };
}

/** The namespace's SKUs in load order (snapshot, sweep and the queue consumers start from it). */
export function skuListKey(namespace: string): string {
  return `fs:{${namespace}}:skus`;
}

/** queue: where the consumers push the answers for one strategy instance. */
export function replyKey(namespace: string, instance: string): string {
  return `fs:{${namespace}}:reply:${instance}`;
}

/** queue: where an instance moves the answers it is handling, so a dropped connection loses none (same hash tag as the reply list). */
export function processingKey(replyTo: string): string {
  return `${replyTo}:processing`;
}

/** What Redis Cluster hashes for `key`: the text inside its first non-empty {…}, else the whole key. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** SCAN pattern for every key of the namespace (SKU keys and namespace keys alike). */
export function namespacePattern(namespace: string): string {
  return `fs:{${checkNamespace(namespace)}[:}]*`;
}

export function unitsKey(k: SkuKeys, units: UnitStore): string {
  return units === 'list' ? k.tokens : k.stock;
}

// --- script calls -------------------------------------------------------------------

export interface ReserveArgs {
  id: string;
  qty: number;
  user: string;
  idempotencyKey: string;
  expiresAt: number;
  perUserLimit: number;
}

/** KEYS of reserveStock-4.lua. Built once per SKU: the keys never change. */
export function reserveStockKeys(k: SkuKeys): string[] {
  return [k.stock, k.ledger, k.holds, k.users];
}

/** ARGV of reserveStock-4.lua: the idempotency key is also the reservation id. */
export function reserveStockArgv(a: Omit<ReserveArgs, 'id'>): (string | number)[] {
  return [a.idempotencyKey, a.qty, a.user, a.expiresAt, a.perUserLimit];
}

/** KEYS and ARGV of confirmHold-2.lua. */
export function confirmHoldCall(k: SkuKeys, id: string, now: number): [string[], (string | number)[]] {
  return [
    [k.ledger, k.holds],
    [id, now],
  ];
}

/** KEYS of releaseHold-4.lua and expireHolds-4.lua alike: both give units back to the same places. */
function returnHoldsKeys(k: SkuKeys, units: UnitStore): string[] {
  return [unitsKey(k, units), k.ledger, k.holds, k.users];
}

/** KEYS and ARGV of releaseHold-4.lua. */
export function releaseHoldCall(k: SkuKeys, units: UnitStore, id: string): [string[], string[]] {
  return [returnHoldsKeys(k, units), [units, id]];
}

/** KEYS and ARGV of expireHolds-4.lua sweeping the holds due at `now`. */
export function sweepExpiredCall(
  k: SkuKeys,
  units: UnitStore,
  now: number,
  batch: number,
): [string[], (string | number)[]] {
  return [returnHoldsKeys(k, units), [units, now, batch]];
}

export interface ReferenceOptions {
  qty?: number;
  perUserLimit?: number;
  ttlMs?: number;
  /** Epoch ms the holds are stamped from; Date.now() by default. */
  now?: number;
}

/**
 * The arguments after `EVALSHA <sha>` that make redis-benchmark run the same reserve as the
 * `lua` strategy. redis-benchmark replaces `__rand_int__` with a random number (`-r N`), so
 * each call gets its own reservation id, user and idempotency key.
 */
export function reserveStockBenchmarkArgs(namespace: string, sku: string, o: ReferenceOptions = {}): string[] {
  const keys = reserveStockKeys(skuKeys(namespace, sku));
  const argv = reserveStockArgv({
    qty: o.qty ?? 1,
    user: 'u:__rand_int__',
    idempotencyKey: 'k:__rand_int__',
    expiresAt: (o.now ?? Date.now()) + (o.ttlMs ?? 600_000),
    perUserLimit: o.perUserLimit ?? 0,
  });
  return [String(keys.length), ...keys, ...argv.map(String)];
}
