// `flashsale report DIR` and `flashsale report merge`: a saved run printed again as its command
// printed it, and the shards of one sale merged so that the percentiles are those of every sample.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { UsageError } from '../../../src/core/errors.js';
import {
  decodeHistogram,
  encodeHistogram,
  latencySummary,
  newHistogram,
  type Histogram,
} from '../../../src/core/histogram.js';
import { mergeSimulations, type ShardInput } from '../../../src/core/report/merge.js';
import { emptyJourneyCounters } from '../../../src/core/simulate/journey.js';
import { compileProfile, shardCount } from '../../../src/core/traffic/stages.js';
import { captureIO } from '../../helpers/io.js';
import { services, simulate, tmpOut } from '../../helpers/simulate.js';

const STEPS = ['reserve', 'pay', 'endToEnd', 'lateness'] as const;

function histogramOf(samples: number[]): Histogram {
  const h = newHistogram();
  for (const us of samples) h.recordValue(us);
  return h;
}

/** A simulate summary.json of one shard, as the command writes it, with made-up figures. */
function shardDoc(
  index: number,
  count: number,
  change: (d: Record<string, any>) => void = () => {},
  reserveSamples: number[] = [1_000, 2_000],
): Record<string, any> {
  const counters = {
    ...emptyJourneyCounters(),
    journeys: 100 + index,
    reserveCalls: 120 + index,
    orders: 10 + index,
    paid: 8,
  };
  const empty = encodeHistogram(newHistogram());
  const reserve = histogramOf(reserveSamples);
  const doc: Record<string, any> = {
    ok: true,
    namespace: `sim_${index}`,
    strategy: 'lua',
    mode: 'sync',
    transport: 'direct',
    stock: 150,
    sold: 140,
    oversold: 0,
    durationSec: 6,
    arrivalPhaseSec: 5,
    attemptsPerSec: 20,
    reserveCallsPerSec: 24,
    successPerSec: 2,
    droppedArrivals: 1,
    droppedLate: 1,
    droppedInFlightCap: 0,
    counters,
    latencyMs: {
      reserve: latencySummary(reserve),
      pay: latencySummary(newHistogram()),
      endToEnd: latencySummary(newHistogram()),
      lateness: latencySummary(newHistogram()),
    },
    unfairRefusals: 0,
    invariants: [{ name: 'no oversell', ok: true, detail: '140 of 150 units granted' }],
    skus: [{ sku: 'sku-1', stock: 150, sold: 140, held: 0, remaining: 10, revenueMinor: 1400, currency: 'EUR' }],
    providerFaults: [],
    errorSamples: [],
    histograms: { reserve: encodeHistogram(reserve), pay: empty, endToEnd: empty, lateness: empty },
    shard: { index, count },
    scenarioDigest: 'abc123',
    startedAt: '2026-11-21T10:00:00.000Z',
    interrupted: false,
    scenario: 'smoke',
    thresholds: [],
  };
  change(doc);
  return doc;
}

const inputs = (...docs: Record<string, any>[]): ShardInput[] =>
  docs.map((doc, i) => ({ file: `shard-${i}/summary.json`, doc }));

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a UsageError, got none');
}

describe('merging shard histograms', () => {
  it('gives exactly the percentiles of one histogram of every sample, however the samples are split', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 60_000_000 }), fc.nat()), { minLength: 1, maxLength: 1_500 }),
        fc.integer({ min: 2, max: 4 }),
        (tagged, count) => {
          const parts = Array.from({ length: count }, (_, i) =>
            tagged.filter(([, to]) => to % count === i).map(([us]) => us),
          );
          const merged = mergeSimulations(inputs(...parts.map((samples, i) => shardDoc(i, count, () => {}, samples))));
          if ('runs' in merged) throw new Error('one mode in, one mode out');
          const live = histogramOf(tagged.map(([us]) => us));
          // A run's own histogram travels encoded from its workers too, and decoding keeps each
          // value's bucket, not the value: the max becomes the top of its bucket (within 0.1%).
          const all = decodeHistogram(encodeHistogram(live));
          expect(merged.latencyMs.reserve).toEqual(latencySummary(all));
          const back = decodeHistogram(merged.histograms.reserve);
          expect(back.totalCount).toBe(tagged.length);
          for (const p of [50, 90, 99, 99.9]) {
            expect(back.getValueAtPercentile(p)).toBe(all.getValueAtPercentile(p));
            expect(back.getValueAtPercentile(p)).toBe(live.getValueAtPercentile(p));
          }
          expect(back.maxValue).toBe(all.maxValue);
          expect(all.maxValue - live.maxValue).toBeGreaterThanOrEqual(0);
          expect(all.maxValue - live.maxValue).toBeLessThanOrEqual(live.maxValue / 1000);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('merging the summaries of one run', () => {
  it('adds the counters and states rates over the longest arrival phase', () => {
    const a = shardDoc(0, 2, (d) => (d.arrivalPhaseSec = 4));
    const b = shardDoc(1, 2, (d) => (d.arrivalPhaseSec = 5));
    const m = mergeSimulations(inputs(b, a));
    if ('runs' in m) throw new Error('one mode in, one mode out');
    for (const k of Object.keys(emptyJourneyCounters()) as (keyof typeof m.counters)[])
      expect(m.counters[k]).toBe(a.counters[k] + b.counters[k]);
    expect(m.droppedArrivals).toBe(a.droppedArrivals + b.droppedArrivals);
    expect(m.arrivalPhaseSec).toBe(5);
    expect(m.attemptsPerSec).toBe(Math.round(((a.counters.journeys + b.counters.journeys) / 5) * 10) / 10);
    expect(m.stock).toBe(a.stock + b.stock);
    expect(m.merge).toMatchObject({ shards: ['0/2', '1/2'], complete: true, sharedRecordsChecked: false });
    expect(m.merge.rules.join('\n')).toMatch(/max arrivalPhaseSec/);
  });

  it("lists each shard's invariants and is not ok when one shard broke one", () => {
    const broken = shardDoc(1, 2, (d) => {
      d.ok = false;
      d.invariants = [{ name: 'no oversell', ok: false, detail: 'sku-1: oversold by 3' }];
    });
    const m = mergeSimulations(inputs(shardDoc(0, 2), broken));
    if ('runs' in m) throw new Error('one mode in, one mode out');
    expect(m.ok).toBe(false);
    expect(m.invariants.map((i) => `${i.name} ${i.ok}`)).toEqual([
      'shard 0/2: no oversell true',
      'shard 1/2: no oversell false',
    ]);
  });

  it('says the shared records were not checked when the shards drove one external system', () => {
    const external = (i: number) =>
      shardDoc(i, 2, (d) => {
        d.skus = [];
        d.sold = 0;
        d.invariants = [{ name: 'ledger checks', ok: true, detail: 'not checked: an external system' }];
      });
    const m = mergeSimulations(inputs(external(0), external(1)));
    if ('runs' in m) throw new Error('one mode in, one mode out');
    expect(m.merge.records).toBe('shared');
    expect(m.stock).toBe(150);
    expect(m.merge.notes.join('\n')).toMatch(
      /NOT checked by this merge; check them once, from one process, against the shared database/,
    );
  });

  it("adds up every shard's buyers against the one stock of the target they all drove", () => {
    const target = (i: number, sold: number) =>
      shardDoc(i, 2, (d) => {
        d.target = 'http://shop.example';
        d.sold = sold;
        d.skus = [{ sku: 'sku-1', stock: 150, sold, held: 0, remaining: 150 - sold, revenueMinor: 0, currency: 'EUR' }];
      });
    // Each shard alone is within the stock; together they were answered paid for 160 of 150.
    const m = mergeSimulations(inputs(target(0, 80), target(1, 80)));
    if ('runs' in m) throw new Error('one mode in, one mode out');
    expect(m.merge.records).toBe('shared');
    expect(m.stock).toBe(150);
    expect(m.skus).toEqual([expect.objectContaining({ sku: 'sku-1', stock: 150, sold: 160, remaining: 0 })]);
    const every = m.invariants.find((i) => i.name === "no oversell (buyers' tally, every shard)");
    expect(every).toEqual({
      name: "no oversell (buyers' tally, every shard)",
      ok: false,
      detail: 'sku-1: the target took payment for 160 units of 150 (oversold by 10)',
    });
    expect(m.ok).toBe(false);
    const within = mergeSimulations(inputs(target(0, 70), target(1, 80)));
    if ('runs' in within) throw new Error('one mode in, one mode out');
    expect(within.ok).toBe(true);
  });

  it('judges the thresholds again on the merged figures', () => {
    const withThreshold = (i: number) =>
      shardDoc(i, 2, (d) => (d.thresholds = [{ source: 'attemptsPerSec>30', ok: false, value: 20 }]));
    const m = mergeSimulations(inputs(withThreshold(0), withThreshold(1)));
    if ('runs' in m) throw new Error('one mode in, one mode out');
    expect(m.thresholds).toEqual([{ source: 'attemptsPerSec>30', ok: true, value: m.attemptsPerSec }]);
  });

  it('merges --mode both summaries mode by mode', () => {
    const both = (i: number) => ({
      ok: true,
      mode: 'both',
      strategy: 'lua',
      scenario: 'smoke',
      interrupted: false,
      runs: [shardDoc(i, 2), shardDoc(i, 2, (d) => (d.mode = 'async'))],
    });
    const m = mergeSimulations(inputs(both(0), both(1)));
    if (!('runs' in m)) throw new Error('both modes in, both out');
    expect(m.runs.map((r) => [r.mode, r.counters.journeys])).toEqual([
      ['sync', 201],
      ['async', 201],
    ]);
  });

  it('notes the shards that are missing', () => {
    const m = mergeSimulations(inputs(shardDoc(0, 3), shardDoc(2, 3)));
    if ('runs' in m) throw new Error('one mode in, one mode out');
    expect(m.merge).toMatchObject({ complete: false, missing: ['1/3'] });
    expect(m.merge.notes.join('\n')).toMatch(/partial: shard\(s\) 1\/3 of 3 are missing/);
  });

  it.each([
    [
      'shard 1/4 twice is refused as an overlap',
      [shardDoc(1, 4), shardDoc(1, 4)],
      /^shard-1\/summary.json: shard: 1\/4 is also the shard of shard-0\/summary.json; the shards overlap/,
    ],
    [
      'shards of different splits are refused',
      [shardDoc(0, 2), shardDoc(1, 4)],
      /^shard-1\/summary.json: shard: 1\/4 is not from the same split as 0\/2/,
    ],
    [
      'another strategy is refused, naming the file',
      [shardDoc(0, 2), shardDoc(1, 2, (d) => (d.strategy = 'atomic'))],
      /^shard-1\/summary.json: strategy: "atomic" differs from "lua" in shard-0\/summary.json/,
    ],
    [
      'another scenario (a different seed) is refused',
      [shardDoc(0, 2), shardDoc(1, 2, (d) => (d.scenarioDigest = 'def456'))],
      /^shard-1\/summary.json: scenarioDigest: /,
    ],
    [
      'another mode is refused',
      [shardDoc(0, 2), shardDoc(1, 2, (d) => (d.mode = 'async'))],
      /^shard-1\/summary.json: mode: "async" differs from "sync"/,
    ],
    [
      'a summary without its shard is refused, naming the field',
      [shardDoc(0, 2), shardDoc(1, 2, (d) => delete d.shard)],
      /^shard-1\/summary.json: shard: expected an object, got nothing/,
    ],
    [
      'a summary without the lateness histogram is refused, naming the field',
      [shardDoc(0, 2, (d) => delete d.histograms.lateness), shardDoc(1, 2)],
      /^shard-0\/summary.json: histograms.lateness: expected a string, got nothing/,
    ],
    [
      'a histogram that does not decode is refused',
      [shardDoc(0, 2, (d) => (d.histograms.pay = 'bm90IGEgaGlzdG9ncmFt')), shardDoc(1, 2)],
      /^shard-0\/summary.json: histograms.pay: expected a compressed base64 HDR histogram/,
    ],
    [
      'a bench summary is refused',
      [shardDoc(0, 2), { ok: true, config: {}, strategies: [] }],
      /^shard-1\/summary.json: strategies: a bench summary/,
    ],
    ['one summary alone is refused', [shardDoc(0, 2)], /at least two shards, got 1/],
  ])('%s', (_name, docs, message) => {
    expect(refusal(() => mergeSimulations(inputs(...docs)))).toMatch(message);
  });
});

async function run(argv: string[]) {
  const io = captureIO();
  const code = await main(argv, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

describe('flashsale report on saved runs (real services)', () => {
  type Sim = Awaited<ReturnType<typeof simulate>>;
  let shards: Sim[] = [];
  beforeAll(async () => {
    // one after the other: two engines at once next to other test files exhaust Postgres's connections
    shards = [];
    for (const shard of ['0/2', '1/2'])
      shards.push(await simulate(['--scenario', 'scenarios/smoke.json', '--workers', '1', '--shard', shard]));
  }, 90_000);

  it('the shards of smoke add up to the whole sale, and the merged report renders and exits 0', async () => {
    expect(shards.map((s) => s.code)).toEqual([0, 0]);
    const [a, b] = shards.map((s) => s.report);
    const out = tmpOut();
    const merged = await run(['report', 'merge', shards[0].out, shards[1].out, '--out', out, '--json']);
    expect(merged.code).toBe(0);
    const m = JSON.parse(merged.out);
    for (const k of Object.keys(emptyJourneyCounters())) expect(m.counters[k]).toBe(a.counters[k] + b.counters[k]);
    // every arrival of the scenario was played by exactly one shard
    const scenario = JSON.parse(readFileSync('scenarios/smoke.json', 'utf8'));
    const schedule = compileProfile({ stages: scenario.traffic.stages, maxArrivals: scenario.traffic.maxArrivals });
    expect(a.counters.journeys + a.droppedArrivals).toBe(shardCount(schedule, { index: 0, count: 2 }));
    expect(m.counters.journeys + m.droppedArrivals).toBe(schedule.count);
    expect(m.arrivalPhaseSec).toBe(Math.max(a.arrivalPhaseSec, b.arrivalPhaseSec));
    // run one after the other, so the merge must say the rates assume a common start
    expect(m.merge.notes.join('\n')).toMatch(/the shards started \d+\.\d s apart/);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'))).toEqual(m);

    const again = await run(['report', out]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/shard 0\/2: no oversell .*pass/);
    expect(again.out).toMatch(/shard 1\/2: no oversell .*pass/);
    expect(again.out).toMatch(/merged 2 shard\(s\) of 2/);
    expect(again.out).toMatch(/neither the shards nor this merge read them/);
  });

  it("merged percentiles are exactly those of the two summaries' histograms added into one", async () => {
    const out = tmpOut();
    const { code, out: stdout } = await run(['report', 'merge', shards[1].out, shards[0].out, '--out', out, '--json']);
    expect(code).toBe(0);
    const m = JSON.parse(stdout);
    for (const step of STEPS) {
      const all = newHistogram();
      for (const s of shards) all.add(decodeHistogram(s.report.histograms[step]));
      expect(all.totalCount).toBeGreaterThan(0);
      expect(m.latencyMs[step]).toEqual(latencySummary(all));
    }
  });

  it('report DIR prints the tables simulate printed, invariants included, and --json the document', async () => {
    const [first] = shards;
    rmSync(join(first.out, 'report.html'));
    const { code, out } = await run(['report', first.out]);
    expect(code).toBe(0);
    // the page is drawn again from summary.json alone
    const page = readFileSync(join(first.out, 'report.html'), 'utf8');
    expect(page).toContain('uPlot');
    expect(page).toContain('no oversell');
    expect(out).toMatch(/invariant .*result .*detail/);
    expect(out).toMatch(/no oversell .*pass/);
    const tables = out
      .split('\n')
      .filter((l) => !l.startsWith('simulate report: ') && !l.startsWith('html: '))
      .join('\n');
    // with --json, simulate printed its tables on stderr
    expect(first.err).toContain(tables);
    const json = await run(['report', first.out, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toEqual(JSON.parse(readFileSync(join(first.out, 'summary.json'), 'utf8')));
  });

  it('report merge of the same shard twice exits 2 naming the file', async () => {
    const { code, err } = await run(['report', 'merge', shards[0].out, shards[0].out, '--out', tmpOut()]);
    expect(code).toBe(2);
    expect(err).toContain(`${join(shards[0].out, 'summary.json')}: shard: 0/2 is also the shard of`);
  });

  it('report DIR prints the bench table a bench run printed', async () => {
    const dir = tmpOut();
    const io = captureIO();
    const code = await main(
      ['bench', ...services, '--strategy', 'atomic', '--buyers', '300', '--workers', '1', '--out', dir],
      io,
    );
    expect(code).toBe(0);
    const printed = io.stdout.filter((l) => !l.startsWith('report: ')).join('\n');
    const again = await run(['report', dir]);
    expect(again.code).toBe(0);
    expect(
      again.out
        .split('\n')
        .filter((l) => !l.startsWith('bench report: ') && !l.startsWith('html: '))
        .join('\n'),
    ).toBe(printed);
    expect(again.out).toMatch(/atomic .*postgres .*300/);
  });
});

describe('flashsale report refuses what is not a saved run with exit 2', () => {
  const dirWith = (content?: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'fs-report-'));
    if (content !== undefined) writeFileSync(join(dir, 'summary.json'), content);
    return dir;
  };
  it.each([
    ['a directory without summary.json', () => dirWith(), /summary.json: cannot read it \(ENOENT\)/],
    ['a summary.json that is not JSON', () => dirWith('{"ok": tru'), /summary.json: not valid JSON/],
    [
      'a simulate summary without counters.journeys',
      () => dirWith(JSON.stringify(shardDoc(0, 1, (d) => delete d.counters.journeys))),
      /summary.json: counters.journeys: expected a number, got nothing/,
    ],
    [
      'a simulate summary with a latency that is not a number',
      () => dirWith(JSON.stringify(shardDoc(0, 1, (d) => (d.latencyMs.pay.p99 = 'slow')))),
      /summary.json: latencyMs.pay.p99: expected a number, got "slow"/,
    ],
    [
      'a bench summary whose strategy lacks its store',
      () => dirWith(JSON.stringify({ ok: true, config: {}, strategies: [{ strategy: 'lua' }] })),
      /summary.json: strategies.0.store: expected a string, got nothing/,
    ],
    [
      'a document of neither command',
      () => dirWith(JSON.stringify({ ok: true })),
      /summary.json: counters: expected a simulate summary .* or a bench one/,
    ],
  ])('%s', async (_name, make, message) => {
    const dir = make();
    const { code, err } = await run(['report', dir]);
    expect(code).toBe(2);
    expect(err).toContain(join(dir, 'summary.json'));
    expect(err).toMatch(message);
  });

  it('report merge with a shard directory that has no summary.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fs-report-'));
    mkdirSync(join(dir, 'b'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify(shardDoc(0, 2)));
    const { code, err } = await run(['report', 'merge', join(dir, 'a.json'), join(dir, 'b'), '--out', join(dir, 'm')]);
    expect(code).toBe(2);
    expect(err).toContain(`${join(dir, 'b', 'summary.json')}: cannot read it`);
  });
});
