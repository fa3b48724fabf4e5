// One piscina worker thread of the bench: its own connections, `concurrency` buyers always in
// flight (closed model), returning counters and an encoded HDR histogram.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { encodeHistogram, newHistogram } from '../histogram.js';
import { childSeed, picker, prng } from '../random.js';
import { createStrategy } from '../strategies/index.js';
import type { Counters, WorkerResult, WorkerTask } from './types.js';

export function emptyCounters(): Counters {
  return {
    attempts: 0,
    ok: 0,
    duplicates: 0,
    soldOut: 0,
    limitExceeded: 0,
    conflicts: 0,
    inProgress: 0,
    errors: 0,
    retries: 0,
    confirmed: 0,
    confirmFailed: 0,
  };
}

const MAX_ERROR_SAMPLES = 5;
/** Postgres connections one worker opens at most; more in flight queue in the client (reported). */
export const MAX_POOL = 200;

export default async function runWorker(task: WorkerTask): Promise<WorkerResult> {
  const strategy = await createStrategy(task.strategy, {
    namespace: task.namespace,
    redisUrl: task.redisUrl,
    redisCluster: task.redisCluster,
    databaseUrl: task.databaseUrl,
    naiveStore: task.naiveStore,
    // One connection per buyer in flight: a pool smaller than the concurrency would queue
    // requests inside the generator and hide the store's real behaviour.
    connections: Math.max(1, Math.min(task.concurrency, MAX_POOL)),
  });
  await strategy.connect(task.skus);
  // Workers start together, after every one has its connections: the measured window holds
  // load only, not connection setup.
  const wait = task.startAt - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const rand = prng(childSeed(task.seed, task.workerIndex));
  const pickSku = picker(task.skus.length, task.skew, rand);
  const hist = newHistogram();
  const confirmHist = newHistogram();
  const c = emptyCounters();
  const buyerUnits: Record<string, number> = {};
  const soldOutBySku: Record<string, number> = {};
  const errorSamples: string[] = [];
  const delay = monitorEventLoopDelay({ resolution: 10 });
  let issued = 0;
  let lastTick = 0;

  const stop = task.stop ? new Int32Array(task.stop) : undefined;
  const nextAttempt = (): number | undefined => {
    // Ctrl-C in the main thread: no new attempt, in-flight ones finish and are counted.
    if (stop && Atomics.load(stop, 0) !== 0) return undefined;
    if (task.attempts !== undefined && issued >= task.attempts) return undefined;
    if (task.deadline !== undefined && Date.now() >= task.deadline) return undefined;
    return issued++;
  };

  const tick = (force = false) => {
    if (!task.progress) return;
    const now = Date.now();
    if (!force && now - lastTick < 200) return;
    lastTick = now;
    task.progress.postMessage({
      worker: task.workerIndex,
      attempts: c.attempts,
      ok: c.ok,
      inFlight: issued - c.attempts,
    });
  };

  const buyer = async () => {
    for (let n = nextAttempt(); n !== undefined; n = nextAttempt()) {
      const sku = task.skus[pickSku()];
      const user = `u${Math.floor(rand() * task.users)}`;
      const idempotencyKey = `w${task.workerIndex}-${n}`;
      const t0 = performance.now();
      try {
        const r = await strategy.reserve({ sku, qty: task.qty, user, idempotencyKey, ttlMs: task.ttlMs });
        hist.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
        c.attempts++;
        c.retries += r.retries;
        if (r.ok) {
          if (r.duplicate) {
            c.duplicates++;
          } else {
            c.ok++;
            buyerUnits[sku] = (buyerUnits[sku] ?? 0) + task.qty;
            if (task.confirmRate > 0 && rand() < task.confirmRate) {
              const t1 = performance.now();
              const sold = await strategy.confirm(r.reservation);
              confirmHist.recordValue(Math.max(1, Math.round((performance.now() - t1) * 1000)));
              if (sold) c.confirmed++;
              else c.confirmFailed++;
            }
          }
        } else if (r.reason === 'sold_out') {
          c.soldOut++;
          soldOutBySku[sku] = (soldOutBySku[sku] ?? 0) + 1;
        } else if (r.reason === 'limit_exceeded') c.limitExceeded++;
        else if (r.reason === 'conflict') c.conflicts++;
        else c.inProgress++;
      } catch (err) {
        c.attempts++;
        c.errors++;
        if (errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push((err as Error).message ?? String(err));
      }
      tick();
    }
  };

  const elu0 = performance.eventLoopUtilization();
  delay.enable();
  const startedAt = Date.now();
  let endedAt = startedAt;
  try {
    await Promise.all(Array.from({ length: task.concurrency }, buyer));
    endedAt = Date.now();
  } finally {
    delay.disable();
    await strategy.close();
  }
  const elu = performance.eventLoopUtilization(elu0).utilization;
  tick(true);
  task.progress?.close();
  return {
    workerIndex: task.workerIndex,
    counters: c,
    buyerUnits,
    soldOutBySku,
    histogram: encodeHistogram(hist),
    confirmHistogram: encodeHistogram(confirmHist),
    startedAt,
    endedAt,
    elu,
    loopDelayP99Ms: delay.percentile(99) / 1e6,
    errorSamples,
  };
}
