// --out and --junit never remove or overwrite what is not flashsale's: a report directory is
// replaced whole when it is written (output.ts), so it may only hold the files a report of the
// same command writes. Checked before any service starts, with the writability of the place.
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './errors.js';

export type ReportCommand = 'simulate' | 'bench' | 'merge' | 'reconcile';

/** The files each command writes into its report directory. */
const REPORT_FILES: Record<ReportCommand, RegExp[]> = {
  simulate: [
    /^summary\.json$/,
    /^report\.html$/,
    /^orders(-sync|-async)?\.csv$/,
    /^provider-faults(-sync|-async)?\.json$/,
  ],
  bench: [/^summary\.json$/, /^summary\.txt$/, /^report\.html$/],
  merge: [/^summary\.json$/, /^report\.html$/],
  reconcile: [/^mismatches\.csv$/, /^mismatches\.json$/],
};

/** The directory a new file or directory at `path` would be created in must exist up the tree and be writable. */
function checkWritableParent(path: string, flag: string): void {
  let dir = dirname(path);
  while (!existsSync(dir)) dir = dirname(dir);
  if (!statSync(dir).isDirectory())
    throw new UsageError(`${flag} ${path}: ${dir} is a file, so nothing can be written under it`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new UsageError(`${flag} ${path}: ${dir} is not writable by this user`, 'give a directory you can write to');
  }
}

/**
 * Refuses (exit 2, naming the path) an --out that is a file, a directory holding anything but a
 * `command` report, or a place that cannot be written. A new or empty directory, or an earlier
 * report of the same command, is fine: the report replaces it once it is whole.
 */
export function checkOutDir(dir: string, command: ReportCommand, flag = '--out'): void {
  const target = resolve(dir);
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) {
      throw new UsageError(
        `${flag} ${dir}: is a file; a report is a directory`,
        `give a new or empty directory, e.g. ${dir}.d`,
      );
    }
    const foreign = readdirSync(target).filter((name) => !REPORT_FILES[command].some((re) => re.test(name)));
    if (foreign.length) {
      const shown = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? `, and ${foreign.length - 3} more` : '');
      throw new UsageError(
        `${flag} ${dir}: holds files that are not part of a flashsale ${command} report (${shown}); writing the report would remove them`,
        'give a new or empty directory',
      );
    }
  }
  checkWritableParent(target, flag);
}

/** A --junit file: a new one, or a JUnit file flashsale wrote before; never a directory or someone else's file. */
export function checkJUnitFile(file: string, flag = '--junit'): void {
  const target = resolve(file);
  if (existsSync(target)) {
    if (statSync(target).isDirectory()) {
      throw new UsageError(
        `${flag}: expected a file path, got ${file}, which is a directory`,
        `for example ${flag} ${join(file, 'junit.xml')}`,
      );
    }
    const head = readFileSync(target, 'utf8').slice(0, 300);
    if (!/^<\?xml[^>]*>\s*<testsuites name="flashsale /.test(head)) {
      throw new UsageError(
        `${flag} ${file}: exists and is not a JUnit file flashsale wrote; it would be overwritten`,
        'give a new file name',
      );
    }
  }
  checkWritableParent(target, flag);
}
