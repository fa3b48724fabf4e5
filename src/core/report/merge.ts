// `flashsale report merge`: the summaries of one sale run as shards on several machines
// (`simulate --shard i/n`) made into the summary of the whole run. Pure: parsed summary.json
// documents in, one document out; reading and writing files is the command's.
//
// How each figure is combined is stated in MERGE_RULES, which the merged report carries and prints.
import chalk from 'chalk';
import { UsageError } from '../errors.js';
import { encodeHistograms, mergeHistograms, summariseHistograms } from '../histogram-set.js';
import type { MergedDocument, MergeInfo, MergedRun, ShardRecord } from '../documents/merged.js';
import {
  savedSimulateBothSchema,
  savedSimulateOneSchema,
  SIMULATE_HISTOGRAMS,
  type SavedSimulateRun,
  type SkuSummary,
} from '../documents/simulate.js';
import { emptyJourneyCounters } from '../simulate/journey.js';
import { SIMULATE_METRICS } from '../simulate/metrics.js';
import { evaluateThresholds, parseThresholds } from '../thresholds.js';
import { judgeValidity } from '../simulate/validity.js';
import { checkShape, summaryKind } from './load.js';

export type { MergedDocument, MergeInfo, MergedRun, ShardRecord };
export { mergeInfoSchema } from '../documents/merged.js';

/** One shard's summary.json as parsed; `file` names it in every message. */
export interface ShardInput {
  file: string;
  doc: unknown;
}

export const MERGE_RULES = [
  'counters, dropped arrivals, refusals and provider faults: the sum over the shards',
  "latency percentiles: from the shards' HDR histograms added together, which gives exactly the percentiles of one histogram of every sample",
  "rates: shards of one sale start at the same wall-clock moment, so the arrival phase is the longest shard's (max arrivalPhaseSec) and every rate is the merged count over it; the duration is the longest shard's",
  'thresholds: judged again on the merged figures (a p99 of all buyers, not of one shard)',
  "invariants: each shard's own, listed per shard; the merge is ok only when every shard is",
];

const SKEW_NOTE_SEC = 1;

type MergeableRun = SavedSimulateRun;

const shardLabel = (s: { index: number; count: number }) => `${s.index}/${s.count}`;

function parseShardDoc(input: ShardInput): { file: string; top: Record<string, unknown>; runs: MergeableRun[] } {
  const { file, doc } = input;
  if (summaryKind(doc, file) === 'bench')
    throw new UsageError(
      `${file}: strategies: a bench summary; report merge takes the summaries of simulate --shard runs`,
    );
  const top = doc as Record<string, unknown>;
  if ('merge' in top)
    throw new UsageError(`${file}: merge: already a merge of shards; merge the shards' own summaries instead`);
  const advice =
    'merge takes summaries written by `flashsale simulate --shard i/n` (this version or later: they keep the histograms, the shard and the scenario digest)';
  const runs = Array.isArray(top.runs)
    ? checkShape(savedSimulateBothSchema, doc, file, advice).runs
    : [checkShape(savedSimulateOneSchema, doc, file, advice)];
  return { file, top, runs };
}

/** Shards that drove one external system (--target): one stock, judged from the buyers' answers. */
const drovesSharedSystem = (run: MergeableRun) => Boolean(run.target) || run.skus.length === 0;

/** Every shard must be a slice of the same run: same scenario, strategy, modes, transport and split. */
function checkSameRun(shards: { file: string; top: Record<string, unknown>; runs: MergeableRun[] }[]): void {
  const [first, ...rest] = shards;
  const same: [string, (s: (typeof shards)[number]) => unknown][] = [
    ['scenario', (s) => s.top.scenario],
    ['scenarioDigest', (s) => s.runs[0].scenarioDigest],
    ['strategy', (s) => s.runs[0].strategy],
    ['mode', (s) => s.top.mode],
    ['transport', (s) => s.runs[0].transport],
    ['skus', (s) => (drovesSharedSystem(s.runs[0]) ? 'not read (an external --target)' : 'read by each shard')],
  ];
  for (const s of rest) {
    for (const [field, of] of same) {
      const a = JSON.stringify(of(first));
      const b = JSON.stringify(of(s));
      if (a !== b)
        throw new UsageError(
          `${s.file}: ${field}: ${b} differs from ${a} in ${first.file}; merge takes shards of one run (the same scenario file, seed, strategy, mode and transport)`,
        );
    }
  }
  const seen = new Map<number, string>();
  const count = first.runs[0].shard.count;
  for (const s of shards) {
    for (const r of s.runs) {
      if (r.shard.count !== count)
        throw new UsageError(
          `${s.file}: shard: ${shardLabel(r.shard)} is not from the same split as ${shardLabel(first.runs[0].shard)} in ${first.file}; every shard must be i/${count}`,
        );
      if (r.shard.index >= r.shard.count)
        throw new UsageError(`${s.file}: shard: ${shardLabel(r.shard)} is not a slice; expected i/n with 0 <= i < n`);
    }
    const index = s.runs[0].shard.index;
    const earlier = seen.get(index);
    if (earlier !== undefined)
      throw new UsageError(
        `${s.file}: shard: ${index}/${count} is also the shard of ${earlier}; the shards overlap (each slice of the arrivals must be merged once)`,
      );
    seen.set(index, s.file);
  }
}

const perSec = (n: number, sec: number) => Math.round((n / sec) * 10) / 10;

/** Pure: the runs of one mode, one per shard, into the run of the whole sale. */
function mergeRuns(
  parts: { file: string; top: Record<string, unknown>; run: MergeableRun }[],
  records: MergeInfo['records'],
): MergedRun {
  const runs = parts.map((p) => p.run);
  const first = runs[0];
  const h = mergeHistograms(
    SIMULATE_HISTOGRAMS,
    runs.map((r) => r.histograms),
    (i, name, err) => {
      throw new UsageError(
        `${parts[i].file}: histograms.${name}: expected a compressed base64 HDR histogram, got one that does not decode (${err.message})`,
      );
    },
  );
  const counters = emptyJourneyCounters();
  const skus = new Map<string, SkuSummary>();
  const errorSamples: string[] = [];
  const providerFaults: MergedRun['providerFaults'] = [];
  for (const { run } of parts) {
    for (const k of Object.keys(counters) as (keyof typeof counters)[]) counters[k] += run.counters[k];
    for (const s of run.skus) {
      const into = skus.get(s.sku);
      if (!into)
        skus.set(s.sku, {
          sku: s.sku,
          stock: s.stock,
          sold: s.sold,
          held: s.held,
          remaining: s.remaining,
          revenueMinor: s.revenueMinor,
          currency: s.currency,
        });
      else {
        // One shared system has one stock: what its shards' buyers paid for adds up against it.
        if (!drovesSharedSystem(run)) into.stock += s.stock;
        into.sold += s.sold;
        into.held += s.held;
        into.remaining = drovesSharedSystem(run) ? Math.max(0, into.stock - into.sold) : into.remaining + s.remaining;
        into.revenueMinor += s.revenueMinor;
      }
    }
    for (const e of run.errorSamples) if (errorSamples.length < 5 && !errorSamples.includes(e)) errorSamples.push(e);
    providerFaults.push(...run.providerFaults);
  }
  const sum = (f: (r: MergeableRun) => number) => runs.reduce((n, r) => n + f(r), 0);
  const max = (f: (r: MergeableRun) => number) => Math.max(...runs.map(f));
  const arrivalPhaseSec = Math.max(
    0.001,
    max((r) => r.arrivalPhaseSec),
  );
  const c = counters;
  const shards: ShardRecord[] = parts.map(({ file, run }) => ({
    file,
    shard: shardLabel(run.shard),
    namespace: run.namespace,
    ok: run.ok,
    startedAt: run.startedAt,
    arrivalPhaseSec: run.arrivalPhaseSec,
    durationSec: run.durationSec,
    attemptsPerSec: run.attemptsPerSec,
    invariants: run.invariants,
    thresholds: run.thresholds,
    finality: run.finality,
  }));
  const started = runs.map((r) => r.startedAt).sort();
  const merged: MergedRun = {
    ok: runs.every((r) => r.ok),
    namespace: runs.map((r) => r.namespace).join(','),
    strategy: first.strategy,
    mode: first.mode,
    transport: first.transport,
    // own engines each sold their own copy of the stock; a shared system has one stock, not read
    stock: records === 'per-shard' ? sum((r) => r.stock) : first.stock,
    sold: sum((r) => r.sold),
    oversold: sum((r) => r.oversold),
    durationSec: max((r) => r.durationSec),
    arrivalPhaseSec: Math.round(arrivalPhaseSec * 1000) / 1000,
    attemptsPerSec: perSec(c.journeys, arrivalPhaseSec),
    reserveCallsPerSec: perSec(c.reserveCalls, arrivalPhaseSec),
    successPerSec: perSec(c.orders, arrivalPhaseSec),
    droppedArrivals: sum((r) => r.droppedArrivals),
    droppedLate: sum((r) => r.droppedLate),
    droppedInFlightCap: sum((r) => r.droppedInFlightCap),
    ...(runs.some((r) => r.pendingAtEnd)
      ? {
          pendingAtEnd: {
            holdsLive: sum((r) => r.pendingAtEnd?.holdsLive ?? 0),
            stuck: sum((r) => r.pendingAtEnd?.stuck ?? 0),
          },
        }
      : {}),
    counters: c,
    latencyMs: summariseHistograms(h),
    unfairRefusals: sum((r) => r.unfairRefusals),
    invariants: [
      ...parts.flatMap(({ run }) =>
        run.invariants.map((i) => ({ name: `shard ${shardLabel(run.shard)}: ${i.name}`, ok: i.ok, detail: i.detail })),
      ),
      // Every shard's buyers against the one stock of the system they all drove.
      ...(records === 'shared' && first.target ? [everyShardTally([...skus.values()])] : []),
    ],
    skus: [...skus.values()],
    providerFaults,
    errorSamples,
    histograms: encodeHistograms(h),
    scenarioDigest: first.scenarioDigest,
    startedAt: started[0] ?? '',
    interrupted: parts.some(({ top, run }) => Boolean(run.interrupted ?? top.interrupted)),
    scenario: String(parts[0].top.scenario ?? first.scenario ?? ''),
    strategyChoice: first.strategyChoice,
    services: first.services,
    thresholds: [],
    shards,
  };
  // A threshold is about the sale, so it is judged on the whole of it; the same text on several shards once.
  const sources = runs.flatMap((r) => r.thresholds.map((t) => t.source));
  // The verdict over every shard's buyers is part of the merged run's
  merged.ok = merged.invariants.every((i) => i.ok);
  const thresholds = parseThresholds(sources, SIMULATE_METRICS);
  merged.thresholds = evaluateThresholds(thresholds, SIMULATE_METRICS, merged);
  const validity = judgeValidity(merged, thresholds);
  merged.valid = validity.valid;
  const { valid: _valid, ...judged } = validity;
  merged.validity = judged;
  return merged;
}

function everyShardTally(skus: SkuSummary[]): { name: string; ok: boolean; detail: string } {
  const over = skus.filter((k) => k.sold > k.stock);
  return {
    name: "no oversell (buyers' tally, every shard)",
    ok: over.length === 0,
    detail: over.length
      ? over
          .map(
            (k) =>
              `${k.sku}: the target took payment for ${k.sold} units of ${k.stock} (oversold by ${k.sold - k.stock})`,
          )
          .join('; ')
      : `${skus.reduce((n, k) => n + k.sold, 0)} units answered paid over every shard, none of ${skus.length} SKU(s) past its stock`,
  };
}

function notesOf(runs: MergedRun[], info: Pick<MergeInfo, 'of' | 'missing' | 'records'>): string[] {
  const notes: string[] = [];
  const shardRecords = runs[0].shards;
  if (info.records === 'shared') {
    notes.push(
      "the shards drove one shared system (--target): what every shard's buyers were answered paid is added up against its one stock (no oversell (buyers' tally, every shard)), but none of them read its records: conservation and exactly once in its own records are NOT checked by this merge; check them once, from one process, against the shared database (flashsale check, for a flashsale serve)",
    );
  } else {
    notes.push(
      `each shard ran its own engine on its own copy of the stock (namespaces ${shardRecords.map((s) => s.namespace).join(', ')}): the invariants are each shard's verdict on its own records, and stock and sold are sums over those separate sales. For one sale driven from several machines, serve it once (flashsale serve, or your system) and run every shard with --transport http --target URL; its records (one stock, every shard's buyers) must then be checked once, from one process, against the shared database: neither the shards nor this merge read them`,
    );
  }
  if (info.missing.length > 0)
    notes.push(
      `partial: shard(s) ${info.missing.join(', ')} of ${info.of} are missing, so the counts cover only part of the arrivals`,
    );
  const started = shardRecords
    .map((s) => (s.startedAt ? Date.parse(s.startedAt) : NaN))
    .filter((t) => Number.isFinite(t));
  if (started.length > 1) {
    const spread = (Math.max(...started) - Math.min(...started)) / 1000;
    if (spread > SKEW_NOTE_SEC)
      notes.push(
        `the shards started ${spread.toFixed(1)} s apart: the rates assume they ran together; started apart, they overstate the load the system saw at once`,
      );
  }
  if (runs.some((r) => r.interrupted))
    notes.push('at least one shard was interrupted (Ctrl-C): its counts stop where it stopped');
  if (shardRecords.some((s) => s.finality))
    notes.push('time until an order is final: per shard only (see shards[].finality), as no histogram of it is saved');
  notes.push(
    "fairness (refused while a later arrival got stock) is each shard's count: a refusal in one shard while another shard's later buyer got stock is not seen",
  );
  return notes;
}

/**
 * Pure: N summaries of one simulate run, sharded, into one. Throws UsageError naming the file when
 * they are not shards of one run (scenario, strategy, mode or transport differ; shards overlap or
 * come from different splits) or a field a merge needs is missing.
 */
export function mergeSimulations(inputs: ShardInput[]): MergedDocument {
  if (inputs.length < 2)
    throw new UsageError(`report merge: expected the summaries of at least two shards, got ${inputs.length}`);
  const shards = inputs.map(parseShardDoc).sort((a, b) => a.runs[0].shard.index - b.runs[0].shard.index);
  checkSameRun(shards);
  const of = shards[0].runs[0].shard.count;
  const present = new Set(shards.map((s) => s.runs[0].shard.index));
  const missing = Array.from({ length: of }, (_, i) => i)
    .filter((i) => !present.has(i))
    .map((i) => `${i}/${of}`);
  const records: MergeInfo['records'] = drovesSharedSystem(shards[0].runs[0]) ? 'shared' : 'per-shard';
  const modes = shards[0].runs.map((r) => r.mode);
  for (const s of shards) {
    const theirs = s.runs.map((r) => r.mode);
    if (JSON.stringify(theirs) !== JSON.stringify(modes))
      throw new UsageError(
        `${s.file}: runs: modes ${theirs.join(', ')} differ from ${modes.join(', ')} in ${shards[0].file}`,
      );
  }
  const runs = modes.map((_, m) =>
    mergeRuns(
      shards.map((s) => ({ file: s.file, top: s.top, run: s.runs[m] })),
      records,
    ),
  );
  const merge: MergeInfo = {
    shards: shards.map((s) => shardLabel(s.runs[0].shard)),
    of,
    complete: missing.length === 0,
    missing,
    files: shards.map((s) => s.file),
    records,
    sharedRecordsChecked: false,
    rules: MERGE_RULES,
    notes: notesOf(runs, { of, missing, records }),
  };
  if (shards[0].top.mode !== 'both') return { ...runs[0], merge };
  return {
    ok: runs.every((r) => r.ok),
    mode: 'both',
    strategy: runs[0].strategy,
    interrupted: runs.some((r) => r.interrupted),
    scenario: runs[0].scenario,
    scenarioDigest: runs[0].scenarioDigest,
    runs,
    merge,
  };
}

/** What the merged report adds under the tables: which shards, how figures were combined, what was not checked. */
export function renderMergeNotes(merge: Pick<MergeInfo, 'shards' | 'of' | 'files' | 'rules' | 'notes'>): string {
  const lines = [
    `merged ${merge.shards.length} shard(s) of ${merge.of}: ${merge.shards.map((s, i) => `${s} (${merge.files[i]})`).join(', ')}`,
    ...merge.rules.map((r) => chalk.dim(`  ${r}`)),
    ...merge.notes.map((n) => chalk.yellow(`! ${n}`)),
  ];
  return lines.join('\n');
}
