// `flashsale recover`: finishes a sale whose run died (docs/design.md#payment-recovery). Every
// order whose payment outcome is unknown is resolved from the provider (a lookup, never a new
// charge), the holds of buyers who are gone are expired, and the sale is judged again.
import { Command } from 'commander';
import { z } from 'zod';
import { recoverSales } from '../core/app/recover.js';
import { parseDuration } from '../core/reconcile/day.js';
import type { CommandIO } from '../core/io.js';
import { printResult } from '../core/io.js';
import { parseOptions, toFlag, urlOf } from '../core/validate.js';
import { recordedSaleOptions, serviceChoice, serviceFlags } from './flags.js';

const flags = {
  namespace: z
    .string()
    .regex(/^[a-z0-9_]{1,40}$/, { message: 'lower-case letters, digits and _ (1 to 40), as simulate prints it' })
    .optional(),
  providerUrl: urlOf(['http', 'https'], 'the payment provider the sale charged through').optional(),
  settle: z.string().default('10s'),
  json: z.boolean().optional(),
  ...serviceFlags,
};

export async function runRecoverCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const f = parseOptions(flags, raw, toFlag);
  const services = serviceChoice(f);
  const result = await recoverSales(
    {
      namespace: f.namespace,
      providerUrl: f.providerUrl,
      settleMs: parseDuration(f.settle, '--settle'),
      ...services,
    },
    (l) => io.info(l),
  );
  printResult(io, Boolean(f.json), result.document, result.text, []);
  return result.exitCode;
}

export function recoverCommand(io: CommandIO, setExit: (code: number) => void): Command {
  return recordedSaleOptions(
    new Command('recover')
      .description(
        'finish a sale whose run died: resolve every payment whose outcome is unknown from the provider, expire the holds left, judge the sale again',
      )
      .option('--namespace <ns>', 'the sale to recover, as simulate prints it (default: every sale whose run died)')
      .option(
        '--provider-url <url>',
        "the provider the sale charged through (default: the bundled mock over the sale's ledger)",
      )
      .option(
        '--settle <duration>',
        'how long an external provider may still commit a charge request it held (e.g. 0, 10s)',
        '10s',
      ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ flashsale recover\n  $ flashsale recover --namespace sim_1a2b3c4d\n  $ flashsale recover --namespace sim_1a2b3c4d --provider-url https://pay.example --settle 30s\n\nExit codes: 0 recovered and every invariant holds, 3 an invariant broken, 6 a payment still unresolved (provider or store unreachable), 2 bad option',
    )
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runRecoverCommand(opts, io));
    });
}
