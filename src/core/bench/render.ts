// Renderers return strings; the command decides where they go.
import Table from 'cli-table3';
import chalk from 'chalk';
import type { StrategyBenchResult } from './types.js';
import type { ReferenceComparison } from './reference.js';

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

export function renderBenchTable(results: StrategyBenchResult[]): string {
  const table = new Table({
    head: [
      'strategy',
      'store',
      'attempts',
      'attempts/s',
      'success/s',
      'sold+held/stock',
      'oversold',
      'false sold-out',
      'conflicts',
      'retries',
      'errors',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'p99.9 ms',
      'max ms',
      'invariants',
    ],
    style: { head: [], border: [] },
  });
  for (const r of results) {
    const broken = r.invariants.filter((i) => !i.ok).map((i) => i.name);
    table.push([
      r.strategy,
      r.store,
      int(r.attempts),
      int(r.attemptsPerSec),
      int(r.successPerSec),
      `${int(r.sold + r.held)}/${int(r.stock)}`,
      r.oversold > 0 ? chalk.red(int(r.oversold)) : '0',
      int(r.falseSoldOut),
      int(r.counters.conflicts),
      int(r.counters.retries),
      r.counters.errors > 0 ? chalk.red(int(r.counters.errors)) : '0',
      ms(r.latencyMs.p50),
      ms(r.latencyMs.p90),
      ms(r.latencyMs.p99),
      ms(r.latencyMs.p999),
      ms(r.latencyMs.max),
      broken.length ? chalk.red(`FAIL: ${broken.join(', ')}`) : chalk.green('pass'),
    ]);
  }
  return table.toString();
}

/** The failing invariants with their detail (SKU, amount, requests), and generator warnings. */
export function renderBenchNotes(results: StrategyBenchResult[]): string {
  const lines: string[] = [];
  const short = results.find((r) => r.generator.shortRun);
  if (short)
    lines.push(
      chalk.dim(
        `note: runs under a second (${results
          .filter((r) => r.generator.shortRun)
          .map((r) => r.strategy)
          .join(', ')}): their rates include warm-up; use --duration 10 and a large --stock for throughput figures`,
      ),
    );
  for (const r of results) {
    for (const inv of r.invariants) {
      if (!inv.ok) lines.push(chalk.red(`✗ ${r.strategy}: ${inv.name} broken — ${inv.detail}`));
    }
    if (r.generator.limited)
      lines.push(chalk.yellow(`! ${r.strategy}: ${r.generator.note.split('; the run lasted')[0]}`));
    if (r.counters.errors > 0)
      lines.push(chalk.yellow(`! ${r.strategy}: ${r.counters.errors} errors, e.g. ${r.errorSamples.join(' | ')}`));
  }
  return lines.join('\n');
}

export function renderReference(rows: ReferenceComparison[]): string {
  const table = new Table({
    head: ['comparison', 'flashsale success/s', 'reference tool', 'reference success/s', 'ratio', 'target', 'verdict'],
    style: { head: [], border: [] },
  });
  for (const r of rows) {
    table.push([
      r.name,
      int(r.oursPerSec),
      r.tool,
      int(r.theirsPerSec),
      r.ratio.toFixed(2),
      `≥ ${r.target.toFixed(2)}`,
      r.ratio >= r.target ? chalk.green('meets') : chalk.yellow('below'),
    ]);
  }
  return table.toString();
}
