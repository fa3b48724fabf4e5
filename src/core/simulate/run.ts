// Runs a whole sale: provider, engine, sweeper, workers; then judges it from the records.
// No printing: progress and results go through hooks and the returned object.
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { SIMULATE_HISTOGRAMS, type Simulation, type SkuSummary } from '../documents/simulate.js';
import { encodeHistograms, mergeHistograms, summariseHistograms } from '../histogram-set.js';
import type {
  Engine,
  EngineConfig,
  OrderFinality,
  OrderRecord,
  RecoveryTally,
  SaleApi,
  StoreRebuild,
} from '../engine/types.js';
import type { Fault, Provider } from '../provider/index.js';
import type { LoopFailures } from '../engine/sweeper.js';
import { connect } from 'node:net';
import { redact, ServiceError } from '../errors.js';
import { retryConnectionLost } from '../postgres/client.js';
import type { ProviderCharge } from '../reconcile/types.js';
import type { InvariantResult } from '../invariants.js';
import { engineConfigOf, type Scenario } from '../scenario.js';
import type { StrategyName } from '../strategies/types.js';
import type { Shard } from '../traffic/stages.js';
import {
  emptyJourneyCounters,
  FAIRNESS_BUCKET_MS,
  type BuyersTally,
  type FairnessTrace,
  type JourneyCounters,
} from './journey.js';
import { mergeTimelines, sampleStock } from './timeline.js';
import type { SimProgress, SimWorkerResult, SimWorkerTask } from './worker.js';
import { MessageChannel } from 'node:worker_threads';

const WORKER = fileURLToPath(new URL('../../../dist/core/simulate/worker.js', import.meta.url));

export interface SimulateOptions {
  scenario: Scenario;
  strategy: StrategyName;
  /** sync: direct calls; async: the steps travel as events on Redis Streams. */
  mode: 'sync' | 'async';
  transport: 'direct' | 'http';
  /** Drive another system serving the same API (http transport); no ledger to judge then. */
  target?: string;
  workers: number;
  shard: Shard;
  redisUrl?: string;
  redisCluster?: string[];
  databaseUrl: string;
  /** An external provider; the bundled mock otherwise. */
  providerUrl?: string;
  providerSecret?: string;
  stop?: SharedArrayBuffer;
  /**
   * false: a negative control, the sale without payment recovery (as flashsale ran before it had
   * one); money = orders must then catch what the engine gave up on. Default true.
   */
  paymentRecovery?: boolean;
  /** The sale's namespace (newSaleNamespace()); a new one if absent. */
  namespace?: string;
  /** Called a few times a second with totals over all workers (for a live line on a terminal). */
  onProgress?: (p: LiveProgress) => void;
}

export interface LiveProgress {
  mode: 'sync' | 'async';
  elapsedMs: number;
  journeys: number;
  orders: number;
  paid: number;
  inFlight: number;
  /** The slowest worker's reserve p99 so far (merging histograms live would cost the run). */
  reserveP99Ms: number;
}

export type { SkuSummary };

/**
 * A finished run: simulate's document of one mode (documents/simulate.ts, where each figure is
 * described) and the orders, which go to orders.csv rather than into summary.json.
 */
export type SimulationResult = Simulation & { orders: OrderRecord[] };

/** A fresh sale namespace: every key, schema and order of one run lives under it. */
export function newSaleNamespace(): string {
  return `sim_${randomBytes(4).toString('hex')}`;
}

/** Everything that decides the arrivals and the sale, not where the file was read from. */
export function scenarioDigest(scenario: Scenario): string {
  const { source: _source, description: _description, ...rest } = scenario;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

/** Pure: counters and histograms of all workers into one. */
export function mergeSimResults(results: SimWorkerResult[]) {
  const counters = emptyJourneyCounters();
  const h = mergeHistograms(SIMULATE_HISTOGRAMS, results);
  const fairness: FairnessTrace = { refusals: {}, lastGrantMs: {} };
  let droppedLate = 0;
  let droppedInFlightCap = 0;
  let startedAt = Infinity;
  let endedAt = 0;
  let arrivalsEndedAt = 0;
  const errorSamples: string[] = [];
  let lastPayFailure: string | undefined;
  const tally: BuyersTally = { granted: {}, paid: {}, clickConflicts: 0, charges: [] };
  for (const r of results) {
    for (const [sku, n] of Object.entries(r.tally.granted)) tally.granted[sku] = (tally.granted[sku] ?? 0) + n;
    for (const [sku, n] of Object.entries(r.tally.paid)) tally.paid[sku] = (tally.paid[sku] ?? 0) + n;
    tally.clickConflicts += r.tally.clickConflicts;
    tally.firstClickConflict ??= r.tally.firstClickConflict;
    tally.charges.push(...r.tally.charges);
    lastPayFailure = r.lastPayFailure ?? lastPayFailure;
    for (const k of Object.keys(counters) as (keyof JourneyCounters)[]) counters[k] += r.counters[k];
    droppedLate += r.droppedLate;
    droppedInFlightCap += r.droppedInFlightCap;
    startedAt = Math.min(startedAt, r.startedAt);
    endedAt = Math.max(endedAt, r.endedAt);
    arrivalsEndedAt = Math.max(arrivalsEndedAt, r.arrivalsEndedAt);
    for (const [sku, buckets] of Object.entries(r.fairness.refusals)) {
      const into = (fairness.refusals[sku] ??= {});
      for (const [b, n] of Object.entries(buckets)) into[Number(b)] = (into[Number(b)] ?? 0) + n;
    }
    for (const [sku, at] of Object.entries(r.fairness.lastGrantMs))
      fairness.lastGrantMs[sku] = Math.max(fairness.lastGrantMs[sku] ?? 0, at);
    for (const e of r.errorSamples) if (errorSamples.length < 5 && !errorSamples.includes(e)) errorSamples.push(e);
  }
  // Refusals in buckets wholly before the SKU's last granted arrival: someone later got stock.
  let unfairRefusals = 0;
  for (const [sku, buckets] of Object.entries(fairness.refusals)) {
    const last = fairness.lastGrantMs[sku];
    if (last === undefined) continue;
    for (const [b, n] of Object.entries(buckets)) if ((Number(b) + 1) * FAIRNESS_BUCKET_MS <= last) unfairRefusals += n;
  }
  const timeline = mergeTimelines(results.map((r) => r.timeline));
  return {
    tally,
    ...(lastPayFailure ? { lastPayFailure } : {}),
    counters,
    h,
    droppedLate,
    droppedInFlightCap,
    startedAt: results.length ? startedAt : 0,
    arrivalsEndedAt,
    endedAt,
    unfairRefusals,
    errorSamples,
    timeline,
  };
}

/**
 * Every order in the records was announced to a buyer as new, and no other. A request that
 * errored (an answer lost on the way) may have made an order its buyer never heard of, so then
 * the records may hold up to that many more.
 */
export function ordersMatchBuyers(c: JourneyCounters, recorded: number): InvariantResult {
  const told = c.orders;
  const ok = c.errors === 0 ? recorded === told : recorded >= told && recorded <= told + c.errors;
  return {
    name: 'orders = buyers',
    ok,
    detail: ok
      ? `${recorded} orders recorded, ${told} announced to buyers${c.errors ? ` (${c.errors} requests errored)` : ''}`
      : `${recorded} orders recorded but buyers were told of ${told} new ones${c.errors ? ` and ${c.errors} requests errored` : ''}`,
  };
}

/**
 * money = orders from the provider's side: the mock's own ledger, or another provider's list of
 * the charges created since the run started (charges of other sales there are not judged). The
 * planted faults come back with every charge nobody recovered labelled as reconcile will see it.
 */
async function checkMoney(
  orders: OrderRecord[],
  provider: Provider | undefined,
  providerUrl: string | undefined,
  planted: Fault[],
  startedAt: number,
): Promise<{ invariant: InvariantResult; faults: Fault[] }> {
  const { moneyMatchesOrders, faultsAfterRun } = await import('../engine/money.js');
  const { toProviderCharge, ProviderReader } = await import('../reconcile/provider-client.js');
  let charges: ProviderCharge[] = [];
  try {
    if (provider)
      // The mock's books are in Postgres too: a read cut by a lost connection is read again.
      charges = (await retryConnectionLost("reading the provider's charges", () => provider.charges())).map((c) =>
        toProviderCharge(c as unknown as Record<string, unknown>),
      );
    else if (providerUrl) {
      const reader = new ProviderReader(providerUrl);
      try {
        // A minute of slack each side: the provider's clock is not ours.
        const gte = Math.floor((startedAt || Date.now()) / 1000) - 60;
        for await (const page of reader.charges(gte, Math.ceil(Date.now() / 1000) + 60)) charges.push(...page);
      } finally {
        await reader.close();
      }
    }
  } catch (err) {
    return {
      invariant: {
        name: 'money = orders',
        ok: false,
        detail: `the provider's charges could not be read: ${err instanceof Error ? err.message : String(err)}`,
      },
      faults: planted,
    };
  }
  const check = moneyMatchesOrders(charges, orders, { planted, foreignCharges: !provider });
  return { invariant: check.invariant, faults: faultsAfterRun(planted, check.breaks) };
}

/**
 * An external target judged from its buyers' side (docs/design.md#a-target-judged-from-the-buyers-side):
 * per SKU the units it answered paid against the declared stock, no click answered with two
 * orders, no charge answered for two orders.
 */
export function buyersTallyInvariants(tally: BuyersTally, skus: { sku: string; stock: number }[]): InvariantResult[] {
  const over = skus
    .filter((k) => (tally.paid[k.sku] ?? 0) > k.stock)
    .map(
      (k) =>
        `${k.sku}: the target took payment for ${tally.paid[k.sku]} units of ${k.stock} (oversold by ${(tally.paid[k.sku] ?? 0) - k.stock})`,
    );
  const paid = Object.values(tally.paid).reduce((a, b) => a + b, 0);
  const byCharge = new Map<string, string>();
  const twice: string[] = [];
  for (const [orderId, chargeId] of tally.charges) {
    const first = byCharge.get(chargeId);
    if (first !== undefined && first !== orderId)
      twice.push(`charge ${chargeId} was answered for orders ${first} and ${orderId}`);
    else byCharge.set(chargeId, orderId);
  }
  const granted = Object.values(tally.granted).reduce((a, b) => a + b, 0);
  return [
    {
      name: "no oversell (buyers' tally)",
      ok: over.length === 0,
      detail: over.length
        ? over.join('; ')
        : `${paid} units answered paid, none of ${skus.length} SKU(s) past its stock (${granted} units granted as holds)`,
    },
    {
      name: 'one order per click',
      ok: tally.clickConflicts === 0,
      detail:
        tally.clickConflicts === 0
          ? 'every click, double clicks and retries included, got at most one order'
          : `${tally.clickConflicts} click(s) got more than one order; e.g. ${tally.firstClickConflict}`,
    },
    {
      name: 'paid once',
      ok: twice.length === 0,
      detail: twice.length
        ? `${twice.length} charge(s) paid two orders; e.g. ${twice[0]}`
        : `${tally.charges.length} orders answered paid, each with its own charge`,
    },
  ];
}

/**
 * The orders still pending when the run is judged (after the last sweep at `at`), by cause: a
 * hold a buyer left whose time is not up (expected: it expires like any other), or anything else.
 */
export function pendingByCause(orders: OrderRecord[], at: number): { holdsLive: number; stuck: number } {
  let holdsLive = 0;
  let stuck = 0;
  for (const o of orders) {
    if (o.status !== 'PendingPayment') continue;
    if (!o.chargeId && (o.expiresAt ?? 0) > at) holdsLive++;
    else stuck++;
  }
  return { holdsLive, stuck };
}

/** How long the judging at the end waits for a store that went away to come back. */
const STORE_RETRY_MS = 15_000;

/**
 * The final sweep and audit, retried while a store is briefly away (restarting); one that stays
 * away is exit 6 naming the last error.
 */
async function withStoreRetry<T>(step: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + STORE_RETRY_MS;
  for (;;) {
    try {
      return await step();
    } catch (err) {
      if (Date.now() > deadline)
        throw new ServiceError(
          'store',
          `the sale's stores did not answer for ${STORE_RETRY_MS / 1000} s at the end of the run: ${err instanceof Error ? err.message : String(err)}`,
          'bring Redis / Postgres back, then `flashsale recover --namespace` the sale',
        );
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** The engine of a mode; the async one's consumers run in the process that calls setup(). */
export async function openEngine(mode: 'sync' | 'async', config: EngineConfig): Promise<Engine> {
  if (mode === 'async') return (await import('../engine/async-engine.js')).createAsyncEngine(config);
  return (await import('../engine/engine.js')).createEngine(config);
}

/** How far ahead of "now" the start is set once all are ready: time for the notification to land. */
const START_LEAD_MS = 100;
const GATE_TIMEOUT_MS = 120_000;

/**
 * Waits until every worker said it is ready (or one of them ended: failed while connecting),
 * then sets the common start a moment ahead and lets them go.
 */
async function openGate(gate: SharedArrayBuffer, workers: number, tasks: Promise<unknown>[]): Promise<number> {
  const flags = new Int32Array(gate, 0, 2);
  let ended = false;
  for (const t of tasks)
    t.then(
      () => (ended = true),
      () => (ended = true),
    );
  const giveUp = Date.now() + GATE_TIMEOUT_MS;
  while (Atomics.load(flags, 0) < workers && !ended && Date.now() < giveUp) await new Promise((r) => setTimeout(r, 5));
  const start = Date.now() + START_LEAD_MS;
  new Float64Array(gate, 8, 1)[0] = start;
  Atomics.store(flags, 1, 1);
  Atomics.notify(flags, 1);
  return start;
}

/** A target that refuses connections is exit 6 before any buyer arrives, not a run of errors. */
async function probeTarget(target: string): Promise<void> {
  const u = new URL(target);
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host: u.hostname, port });
    socket.setTimeout(5_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error('no connection within 5 s'));
    });
    socket.once('error', reject);
  }).catch((err: NodeJS.ErrnoException) => {
    throw new ServiceError(
      'target',
      `the target at ${redact(target)} does not answer: ${err.code ?? err.message}`,
      'start the system under test, or check --target',
    );
  });
}

export async function runSimulation(opts: SimulateOptions): Promise<SimulationResult> {
  const { scenario } = opts;
  const namespace = opts.namespace ?? newSaleNamespace();
  const secret = opts.providerSecret ?? randomBytes(24).toString('hex');
  const { startProvider } = await import('../provider/index.js');
  if (opts.target) await probeTarget(opts.target);
  if (opts.providerUrl) {
    // A provider that does not answer is exit 6 before any buyer arrives, not a run of failed
    // payments that recovery then waits out.
    const { ProviderReader, DEFAULT_PAGER } = await import('../reconcile/provider-client.js');
    const reader = new ProviderReader(opts.providerUrl, { ...DEFAULT_PAGER, timeoutMs: 5_000 });
    try {
      await reader.probe();
    } finally {
      await reader.close();
    }
  }
  const provider = opts.providerUrl
    ? undefined
    : await startProvider({
        databaseUrl: opts.databaseUrl,
        namespace,
        secret,
        seed: scenario.seed,
        faults: scenario.payment.faults,
      });
  const engineConfig = engineConfigOf(scenario, {
    namespace,
    strategy: opts.strategy,
    redisUrl: opts.redisUrl,
    redisCluster: opts.redisCluster,
    databaseUrl: opts.databaseUrl,
    providerUrl: opts.providerUrl ?? provider!.url,
    providerSecret: secret,
  });
  const external = opts.transport === 'http' && opts.target !== undefined;
  // An engine that cannot open (a store unreachable) must not leave the provider listening: the
  // process would never exit after printing the error.
  const engine: Engine | undefined = external
    ? undefined
    : await openEngine(opts.mode, engineConfig).catch(async (err: unknown) => {
        await provider?.stop().catch(() => {});
        throw err;
      });
  let server: { url: string; stop(): Promise<void> } | undefined;
  let stopSweeper: (() => Promise<unknown>) | undefined;
  let stopRecovery: (() => Promise<unknown>) | undefined;
  const { recoveryTimings, emptyRecoveryTally } = await import('../engine/recovery.js');
  const recovery = recoveryTimings(engineConfig.payment, provider ? scenario.payment.faults : undefined);
  let stockSampler: ReturnType<typeof sampleStock> | undefined;
  const pool = new Piscina({
    filename: WORKER,
    minThreads: opts.workers,
    maxThreads: opts.workers,
    idleTimeout: 60_000,
  });
  try {
    if (engine) {
      await engine.setup();
      stopSweeper = engine.startSweeper();
      // Beside the sweeper: payments whose outcome never came back are looked up while the sale runs.
      if (opts.paymentRecovery !== false)
        stopRecovery = engine.startRecovery({ ...recovery, intervalMs: Math.min(1_000, engineConfig.sweepIntervalMs) });
      if (opts.transport === 'http') {
        const { serveSaleApi } = await import('../http/server.js');
        server = await serveSaleApi(engine as SaleApi, { port: 0 });
      }
    }
    const target = opts.target ?? server?.url;
    // Set for real once every worker has connected (see SimWorkerTask.gate).
    let start = Date.now() + 1_000;
    const gate = new SharedArrayBuffer(16);
    const live = new Map<number, SimProgress>();
    const tasks = Array.from({ length: opts.workers }, (_, i) => {
      const channel = opts.onProgress ? new MessageChannel() : undefined;
      channel?.port1.on('message', (p: SimProgress) => {
        live.set(p.worker, p);
        const all = [...live.values()];
        const sum = (f: (q: SimProgress) => number) => all.reduce((n, q) => n + f(q), 0);
        opts.onProgress?.({
          mode: opts.mode,
          elapsedMs: Date.now() - start,
          journeys: sum((q) => q.journeys),
          orders: sum((q) => q.orders),
          paid: sum((q) => q.paid),
          inFlight: sum((q) => q.inFlight),
          reserveP99Ms: Math.max(...all.map((q) => q.reserveP99Ms)),
        });
      });
      const task: SimWorkerTask = {
        scenario,
        mode: opts.mode,
        engine: engineConfig,
        transport: opts.transport,
        target,
        workerIndex: i,
        workers: opts.workers,
        shard: opts.shard,
        runId: `${namespace.slice(4)}-`,
        start,
        gate,
        stop: opts.stop,
        progress: channel?.port2 as unknown as MessagePort | undefined,
      };
      return (
        pool.run(task, { transferList: channel ? [channel.port2 as never] : [] }) as Promise<SimWorkerResult>
      ).finally(() => channel?.port1.close());
    });
    start = await openGate(gate, opts.workers, tasks);
    // Only an engine in this process can be asked cheaply and truthfully what is left.
    if (engine)
      stockSampler = sampleStock(
        async (sku) => (await engine.availability(sku)).available,
        scenario.skus.map((k) => k.sku),
        start,
      );
    const results = await Promise.all(tasks);
    const stockSamples = (await stockSampler?.stop()) ?? [];
    // Sweeps or recovery passes that failed (a store down for a while) were made up for by later
    // ones; the report says they happened.
    const loopNotes: string[] = [];
    for (const [what, stop] of [
      ['sweeper', stopSweeper],
      ['payment recovery', stopRecovery],
    ] as const) {
      const f = (await stop?.()) as LoopFailures | undefined;
      if (f?.failures)
        loopNotes.push(`the ${what} failed ${f.failures} time(s) during the sale; first: ${f.firstError}`);
    }
    stopSweeper = undefined;
    stopRecovery = undefined;
    const merged = mergeSimResults(results);
    const durationSec = Math.max(0.001, (merged.endedAt - merged.startedAt) / 1000);
    // Rates are over the arrival phase: the drain after it (buyers still paying) starts no attempts
    // and would dilute a sustained rate into an average over a tail.
    const arrivalSec = Math.max(0.001, (merged.arrivalsEndedAt - merged.startedAt) / 1000);

    let invariants: InvariantResult[] = [];
    let skus: SkuSummary[] = [];
    let orders: OrderRecord[] = [];
    let finality: OrderFinality | undefined;
    let recoveryTally: RecoveryTally | undefined;
    let storeRebuilds: StoreRebuild[] = [];
    let pendingAtEnd: { holdsLive: number; stuck: number } | undefined;
    let providerFaults = provider?.faults() ?? [];
    if (engine) {
      // Every buyer is gone: recovery's last word on the payments whose outcome is unknown (no
      // payer can race it now), then the holds whose time is up go back before judging
      // (conservation is stated after the sweep).
      const drained =
        opts.paymentRecovery === false
          ? { owed: await withStoreRetry(() => engine.recoveryOwed()), tally: emptyRecoveryTally() }
          : await engine.drainRecovery(Date.now() + recovery.settleMs + 5_000, recovery.settleMs);
      recoveryTally = drained.tally;
      let judgedAt = Date.now();
      const audit = await withStoreRetry(async () => {
        judgedAt = Date.now();
        await engine.sweep(judgedAt);
        return engine.audit();
      });
      pendingAtEnd = pendingByCause(audit.orders, judgedAt);
      const { checkSaleInvariants, stockOf } = await import('../engine/invariants.js');
      invariants = checkSaleInvariants(audit, { perUserLimit: scenario.perUserLimit, stock: stockOf(scenario.skus) });
      invariants.push(ordersMatchBuyers(merged.counters, audit.orders.length));
      const { everyPaymentResolved } = await import('../engine/recovery.js');
      invariants.push(everyPaymentResolved(drained.owed, drained.tally));
      const money = await checkMoney(audit.orders, provider, opts.providerUrl, providerFaults, merged.startedAt);
      invariants.push(money.invariant);
      providerFaults = money.faults;
      storeRebuilds = engine.storeRebuilds();
      for (const r of storeRebuilds)
        loopNotes.push(
          `the stock store had lost ${r.skus.length} SKU(s) at +${((r.at - merged.startedAt) / 1000).toFixed(1)} s (${r.skus.join(', ')}): rebuilt from the orders with ${r.held} held, ${r.sold} sold, ${r.ended} ended; ${r.lateEnded} order(s) made meanwhile from lost holds, ${r.lateSold} confirmed again`,
        );
      // Nothing owed: a later `flashsale recover` leaves this sale alone.
      if (drained.owed === 0) await withStoreRetry(() => engine.endSale());
      orders = audit.orders;
      finality = audit.finality;
      skus = scenario.skus.map((k) => {
        const paid = audit.orders.filter((o) => o.sku === k.sku && o.status === 'Paid');
        const held = audit.strategy.ledger
          .filter((e) => e.sku === k.sku && e.state === 'held')
          .reduce((n, e) => n + e.qty, 0);
        const sold = audit.soldBySku[k.sku] ?? 0;
        return {
          sku: k.sku,
          stock: k.stock,
          sold,
          held,
          remaining: audit.strategy.skus.find((s) => s.sku === k.sku)?.available ?? 0,
          revenueMinor: paid.reduce((n, o) => n + o.amountMinor, 0),
          currency: k.currency,
        };
      });
    } else {
      // Its records are not ours to read: judged from what its buyers were told.
      invariants = buyersTallyInvariants(merged.tally, scenario.skus);
      skus = scenario.skus.map((k) => ({
        sku: k.sku,
        stock: k.stock,
        sold: merged.tally.paid[k.sku] ?? 0,
        held: 0,
        remaining: Math.max(0, k.stock - (merged.tally.paid[k.sku] ?? 0)),
        revenueMinor: (merged.tally.paid[k.sku] ?? 0) * k.priceMinor,
        currency: k.currency,
      }));
    }
    const oversoldBy = (name: string) => {
      const inv = invariants.find((i) => i.name === name && !i.ok);
      return inv ? Math.max(0, ...[...inv.detail.matchAll(/oversold by (\d+)/g)].map((m) => Number(m[1]))) : 0;
    };
    const stock = scenario.skus.reduce((n, k) => n + k.stock, 0);
    const sold = skus.reduce((n, k) => n + k.sold, 0);
    const c = merged.counters;
    return {
      ok: invariants.every((i) => i.ok),
      namespace,
      strategy: opts.strategy,
      mode: opts.mode,
      finality,
      transport: opts.transport,
      ...(external ? { target: opts.target } : {}),
      stock,
      sold,
      oversold: Math.max(
        oversoldBy('no oversell'),
        oversoldBy('no oversell at any moment'),
        oversoldBy("no oversell (buyers' tally)"),
      ),
      durationSec: Math.round(durationSec * 1000) / 1000,
      arrivalPhaseSec: Math.round(arrivalSec * 1000) / 1000,
      attemptsPerSec: Math.round((c.journeys / arrivalSec) * 10) / 10,
      reserveCallsPerSec: Math.round((c.reserveCalls / arrivalSec) * 10) / 10,
      successPerSec: Math.round((c.orders / arrivalSec) * 10) / 10,
      droppedArrivals: merged.droppedLate + merged.droppedInFlightCap,
      droppedLate: merged.droppedLate,
      droppedInFlightCap: merged.droppedInFlightCap,
      counters: c,
      latencyMs: summariseHistograms(merged.h),
      unfairRefusals: merged.unfairRefusals,
      timeline: { ...merged.timeline, stock: stockSamples },
      invariants,
      skus,
      orders,
      providerFaults,
      ...(recoveryTally ? { recovery: recoveryTally } : {}),
      ...(pendingAtEnd ? { pendingAtEnd } : {}),
      ...(storeRebuilds.length ? { storeRebuilds } : {}),
      errorSamples: [...loopNotes, ...merged.errorSamples],
      ...(merged.lastPayFailure ? { lastPayFailure: merged.lastPayFailure } : {}),
      histograms: encodeHistograms(merged.h),
      shard: opts.shard,
      scenarioDigest: scenarioDigest(scenario),
      startedAt: new Date(merged.startedAt || Date.now()).toISOString(),
    };
  } finally {
    await stockSampler?.stop().catch(() => {});
    await stopSweeper?.().catch(() => {});
    await stopRecovery?.().catch(() => {});
    await pool.destroy();
    await server?.stop();
    await engine?.close();
    await provider?.stop();
  }
}
