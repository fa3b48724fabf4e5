// What the engine test files share: a mock provider per test, the engine config they start
// from, and the clean-up that gives the shared Postgres its connections and schemas back.
import pg from 'pg';
import type { EngineConfig } from '../src/core/engine/types.js';
import { providerSchemaIdent, startProvider, type FaultConfigInput, type Provider } from '../src/core/provider/index.js';
import type { StrategyName } from '../src/core/strategies/types.js';
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
      for (const { namespace } of which) await db.query(`DROP SCHEMA IF EXISTS ${providerSchemaIdent(namespace)} CASCADE`);
      await db.end();
    },
  };
}
