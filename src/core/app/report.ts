// The report use cases: `report DIR` reads a saved run back, draws its page again and gives the
// tables and exit code its command gave; `report merge` adds the shards of one sale into one run.
import { dirname, join } from 'node:path';
import { ExitCode } from '../errors.js';
import { defaultOutDir, writeFileAtomic, writeReport } from '../output.js';
import { checkOutDir } from '../out-dir.js';
import { renderBenchNotes, renderBenchTable, renderReference } from '../bench/render.js';
import { renderBaselineComparison } from '../bench/baseline.js';
import { renderModeComparison, renderSimulation } from '../simulate/render.js';
import type { SimulationResult } from '../simulate/run.js';
import { renderThresholds } from '../thresholds.js';
import { renderHtml } from '../report/html.js';
import { loadSummary, parseSummary, readSummaryJson, type SavedReport } from '../report/load.js';
import { mergeSimulations, renderMergeNotes } from '../report/merge.js';

/**
 * The files `report merge` writes into its report directory: name → renderer of the document.
 * The extension point for other formats: a function of the same SavedReport (which command wrote
 * it, the raw document, its checked form) returning the file, written beside summary.json.
 */
export const REPORT_FILES: Record<string, (saved: SavedReport) => string> = {
  'summary.json': (saved) => `${JSON.stringify(saved.raw, null, 2)}\n`,
  'report.html': (saved) => renderHtml(saved.raw),
};

/**
 * The tables the original command printed, from its summary.json alone. The renderers read only
 * the fields load.ts checked, so the saved runs stand in for the full results they were made from.
 */
export function renderSaved(saved: SavedReport): string {
  if (saved.kind === 'bench') {
    const b = saved.bench;
    return [
      renderBenchTable(b.strategies),
      renderBenchNotes(b.strategies),
      b.reference ? renderReference(b.reference) : '',
      renderThresholds(b.strategies.map((s) => ({ group: s.strategy, results: s.thresholds ?? [] }))),
      b.baseline ? renderBaselineComparison(b.baseline) : '',
    ]
      .filter(Boolean)
      .join('\n');
  }
  const runs = saved.simulate.runs as unknown as SimulationResult[];
  const merge = 'merge' in saved.document ? saved.document.merge : undefined;
  return [
    ...runs.map(renderSimulation),
    runs.length > 1 ? renderModeComparison(runs) : '',
    renderThresholds(saved.simulate.runs.map((r) => ({ group: r.mode, results: r.thresholds ?? [] }))),
    merge ? renderMergeNotes(merge) : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** The exit code the run's own command gave: 3 for a broken invariant, 4 for a failed threshold or baseline or an invalid run. */
export function savedExitCode(saved: SavedReport): number {
  if (saved.kind === 'bench') {
    const b = saved.bench;
    if (!b.ok) return ExitCode.Invariant;
    const thresholdsOk = b.strategies.every((s) => (s.thresholds ?? []).every((t) => t.ok));
    return thresholdsOk && (b.baseline?.ok ?? true) ? ExitCode.Ok : ExitCode.Threshold;
  }
  const runs = saved.simulate.runs;
  if (!runs.every((r) => r.ok)) return ExitCode.Invariant;
  // A report written before run validity existed has no verdict on it: not counted against it.
  const passed = runs.every((r) => (r.thresholds ?? []).every((t) => t.ok) && r.valid !== false);
  return passed ? ExitCode.Ok : ExitCode.Threshold;
}

export interface ReportOutcome {
  saved: SavedReport;
  text: string;
  /** What a person reads under the tables: where the files are. */
  footer: string;
  exitCode: number;
}

export function reprintReport(dir: string): ReportOutcome {
  const saved = loadSummary(dir);
  const interrupted =
    saved.raw.interrupted === true ? ' (the run was interrupted: it holds what happened until then)' : '';
  // The page is drawn again from summary.json alone, beside it (written whole or not at all).
  const html = join(dirname(saved.file), 'report.html');
  writeFileAtomic(html, renderHtml(saved.raw));
  return {
    saved,
    text: renderSaved(saved),
    footer: `${saved.kind} report: ${saved.file}${interrupted}\nhtml: ${html}`,
    exitCode: savedExitCode(saved),
  };
}

export function mergeReports(dirs: string[], out: string | undefined): ReportOutcome {
  const outDir = out ?? defaultOutDir('merge');
  checkOutDir(outDir, 'merge');
  const merged = mergeSimulations(
    dirs.map((d) => {
      const { file, raw: doc } = readSummaryJson(d);
      return { file, doc };
    }),
  );
  merged.outDir = outDir;
  // checked like any saved run: what `report DIR` will read back from the merged directory
  const saved = parseSummary(merged, outDir);
  merged.outDir = writeReport(
    outDir,
    Object.fromEntries(Object.entries(REPORT_FILES).map(([name, render]) => [name, render(saved)])),
  );
  return { saved, text: renderSaved(saved), footer: `report: ${merged.outDir}`, exitCode: savedExitCode(saved) };
}
