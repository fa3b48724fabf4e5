// `flashsale recover` on sales whose run died, and `reconcile --fix` beside it: a charge whose order
// is still being paid is recover's to finish, not reconcile's to refund.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { openSaleEngine } from '../../../src/core/engine/engine.js';
import { reservationOf } from '../../../src/core/engine/orders.js';
import { PaymentClient } from '../../../src/core/engine/payments.js';
import { startProvider } from '../../../src/core/provider/index.js';
import { providerFixtures } from '../../helpers/engine.js';
import { captureIO } from '../../helpers/io.js';
import { DATABASE_URL } from '../../helpers/services.js';
import { services, tmpOut } from '../../helpers/simulate.js';

const sales: string[] = [];
afterAll(async () => {
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  for (const ns of sales) {
    await db.query(`DROP SCHEMA IF EXISTS "flashsale_${ns}_sale" CASCADE`);
    await db.query(`DROP SCHEMA IF EXISTS "mockpay_${ns}" CASCADE`);
    await db.query(`DROP SCHEMA IF EXISTS "flashsale_${ns}" CASCADE`);
  }
  await db.end();
});

async function cli(args: string[]) {
  const io = captureIO();
  const code = await main(args, io);
  const stdout = io.stdout.join('\n');
  return { code, err: io.stderr.join('\n'), doc: stdout.startsWith('{') ? JSON.parse(stdout) : undefined };
}

const reconcile = (ns: string, ...more: string[]) =>
  cli([
    'reconcile',
    '--date',
    'today',
    '--namespace',
    ns,
    '--grace',
    '0',
    '--database-url',
    DATABASE_URL,
    '--out',
    tmpOut(),
    '--json',
    ...more,
  ]);
const orphans = (doc: { summary: { category: string; count: number }[] }) =>
  doc.summary.filter((l) => l.category === 'ORPHAN_CHARGE').reduce((n, l) => n + l.count, 0);

/** A tight-hold sale (payments the engine gives up on) SIGKILLed 3 s in; resolves to its namespace. */
async function killedSale(strategy: string): Promise<string> {
  const child = spawn(process.execPath, [
    resolve('bin/flashsale.js'),
    'simulate',
    ...services,
    '--scenario',
    'scenarios/tight-hold.json',
    '--strategy',
    strategy,
    '--workers',
    '1',
    '--out',
    tmpOut(),
  ]);
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stdout += d));
  const exited = new Promise((r) => child.on('exit', r));
  const deadline = Date.now() + 30_000;
  while (!/sale (sim_[0-9a-f]+)/.test(stdout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const ns = /sale (sim_[0-9a-f]+)/.exec(stdout)?.[1];
  if (!ns) throw new Error(`simulate never announced its sale: ${stdout}`);
  sales.push(ns);
  await new Promise((r) => setTimeout(r, 3_000));
  child.kill('SIGKILL');
  await exited;
  return ns;
}

describe('flashsale recover after a SIGKILL', () => {
  it('resolves every stuck payment; reconcile --grace 0 then finds no orphan charge', async () => {
    const ns = await killedSale('lua');
    const r = await cli(['recover', '--namespace', ns, ...services, '--json']);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(0);
    const [sale] = r.doc.sales;
    expect(sale.namespace).toBe(ns);
    // The run died with payments in flight: there was something to recover.
    expect(sale.owedBefore).toBeGreaterThan(0);
    expect(sale.owed).toBe(0);
    expect(sale.invariants.filter((i: { ok: boolean }) => !i.ok)).toEqual([]);
    expect(sale.invariants.map((i: { name: string }) => i.name)).toContain('money = orders');
    const after = await reconcile(ns);
    expect(orphans(after.doc)).toBe(0);
    expect(after.code).toBe(0);
    // Once finished, a sale is finished: a second recover has nothing to do.
    const again = await cli(['recover', '--namespace', ns, ...services, '--json']);
    expect(again.code).toBe(0);
    expect(again.doc.sales[0]).toMatchObject({ owedBefore: 0, owed: 0 });
  });

  it('leaves a sale whose run is still going alone: exit 2 naming its pid', async () => {
    const ns = await killedSale('atomic');
    const alive = spawn('sleep', ['30']);
    const db = new pg.Client({ connectionString: DATABASE_URL });
    await db.connect();
    try {
      await db.query(`UPDATE "flashsale_${ns}_sale".sale SET owner_pid = $1`, [alive.pid]);
      const r = await cli(['recover', '--namespace', ns, ...services]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(
        new RegExp(`--namespace: sale "${ns}" is not recoverable: its run is still going \\(pid ${alive.pid}`),
      );
    } finally {
      alive.kill();
      await db.end();
    }
    expect((await cli(['recover', '--namespace', ns, ...services, '--json'])).code).toBe(0);
  });
});

describe('reconcile --fix beside payment recovery', () => {
  it('does not refund a charge whose order a dead payer left half-paid; recover sells it, and the books agree', async () => {
    const fx = providerFixtures('rcfix');
    const cfg = fx.config('lua', 'http://127.0.0.1:1');
    sales.push(cfg.namespace);
    // The sale's own mock over the sale's namespace, as simulate runs it.
    const provider = await startProvider({
      databaseUrl: DATABASE_URL,
      namespace: cfg.namespace,
      secret: fx.secret,
      seed: 1,
      reset: true,
    });
    const engine = await openSaleEngine({ ...cfg, providerUrl: provider.url });
    try {
      await engine.setup();
      const hold = await engine.reserve({ sku: 'A', qty: 1, user: 'u', clickId: 'c' });
      if (!hold.ok) throw new Error(hold.reason);
      // The payer's steps up to its death: open, charge, claim, confirm; the sale is never recorded.
      const order = (await engine.orders.beginCharge(hold.orderId, Date.now(), Date.now()))!;
      const client = new PaymentClient(provider.url, fx.secret, cfg.payment);
      const answer = await client.charge(order);
      await client.close();
      if (answer.kind !== 'paid') throw new Error(answer.kind);
      await engine.orders.claimCharge(order.orderId, answer.chargeId, Date.now());
      expect(await engine.strategy.confirm(reservationOf(order), Date.now())).toBe(true);
    } finally {
      await engine.close();
      await provider.stop();
    }
    const before = await reconcile(cfg.namespace, '--fix');
    expect(orphans(before.doc)).toBe(1);
    expect(before.doc.fixes.outcome.done).toBe(0);
    expect(before.doc.fixes.outcome.failed[0].error).toMatch(
      new RegExp(`not refunded: order .* is PendingPayment.*flashsale recover --namespace ${cfg.namespace}`),
    );
    const r = await cli(['recover', '--namespace', cfg.namespace, ...services, '--json']);
    expect(r.code).toBe(0);
    expect(r.doc.sales[0].recovery.paid).toBe(1);
    expect(r.doc.sales[0].invariants.filter((i: { ok: boolean }) => !i.ok)).toEqual([]);
    const after = await reconcile(cfg.namespace);
    expect(after.doc.verdict).toBe('RECONCILED');
    expect(after.code).toBe(0);
  });
});
