import type { CommandIO } from '../../src/core/io.js';

export interface CapturedIO extends CommandIO {
  stdout: string[];
  stderr: string[];
  progressLines: string[];
}

/** A CommandIO that keeps what a command printed, so tests assert the lines people see. */
export function captureIO(terminal: { tty?: boolean; ci?: boolean } = {}): CapturedIO {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const progressLines: string[] = [];
  return {
    stdout,
    stderr,
    progressLines,
    out: (t) => void stdout.push(t),
    info: (t) => void stderr.push(t),
    progress: (t) => void progressLines.push(t),
    stderrIsTTY: terminal.tty ?? false,
    ci: terminal.ci ?? false,
  };
}
