// A throwaway redis-server from PATH: loopback only, no persistence, stopped with the process.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createConnection } from 'node:net';
import { ServiceError } from '../errors.js';
import { freePort } from './ports.js';
import { onShutdown } from './shutdown.js';

export interface StartedService {
  url: string;
  stop(): Promise<void>;
}

export function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.setTimeout(500);
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => {
      sock.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/**
 * Runs the server under a small sh watchdog that holds our end of a pipe: when this process
 * goes away by any means (even a crash or kill -9, when no exit hook runs), the pipe closes and
 * the watchdog stops the server, so no redis-server outlives the run.
 */
// fd 3 keeps the pipe: sh gives a background job /dev/null as stdin unless told otherwise.
const WATCHDOG = 'exec 3<&0; "$0" "$@" </dev/null & pid=$!; (read _ <&3; kill $pid 2>/dev/null) & wait $pid';

export async function startRedisServer(binary: string): Promise<StartedService> {
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'yes',
  ];
  const child = spawn('/bin/sh', ['-c', WATCHDOG, binary, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Closing the pipe is the stop signal; the watchdog then kills the server and sh exits.
  const kill = () => {
    if (child.exitCode === null) child.stdin?.end();
  };
  const off = onShutdown(kill);
  const deadline = Date.now() + 5_000;
  while (!(await ping(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      kill();
      off();
      throw new ServiceError(
        'redis',
        `redis-server (${binary}) did not start on port ${port}: ${stderr.trim() || 'no answer to PING'}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      off();
      kill();
      await exited;
    },
  };
}
