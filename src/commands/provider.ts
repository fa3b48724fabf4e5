// `flashsale provider`: the mock payment provider alone, for pointing another system at it.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { z } from 'zod';
import { ExitCode, UsageError } from '../core/errors.js';
import { onInterrupt } from '../core/interrupt.js';
import { parseFaultConfig, startProvider } from '../core/provider/index.js';
import { resolveServices } from '../core/services/resolve.js';
import { parseOptions, toFlag, wholeNumber } from '../core/validate.js';
import type { CommandIO } from '../cli.js';

const shape = {
  port: wholeNumber(0, 65_535),
  namespace: z.string().regex(/^[a-z0-9_]{1,40}$/, { message: 'lower-case letters, digits and _ (1 to 40)' }),
  seed: wholeNumber(0, 2 ** 32 - 1),
  rateLimit: wholeNumber(1).optional(),
  secret: z.string().min(16, { message: 'a shared secret of at least 16 characters (or FLASHSALE_PROVIDER_SECRET)' }),
};

function readFaults(file: string | undefined): unknown {
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--faults: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--faults: ${file} is not JSON: ${(err as Error).message}`);
  }
}

export async function runProviderCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const o = parseOptions(shape, { port: '0', namespace: 'default', seed: '1', ...raw, secret: raw.secret ?? process.env.FLASHSALE_PROVIDER_SECRET ?? '' }, toFlag);
  const faults = parseFaultConfig(readFaults(raw.faults as string | undefined), 'faults');
  const services = await resolveServices(new Set(['postgres']), { databaseUrl: raw.databaseUrl as string | undefined, log: (l) => io.info(l) });
  try {
    const provider = await startProvider({
      databaseUrl: services.databaseUrl!,
      namespace: o.namespace,
      port: o.port,
      secret: o.secret,
      seed: o.seed,
      faults,
      rateLimit: o.rateLimit ? { perSecond: o.rateLimit, burst: o.rateLimit } : undefined,
      reset: Boolean(raw.reset),
      onError: (err) => io.info(`provider error: ${(err as Error)?.message ?? err}`),
    });
    if (raw.json) io.out(JSON.stringify({ url: provider.url, namespace: o.namespace }));
    else io.out(`mock payment provider listening on ${provider.url} (ledger schema mockpay_${o.namespace}); Ctrl-C stops it`);
    await new Promise<void>((resolve) => onInterrupt(resolve));
    await provider.stop();
    io.info(`stopped; ${provider.faults().length} injected fault(s) recorded`);
    return ExitCode.Ok;
  } finally {
    await services.stop();
  }
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
    .option('--reset', 'drop the namespace\'s ledger first')
    .option('--database-url <url>', 'Postgres for the ledger (default: DATABASE_URL, else embedded PostgreSQL)')
    .option('--json', 'print {url, namespace} as JSON once listening')
    .addHelpText('after', '\nExamples:\n  $ FLASHSALE_PROVIDER_SECRET=change-me-0123456789 flashsale provider --port 4242\n  $ flashsale provider --secret change-me-0123456789 --faults faults.json --seed 7')
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runProviderCommand(opts, io));
    });
}
