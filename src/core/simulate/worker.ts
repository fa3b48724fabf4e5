// One piscina worker of `simulate`: its own engine (direct transport) or HTTP client, its slice
// of the arrivals (open model) or of the virtual buyers (closed model), and a plain result.
import { performance } from 'node:perf_hooks';
import { childSeed, picker, prng } from '../random.js';
import { encodeHistogram } from '../histogram.js';
import type { EngineConfig, SaleApi } from '../engine/types.js';
import type { Scenario } from '../scenario.js';
import { compileProfile, shardArrivals, subShard, type Shard } from '../traffic/stages.js';
import { runOpenLoop } from '../traffic/open-loop.js';
import {
  drawBuyer,
  newRecorder,
  runJourney,
  type FairnessTrace,
  type JourneyCounters,
  type BuyersTally,
} from './journey.js';
import type { WorkerTimeline } from './timeline.js';

export interface SimWorkerTask {
  scenario: Scenario;
  mode: 'sync' | 'async';
  engine: EngineConfig;
  transport: 'direct' | 'http';
  /** Base URL of the sale API with the http transport. */
  target?: string;
  workerIndex: number;
  workers: number;
  /** This process's slice of the whole scenario (`--shard i/n`). */
  shard: Shard;
  /** Unique per run: prefixes every click id (idempotency key) the run sends. */
  runId?: string;
  /** Epoch ms every worker counts arrival offsets from; replaced by the gate's when there is one. */
  start: number;
  /**
   * The common start, set once every worker is ready: Int32 [0] workers ready, [1] non-zero once
   * the start is set; Float64 at byte 8 the start. Connecting (a pool of Postgres connections, the
   * Redis scripts) can take longer than any fixed lead on a loaded machine, and a worker that
   * starts after its first arrivals were due would drop them as late: the generator's fault.
   */
  gate?: SharedArrayBuffer;
  /** Shared Int32 flag: non-zero = stop (Ctrl-C). */
  stop?: SharedArrayBuffer;
  /** Where progress ticks go, when someone watches (a terminal). */
  progress?: MessagePort;
}

/** A worker's running totals, posted a few times a second for the live line. */
export interface SimProgress {
  worker: number;
  journeys: number;
  orders: number;
  paid: number;
  inFlight: number;
  /** This worker's reserve p99 so far, ms. */
  reserveP99Ms: number;
}

export interface SimWorkerResult {
  workerIndex: number;
  counters: JourneyCounters;
  /** Compressed base64 HDR histograms, µs. */
  reserve: string;
  pay: string;
  endToEnd: string;
  lateness: string;
  droppedLate: number;
  droppedInFlightCap: number;
  peakInFlight: number;
  fairness: FairnessTrace;
  startedAt: number;
  /** End of this worker's arrival phase (open model), or of its journeys (closed). */
  arrivalsEndedAt: number;
  endedAt: number;
  errorSamples: string[];
  tally: BuyersTally;
  lastPayFailure?: string;
  /** Per time bucket from the common start, for the report's charts. */
  timeline?: WorkerTimeline;
}

async function openApi(task: SimWorkerTask): Promise<SaleApi> {
  if (task.transport === 'http') {
    const { httpSaleApi } = await import('../http/client.js');
    return httpSaleApi(task.target!, {
      connections: 64,
      timeoutMs: task.scenario.payment.timeoutMs * (task.scenario.payment.retries + 2) + 5_000,
    });
  }
  // Worker engines never call setup(): in async mode they only publish and await answers; the
  // consumers run in the main process.
  if (task.mode === 'async') return (await import('../engine/async-engine.js')).createAsyncEngine(task.engine);
  return (await import('../engine/engine.js')).createEngine(task.engine);
}

function stopSignal(task: SimWorkerTask): { signal: AbortSignal; dispose: () => void } {
  const ctl = new AbortController();
  if (!task.stop) return { signal: ctl.signal, dispose: () => {} };
  const flag = new Int32Array(task.stop);
  const timer = setInterval(() => {
    if (Atomics.load(flag, 0) !== 0) ctl.abort();
  }, 50);
  return { signal: ctl.signal, dispose: () => clearInterval(timer) };
}

/** Says this worker is ready and resolves to the common start once the main thread set it. */
async function awaitStart(task: SimWorkerTask): Promise<number> {
  if (!task.gate) return task.start;
  const flags = new Int32Array(task.gate, 0, 2);
  Atomics.add(flags, 0, 1);
  // A short poll, not Atomics.wait: the thread's event loop must stay free meanwhile.
  while (Atomics.load(flags, 1) === 0) await new Promise((r) => setTimeout(r, 1));
  return new Float64Array(task.gate, 8, 1)[0];
}

export default async function runSimWorker(task: SimWorkerTask): Promise<SimWorkerResult> {
  const { scenario } = task;
  const api = await openApi(task);
  task.start = await awaitStart(task);
  const rand = prng(childSeed(scenario.seed, task.shard.index * 1_000 + task.workerIndex));
  const pickSku = picker(scenario.skus.length, scenario.buyers.skew, rand);
  const rec = newRecorder();
  const { signal, dispose } = stopSignal(task);
  // Epoch ms at sub-ms resolution: step latencies of a fraction of a ms must not round to 0.
  const now = () => performance.timeOrigin + performance.now();
  let droppedLate = 0;
  let droppedInFlightCap = 0;
  let peakInFlight = 0;
  let lateness = '';
  let arrivalsEndedAt: number | undefined;
  // The run starts at task.start, not when this thread got its task: the wait for the common
  // start is not load and must not dilute attempts/s.
  const startedAt = Math.max(Date.now(), task.start);
  let inFlight = 0;
  const journey = async (index: number, atMs: number) => {
    inFlight++;
    try {
      await runJourney(
        api,
        drawBuyer(index, atMs, scenario, rand, pickSku),
        scenario,
        rec,
        task.start,
        now,
        task.runId,
      );
    } finally {
      inFlight--;
    }
  };
  const tick = task.progress
    ? setInterval(() => {
        const c = rec.counters;
        const p: SimProgress = {
          worker: task.workerIndex,
          journeys: c.journeys,
          orders: c.orders,
          paid: c.paid,
          inFlight,
          reserveP99Ms: rec.reserve.totalCount ? rec.reserve.getValueAtPercentile(99) / 1000 : 0,
        };
        task.progress?.postMessage(p);
      }, 250)
    : undefined;
  try {
    const t = scenario.traffic;
    if (t.model === 'open') {
      const schedule = compileProfile({ stages: t.stages, maxArrivals: t.maxArrivals });
      const slice = subShard(task.shard, { index: task.workerIndex, count: task.workers });
      const result = await runOpenLoop({
        schedule: shardArrivals(schedule, slice),
        start: task.start,
        maxInFlight: Math.max(1, Math.floor(t.maxInFlight / task.workers)),
        maxLatenessMs: t.maxLatenessMs,
        signal,
        fire: (a) => journey(a.index, a.atMs),
      });
      droppedLate = result.counts.dropped.late;
      droppedInFlightCap = result.counts.dropped.inFlightCap;
      peakInFlight = result.counts.peakInFlight;
      lateness = encodeHistogram(result.lateness);
      arrivalsEndedAt = result.arrivalsEndedAt;
    } else {
      // Closed model: this worker's share of this shard's virtual buyers, journeys back to back.
      // Slot = (shard, worker): each takes every slots-th journey index from its own, so the
      // shards of one run (--shard i/n) and their workers never run the same journey twice.
      // With fewer buyers than slots, only the first `buyers` slots have any, and the journey
      // indices are strided over those alone: a slot without buyers must not own indices nobody runs.
      const slots = Math.min(task.shard.count * task.workers, t.buyers);
      const slot = task.shard.index + task.shard.count * task.workerIndex;
      const mine = slot >= slots ? 0 : Math.floor(t.buyers / slots) + (slot < t.buyers % slots ? 1 : 0);
      const total = t.iterations;
      const deadline = t.durationMs !== undefined ? task.start + t.durationMs : undefined;
      let next = slot;
      const wait = task.start - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await Promise.all(
        Array.from({ length: mine }, async () => {
          while (!signal.aborted) {
            if (deadline !== undefined && Date.now() >= deadline) return;
            const index = next;
            if (total !== undefined && index >= total) return;
            next += slots;
            await journey(index, Date.now() - task.start);
          }
        }),
      );
      peakInFlight = mine;
    }
  } finally {
    if (tick) clearInterval(tick);
    task.progress?.close();
    dispose();
    await api.close();
  }
  return {
    workerIndex: task.workerIndex,
    counters: rec.counters,
    reserve: encodeHistogram(rec.reserve),
    pay: encodeHistogram(rec.pay),
    endToEnd: encodeHistogram(rec.endToEnd),
    lateness,
    droppedLate,
    droppedInFlightCap,
    peakInFlight,
    fairness: rec.fairness,
    startedAt,
    arrivalsEndedAt: arrivalsEndedAt ?? Date.now(),
    endedAt: Date.now(),
    errorSamples: rec.errorSamples,
    tally: rec.tally,
    ...(rec.lastPayFailure ? { lastPayFailure: rec.lastPayFailure } : {}),
    timeline: rec.timeline.toJSON(),
  };
}
