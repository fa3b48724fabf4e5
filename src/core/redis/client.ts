// One way to open a Redis connection: eagerly, failing within seconds with a message a
// person can act on, instead of ioredis's default of retrying forever in the background.
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { redact, ServiceError, UsageError } from '../errors.js';

/** What the Redis strategies talk to: one server, or a Redis Cluster (every command of theirs names one hash tag). */
export type RedisConnection = Redis | Cluster;

export function isCluster(r: RedisConnection): r is Cluster {
  return r.isCluster;
}

const CONNECT_ATTEMPTS = 3;

// A command the server may have run but never answered is never sent again: re-sending
// double-applies INCRBY/RPUSH compensation, DECRBY and HINCRBY, and turns a buyer's own
// reserve into a "duplicate". Without a re-send ioredis would drop such a command's
// promise unsettled, so every close also fails what was in flight
// (maxRetriesPerRequest 0): the caller sees an error and counts it. Commands issued while
// reconnecting were never sent and still go out once the connection is back, or fail if
// the reconnect fails.
const NO_RESEND = { autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0 } as const;

export const REDIS_SUGGESTION =
  'Install redis-server on PATH (flashsale starts it), pass --redis-url, or set REDIS_URL.';

/**
 * Connects to `url` and resolves once the server answers. `what` names who needs the
 * connection (e.g. "strategy lua"), for the error message.
 * @throws ServiceError (exit 6) naming the URL with its password redacted.
 */
export async function connectRedis(url: string, what: string, options: RedisOptions = {}): Promise<Redis> {
  let ready = false;
  let lastError: Error | undefined;
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3_000,
    ...NO_RESEND,
    retryStrategy: (times) => {
      if (!ready) return times < CONNECT_ATTEMPTS ? 200 : null;
      return Math.min(times * 100, 2_000);
    },
    ...options,
  });
  // ioredis prints unhandled 'error' events; commands reject with the same error anyway.
  client.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    await client.connect();
    ready = true;
    return client;
  } catch (err) {
    client.disconnect();
    const reason = (lastError ?? (err as Error)).message || String(err);
    throw new ServiceError(
      'redis',
      `Redis at ${redact(url)} is not reachable: ${redact(reason)}`,
      `${what} needs Redis. ${REDIS_SUGGESTION}`,
    );
  }
}

/** A seed of `--redis-cluster`: host:port, the host a name, an IPv4 address or a bracketed IPv6 one. */
const SEED = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/**
 * `host:port,host:port,…` → the seed nodes of a Redis Cluster. One reachable seed is enough
 * (ioredis learns the rest from CLUSTER SLOTS); more only help when some are down.
 * @throws UsageError naming `option`, the bad part and the accepted form.
 */
export function parseRedisCluster(value: string, option = '--redis-cluster'): string[] {
  const form = 'a comma list of host:port seed nodes, e.g. 10.0.0.1:7000,10.0.0.2:7000';
  const parts = value.split(',').map((p) => p.trim());
  const seeds: string[] = [];
  for (const part of parts) {
    const m = SEED.exec(part);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65_535)
      throw new UsageError(`${option}: "${part}" in "${value}" is not host:port; expected ${form}`);
    if (!seeds.includes(part)) seeds.push(part);
  }
  return seeds;
}

function clusterNode(seed: string): { host: string; port: number } {
  const at = seed.lastIndexOf(':');
  return { host: seed.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(seed.slice(at + 1)) };
}

/**
 * Connects to a Redis Cluster from its seed nodes and resolves once the slot map is known
 * and the cluster answers. The same rules as connectRedis: give up within seconds, and never
 * send again a command that may have run. ioredis still follows MOVED / ASK / TRYAGAIN /
 * CLUSTERDOWN, which are refusals: the command did not run where it was sent.
 * `options` are per node (connectionName, …), except enableAutoPipelining, which is the cluster's.
 * @throws ServiceError (exit 6) naming the seeds.
 */
export async function connectRedisCluster(
  seeds: readonly string[],
  what: string,
  options: RedisOptions = {},
): Promise<Cluster> {
  let ready = false;
  let lastError: Error | undefined;
  const { enableAutoPipelining, ...nodeOptions } = options;
  const cluster = new Cluster(seeds.map(clusterNode), {
    lazyConnect: true,
    enableAutoPipelining,
    // ioredis re-sends a command whose node connection closed ("Connection is closed.") once
    // the slots are refreshed: the same double-apply NO_RESEND prevents on one server.
    retryDelayOnFailover: 0,
    clusterRetryStrategy: (times) => {
      if (!ready) return times < CONNECT_ATTEMPTS ? 200 : null;
      return Math.min(times * 100, 2_000);
    },
    redisOptions: { connectTimeout: 3_000, ...NO_RESEND, ...nodeOptions },
  });
  cluster.on('error', (err: Error) => {
    lastError = err;
  });
  // The node's own failure (ECONNREFUSED, "cluster support disabled"), which the cluster's
  // error only summarises as "Failed to refresh slots cache".
  let nodeError: string | undefined;
  cluster.on('node error', (err: Error, node: string) => {
    nodeError ??= `${node}: ${err.message}`;
  });
  try {
    await cluster.connect();
    ready = true;
    return cluster;
  } catch (err) {
    cluster.disconnect();
    const reason = nodeError ?? ((lastError ?? (err as Error)).message || String(err));
    throw new ServiceError(
      'redis',
      `Redis Cluster at ${seeds.join(',')} is not reachable: ${redact(reason)}`,
      `${what} needs the cluster: check that the seeds are cluster nodes (cluster-enabled yes) and that CLUSTER INFO says cluster_state:ok.`,
    );
  }
}

/**
 * A connection of its own to the master that holds `key`'s slot, for blocking reads: on a
 * Cluster object a blocking command would hold up every other command of that node's one
 * connection, and a connection to the wrong node answers MOVED. Its reader drops it on MOVED
 * (a resharded slot) and opens another, which asks the cluster again.
 */
export async function connectNodeOf(
  cluster: Cluster,
  key: string,
  what: string,
  options: RedisOptions = {},
): Promise<Redis> {
  const slot = Number(await cluster.cluster('KEYSLOT', key));
  const node = cluster.slots[slot]?.[0];
  if (!node)
    throw new ServiceError(
      'redis',
      `Redis Cluster: no master serves slot ${slot} (key ${key})`,
      `${what} needs every slot served: check CLUSTER INFO.`,
    );
  const { host, port } = clusterNode(node);
  const { enableAutoPipelining: _cluster, ...nodeOptions } = cluster.options.redisOptions ?? {};
  return connectRedis(`redis://${host.includes(':') ? `[${host}]` : host}:${port}`, what, {
    ...nodeOptions,
    ...options,
  });
}
