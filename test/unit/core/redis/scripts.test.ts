// The loader pastes the shared Lua includes into the scripts that ask for them.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { luaScript } from '../../../../src/core/redis/scripts.js';

const LUA_DIR = new URL('../../../../src/lua/', import.meta.url);
const FILE_NAME = /^([a-zA-Z]+)-\d+\.lua$/;
const scripts = readdirSync(LUA_DIR)
  .map((file) => ({ file, m: FILE_NAME.exec(file) }))
  .filter((s) => s.m)
  .map(({ file, m }) => ({ file, name: m![1], raw: readFileSync(new URL(file, LUA_DIR), 'utf8') }));
const include = (name: string): string => readFileSync(new URL(`includes/${name}.lua`, LUA_DIR), 'utf8').trimEnd();
const asking = (name: string): string[] =>
  scripts
    .filter((s) => s.raw.includes(`--#include ${name}\n`))
    .map((s) => s.name)
    .sort();

describe('Lua includes', () => {
  it('writes the ledger entry once, for every script that writes or reads one', () => {
    expect(asking('ledger-entry')).toEqual(['confirmHold', 'expireHolds', 'releaseHold', 'reserveStock']);
    // what the strings are about: the format itself is in the include, not in the scripts
    expect(include('ledger-entry')).toContain(
      '<state char><qty>:<expiresAt>:<byte length of user>:<user><idempotency key>',
    );
    for (const s of scripts) expect(s.raw).not.toMatch(/'h' \.\.|':' \.\./);
  });

  it('shares giving units back between release and sweep', () => {
    expect(asking('return-units')).toEqual(['expireHolds', 'releaseHold']);
  });

  it.each(scripts.map((s) => [s.file, s] as const))('expands every include of %s, leaving no marker', (_, s) => {
    const lua = luaScript(s.name).lua;
    expect(lua).not.toContain('--#include');
    for (const [, name] of s.raw.matchAll(/^--#include (\S+)$/gm)) expect(lua).toContain(include(name));
    // and nothing else changes: the header stays first, the code stays as written
    expect(lua).toBe(s.raw.replace(/^--#include (\S+)$/gm, (_line, name: string) => include(name)));
  });

  it('pastes the same text into every script that asks for it', () => {
    const text = include('ledger-entry');
    const users = asking('ledger-entry').map((name) => luaScript(name).lua);
    for (const lua of users) expect(lua.split(text)).toHaveLength(2);
  });
});
