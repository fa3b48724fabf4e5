// Where a command writes: stdout for the result, stderr for people. The commands and the use cases
// take it as a parameter, so tests capture exactly the lines a person sees.

export interface CommandIO {
  out(text: string): void;
  info(text: string): void;
  /** Redraws one status line on a terminal. */
  progress(text: string): void;
  stderrIsTTY: boolean;
  /** Running in CI (the CI variable is set): no live progress, whatever the terminal. */
  ci: boolean;
}

export const processIO: CommandIO = {
  out: (t) => void process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  info: (t) => void process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  progress: (t) => void process.stderr.write(`\r\u001b[2K${t}`),
  stderrIsTTY: Boolean(process.stderr.isTTY),
  ci: Boolean(process.env.CI),
};

/** A live status line only for a person at a terminal: not with --json, not in CI. */
export function wantsLiveLine(io: CommandIO, json: boolean): boolean {
  return io.stderrIsTTY && !json && !io.ci;
}

/** Calls `draw` at most every `everyMs`, so a live line does not flood the terminal. */
export function throttled<T>(draw: (p: T) => void, everyMs = 250): (p: T) => void {
  let last = 0;
  return (p) => {
    if (Date.now() - last < everyMs) return;
    last = Date.now();
    draw(p);
  };
}

/** The one way a command hands over its result: the document on stdout with --json, else the text. */
export function printResult(io: CommandIO, json: boolean, document: unknown, text: string, footer: string[]): void {
  if (json) {
    io.out(JSON.stringify(document));
    io.info(text);
    return;
  }
  io.out(text);
  for (const line of footer) io.out(line);
}
