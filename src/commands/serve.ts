// `flashsale serve`: the engine's HTTP API alone, for driving it with k6, wrk or autocannon.
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { ExitCode } from '../core/errors.js';
import { onInterrupt } from '../core/interrupt.js';
import { engineConfigOf, loadScenario } from '../core/scenario.js';
import { resolveServices } from '../core/services/resolve.js';
import { storeOf } from '../core/strategies/index.js';
import { parseOptions, toFlag, wholeNumber } from '../core/validate.js';
import { chooseRedisAndStrategy, DEFAULT_SCENARIO } from './simulate.js';
import type { CommandIO } from '../cli.js';

export async function runServeCommand(raw: Record<string, unknown>, io: CommandIO): Promise<number> {
  const o = parseOptions({ port: wholeNumber(0, 65_535) }, { port: '0', ...raw }, toFlag);
  const scenario = loadScenario(String(raw.scenario ?? DEFAULT_SCENARIO));
  const { redisCluster, strategy, why } = chooseRedisAndStrategy(raw, scenario.strategy);
  const need = new Set([storeOf(strategy), 'postgres' as const]);
  if (scenario.rateLimit) need.add('redis');
  const services = await resolveServices(need, { redisUrl: raw.redisUrl as string | undefined, redisCluster, databaseUrl: raw.databaseUrl as string | undefined, log: (l) => io.info(l) });
  const { startProvider } = await import('../core/provider/index.js');
  const { createEngine } = await import('../core/engine/engine.js');
  const { serveSaleApi } = await import('../core/http/server.js');
  const namespace = `serve_${randomBytes(4).toString('hex')}`;
  const secret = (raw.providerSecret as string | undefined) ?? process.env.FLASHSALE_PROVIDER_SECRET ?? randomBytes(24).toString('hex');
  const provider = raw.providerUrl ? undefined : await startProvider({ databaseUrl: services.databaseUrl!, namespace, secret, seed: scenario.seed, faults: scenario.payment.faults });
  const engine = await createEngine(
    engineConfigOf(scenario, {
      namespace,
      strategy,
      redisUrl: services.redisUrl,
      redisCluster: services.redisCluster,
      databaseUrl: services.databaseUrl!,
      providerUrl: (raw.providerUrl as string | undefined) ?? provider!.url,
      providerSecret: secret,
    }),
  );
  let stopSweeper: (() => Promise<void>) | undefined;
  try {
    await engine.setup();
    stopSweeper = engine.startSweeper();
    const server = await serveSaleApi(engine, { port: o.port, onError: (e) => io.info(`serve: ${(e as Error)?.message ?? e}`) });
    const info = { url: server.url, strategy, namespace, skus: scenario.skus.map((k) => k.sku) };
    if (raw.json) io.out(JSON.stringify(info));
    else io.out(`sale API of ${scenario.name} (${strategy}, ${why}) on ${server.url}: POST /v1/reservations, POST /v1/orders/:id/pay, GET /v1/availability/:sku; Ctrl-C stops it`);
    await new Promise<void>((resolve) => onInterrupt(resolve));
    await server.stop();
    return ExitCode.Ok;
  } finally {
    await stopSweeper?.().catch(() => {});
    await engine.close();
    await provider?.stop();
    await services.stop();
  }
}

export function serveCommand(io: CommandIO, setExit: (code: number) => void): Command {
  return new Command('serve')
    .description("serve the sale engine's HTTP API alone, to drive it with k6, wrk or autocannon (or simulate --transport http --target)")
    .option('--scenario <file>', 'the sale to serve: SKUs, stock, limits, provider faults (default scenarios/smoke.json)')
    .option('--strategy <name>', 'oversell strategy, or auto')
    .option('--port <n>', 'port on 127.0.0.1, 0 = a free one', '0')
    .option('--redis-url <url>', 'Redis (default: REDIS_URL, else a redis-server from PATH)')
    .option('--redis-cluster <host:port,…>', 'a Redis Cluster to use instead, by seed nodes')
    .option('--database-url <url>', 'Postgres (default: DATABASE_URL, else embedded PostgreSQL)')
    .option('--provider-url <url>', 'a payment provider serving the same API (default: the bundled mock)')
    .option('--provider-secret <s>', "HMAC secret of that provider's tokens")
    .option('--json', 'print {url, strategy, namespace, skus} once listening')
    .addHelpText('after', '\nExamples:\n  $ flashsale serve --port 8080\n  $ flashsale serve --scenario scenarios/black-friday.json --strategy lua --json')
    .action(async (opts: Record<string, unknown>) => {
      setExit(await runServeCommand(opts, io));
    });
}
