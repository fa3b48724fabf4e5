// docs/design.md#services: a configured URL wins; otherwise the embedded
// Postgres / a redis-server from PATH, started only for the stores the run needs.
import { isAbsolute, relative } from 'node:path';
import type { Store } from '../strategies/types.js';
import { ServiceError } from '../errors.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { findOnPath, startRedisServer, type StartedService } from './redis-server.js';

export interface ServiceOptions {
  redisUrl?: string;
  /** Seed nodes of a Redis Cluster (`--redis-cluster`): the Redis strategies use it instead of a URL. */
  redisCluster?: string[];
  databaseUrl?: string;
  /** Where `.flashsale/` lives (the working directory). */
  baseDir?: string;
  log?: (line: string) => void;
}

export interface Services {
  redisUrl?: string;
  redisCluster?: string[];
  databaseUrl?: string;
  /** How each was obtained, for the report: "REDIS_URL", "redis-server on PATH", … */
  origin: Partial<Record<Store, string>>;
  stop(): Promise<void>;
}

export const NO_REDIS_HELP =
  'get one of three ways: pass --redis-url redis://host:6379, set REDIS_URL, or install redis-server on PATH (e.g. apt-get install redis-server) so flashsale starts one';

export function redisAvailable(opts: ServiceOptions): boolean {
  return Boolean(opts.redisUrl ?? process.env.REDIS_URL ?? findOnPath('redis-server'));
}

export async function resolveServices(need: ReadonlySet<Store>, opts: ServiceOptions): Promise<Services> {
  const started: StartedService[] = [];
  const services: Services = {
    origin: {},
    async stop() {
      await Promise.allSettled(started.reverse().map((s) => s.stop()));
    },
  };
  try {
    if (need.has('redis')) {
      const url = opts.redisUrl ?? process.env.REDIS_URL;
      if (opts.redisCluster?.length) {
        services.redisCluster = opts.redisCluster;
        services.origin.redis = `--redis-cluster ${opts.redisCluster.join(',')}`;
      } else if (url) {
        services.redisUrl = url;
        services.origin.redis = opts.redisUrl ? '--redis-url' : 'REDIS_URL';
      } else {
        const binary = findOnPath('redis-server');
        if (!binary)
          throw new ServiceError(
            'redis',
            'this strategy needs Redis and none is configured or installed',
            NO_REDIS_HELP,
          );
        const s = await startRedisServer(binary);
        started.push(s);
        services.redisUrl = s.url;
        services.origin.redis = `${binary} on a free loopback port`;
        opts.log?.(`started ${binary} at ${s.url}`);
      }
    }
    if (need.has('postgres')) {
      const url = opts.databaseUrl ?? process.env.DATABASE_URL;
      if (url) {
        services.databaseUrl = url;
        services.origin.postgres = opts.databaseUrl ? '--database-url' : 'DATABASE_URL';
      } else {
        const s = await startEmbeddedPostgres(opts.baseDir, opts.log);
        started.push(s);
        services.databaseUrl = s.url;
        // relative when it is in the checkout (.flashsale/pg), else where root's is kept
        const where = relative(opts.baseDir ?? process.cwd(), s.dataDir);
        const shown = where.startsWith('..') || isAbsolute(where) ? s.dataDir : where;
        services.origin.postgres = `embedded PostgreSQL in ${shown}`;
        opts.log?.(`started embedded PostgreSQL (${shown})`);
      }
    }
  } catch (err) {
    await services.stop();
    throw err;
  }
  return services;
}
