// Key names and the KEYS/ARGV order of every script call, against what the scripts document.
import { describe, expect, it } from 'vitest';
import {
  checkNamespace,
  confirmHoldCall,
  namespacePattern,
  processingKey,
  releaseHoldCall,
  replyKey,
  reserveStockArgv,
  reserveStockBenchmarkArgs,
  reserveStockKeys,
  skuKeys,
  skuListKey,
  sweepExpiredCall,
} from '../../../../src/core/redis/keys.js';
import { luaScript } from '../../../../src/core/redis/scripts.js';

/** What Redis Cluster hashes: the text between the first '{' and the next '}'. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  return key.slice(open + 1, key.indexOf('}', open + 1));
}

describe('key names', () => {
  const k = skuKeys('run1', 'sku-9');

  it('puts every key of a SKU under one hash tag of namespace and SKU', () => {
    const all = Object.values(k);
    expect(new Set(all).size).toBe(all.length);
    for (const key of all) {
      expect(key.startsWith('fs:{run1:sku-9}:')).toBe(true);
      expect(hashTag(key)).toBe('run1:sku-9');
    }
  });

  it('keeps namespace-wide keys under the namespace alone', () => {
    expect(hashTag(skuListKey('run1'))).toBe('run1');
    expect(hashTag(replyKey('run1', 'inst'))).toBe('run1');
  });

  it.each(['a:b', 'a{b', 'a}b', 'a*b', 'a b', ''])('refuses the namespace %j', (bad) => {
    expect(() => checkNamespace(bad)).toThrow(/namespace/);
  });

  it('scans the namespace without matching a namespace it is a prefix of', () => {
    const pattern = namespacePattern('run1');
    expect(pattern).toBe('fs:{run1[:}]*');
    // the character class stops at the namespace's end: 'run12' does not match
    const re = new RegExp('^' + pattern.replace('{', '\\{').replace('*', '.*') + '$');
    expect(re.test(k.stock)).toBe(true);
    expect(re.test(skuListKey('run1'))).toBe(true);
    expect(re.test(skuKeys('run12', 'sku-9').stock)).toBe(false);
    expect(re.test(skuListKey('run12'))).toBe(false);
  });
});

describe('script calls', () => {
  const k = skuKeys('ns', 's');

  it('gives reserveStock KEYS in the order its header documents, as many as its file name says', () => {
    const keys = reserveStockKeys(k);
    expect(keys).toEqual([k.stock, k.ledger, k.holds, k.users]);
    expect(keys).toHaveLength(luaScript('reserveStock').numberOfKeys);
  });

  it('gives reserveStock ARGV as idempotency key (the reservation id), qty, user, expiresAt, limit', () => {
    expect(reserveStockArgv({ qty: 2, user: 'u', idempotencyKey: 'k', expiresAt: 99, perUserLimit: 4 })).toEqual([
      'k',
      2,
      'u',
      99,
      4,
    ]);
  });

  it('gives confirmHold the ledger then the holds', () => {
    const [keys, argv] = confirmHoldCall(k, 'r1', 5);
    expect(keys).toEqual([k.ledger, k.holds]);
    expect(keys).toHaveLength(luaScript('confirmHold').numberOfKeys);
    expect(argv).toEqual(['r1', 5]);
  });

  it.each([
    ['counter', 'stock'],
    ['list', 'tokens'],
  ] as const)(
    'gives releaseHold and expireHolds the %s store first, for release and for sweep alike',
    (units, first) => {
      const [rk, ra] = releaseHoldCall(k, units, 'r1');
      expect(rk).toEqual([k[first], k.ledger, k.holds, k.users]);
      expect(rk).toHaveLength(luaScript('releaseHold').numberOfKeys);
      expect(ra).toEqual([units, 'r1']);
      const [sk, sa] = sweepExpiredCall(k, units, 7, 500);
      expect(sk).toEqual(rk);
      expect(sk).toHaveLength(luaScript('expireHolds').numberOfKeys);
      expect(sa).toEqual([units, 7, 500]);
    },
  );

  it("puts the reply processing list under the reply list's hash tag", () => {
    const reply = replyKey('run1', 'inst');
    expect(hashTag(processingKey(reply))).toBe('run1');
    expect(processingKey(reply)).not.toBe(reply);
  });

  it('builds the redis-benchmark arguments of the same reserve, unique per call', () => {
    const args = reserveStockBenchmarkArgs('ns', 's', { now: 1_000, ttlMs: 60_000, qty: 1, perUserLimit: 0 });
    expect(args).toEqual(['4', ...reserveStockKeys(k), 'k:__rand_int__', '1', 'u:__rand_int__', '61000', '0']);
  });
});
