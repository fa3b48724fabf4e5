// `flashsale check`: judges a recorded sale after the fact, whoever drove it (docs/design.md#check).
// Read only: the records are judged as they stand.
import { Command } from 'commander';
import { z } from 'zod';
import { checkSales } from '../core/app/check.js';
import type { CommandIO } from '../core/io.js';
import { printResult } from '../core/io.js';
import { parseOptions, toFlag, urlOf } from '../core/validate.js';
import { recordedSaleOptions, serviceChoice, serviceFlags } from './flags.js';

const flags = {
  namespace: z
    .string()
    .regex(/^[a-z0-9_]{1,40}$/, {
      message: 'lower-case letters, digits and _ (1 to 40), as simulate and serve print it',
    })
    .optional(),
  providerUrl: urlOf(['http', 'https'], 'the payment provider the sale charged through').optional(),
  json: z.boolean().optional(),
  ...serviceFlags,
};

export async function runCheckCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const f = parseOptions(flags, raw, toFlag);
  const result = await checkSales({ namespace: f.namespace, providerUrl: f.providerUrl, ...serviceChoice(f) }, (l) =>
    io.info(l),
  );
  printResult(io, Boolean(f.json), result.document, result.text, []);
  return result.exitCode;
}

export function checkCommand(io: CommandIO, setExit: (code: number) => void): Command {
  return recordedSaleOptions(
    new Command('check')
      .description(
        'judge a recorded sale from its records, whoever drove it (serve under wrk, k6, autocannon): every ledger invariant of both stores, and money = orders',
      )
      .option(
        '--namespace <ns>',
        'the sale to judge, as simulate and serve print it (default: every sale in the database)',
      )
      .option('--provider-url <url>', 'the provider the sale charged through, when it was not the bundled mock'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ flashsale serve --strategy naive --port 8080   # then drive it with wrk, k6 or autocannon\n  $ flashsale check --namespace serve_1a2b3c4d\n\nExit codes: 0 every invariant holds, 3 an invariant broken, 6 a store unreachable, 2 bad option or unknown sale',
    )
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runCheckCommand(opts, io));
    });
}
