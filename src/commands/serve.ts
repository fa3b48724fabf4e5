// `flashsale serve`: the engine's HTTP API alone, for driving it with k6, wrk or autocannon.
import { Command } from 'commander';
import { z } from 'zod';
import type { CommandIO } from '../core/io.js';
import { serve } from '../core/app/serve.js';
import { parseOptions, toFlag, wholeNumber } from '../core/validate.js';
import { providerFlags, serviceChoice, serviceFlags } from './flags.js';

const flags = {
  scenario: z.string().optional(),
  strategy: z.string().optional(),
  port: wholeNumber(0, 65_535),
  json: z.boolean().optional(),
  ...serviceFlags,
  ...providerFlags,
};

export async function runServeCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const f = parseOptions(flags, { port: '0', ...raw }, toFlag);
  return serve(
    {
      scenarioFile: f.scenario,
      strategy: f.strategy,
      port: f.port,
      ...serviceChoice(f),
      providerUrl: f.providerUrl,
      providerSecret: f.providerSecret,
    },
    {
      log: (l) => io.info(l),
      // Escaped: an error may quote what a client sent, and a newline in it must not forge a log line.
      onError: (e) => io.info(`serve: ${JSON.stringify(String((e as Error)?.message ?? e)).slice(1, -1)}`),
      onListening: (s) => {
        if (f.json) io.out(JSON.stringify({ url: s.url, strategy: s.strategy, namespace: s.namespace, skus: s.skus }));
        else
          io.out(
            `sale ${s.namespace}: API of ${s.scenario} (${s.strategy}, ${s.why}) on ${s.url}: POST /v1/reservations, POST /v1/orders/:id/pay, GET /v1/availability/:sku; Ctrl-C stops it and judges the sale (flashsale check --namespace ${s.namespace} judges it any time)`,
          );
      },
    },
  );
}

export function serveCommand(io: CommandIO, setExit: (code: number) => void): Command {
  return new Command('serve')
    .description(
      "serve the sale engine's HTTP API alone, to drive it with k6, wrk or autocannon (or simulate --transport http --target)",
    )
    .option(
      '--scenario <file>',
      'the sale to serve: SKUs, stock, limits, provider faults (default scenarios/smoke.json)',
    )
    .option('--strategy <name>', 'oversell strategy, or auto')
    .option('--port <n>', 'port on 127.0.0.1, 0 = a free one', '0')
    .option('--redis-url <url>', 'Redis (default: REDIS_URL, else a redis-server from PATH)')
    .option('--redis-cluster <host:port,…>', 'a Redis Cluster to use instead, by seed nodes')
    .option('--database-url <url>', 'Postgres (default: DATABASE_URL, else embedded PostgreSQL)')
    .option('--provider-url <url>', 'a payment provider serving the same API (default: the bundled mock)')
    .option('--provider-secret <s>', "HMAC secret of that provider's tokens")
    .option('--json', 'print {url, strategy, namespace, skus} once listening')
    .addHelpText(
      'after',
      '\nExamples:\n  $ flashsale serve --port 8080\n  $ flashsale serve --scenario scenarios/black-friday.json --strategy lua --json',
    )
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runServeCommand(opts, io));
    });
}
