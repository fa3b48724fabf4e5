// The recover use case (docs/design.md#payment-recovery): a sale whose run died (SIGKILL, a crash,
// a lost machine) is reopened from its `sale` row, every order whose payment outcome is unknown is
// finished from the provider's answers, the holds of buyers who are gone are expired, and the sale
// is judged again: money = orders, every payment resolved, the store's invariants.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { RecoverDocument, RecoveredSale } from '../documents/recover.js';
import { openSaleEngine } from '../engine/engine.js';
import { checkSaleInvariants, stockOf } from '../engine/invariants.js';
import { moneyMatchesOrders } from '../engine/money.js';
import type { SaleRow } from '../engine/orders.js';
import { everyPaymentResolved } from '../engine/recovery.js';
import { ExitCode, UsageError } from '../errors.js';
import type { InvariantResult } from '../invariants.js';
import { startBundledProvider } from '../reconcile/run.js';
import { chargesOf, hasMockLedger, stillRunning, storesOfSale, visitRecordedSales } from './sale-records.js';

export interface RecoverRequest {
  /** The sale to recover; every sale in the database whose run died if absent. */
  namespace?: string;
  /** The provider the sale charged through; its bundled mock (over the sale's ledger) if absent. */
  providerUrl?: string;
  redisUrl?: string;
  redisCluster?: string[];
  databaseUrl?: string;
  /** How long a charge request may still commit at an external provider after the run died. */
  settleMs: number;
}

export interface RecoverOutcome {
  document: RecoverDocument;
  text: string;
  exitCode: number;
}

export async function recoverSales(request: RecoverRequest, log: (line: string) => void): Promise<RecoverOutcome> {
  const sales: RecoveredSale[] = [];
  const skipped: { namespace: string; reason: string }[] = [];
  await visitRecordedSales(
    { namespace: request.namespace, databaseUrl: request.databaseUrl, command: 'recover', log },
    async ({ namespace, row, databaseUrl, client }) => {
      if (stillRunning(row)) {
        const reason = `its run is still going (pid ${row.ownerPid} on ${row.ownerHost})`;
        if (request.namespace) throw new UsageError(`--namespace: sale "${namespace}" is not recoverable: ${reason}`);
        skipped.push({ namespace, reason });
        return;
      }
      if (row.endedAt !== undefined && !request.namespace) return;
      sales.push(await recoverOne(namespace, row, request, databaseUrl, client, log));
    },
  );
  const document: RecoverDocument = { ok: sales.every((s) => s.ok), sales, skipped };
  const exitCode = sales.some((s) => s.owed !== 0)
    ? ExitCode.Service
    : sales.every((s) => s.ok)
      ? ExitCode.Ok
      : ExitCode.Invariant;
  return { document, text: renderRecover(document), exitCode };
}

async function recoverOne(
  namespace: string,
  row: SaleRow,
  request: RecoverRequest,
  databaseUrl: string,
  client: pg.ClientBase,
  log: (line: string) => void,
): Promise<RecoveredSale> {
  const { config, store, services } = await storesOfSale(row, request, log);
  let provider: { url: string; stop(): Promise<void>; charges?(): Promise<unknown[]> } | undefined;
  try {
    // The sale's own mock died with its run: a request it was holding can no longer commit, so
    // "no charge" is final at once. Another provider may still be committing one.
    const external = request.providerUrl ?? ((await hasMockLedger(client, namespace)) ? undefined : config.providerUrl);
    if (!external) provider = await startBundledProvider(client, databaseUrl, namespace);
    const settleMs = external ? request.settleMs : 0;
    const engine = await openSaleEngine({
      ...config,
      namespace,
      redisUrl: services.redisUrl,
      redisCluster: services.redisCluster,
      databaseUrl,
      providerUrl: external ?? provider!.url,
      // Recovery looks up and refunds; it never charges, so no token is signed with it.
      providerSecret: randomBytes(24).toString('hex'),
    });
    try {
      log(`recovering sale ${namespace} (${config.strategy}, started ${new Date(row.startedAt).toISOString()})`);
      const before = await engine.recoveryOwed();
      const drained = await engine.drainRecovery(Date.now() + settleMs + 30_000, settleMs);
      // The buyers left with the run: their holds and unpaid orders end now.
      const now = Date.now();
      const units = await engine.strategy.sweepExpired(now + config.holdTtlMs + 1);
      const expired = await engine.orders.expirePending(now);
      const audit = await engine.audit();
      const invariants: InvariantResult[] = [everyPaymentResolved(drained.owed, drained.tally)];
      const storeHasSale = audit.strategy.skus.length === config.skus.length;
      invariants.push(
        ...(storeHasSale
          ? checkSaleInvariants(audit, { perUserLimit: config.perUserLimit, stock: stockOf(config.skus) })
          : [
              {
                name: 'store invariants',
                ok: true,
                detail: `not checked: the ${store === 'redis' ? 'Redis' : 'Postgres'} store no longer holds this sale's stock (a store that kept nothing on disk); the records and the provider were`,
              },
            ]),
      );
      const charges = await chargesOf(provider, external, row.startedAt);
      invariants.push(moneyMatchesOrders(charges, audit.orders, { foreignCharges: Boolean(external) }).invariant);
      if (drained.owed === 0) await engine.endSale();
      return {
        namespace,
        strategy: config.strategy,
        owedBefore: before,
        owed: drained.owed,
        recovery: drained.tally,
        expired: { orders: expired, units },
        provider: external ?? `bundled mock (mockpay_${namespace})`,
        invariants,
        ok: invariants.every((i) => i.ok),
      };
    } finally {
      await engine.close();
    }
  } finally {
    await provider?.stop();
    await services.stop();
  }
}

export function renderRecover(d: RecoverDocument): string {
  const lines: string[] = [];
  if (d.sales.length === 0) lines.push('nothing to recover: no sale in this database was left unfinished by its run');
  for (const s of d.sales) {
    const t = s.recovery;
    lines.push(
      `${s.namespace} (${s.strategy}): ${s.owedBefore} orders owed payment recovery; ${t.paid} paid, ${t.refunded} refunded, ${t.declined} declined, ${t.released} released, ${t.noCharge} never charged; ${s.expired.orders} unpaid orders and ${s.expired.units} held units expired; ${s.owed === 0 ? 'nothing owed now' : `${s.owed} still owed${t.lastError ? ` (last error: ${t.lastError})` : ''}`}`,
    );
    for (const i of s.invariants) lines.push(`  ${i.ok ? 'pass' : 'FAIL'}  ${i.name}: ${i.detail}`);
  }
  for (const s of d.skipped) lines.push(`${s.namespace}: left alone, ${s.reason}`);
  return lines.join('\n');
}
