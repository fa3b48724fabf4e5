// Wires the commands and turns every outcome into an exit code; nothing else.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import chalk from 'chalk';
import { benchCommand } from './commands/bench.js';
import { checkCommand } from './commands/check.js';
import { providerCommand } from './commands/provider.js';
import { reconcileCommand } from './commands/reconcile.js';
import { recoverCommand } from './commands/recover.js';
import { simulateCommand } from './commands/simulate.js';
import { serveCommand } from './commands/serve.js';
import { reportCommand } from './commands/report.js';
import { ExitCode, FlashsaleError, redact } from './core/errors.js';
import { interruptAll } from './core/interrupt.js';
import { processIO, type CommandIO } from './core/io.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(io: CommandIO, setExit: (code: number) => void): Command {
  const program = new Command('flashsale')
    .description(
      'Prove your flash-sale backend never sells a unit twice: a whole-sale load harness, a strategy bench, a mock payment provider and the daily reconciliation.',
    )
    .version(version(), '-V, --version')
    .option('--verbose', 'print stack traces of internal errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.info(s) })
    .addHelpText(
      'after',
      '\nExamples:\n  $ flashsale simulate\n  $ flashsale bench --strategy all\n  $ flashsale bench --strategy lua --duration 10 --stock 1000000 --reference\n  $ flashsale reconcile --date 2026-11-21 --tz Europe/Berlin\n  $ flashsale serve --port 8080\n  $ flashsale provider --secret change-me-0123456789 --port 4242\n\nExit codes: 0 ok, 1 internal error, 2 bad usage, 3 invariant broken, 4 threshold failed, 5 mismatches, 6 service unreachable, 130 interrupted by Ctrl-C and 143 by SIGTERM (report written)',
    );
  for (const command of [
    simulateCommand(io, setExit),
    benchCommand(io, setExit),
    reconcileCommand(io, setExit),
    recoverCommand(io, setExit),
    checkCommand(io, setExit),
    providerCommand(io, setExit),
    serveCommand(io, setExit),
    reportCommand(io, setExit),
  ]) {
    program.addCommand(
      command.exitOverride().configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.info(s) }),
    );
  }
  return program;
}

/** The one place errors become messages and exit codes. */
export function handleError(err: unknown, io: CommandIO, verbose: boolean): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
      return ExitCode.Ok;
    // commander has already printed its message
    return ExitCode.Usage;
  }
  if (err instanceof FlashsaleError) {
    io.info(chalk.red(`error: ${redact(err.message)}`));
    if (err.suggestion) io.info(`  ${redact(err.suggestion)}`);
    return err.exitCode;
  }
  const e = err as Error;
  io.info(chalk.red(`internal error: ${redact(e?.message ?? String(err))}`));
  if (verbose && e?.stack) io.info(redact(e.stack));
  else io.info('  run again with --verbose for the stack trace, and please report it');
  return ExitCode.Internal;
}

/** 128 + SIGTERM's number, what a shell reports for a process ended by it. */
const SIGTERM_EXIT = 143;

export async function main(argv: string[], io: CommandIO = processIO): Promise<number> {
  let code: number = ExitCode.Ok;
  const program = buildProgram(io, (c) => (code = c));
  // SIGTERM (a CI job cancelled, a pod stopped) drains like Ctrl-C: the run stops issuing load,
  // judges what happened and writes its report marked interrupted, then exits 143 instead of 130.
  // A second signal, or one while nothing is running, exits at once, through 'exit', so child
  // services (redis-server, Postgres) are stopped too.
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => () => {
    if (interruptAll()) {
      stoppedBy = signal;
      const again = signal === 'SIGINT' ? 'Ctrl-C again' : 'a second signal';
      io.info(
        `\n${signal === 'SIGINT' ? 'interrupted' : 'terminated'}: finishing what is in flight, then stopping (${again} to quit at once)`,
      );
      return;
    }
    io.info(`\n${signal === 'SIGINT' ? 'interrupted' : 'terminated'}; stopping services`);
    process.exit(signal === 'SIGINT' ? ExitCode.Interrupted : SIGTERM_EXIT);
  };
  const onSigint = onSignal('SIGINT');
  const onSigterm = onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return stoppedBy === 'SIGTERM' && code === ExitCode.Interrupted ? SIGTERM_EXIT : code;
  } catch (err) {
    return handleError(err, io, argv.includes('--verbose'));
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}
