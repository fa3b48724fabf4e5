// One way to open a Redis connection: eagerly, failing within seconds with a message a
// person can act on, instead of ioredis's default of retrying forever in the background.
import { Redis, type RedisOptions } from 'ioredis';
import { redact, ServiceError } from '../errors.js';

const CONNECT_ATTEMPTS = 3;

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
    // A command the server may have run but never answered is never sent again: re-sending
    // double-applies INCRBY/RPUSH compensation, DECRBY and HINCRBY, and turns a buyer's own
    // reserve into a "duplicate". Without a re-send ioredis would drop such a command's
    // promise unsettled, so every close also fails what was in flight
    // (maxRetriesPerRequest 0): the caller sees an error and counts it. Commands issued while
    // reconnecting were never sent and still go out once the connection is back, or fail if
    // the reconnect fails.
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
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
