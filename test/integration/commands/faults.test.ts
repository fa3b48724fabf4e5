// Faults during a sale, each injected by the test into something the test started itself (a
// provider process on its own port, the backends of a database of its own): the run must end
// with its report, nothing lost and nothing taken twice (money = orders, every payment resolved).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scenarioFile, simulate } from '../../helpers/simulate.js';
import { uniqueNamespace } from '../../helpers/services.js';

const failed = (r: { invariants: { name: string; ok: boolean; detail: string }[] }) =>
  r.invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`);

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

const SECRET = 'fault-test-secret-0123456789';

/** `flashsale provider` on `port` over ledger `namespace`; resolves once it listens. */
async function providerProcess(port: number, namespace: string, reset: boolean): Promise<ChildProcess> {
  const child = spawn(process.execPath, [
    resolve('bin/flashsale.js'),
    'provider',
    '--port',
    String(port),
    '--namespace',
    namespace,
    '--secret',
    SECRET,
    ...(reset ? ['--reset'] : []),
  ]);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 20_000;
  while (!out.includes('listening on') && Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`provider exited ${child.exitCode}: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!out.includes('listening on')) throw new Error(`provider never listened: ${out}`);
  return child;
}

describe('the provider killed mid-sale and restarted', () => {
  it('payments that failed while it was down are resolved by recovery: every payment resolved, money = orders', async () => {
    const port = await freePort();
    const ledger = uniqueNamespace('provkill').slice(0, 30);
    let provider = await providerProcess(port, ledger, true);
    // 2 s into the 5 s smoke sale: SIGKILL (requests in flight die with it), back a second later.
    const fault = (async () => {
      await new Promise((r) => setTimeout(r, 2_500));
      provider.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 1_000));
      provider = await providerProcess(port, ledger, false);
    })();
    try {
      const { code, report } = await simulate([
        '--strategy',
        'lua',
        '--workers',
        '1',
        '--provider-url',
        `http://127.0.0.1:${port}`,
        '--provider-secret',
        SECRET,
      ]);
      await fault;
      expect(failed(report)).toEqual([]);
      expect(code).toBe(0);
      // The outage mattered: payments failed while the provider was gone.
      expect(report.counters.payFailed).toBeGreaterThan(0);
      expect(report.invariants.find((i: { name: string }) => i.name === 'money = orders').detail).toMatch(
        /^\d+ live charges, \d+ Paid orders: one each/,
      );
      expect(report.recovery.noCharge + report.recovery.paid + report.recovery.refunded).toBeGreaterThan(0);
    } finally {
      await fault.catch(() => undefined);
      provider.kill('SIGKILL');
    }
  });
});

describe('a service that cannot be reached', () => {
  it('a provider that refuses connections is exit 6 before any buyer arrives, naming it', async () => {
    const port = await freePort();
    const { code, err, report } = await simulate(['--provider-url', `http://127.0.0.1:${port}`]);
    expect(code).toBe(6);
    expect(err).toMatch(
      new RegExp(`the payment provider at http://127\\.0\\.0\\.1:${port} does not answer: .*ECONNREFUSED`),
    );
    expect(err).not.toMatch(/\n\s+at /);
    expect(report).toBeUndefined();
  });
});

describe('Redis killed mid-sale and restarted with its data (AOF)', () => {
  it('the strategy reconnects and the sale goes on: 0 oversold, every invariant, report written', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'fs-aof-'));
    const start = () =>
      spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--dir',
          dir,
        ],
        { stdio: 'ignore' },
      );
    let redis = start();
    await new Promise((r) => setTimeout(r, 300));
    const fault = (async () => {
      await new Promise((r) => setTimeout(r, 2_500));
      redis.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 1_000));
      redis = start();
    })();
    try {
      const file = scenarioFile('smoke.json', (s) => delete s.thresholds.errors);
      const { code, report } = await simulate([
        '--scenario',
        file,
        '--strategy',
        'lua',
        '--workers',
        '1',
        '--redis-url',
        `redis://127.0.0.1:${port}`,
      ]);
      await fault;
      expect(failed(report)).toEqual([]);
      expect(report.oversold).toBe(0);
      expect(code).toBe(0);
      // The outage was felt: requests failed while Redis was gone.
      expect(report.counters.errors).toBeGreaterThan(0);
    } finally {
      await fault.catch(() => undefined);
      redis.kill('SIGKILL');
    }
  });
});
