// `flashsale report DIR`: a saved simulate or bench run printed again, as the command printed it.
// `flashsale report merge A B … [--out DIR]`: the shards of one sale run on several machines
// (`simulate --shard i/n`) merged into the report of the whole run.
import { Command } from 'commander';
import type { CommandIO } from '../core/io.js';
import { printResult } from '../core/io.js';
import { mergeReports, reprintReport, type ReportOutcome } from '../core/app/report.js';
import { parseOptions, toFlag } from '../core/validate.js';
import { outputFlags } from './flags.js';

const flags = { ...outputFlags };

function print(io: CommandIO, outcome: ReportOutcome, json: boolean): number {
  printResult(io, json, outcome.saved.raw, outcome.text, [outcome.footer]);
  return outcome.exitCode;
}

export async function runReportCommand(dir: string, raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const f = parseOptions(flags, raw, toFlag);
  return print(io, reprintReport(dir), Boolean(f.json));
}

export async function runMergeCommand(dirs: string[], raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const f = parseOptions(flags, raw, toFlag);
  return print(io, mergeReports(dirs, f.out), Boolean(f.json));
}

export function reportCommand(io: CommandIO, setExit: (code: number) => void): Command {
  const report = new Command('report')
    .description(
      'print a saved simulate or bench run again from its report directory, or merge the shards of one sale run on several machines',
    )
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
    .description(
      'merge the summaries of `simulate --shard i/n` runs (one sale from several machines) into the report of the whole run',
    )
    .argument('<dirs...>', "the shards' report directories (or their summary.json files)")
    .option('--out <dir>', 'report directory of the merged run (default reports/merge-<timestamp>)')
    .option('--json', 'the merged document on stdout; tables go to stderr')
    .addHelpText(
      'after',
      "\nCounters and HDR histograms add up (the percentiles are those of every sample); rates are over the longest shard's arrival phase (shards start together); each shard's invariants are listed, and the merge is ok when all are. Invariants over records the shards shared are not checked by a merge: check them once, from one process, against the shared database.",
    )
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.info(s) })
    .action(async (dirs: string[], _opts: Record<string, unknown>, cmd: Command) => {
      // --json may come before `merge` too (`report --json merge …`): the parent then holds it
      setExit(await runMergeCommand(dirs, cmd.optsWithGlobals(), io));
    });
  return report.addCommand(merge);
}
