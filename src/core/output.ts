// Report directories: written whole or not at all (a temp dir renamed into place), so a crash
// or a bad option never leaves half a report behind.
import { mkdirSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export function defaultOutDir(command: string, at = new Date()): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return join('reports', `${command}-${stamp}`);
}

/** Writes `files` (name → content) into `dir`; an existing dir is replaced only once all is written. */
export function writeReport(dir: string, files: Record<string, string>): string {
  const target = resolve(dir);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(tmp, name), content);
    if (existsSync(target)) rmSync(target, { recursive: true, force: true });
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return target;
}

/** Writes `content` to `file` whole or not at all (a temp file beside it, renamed into place). */
export function writeFileAtomic(file: string, content: string): string {
  const target = resolve(file);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`);
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return target;
}
