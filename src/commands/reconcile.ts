// `flashsale reconcile --date`: does every payment we think happened have exactly one matching
// charge at the provider, and is every charge one of ours? Writes the mismatch report finance acts on.
import { Command } from 'commander';
import { z } from 'zod';
import type { CommandIO } from '../core/io.js';
import { printResult } from '../core/io.js';
import { reconcileDay, type ReconcileRequest } from '../core/app/reconcile.js';
import { parseDuration } from '../core/reconcile/day.js';
import { parseOptions, toFlag, urlOf, wholeNumber } from '../core/validate.js';
import { outputFlags, serviceFlags } from './flags.js';

const flags = {
  date: z.string().default(''),
  tz: z.string().default('UTC'),
  grace: z.string().default('2h'),
  fix: z.boolean().optional(),
  namespace: z
    .string()
    .regex(/^[a-z0-9_]{1,40}$/, { message: 'lower-case letters, digits and _ (1 to 40), as simulate prints it' })
    .optional(),
  providerUrl: urlOf(['http', 'https'], 'a provider serving GET /v1/charges').optional(),
  concurrency: wholeNumber(1, 32),
  pageTimeout: wholeNumber(50, 600_000),
  databaseUrl: serviceFlags.databaseUrl,
  ...outputFlags,
};

/** Pure: commander's options → the use case's request. Throws UsageError naming the flag. */
export function reconcileRequest(raw: Record<string, unknown>): ReconcileRequest {
  const f = parseOptions(flags, { concurrency: '4', pageTimeout: '15000', ...raw }, toFlag);
  return {
    date: f.date,
    tz: f.tz,
    graceMs: parseDuration(f.grace, '--grace'),
    namespace: f.namespace,
    providerUrl: f.providerUrl,
    concurrency: f.concurrency,
    pageTimeoutMs: f.pageTimeout,
    databaseUrl: f.databaseUrl,
    fix: Boolean(f.fix),
    out: f.out,
  };
}

export async function runReconcileCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const request = reconcileRequest(raw);
  const result = await reconcileDay(request, (l) => io.info(l));
  printResult(io, Boolean(raw.json), result.document, result.text, [`report: ${result.outDir}`]);
  return result.exitCode;
}

export function reconcileCommand(io: CommandIO, setExit: (code: number) => void): Command {
  return new Command('reconcile')
    .description("match one day of the sale's payments against the provider's charges and write the mismatch report")
    .requiredOption('--date <YYYY-MM-DD>', 'the day to reconcile, in --tz (also: today, yesterday)')
    .option('--tz <zone>', 'IANA time zone the day is counted in', 'UTC')
    .option(
      '--grace <duration>',
      'a payment younger than this with no provider record is PENDING, not missing (e.g. 0, 30m, 2h)',
      '2h',
    )
    .option(
      '--fix',
      'refund orphan and duplicate charges, fail orders whose payment never happened; each once, recorded in reconcile_actions',
    )
    .option('--namespace <ns>', 'the sale to reconcile, as simulate prints it (default: the latest in the database)')
    .option('--provider-url <url>', "the provider to read (default: the bundled mock over the sale's ledger)")
    .option('--concurrency <n>', 'provider pages read at once, each over a slice of the day', '4')
    .option(
      '--page-timeout <ms>',
      'how long to wait for one page of charges before asking again (6 tries, then INCOMPLETE)',
      '15000',
    )
    .option('--database-url <url>', 'Postgres holding the sale (default: DATABASE_URL, else embedded PostgreSQL)')
    .option('--json', 'one JSON document on stdout; tables go to stderr')
    .option('--out <dir>', 'report directory (default reports/reconcile-<date>-<timestamp>)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ flashsale reconcile --date 2026-11-21\n  $ flashsale reconcile --date yesterday --tz Europe/Berlin --json\n  $ flashsale reconcile --date 2026-11-21 --fix\n\nExit codes: 0 reconciled, 5 breaks found, 6 provider or database unreachable / a page could not be read (INCOMPLETE), 2 bad option',
    )
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runReconcileCommand(opts, io));
    });
}
