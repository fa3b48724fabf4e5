// `flashsale provider` as a person runs it: a process that listens until Ctrl-C.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { signToken } from '../../../src/core/provider/index.js';
import { DATABASE_URL, uniqueNamespace } from '../../helpers/services.js';
import { captureIO } from '../../helpers/io.js';

const BIN = resolve('bin/flashsale.js');
const SECRET = 'test-secret-0123456789';

describe('flashsale provider', () => {
  it('serves charges on loopback until Ctrl-C, then exits 0', async () => {
    const ns = uniqueNamespace('prov');
    const child = spawn(
      process.execPath,
      [BIN, 'provider', '--database-url', DATABASE_URL, '--namespace', ns, '--json'],
      {
        env: { ...process.env, FLASHSALE_PROVIDER_SECRET: SECRET },
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const line = await new Promise<string>((r) => child.stdout.once('data', (d) => r(String(d))));
    const { url } = JSON.parse(line) as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const token = signToken(
      { transactionId: 'tx-1', amount: 4999, currency: 'EUR', expiresAt: Date.now() + 60_000 },
      SECRET,
    );
    const res = await fetch(`${url}/v1/charges`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'order-1' },
      body: JSON.stringify({
        amount: 4999,
        currency: 'EUR',
        metadata: { transaction_id: 'tx-1', order_id: 'o-1' },
        token,
      }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'succeeded', amount: 4999, currency: 'EUR' });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(0);
    expect(stderr).toMatch(/stopped; 0 injected fault\(s\) recorded/);
  });

  it.each([
    ['no secret', [], /--secret: expected a shared secret of at least 16 characters/],
    ['a bad fault rate, naming the field', ['--secret', SECRET, '--faults', 'FAULTS'], /faults\.decline/],
    [
      'a namespace with upper case',
      ['--secret', SECRET, '--namespace', 'Prod'],
      /--namespace: expected lower-case letters, digits and _/,
    ],
  ])('refuses %s with exit 2', async (_name, args, message) => {
    const faults = join(mkdtempSync(join(tmpdir(), 'fs-prov-')), 'faults.json');
    writeFileSync(faults, JSON.stringify({ decline: 1.5 }));
    const io = captureIO();
    const saved = process.env.FLASHSALE_PROVIDER_SECRET;
    delete process.env.FLASHSALE_PROVIDER_SECRET;
    try {
      const code = await main(
        ['provider', '--database-url', DATABASE_URL, ...args.map((a) => (a === 'FAULTS' ? faults : a))],
        io,
      );
      expect(code).toBe(2);
      expect(io.stderr.join('\n')).toMatch(message);
    } finally {
      if (saved !== undefined) process.env.FLASHSALE_PROVIDER_SECRET = saved;
    }
  });
});
