// One transaction helper for every part of flashsale that writes Postgres (the strategies, the
// order store, the mock provider's ledger), so BEGIN/COMMIT/ROLLBACK and what happens to a
// client whose ROLLBACK failed are decided once.
import type pg from 'pg';

/** Runs `work` in a transaction on one pooled client: COMMIT if it returns, ROLLBACK if it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const value = await work(client);
    await client.query('COMMIT');
    return value;
  } catch (err) {
    // A client whose ROLLBACK failed is in an unknown state: destroy it rather than reuse it.
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.release(broken);
  }
}
