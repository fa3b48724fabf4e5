// The serve use case: the engine's HTTP API over a scenario's sale, until Ctrl-C. The command
// parses flags and prints where it listens.
import { randomBytes } from 'node:crypto';
import { ExitCode } from '../errors.js';
import { onInterrupt } from '../interrupt.js';
import { recoveryTimings } from '../engine/recovery.js';
import { checkSaleInvariants, stockOf } from '../engine/invariants.js';
import { moneyMatchesOrders } from '../engine/money.js';
import { toProviderCharge } from '../reconcile/provider-client.js';
import { renderCheck } from './check.js';
import { engineConfigOf, loadScenario } from '../scenario.js';
import { resolveServices } from '../services/resolve.js';
import { storeOf } from '../strategies/index.js';
import { chooseSaleStrategy, DEFAULT_SCENARIO } from './sale.js';

export interface ServeRequest {
  scenarioFile?: string;
  strategy?: string;
  port: number;
  redisUrl?: string;
  redisCluster?: string[];
  databaseUrl?: string;
  providerUrl?: string;
  providerSecret?: string;
}

export interface Listening {
  url: string;
  strategy: string;
  why: string;
  namespace: string;
  scenario: string;
  skus: string[];
}

export interface ServeHooks {
  log(line: string): void;
  onListening(info: Listening): void;
  onError(err: unknown): void;
}

export async function serve(request: ServeRequest, hooks: ServeHooks): Promise<number> {
  const scenario = loadScenario(request.scenarioFile ?? DEFAULT_SCENARIO);
  const { strategy, why } = chooseSaleStrategy(request.strategy ?? scenario.strategy, request);
  const need = new Set([storeOf(strategy), 'postgres' as const]);
  if (scenario.rateLimit) need.add('redis');
  const services = await resolveServices(need, {
    redisUrl: request.redisUrl,
    redisCluster: request.redisCluster,
    databaseUrl: request.databaseUrl,
    log: hooks.log,
  });
  const { startProvider } = await import('../provider/index.js');
  const { createEngine } = await import('../engine/engine.js');
  const { serveSaleApi } = await import('../http/server.js');
  const namespace = `serve_${randomBytes(4).toString('hex')}`;
  const secret = request.providerSecret ?? process.env.FLASHSALE_PROVIDER_SECRET ?? randomBytes(24).toString('hex');
  const provider = request.providerUrl
    ? undefined
    : await startProvider({
        databaseUrl: services.databaseUrl!,
        namespace,
        secret,
        seed: scenario.seed,
        faults: scenario.payment.faults,
      });
  const engine = await createEngine(
    engineConfigOf(scenario, {
      namespace,
      strategy,
      redisUrl: services.redisUrl,
      redisCluster: services.redisCluster,
      databaseUrl: services.databaseUrl!,
      providerUrl: request.providerUrl ?? provider!.url,
      providerSecret: secret,
    }),
  );
  let stopSweeper: (() => Promise<unknown>) | undefined;
  let stopRecovery: (() => Promise<unknown>) | undefined;
  try {
    await engine.setup();
    stopSweeper = engine.startSweeper();
    // Payments whose outcome never came back are resolved while the sale is served
    // (docs/design.md#payment-recovery).
    const timings = recoveryTimings(scenario.payment, provider ? scenario.payment.faults : undefined);
    stopRecovery = engine.startRecovery({ ...timings, intervalMs: Math.min(1_000, scenario.sweepIntervalMs) });
    const server = await serveSaleApi(engine, { port: request.port, onError: hooks.onError });
    hooks.onListening({
      url: server.url,
      strategy,
      why,
      namespace,
      scenario: scenario.name,
      skus: scenario.skus.map((k) => k.sku),
    });
    await new Promise<void>((resolve) => onInterrupt(resolve));
    await server.stop();
    // No buyer can race it now: recovery's last word, then the sale is finished for `recover`.
    await stopRecovery?.();
    stopRecovery = undefined;
    const { owed } = await engine.drainRecovery(Date.now() + timings.settleMs + 5_000, timings.settleMs);
    if (owed === 0) await engine.endSale();
    else
      hooks.onError?.(
        new Error(`${owed} orders still owe payment recovery; run flashsale recover --namespace ${namespace}`),
      );
    // Whoever drove it (wrk, k6, autocannon), the sale is judged as `flashsale check` judges it.
    const audit = await engine.audit();
    const invariants = checkSaleInvariants(audit, {
      perUserLimit: scenario.perUserLimit,
      stock: stockOf(scenario.skus),
    });
    if (provider && owed === 0) {
      const charges = (await provider.charges()).map((c) => toProviderCharge(c as unknown as Record<string, unknown>));
      invariants.push(moneyMatchesOrders(charges, audit.orders).invariant);
    }
    const ok = invariants.every((i) => i.ok);
    const paid = audit.orders.filter((o) => o.status === 'Paid').length;
    hooks.log(
      renderCheck({
        ok,
        sales: [
          {
            namespace,
            strategy,
            live: false,
            orders: audit.orders.length,
            paid,
            owed,
            provider: provider ? 'the bundled mock' : 'not read',
            invariants,
            ok,
          },
        ],
      }),
    );
    return ok ? ExitCode.Ok : ExitCode.Invariant;
  } finally {
    await stopSweeper?.().catch(() => {});
    await stopRecovery?.().catch(() => {});
    await engine.close();
    await provider?.stop();
    await services.stop();
  }
}
