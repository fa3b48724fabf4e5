// `flashsale report DIR`: a saved simulate or bench run printed again, as the command printed it.
// `flashsale report merge A B … [--out DIR]`: the shards of one sale run on several machines
// (`simulate --shard i/n`) merged into the report of the whole run.
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { Command } from 'commander';
import { ExitCode } from '../core/errors.js';
import { defaultOutDir, writeFileAtomic, writeReport } from '../core/output.js';
import { renderBenchNotes, renderBenchTable, renderReference } from '../core/bench/render.js';
import { renderBaselineComparison, type BaselineComparison } from '../core/bench/baseline.js';
import type { ReferenceComparison } from '../core/bench/reference.js';
import type { StrategyBenchResult } from '../core/bench/types.js';
import { renderSimulation } from '../core/simulate/render.js';
import type { SimulationResult } from '../core/simulate/run.js';
import { renderThresholds } from '../core/thresholds.js';
import { renderHtml } from '../core/report/html.js';
import { checkShape, loadSummary, parseSummary, readSummaryJson, type SavedReport } from '../core/report/load.js';
import { mergeInfoSchema, mergeSimulations, renderMergeNotes } from '../core/report/merge.js';
import { renderModeComparison } from './simulate.js';
import type { CommandIO } from '../cli.js';

/**
 * The files `report merge` writes into its report directory: name → renderer of the document.
 * The extension point for other formats: report.html is one more entry here, a function of the
 * same SavedReport (which command wrote it, the raw document, its checked form) returning the
 * page; `report merge` then writes it beside summary.json, and `report DIR` can offer the same
 * renderer for a saved run (say a --html option writing DIR/report.html).
 */
export const REPORT_FILES: Record<string, (saved: SavedReport) => string> = {
  'summary.json': (saved) => `${JSON.stringify(saved.raw, null, 2)}\n`,
  'report.html': (saved) => renderHtml(saved.raw),
};

const withMerge = z.object({ merge: mergeInfoSchema }).passthrough();

/**
 * The tables the original command printed, from its summary.json alone. The renderers read only
 * the fields load.ts checked, so the saved runs stand in for the full results they were made from.
 */
export function renderSaved(saved: SavedReport): string {
  if (saved.kind === 'bench') {
    const b = saved.bench;
    const results = b.strategies as unknown as StrategyBenchResult[];
    return [
      renderBenchTable(results),
      renderBenchNotes(results),
      b.reference ? renderReference(b.reference as unknown as ReferenceComparison[]) : '',
      renderThresholds(b.strategies.map((s) => ({ group: s.strategy, results: s.thresholds ?? [] }))),
      b.baseline ? renderBaselineComparison(b.baseline as unknown as BaselineComparison) : '',
    ]
      .filter(Boolean)
      .join('\n');
  }
  const runs = saved.simulate.runs as unknown as SimulationResult[];
  const merge = 'merge' in saved.raw ? checkShape(withMerge, saved.raw, saved.file).merge : undefined;
  return [
    ...runs.map(renderSimulation),
    runs.length > 1 ? renderModeComparison(runs) : '',
    renderThresholds(saved.simulate.runs.map((r) => ({ group: r.mode, results: r.thresholds ?? [] }))),
    merge ? renderMergeNotes(merge) : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** The exit code the run's own command gave: 3 for a broken invariant, 4 for a failed threshold or baseline. */
export function savedExitCode(saved: SavedReport): number {
  if (saved.kind === 'bench') {
    const b = saved.bench;
    if (!b.ok) return ExitCode.Invariant;
    const thresholdsOk = b.strategies.every((s) => (s.thresholds ?? []).every((t) => t.ok));
    return thresholdsOk && (b.baseline?.ok ?? true) ? ExitCode.Ok : ExitCode.Threshold;
  }
  const runs = saved.simulate.runs;
  if (!runs.every((r) => r.ok)) return ExitCode.Invariant;
  return runs.every((r) => (r.thresholds ?? []).every((t) => t.ok)) ? ExitCode.Ok : ExitCode.Threshold;
}

function print(io: CommandIO, saved: SavedReport, json: boolean, footer: string): void {
  const text = renderSaved(saved);
  if (json) {
    io.out(JSON.stringify(saved.raw));
    io.info(text);
  } else {
    io.out(text);
    if (footer) io.out(footer);
  }
}

export async function runReportCommand(dir: string, raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const saved = loadSummary(dir);
  const interrupted = saved.raw.interrupted === true ? ' (the run was interrupted: it holds what happened until then)' : '';
  // The page is drawn again from summary.json alone, beside it (written whole or not at all).
  const html = join(dirname(saved.file), 'report.html');
  writeFileAtomic(html, renderHtml(saved.raw));
  print(io, saved, Boolean(raw.json), `${saved.kind} report: ${saved.file}${interrupted}\nhtml: ${html}`);
  return savedExitCode(saved);
}

export async function runMergeCommand(dirs: string[], raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const merged = mergeSimulations(dirs.map((d) => {
    const { file, raw: doc } = readSummaryJson(d);
    return { file, doc };
  }));
  const outDir = String(raw.out ?? defaultOutDir('merge'));
  merged.outDir = outDir;
  // checked like any saved run: what `report DIR` will read back from the merged directory
  const saved = parseSummary(merged, outDir);
  merged.outDir = writeReport(outDir, Object.fromEntries(Object.entries(REPORT_FILES).map(([name, render]) => [name, render(saved)])));
  print(io, saved, Boolean(raw.json), `report: ${merged.outDir}`);
  return savedExitCode(saved);
}

export function reportCommand(io: CommandIO, setExit: (code: number) => void): Command {
  const report = new Command('report')
    .description('print a saved simulate or bench run again from its report directory, or merge the shards of one sale run on several machines')
    .argument('<dir>', 'a report directory (the --out of simulate or bench), or the summary.json in it')
    .option('--json', 'print the saved document on stdout; tables go to stderr')
    .addHelpText(
      'after',
      '\nExits as the run did: 0, 3 when an invariant broke, 4 when a threshold or baseline failed; 2 when summary.json is missing or malformed (the message names the file and the field).\n\nExamples:\n  $ flashsale report reports/simulate-20261121T100000Z\n  $ flashsale report reports/bench-20261121T100000Z --json\n  $ flashsale report merge shard-0 shard-1 shard-2 shard-3 --out reports/black-friday',
    )
    .action(async (dir: string, opts: Record<string, unknown>) => {
      setExit(await runReportCommand(dir, opts, io));
    });
  const merge = new Command('merge')
    .description('merge the summaries of `simulate --shard i/n` runs (one sale from several machines) into the report of the whole run')
    .argument('<dirs...>', 'the shards\' report directories (or their summary.json files)')
    .option('--out <dir>', 'report directory of the merged run (default reports/merge-<timestamp>)')
    .option('--json', 'the merged document on stdout; tables go to stderr')
    .addHelpText('after', '\nCounters and HDR histograms add up (the percentiles are those of every sample); rates are over the longest shard\'s arrival phase (shards start together); each shard\'s invariants are listed, and the merge is ok when all are. Invariants over records the shards shared are not checked by a merge: check them once, from one process, against the shared database.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.info(s) })
    .action(async (dirs: string[], _opts: Record<string, unknown>, cmd: Command) => {
      // --json may come before `merge` too (`report --json merge …`): the parent then holds it
      setExit(await runMergeCommand(dirs, cmd.optsWithGlobals(), io));
    });
  return report.addCommand(merge);
}
