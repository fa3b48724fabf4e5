// What the engine test files share: a mock provider per test, the engine config they start
// from, and the clean-up that gives the shared Postgres its connections and schemas back.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { expect } from 'vitest';
import { checkSaleInvariants } from '../../src/core/engine/invariants.js';
import type { Engine, EngineConfig, ReserveOutcome } from '../../src/core/engine/types.js';
import {
  providerSchemaIdent,
  startProvider,
  type FaultConfigInput,
  type Provider,
} from '../../src/core/provider/index.js';
import type { StrategyName } from '../../src/core/strategies/types.js';
import { DATABASE_URL, REDIS_URL, uniqueNamespace } from './services.js';

export interface ProviderFixtures {
  secret: string;
  started: { provider: Provider; namespace: string }[];
  /** A mock provider in its own ledger schema, reset. */
  provider(faults?: FaultConfigInput, seed?: number): Promise<Provider>;
  /** Two SKUs (A: 6 units at 12.50 EUR, B: 4 at 5.00), a 60 s hold, 2 per user. */
  config(strategy: StrategyName, providerUrl: string, over?: Partial<EngineConfig>): EngineConfig;
  /** Stops the given providers and drops their ledgers. */
  stop(which: { provider: Provider; namespace: string }[]): Promise<void>;
}

export function providerFixtures(prefix: string): ProviderFixtures {
  const secret = `${prefix}-test-secret`;
  const started: { provider: Provider; namespace: string }[] = [];
  return {
    secret,
    started,
    async provider(faults = {}, seed = 1) {
      const namespace = uniqueNamespace(`${prefix}pay`);
      const p = await startProvider({ databaseUrl: DATABASE_URL, namespace, secret, faults, seed, reset: true });
      started.push({ provider: p, namespace });
      return p;
    },
    config(strategy, providerUrl, over = {}) {
      return {
        namespace: uniqueNamespace(`${prefix}eng`),
        strategy,
        redisUrl: REDIS_URL,
        databaseUrl: DATABASE_URL,
        providerUrl,
        providerSecret: secret,
        skus: [
          { sku: 'A', stock: 6, priceMinor: 1250, currency: 'EUR' },
          { sku: 'B', stock: 4, priceMinor: 500, currency: 'EUR' },
        ],
        holdTtlMs: 60_000,
        perUserLimit: 2,
        payment: { timeoutMs: 1_000, retries: 3, backoffMs: 20 },
        sweepIntervalMs: 50,
        ...over,
      };
    },
    async stop(which) {
      await Promise.all(which.map(({ provider: p }) => p.stop()));
      const db = new pg.Client({ connectionString: DATABASE_URL });
      await db.connect();
      for (const { namespace } of which)
        await db.query(`DROP SCHEMA IF EXISTS ${providerSchemaIdent(namespace)} CASCADE`);
      await db.end();
    },
  };
}

/** The hold a reserve granted, or a thrown error naming the refusal. */
export function granted(r: ReserveOutcome): Extract<ReserveOutcome, { ok: true }> {
  if (!r.ok) throw new Error(`expected a hold, got ${r.reason}`);
  return r;
}

export async function expectInvariantsHold(engine: Pick<Engine, 'audit'>, perUserLimit = 2): Promise<void> {
  const broken = checkSaleInvariants(await engine.audit(), { perUserLimit }).filter((r) => !r.ok);
  expect(broken).toEqual([]);
}

/** Polls `check` until it holds, or fails naming `what` after `ms`. */
export async function until(what: string, check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}
