// The provider use case: the mock payment provider alone, on loopback, until Ctrl-C.
import { readFileSync } from 'node:fs';
import { ExitCode, UsageError } from '../errors.js';
import { onInterrupt } from '../interrupt.js';
import { parseFaultConfig, startProvider, type FaultConfig } from '../provider/index.js';
import { resolveServices } from '../services/resolve.js';

export interface ProviderRequest {
  port: number;
  namespace: string;
  secret: string;
  seed: number;
  faults: FaultConfig;
  rateLimit?: number;
  reset: boolean;
  databaseUrl?: string;
}

export interface ProviderHooks {
  log(line: string): void;
  onListening(info: { url: string; namespace: string }): void;
  onError(err: unknown): void;
}

/** --faults FILE: a JSON object of fault rates, checked field by field (exit 2 naming the field). */
export function readFaults(file: string | undefined): FaultConfig {
  if (!file) return parseFaultConfig(undefined, 'faults');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--faults: cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--faults: ${file} is not JSON: ${(err as Error).message}`);
  }
  return parseFaultConfig(json, 'faults');
}

export async function runProvider(request: ProviderRequest, hooks: ProviderHooks): Promise<number> {
  const services = await resolveServices(new Set(['postgres']), { databaseUrl: request.databaseUrl, log: hooks.log });
  try {
    const provider = await startProvider({
      databaseUrl: services.databaseUrl!,
      namespace: request.namespace,
      port: request.port,
      secret: request.secret,
      seed: request.seed,
      faults: request.faults,
      rateLimit: request.rateLimit ? { perSecond: request.rateLimit, burst: request.rateLimit } : undefined,
      reset: request.reset,
      onError: hooks.onError,
    });
    hooks.onListening({ url: provider.url, namespace: request.namespace });
    await new Promise<void>((resolve) => onInterrupt(resolve));
    await provider.stop();
    hooks.log(`stopped; ${provider.faults().length} injected fault(s) recorded`);
    return ExitCode.Ok;
  } finally {
    await services.stop();
  }
}
