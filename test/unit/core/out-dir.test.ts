// --out and --junit refuse what is not flashsale's, before anything runs (exit 2, naming the path).
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/core/errors.js';
import { checkJUnitFile, checkOutDir } from '../../../src/core/out-dir.js';
import { renderJUnit } from '../../../src/core/junit.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'fs-outdir-'));

describe('checkOutDir', () => {
  it('takes a new directory, an empty one, and an earlier report of the same command', () => {
    const base = scratch();
    expect(() => checkOutDir(join(base, 'new', 'deeper'), 'simulate')).not.toThrow();
    mkdirSync(join(base, 'empty'));
    expect(() => checkOutDir(join(base, 'empty'), 'bench')).not.toThrow();
    const earlier = join(base, 'earlier');
    mkdirSync(earlier);
    for (const f of ['summary.json', 'report.html', 'orders-sync.csv', 'orders-async.csv', 'provider-faults-sync.json'])
      writeFileSync(join(earlier, f), '{}');
    expect(() => checkOutDir(earlier, 'simulate')).not.toThrow();
  });

  it('refuses a directory holding a file of the user, naming it, and leaves the file as it was', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'summary.json'), '{}');
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    expect(() => checkOutDir(dir, 'simulate')).toThrow(UsageError);
    expect(() => checkOutDir(dir, 'simulate')).toThrow(
      /holds files that are not part of a flashsale simulate report \(notes\.txt\)/,
    );
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('refuses a report of another command: a bench report is not replaced by reconcile', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'summary.json'), '{}');
    writeFileSync(join(dir, 'summary.txt'), 'table');
    expect(() => checkOutDir(dir, 'reconcile')).toThrow(
      /not part of a flashsale reconcile report \(summary\.json, summary\.txt\)/,
    );
  });

  it('refuses a file, and a place under a file', () => {
    const base = scratch();
    writeFileSync(join(base, 'notes.txt'), 'mine');
    expect(() => checkOutDir(join(base, 'notes.txt'), 'simulate')).toThrow(
      /--out .*notes\.txt: is a file; a report is a directory/,
    );
    expect(() => checkOutDir(join(base, 'notes.txt', 'out'), 'simulate')).toThrow(
      /is a file, so nothing can be written under it/,
    );
  });
});

describe('checkJUnitFile', () => {
  it('takes a new file and a JUnit file flashsale wrote, refuses anything else', () => {
    const base = scratch();
    expect(() => checkJUnitFile(join(base, 'junit.xml'))).not.toThrow();
    writeFileSync(join(base, 'ours.xml'), renderJUnit('flashsale bench', []));
    expect(() => checkJUnitFile(join(base, 'ours.xml'))).not.toThrow();
    writeFileSync(join(base, 'theirs.xml'), '<?xml version="1.0"?><testsuites name="jest"></testsuites>');
    expect(() => checkJUnitFile(join(base, 'theirs.xml'))).toThrow(/exists and is not a JUnit file flashsale wrote/);
    expect(() => checkJUnitFile(base)).toThrow(/--junit: expected a file path, got .*, which is a directory/);
  });
});
