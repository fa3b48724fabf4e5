// `flashsale check` and `serve`'s verdict (docs/design.md#check): a sale served by `flashsale serve`
// and driven by plain HTTP requests (as wrk, k6 or autocannon would), judged from its records.
// The negative control: naive oversells under concurrent reserves, and both verdicts say so.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { captureIO } from '../../helpers/io.js';
import { services } from '../../helpers/simulate.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

/** `flashsale serve --json` on a free port; resolves once it listens, with what it printed. */
async function served(strategy: string) {
  const child = spawn(process.execPath, [
    resolve('bin/flashsale.js'),
    'serve',
    ...services,
    '--strategy',
    strategy,
    '--json',
  ]);
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const deadline = Date.now() + 30_000;
  while (!out.includes('\n') && Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const info = JSON.parse(out.split('\n')[0]) as { url: string; namespace: string; skus: string[] };
  const exited = new Promise<number>((r) => child.on('exit', (code) => r(code ?? -1)));
  return { ...info, stderr: () => err, exited, stop: () => child.kill('SIGINT') };
}

/** 200 buyers at once for one SKU of 50 units, each paying for what it was granted. */
async function drive(url: string, sku: string): Promise<number> {
  const paid = await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const r = await request(`${url}/v1/reservations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sku, qty: 1, user: `u${i}`, clickId: `c${i}` }),
      });
      const body = (await r.body.json()) as { orderId?: string };
      if (r.statusCode !== 201 || !body.orderId) return 0;
      const p = await request(`${url}/v1/orders/${body.orderId}/pay`, { method: 'POST' });
      await p.body.dump();
      return p.statusCode === 200 ? 1 : 0;
    }),
  );
  return paid.reduce<number>((a, b) => a + b, 0);
}

async function check(namespace: string) {
  const io = captureIO();
  const code = await main(['check', ...services, '--namespace', namespace, '--json'], io);
  return { code, doc: JSON.parse(io.stdout.join('\n')), err: io.stderr.join('\n') };
}

const failedNames = (doc: { sales: { invariants: { name: string; ok: boolean }[] }[] }) =>
  doc.sales[0].invariants.filter((i) => !i.ok).map((i) => i.name);

describe('a served sale driven by plain HTTP requests, judged by check and by serve itself', () => {
  it('naive oversells: check exits 3 naming the oversell while it is served, and serve exits 3 on Ctrl-C', async () => {
    const s = await served('naive');
    const paid = await drive(s.url, s.skus[0]);
    expect(paid).toBeGreaterThan(0);
    const live = await check(s.namespace);
    expect(live.code).toBe(3);
    expect(live.doc.sales[0]).toMatchObject({ namespace: s.namespace, strategy: 'naive', live: true, ok: false });
    expect(failedNames(live.doc)).toContain('no oversell at any moment');
    s.stop();
    expect(await s.exited).toBe(3);
    expect(s.stderr()).toMatch(new RegExp(`${s.namespace} \\(naive\\): BROKEN`));
  });

  it('lua holds: check exits 0 with money = orders judged from the mock ledger, and serve exits 0', async () => {
    const s = await served('lua');
    expect(await drive(s.url, s.skus[0])).toBeLessThanOrEqual(50);
    s.stop();
    expect(await s.exited).toBe(0);
    const after = await check(s.namespace);
    expect(failedNames(after.doc)).toEqual([]);
    expect(after.code).toBe(0);
    const money = after.doc.sales[0].invariants.find((i: { name: string }) => i.name === 'money = orders');
    expect(money.detail).toMatch(/live charges?, \d+ Paid orders/);
  });

  it('an unknown sale is exit 2 naming the option', async () => {
    const io = captureIO();
    expect(await main(['check', ...services, '--namespace', 'nosuch_sale'], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/--namespace: this database has no sale "nosuch_sale"/);
  });
});
