// The check use case (docs/design.md#check): a sale in flashsale's schema judged after the fact,
// whoever drove it (simulate, serve under wrk, k6 or autocannon, a test's own requests). Read
// only: nothing is swept, recovered or ended; the records are judged as they stand. Every ledger
// invariant of both stores, and money = orders where the provider's side can be read.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { CheckDocument, CheckedSale } from '../documents/check.js';
import { openSaleEngine } from '../engine/engine.js';
import { checkSaleInvariants, stockOf } from '../engine/invariants.js';
import { moneyMatchesOrders } from '../engine/money.js';
import type { SaleRow } from '../engine/orders.js';
import { ExitCode } from '../errors.js';
import type { InvariantResult } from '../invariants.js';
import { providerSchemaIdent } from '../provider/index.js';
import { allCharges } from '../provider/ledger.js';
import { toProviderCharge } from '../reconcile/provider-client.js';
import { chargesOf, hasMockLedger, stillRunning, storesOfSale, visitRecordedSales } from './sale-records.js';

export interface CheckRequest {
  /** The sale to judge; every sale in the database if absent. */
  namespace?: string;
  /** The provider the sale charged through, when it was not the bundled mock. */
  providerUrl?: string;
  redisUrl?: string;
  redisCluster?: string[];
  databaseUrl?: string;
}

export interface CheckOutcome {
  document: CheckDocument;
  text: string;
  exitCode: number;
}

export async function checkSales(request: CheckRequest, log: (line: string) => void): Promise<CheckOutcome> {
  const sales: CheckedSale[] = [];
  await visitRecordedSales(
    { namespace: request.namespace, databaseUrl: request.databaseUrl, command: 'check', log },
    async ({ namespace, row, databaseUrl, client }) => {
      sales.push(await checkOne(namespace, row, request, databaseUrl, client, log));
    },
  );
  const document: CheckDocument = { ok: sales.every((s) => s.ok), sales };
  return { document, text: renderCheck(document), exitCode: document.ok ? ExitCode.Ok : ExitCode.Invariant };
}

async function checkOne(
  namespace: string,
  row: SaleRow,
  request: CheckRequest,
  databaseUrl: string,
  client: pg.ClientBase,
  log: (line: string) => void,
): Promise<CheckedSale> {
  const { config, store, services } = await storesOfSale(row, request, log);
  try {
    const engine = await openSaleEngine({
      ...config,
      namespace,
      redisUrl: services.redisUrl,
      redisCluster: services.redisCluster,
      databaseUrl,
      // check never pays: the URL is only where the engine would have charged.
      providerUrl: request.providerUrl ?? config.providerUrl,
      providerSecret: randomBytes(24).toString('hex'),
    });
    try {
      const [audit, owed] = await Promise.all([engine.audit(), engine.recoveryOwed()]);
      const invariants: InvariantResult[] = [];
      if (audit.strategy.skus.length === config.skus.length)
        invariants.push(
          ...checkSaleInvariants(audit, { perUserLimit: config.perUserLimit, stock: stockOf(config.skus) }),
        );
      else
        invariants.push({
          name: 'store invariants',
          ok: false,
          detail: `the ${store === 'redis' ? 'Redis' : 'Postgres'} store holds ${audit.strategy.skus.length} of the sale's ${config.skus.length} SKUs: it lost the sale's stock (a store that kept nothing on disk), or this is not the store the sale ran on`,
        });
      const live = stillRunning(row);
      let provider = 'not read';
      if (owed === 0) provider = await moneyCheck(namespace, request, client, row, audit.orders, invariants);
      else {
        // A charge whose order is still being finished matches no Paid order yet: not a break.
        invariants.push({
          name: 'money = orders',
          ok: true,
          detail: `not judged: ${owed} order(s) still owe payment recovery (a payment in flight${live ? '' : ', or a run that died'})`,
        });
        if (!live)
          invariants.push({
            name: 'every payment resolved',
            ok: false,
            detail: `${owed} order(s) owe payment recovery and no run is finishing them: flashsale recover --namespace ${namespace}`,
          });
      }
      return {
        namespace,
        strategy: config.strategy,
        live,
        orders: audit.orders.length,
        paid: audit.orders.filter((o) => o.status === 'Paid').length,
        owed,
        provider,
        invariants,
        ok: invariants.every((i) => i.ok),
      };
    } finally {
      await engine.close();
    }
  } finally {
    await services.stop();
  }
}

/** money = orders from the mock's ledger in this database, or from --provider-url; says where it read. */
async function moneyCheck(
  namespace: string,
  request: CheckRequest,
  client: pg.ClientBase,
  row: SaleRow,
  orders: Parameters<typeof moneyMatchesOrders>[1],
  invariants: InvariantResult[],
): Promise<string> {
  if (!request.providerUrl && !(await hasMockLedger(client, namespace))) {
    invariants.push({
      name: 'money = orders',
      ok: true,
      detail:
        "not checked: the sale's provider ledger is not in this database; give --provider-url to read its charges",
    });
    return 'not read';
  }
  // The bundled mock's charges, read from its ledger table directly: no provider needs to run.
  const charges = request.providerUrl
    ? await chargesOf(undefined, request.providerUrl, row.startedAt)
    : (await allCharges(client, providerSchemaIdent(namespace))).map((c) =>
        toProviderCharge(c as unknown as Record<string, unknown>),
      );
  invariants.push(moneyMatchesOrders(charges, orders, { foreignCharges: Boolean(request.providerUrl) }).invariant);
  return request.providerUrl ?? `the bundled mock's ledger (${providerSchemaIdent(namespace)})`;
}

export function renderCheck(d: CheckDocument): string {
  const lines: string[] = [];
  if (d.sales.length === 0) lines.push('nothing to check: no sale in this database');
  for (const s of d.sales) {
    lines.push(
      `${s.namespace} (${s.strategy}${s.live ? ', still being served' : ''}): ${s.ok ? 'every invariant holds' : 'BROKEN'}; ${s.orders} orders, ${s.paid} paid, ${s.owed} owed to payment recovery; provider: ${s.provider}`,
    );
    for (const i of s.invariants) lines.push(`  ${i.ok ? 'pass' : 'FAIL'}  ${i.name}: ${i.detail}`);
  }
  return lines.join('\n');
}
