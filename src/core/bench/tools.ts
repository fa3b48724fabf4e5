// Running the reference tools (redis-benchmark, pgbench) and reading their figures.
import { spawn } from 'node:child_process';
import { ServiceError, UsageError, redact } from '../errors.js';
import { findOnPath } from '../services/redis-server.js';

export interface ToolRun {
  stdout: string;
  stderr: string;
  code: number | null;
}

export function requireTool(binary: string, debianPackage: string): string {
  const path = findOnPath(binary);
  if (!path)
    throw new ServiceError(
      binary,
      `--reference needs ${binary} on PATH`,
      `install it (apt-get install ${debianPackage})`,
    );
  return path;
}

/** Runs a tool to completion with a hard time limit, so a stuck tool cannot hang the bench. */
export function runTool(binary: string, args: string[], timeoutMs: number): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
  });
}

/** redis-benchmark --csv: the "rps" column of the first data row. */
export function parseRedisBenchmarkCsv(csv: string): { rps: number; p50: number; p99: number } {
  const rows = csv
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('"'));
  const header = rows[0]?.split('","').map((c) => c.replace(/"/g, ''));
  const data = rows[1]?.split('","').map((c) => c.replace(/"/g, ''));
  if (!header || !data) throw new Error(`redis-benchmark printed no CSV row: ${redact(csv.slice(0, 300))}`);
  const col = (name: string) => Number(data[header.indexOf(name)]);
  const rps = col('rps');
  if (!Number.isFinite(rps)) throw new Error(`redis-benchmark CSV has no rps: ${redact(csv.slice(0, 300))}`);
  return { rps, p50: col('p50_latency_ms'), p99: col('p99_latency_ms') };
}

/** pgbench's summary: transactions processed and the tps line. */
export function parsePgbench(out: string): { tps: number; transactions: number; failed: number } {
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
  const tx = /number of transactions actually processed: (\d+)/.exec(out);
  const failed = /number of failed transactions: (\d+)/.exec(out);
  if (!tps || !tx) throw new Error(`pgbench printed no tps: ${redact(out.slice(0, 400))}`);
  return { tps: Number(tps[1]), transactions: Number(tx[1]), failed: failed ? Number(failed[1]) : 0 };
}

/**
 * redis-benchmark's connection flags for a Redis URL: host, port, ACL user, password, db.
 * redis-benchmark 7 reads no password from the environment, so it is passed with -a (visible
 * to `ps` on this machine for the length of the reference run).
 */
export function redisBenchmarkFlags(url: string): string[] {
  const u = new URL(url);
  if (u.protocol === 'rediss:')
    throw new UsageError(
      '--reference: redis-benchmark is run without TLS; give a redis:// URL (a rediss:// one is not supported)',
    );
  const { host, port, password, user, database } = urlParts(url);
  const flags = ['-h', host, '-p', port];
  if (user && user !== 'default') flags.push('--user', user);
  if (password) flags.push('-a', password, '--no-auth-warning');
  if (database && /^\d+$/.test(database)) flags.push('--dbnum', database);
  return flags;
}

/** Host / port / password / db of a URL, for tools that take them as flags. */
export function urlParts(url: string): {
  host: string;
  port: string;
  password?: string;
  user?: string;
  database?: string;
} {
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port || (u.protocol.startsWith('redis') ? '6379' : '5432'),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    database: u.pathname.replace(/^\//, '') || undefined,
  };
}
