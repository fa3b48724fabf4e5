// The services tests run against: the ones already running (CI starts them), never skipped.
// A test that cannot reach them fails with the connection error.
import { randomBytes } from 'node:crypto';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A namespace no other test file or run uses, so files can run in parallel. */
export function uniqueNamespace(prefix: string): string {
  return `t_${prefix}_${randomBytes(4).toString('hex')}`;
}
