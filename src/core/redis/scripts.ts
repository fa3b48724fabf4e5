// The Lua scripts of src/lua, loaded once and defined on ioredis clients. A script's key
// count comes from its file name (<verbNoun>-<numKeys>.lua) and nowhere else. A format
// several scripts share (the ledger entry) is written once in src/lua/includes/ and pasted in
// where a script says `--#include <name>`: Redis runs one self-contained text per script.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

// The package ships src/lua next to dist/, so the same relative path works from
// src/core/redis under vitest and from dist/core/redis once compiled.
const LUA_DIR = new URL('../../../src/lua/', import.meta.url);
const INCLUDE_DIR = new URL('includes/', LUA_DIR);

export const SCRIPT_NAMES = ['reserveStock', 'confirmHold', 'releaseHold', 'expireHolds', 'takeToken'] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

export interface LuaScript {
  name: string;
  file: string;
  numberOfKeys: number;
  /** The text Redis runs: the file with its includes expanded. */
  lua: string;
  /** What EVALSHA takes, e.g. for redis-benchmark. */
  sha: string;
}

/** Negative replies of the scripts; each script's header says which it returns. */
export enum ScriptCode {
  SoldOut = -1,
  LimitExceeded = -2,
  UnknownSku = -3,
  UnknownReservation = -4,
  NotHeld = -5,
  Expired = -6,
}

const MESSAGES: Record<ScriptCode, string> = {
  [ScriptCode.SoldOut]: 'not enough stock left for the whole request',
  [ScriptCode.LimitExceeded]: 'the per-user limit would be exceeded',
  [ScriptCode.UnknownSku]: 'the SKU has no stock in Redis: load() was not run for it',
  [ScriptCode.UnknownReservation]: 'no such reservation in the ledger',
  [ScriptCode.NotHeld]: 'the reservation is not held (sold, released or expired)',
  [ScriptCode.Expired]: 'the hold has expired',
};

export class ScriptError extends Error {
  constructor(
    readonly code: number,
    readonly script: string,
    message: string,
  ) {
    super(message);
    this.name = 'ScriptError';
  }
}

/** Turns a script's negative reply into an Error carrying it as `.code`. */
export function scriptError(code: number, script: string): ScriptError {
  const known = (MESSAGES as Record<number, string | undefined>)[code];
  return new ScriptError(code, script, `${script}: ${known ?? `unexpected reply ${code}`} (code ${code})`);
}

const FILE_NAME = /^([a-zA-Z]+)-(\d+)\.lua$/;
const INCLUDE = /^--#include ([a-z][a-z-]*)[ \t]*$/gm;

/** A script's text with each `--#include <name>` line replaced by src/lua/includes/<name>.lua. */
function expandIncludes(text: string, file: string): string {
  return text.replace(INCLUDE, (_, name: string) => {
    try {
      return readFileSync(new URL(`${name}.lua`, INCLUDE_DIR), 'utf8').trimEnd();
    } catch (err) {
      throw new Error(`${file} includes ${name}, which is not in ${INCLUDE_DIR.pathname}`, { cause: err });
    }
  });
}

let loaded: Map<string, LuaScript> | undefined;

function loadAll(): Map<string, LuaScript> {
  if (loaded) return loaded;
  const found = new Map<string, LuaScript>();
  for (const file of readdirSync(LUA_DIR)) {
    const m = FILE_NAME.exec(file);
    if (!m) continue;
    const name = m[1];
    if (found.has(name)) throw new Error(`two Lua files define ${name}: ${found.get(name)!.file} and ${file}`);
    const lua = expandIncludes(readFileSync(new URL(file, LUA_DIR), 'utf8'), file);
    found.set(name, { name, file, numberOfKeys: Number(m[2]), lua, sha: createHash('sha1').update(lua).digest('hex') });
  }
  const missing = SCRIPT_NAMES.filter((n) => !found.has(n));
  if (missing.length) throw new Error(`Lua scripts missing from ${LUA_DIR.pathname}: ${missing.join(', ')}`);
  loaded = found;
  return found;
}

/** A script's source, key count and SHA1 by name (any file of src/lua, e.g. the bench's yardstick too). */
export function luaScript(name: ScriptName | (string & {})): LuaScript {
  const script = loadAll().get(name);
  if (!script) throw new Error(`no Lua script ${name} in ${LUA_DIR.pathname}`);
  return script;
}

type Args = (string | number)[];

/** The scripts as commands: each takes (KEYS, ARGV). */
export interface ScriptCommands {
  /** 1, [existing id, entry], or a negative ScriptCode. */
  reserveStock(keys: string[], argv: Args): Promise<number | [string, string]>;
  confirmHold(keys: string[], argv: Args): Promise<number>;
  /** Units returned (> 0) or a negative ScriptCode. */
  releaseHold(keys: string[], argv: Args): Promise<number>;
  /** [units returned, holds looked at]. */
  expireHolds(keys: string[], argv: Args): Promise<[number, number]>;
  /** [1 allowed | 0 refused, ms to wait when refused]. */
  takeToken(keys: string[], argv: Args): Promise<[number, number]>;
}

/**
 * A client with the scripts defined. ioredis sends EVAL the first time on each socket, EVALSHA
 * after, and EVAL again on NOSCRIPT: on a Cluster that is per node, so every master gets
 * the scripts it is asked to run, including one that joins later or restarted empty.
 */
export type ScriptedRedis<R extends Redis | Cluster = Redis | Cluster> = R & ScriptCommands;

export function defineScripts<R extends Redis | Cluster>(redis: R): ScriptedRedis<R> {
  for (const s of loadAll().values()) {
    redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  }
  return redis as ScriptedRedis<R>;
}
