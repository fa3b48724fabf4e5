// The bench's --reference mode hands pgbench a script made from the atomic strategy's own
// statement. A script pgbench cannot run would only show up in a (slow, untested) bench run, so
// run it here, small, against a namespace laid out exactly as the reference mode lays it out.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgbenchScript } from '../../../../src/core/bench/reference.js';
import { createStrategy, type Strategy } from '../../../../src/core/strategies/index.js';
import { DATABASE_URL, uniqueNamespace } from '../../../helpers/services.js';

const run = promisify(execFile);
const STOCK = 1_000;

describe('the pgbench script of bench --reference', () => {
  const namespace = uniqueNamespace('reference');
  const script = pgbenchScript(namespace, 1, Date.now() + 3_600_000);
  const dir = mkdtempSync(join(tmpdir(), 'flashsale-pgbench-test-'));
  let strategy: Strategy;

  beforeAll(async () => {
    strategy = await createStrategy('atomic', { namespace, databaseUrl: DATABASE_URL, connections: 1 });
    // The SKU is '1': pgbench variables are numbers (see pgbenchScript).
    await strategy.load([{ sku: '1', stock: STOCK }], { perUserLimit: 0 });
  });
  afterAll(async () => {
    await strategy?.destroy();
    await strategy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves no $n parameter for pgbench to choke on', () => {
    expect(script).not.toMatch(/\$/);
  });

  it('runs under pgbench -M prepared and takes exactly one unit per transaction', async () => {
    const file = join(dir, 'atomic-reserve.sql');
    writeFileSync(file, script);
    // execFile rejects on a non-zero exit, with pgbench's output on the error.
    const { stdout } = await run('pgbench', ['-n', '-M', 'prepared', '-c', '2', '-t', '5', '-f', file, DATABASE_URL], {
      timeout: 30_000,
    });
    expect(stdout).toMatch(/number of transactions actually processed: 10\/10/);
    const snap = await strategy.snapshot();
    expect(snap.skus).toEqual([{ sku: '1', initial: STOCK, available: STOCK - 10 }]);
    expect(snap.ledger).toHaveLength(10);
    expect(snap.ledger.every((e) => e.sku === '1' && e.qty === 1 && e.state === 'held')).toBe(true);
    // Random keys: ten distinct reservations, not one answered ten times as a duplicate.
    expect(new Set(snap.ledger.map((e) => e.idempotencyKey)).size).toBe(10);
  });
});
