// `flashsale provider`: the mock payment provider alone, for pointing another system at it.
import { Command } from 'commander';
import { z } from 'zod';
import type { CommandIO } from '../core/io.js';
import { readFaults, runProvider } from '../core/app/provider.js';
import { parseOptions, toFlag, wholeNumber } from '../core/validate.js';
import { serviceFlags } from './flags.js';

const flags = {
  port: wholeNumber(0, 65_535),
  namespace: z.string().regex(/^[a-z0-9_]{1,40}$/, { message: 'lower-case letters, digits and _ (1 to 40)' }),
  seed: wholeNumber(0, 2 ** 32 - 1),
  rateLimit: wholeNumber(1).optional(),
  secret: z.string().min(16, { message: 'a shared secret of at least 16 characters (or FLASHSALE_PROVIDER_SECRET)' }),
  faults: z.string().optional(),
  reset: z.boolean().optional(),
  json: z.boolean().optional(),
  databaseUrl: serviceFlags.databaseUrl,
};

export async function runProviderCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const secret = raw.secret ?? process.env.FLASHSALE_PROVIDER_SECRET ?? '';
  const f = parseOptions(flags, { port: '0', namespace: 'default', seed: '1', ...raw, secret }, toFlag);
  const faults = readFaults(f.faults);
  return runProvider(
    {
      port: f.port,
      namespace: f.namespace,
      secret: f.secret,
      seed: f.seed,
      faults,
      rateLimit: f.rateLimit,
      reset: Boolean(f.reset),
      databaseUrl: f.databaseUrl,
    },
    {
      log: (l) => io.info(l),
      onError: (err) => io.info(`provider error: ${(err as Error)?.message ?? err}`),
      onListening: ({ url, namespace }) => {
        if (f.json) io.out(JSON.stringify({ url, namespace }));
        else io.out(`mock payment provider listening on ${url} (ledger schema mockpay_${namespace}); Ctrl-C stops it`);
      },
    },
  );
}

export function providerCommand(io: CommandIO, setExit: (code: number) => void): Command {
  return new Command('provider')
    .description('run the mock payment provider alone (Stripe-shaped API on loopback, ledger in Postgres)')
    .option('--port <n>', 'port on 127.0.0.1, 0 = a free one', '0')
    .option('--namespace <name>', 'ledger schema mockpay_<name>', 'default')
    .option('--secret <s>', 'HMAC secret the payment tokens are signed with (default: FLASHSALE_PROVIDER_SECRET)')
    .option('--seed <n>', 'seed of the fault decisions', '1')
    .option('--faults <file>', 'JSON file of fault rates, e.g. {"decline": 0.05, "serverError": 0.02}')
    .option('--rate-limit <n>', 'answer 429 with Retry-After above n requests/s')
    .option('--reset', "drop the namespace's ledger first")
    .option('--database-url <url>', 'Postgres for the ledger (default: DATABASE_URL, else embedded PostgreSQL)')
    .option('--json', 'print {url, namespace} as JSON once listening')
    .addHelpText(
      'after',
      '\nExamples:\n  $ FLASHSALE_PROVIDER_SECRET=change-me-0123456789 flashsale provider --port 4242\n  $ flashsale provider --secret change-me-0123456789 --faults faults.json --seed 7',
    )
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runProviderCommand(opts, io));
    });
}
