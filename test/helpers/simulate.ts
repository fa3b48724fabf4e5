import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli.js';
import { DATABASE_URL, REDIS_URL } from './services.js';
import { captureIO } from './io.js';

export const services = ['--redis-url', REDIS_URL, '--database-url', DATABASE_URL];

export function tmpOut(): string {
  return join(mkdtempSync(join(tmpdir(), 'fs-sim-')), 'out');
}

/** A scenario file derived from a bundled one. */
export function scenarioFile(base: string, change: (s: Record<string, any>) => void): string {
  const s = JSON.parse(readFileSync(join('scenarios', base), 'utf8'));
  change(s);
  const file = join(mkdtempSync(join(tmpdir(), 'fs-scn-')), `${s.name}.json`);
  writeFileSync(file, JSON.stringify(s));
  return file;
}

export async function simulate(args: string[]) {
  const io = captureIO();
  const out = tmpOut();
  const code = await main(['simulate', ...services, '--out', out, '--json', ...args], io);
  const stdout = io.stdout.join('\n');
  return { code, out, err: io.stderr.join('\n'), report: stdout ? JSON.parse(stdout) : undefined };
}
