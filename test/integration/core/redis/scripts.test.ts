// The Lua files keep their own contract (name, header, codes), and the code -> error mapping.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { luaScript, SCRIPT_NAMES, ScriptCode, ScriptError, scriptError } from '../../../../src/core/redis/scripts.js';
import { reserveStockBenchmarkArgs, skuKeys } from '../../../../src/core/redis/keys.js';
import { LuaStrategy } from '../../../../src/core/strategies/lua.js';
import { REDIS_URL, uniqueNamespace } from '../../../helpers/services.js';

const LUA_DIR = new URL('../../../../src/lua/', import.meta.url);
const files = readdirSync(LUA_DIR).filter((f) => f.endsWith('.lua'));

describe.each(files.map((f) => [f]))('%s', (file) => {
  const text = readFileSync(new URL(file, LUA_DIR), 'utf8');
  const header = text.slice(0, text.indexOf(']]'));
  const body = text.slice(text.indexOf(']]'));

  it('is named <verbNoun>-<numKeys>.lua and uses exactly that many KEYS', () => {
    const m = /^([a-z][a-zA-Z]+)-(\d+)\.lua$/.exec(file);
    expect(m).not.toBeNull();
    const used = new Set([...body.matchAll(/KEYS\[(\d+)\]/g)].map((x) => Number(x[1])));
    expect([...used].sort((a, b) => a - b)).toEqual(Array.from({ length: Number(m![2]) }, (_, i) => i + 1));
  });

  it('opens with a --[[ ]] block documenting every KEYS, ARGV and negative return', () => {
    expect(text.startsWith('--[[')).toBe(true);
    for (const [ref] of body.matchAll(/(KEYS|ARGV)\[\d+\]/g)) expect(header).toContain(ref);
    for (const [, code] of body.matchAll(/return (-\d+)/g)) expect(header).toMatch(new RegExp(`\\s${code}\\s`));
  });
});

describe('scripts', () => {
  it('loads every script the code calls, with its SHA1', () => {
    for (const name of SCRIPT_NAMES) {
      expect(luaScript(name).sha).toMatch(/^[0-9a-f]{40}$/);
      expect(files).toContain(`${name}-${luaScript(name).numberOfKeys}.lua`);
    }
  });

  it.each(Object.values(ScriptCode).filter((c): c is ScriptCode => typeof c === 'number'))(
    'turns code %i into an Error carrying it',
    (code) => {
      const err = scriptError(code, 'reserveStock');
      expect(err).toBeInstanceOf(ScriptError);
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe(code);
      expect(err.message).toContain(`code ${code}`);
    },
  );

  it('still turns an unknown code into an Error naming it', () => {
    expect(scriptError(-99, 'x')).toMatchObject({
      code: -99,
      message: expect.stringContaining('unexpected reply -99'),
    });
  });
});

describe('the reference reserve redis-benchmark runs', () => {
  const raw = new Redis(REDIS_URL);
  const ns = uniqueNamespace('ref');
  const lua = new LuaStrategy({ namespace: ns, redisUrl: REDIS_URL });
  afterAll(async () => {
    await lua.destroy();
    await lua.close();
    raw.disconnect();
  });

  it('is the same script, by SHA, and grants what the strategy then sees in its ledger', async () => {
    await lua.load([{ sku: 'hot', stock: 3 }], { perUserLimit: 0 });
    expect(await raw.script('LOAD', luaScript('reserveStock').lua)).toBe(luaScript('reserveStock').sha);
    const replies = [];
    for (let i = 0; i < 4; i++) {
      const args = reserveStockBenchmarkArgs(ns, 'hot', { now: 1_000 }).map((a) =>
        a.replace('__rand_int__', String(i)),
      );
      replies.push(await raw.evalsha(luaScript('reserveStock').sha, ...(args as [string, ...string[]])));
    }
    expect(replies).toEqual([1, 1, 1, ScriptCode.SoldOut]);
    const snap = await lua.snapshot();
    expect(snap.skus[0].available).toBe(0);
    expect(snap.ledger.map((e) => e.idempotencyKey).sort()).toEqual(['k:0', 'k:1', 'k:2']);
    expect(await raw.zcard(skuKeys(ns, 'hot').holds)).toBe(3);
  });
});
