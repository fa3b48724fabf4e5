// Flag fragments more than one command's schema is built from. Each command parses every flag it
// has with one zod schema (validate.ts's parseOptions: the first problem names the flag).
import type { Command } from 'commander';
import { z } from 'zod';
import { UsageError } from '../core/errors.js';
import { parseRedisCluster } from '../core/redis/client.js';
import { urlOf } from '../core/validate.js';

/** --redis-url, --redis-cluster, --database-url: the stores a command may be pointed at. */
export const serviceFlags = {
  redisUrl: urlOf(['redis', 'rediss'], 'a Redis server').optional(),
  redisCluster: z.string().optional(),
  databaseUrl: urlOf(['postgres', 'postgresql'], 'a PostgreSQL database').optional(),
};

/** --provider-url and --provider-secret (the secret defaults to FLASHSALE_PROVIDER_SECRET). */
export const providerFlags = {
  providerUrl: urlOf(['http', 'https'], 'a payment provider serving the charges API').optional(),
  providerSecret: z.string().optional(),
};

/** --json and --out, which every command that writes a report has. */
export const outputFlags = {
  json: z.boolean().optional(),
  out: z.string().optional(),
};

/** --threshold, repeatable. */
export const thresholdFlags = {
  threshold: z.array(z.string()).default([]),
  junit: z.string().optional(),
};

export interface ServiceChoice {
  redisUrl?: string;
  redisCluster?: string[];
  databaseUrl?: string;
}

/** A cluster's seed nodes or one server's URL, never both. */
export function serviceChoice(f: { redisUrl?: string; redisCluster?: string; databaseUrl?: string }): ServiceChoice {
  const redisCluster = f.redisCluster === undefined ? undefined : parseRedisCluster(f.redisCluster);
  if (redisCluster && f.redisUrl !== undefined) {
    throw new UsageError("--redis-cluster and --redis-url: give one (a cluster's seed nodes, or one server's URL)");
  }
  return { redisUrl: f.redisUrl, redisCluster, databaseUrl: f.databaseUrl };
}

/** The options of a command that reopens a recorded sale (recover, check): where its stores are, and --json. */
export function recordedSaleOptions(cmd: Command): Command {
  return cmd
    .option('--redis-url <url>', 'Redis of a Redis strategy (default: REDIS_URL, else a redis-server from PATH)')
    .option('--redis-cluster <nodes>', "seed nodes of the sale's Redis Cluster, host:port,host:port")
    .option('--database-url <url>', 'Postgres holding the sale (default: DATABASE_URL, else embedded PostgreSQL)')
    .option('--json', 'one JSON document on stdout; the text goes to stderr');
}
