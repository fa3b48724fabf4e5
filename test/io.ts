import type { CommandIO } from '../src/cli.js';

export interface CapturedIO extends CommandIO {
  stdout: string[];
  stderr: string[];
}

/** A CommandIO that keeps what a command printed, so tests assert the lines people see. */
export function captureIO(): CapturedIO {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (t) => void stdout.push(t),
    info: (t) => void stderr.push(t),
    progress: () => {},
    stderrIsTTY: false,
  };
}
