// Every command that writes a report refuses an --out holding someone else's files with exit 2,
// before any service starts, and leaves those files as they were.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { captureIO } from '../../helpers/io.js';

const userDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'fs-out-'));
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  return dir;
};

describe('--out that holds a file of the user', () => {
  it.each([
    ['simulate', ['simulate', '--strategy', 'atomic', '--database-url', 'postgres://postgres@127.0.0.1:1/none']],
    ['bench', ['bench', '--strategy', 'atomic', '--database-url', 'postgres://postgres@127.0.0.1:1/none']],
    ['reconcile', ['reconcile', '--date', '2026-11-21', '--database-url', 'postgres://postgres@127.0.0.1:1/none']],
    ['merge', ['report', 'merge', 'a', 'b']],
  ])('%s exits 2 naming the file, and nothing is removed', async (command, args) => {
    const dir = userDir();
    const io = captureIO();
    // unreachable services: had anything started, the error would be exit 6, not 2
    const code = await main([...args, '--out', dir], io);
    expect(code).toBe(2);
    expect(io.stderr.join('\n')).toMatch(
      new RegExp(`holds files that are not part of a flashsale ${command} report \\(notes\\.txt\\)`),
    );
    expect(readdirSync(dir)).toEqual(['notes.txt']);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('a file given as --out is refused, not turned into a directory', async () => {
    const dir = userDir();
    const file = join(dir, 'notes.txt');
    const io = captureIO();
    const code = await main(
      ['reconcile', '--date', '2026-11-21', '--out', file, '--database-url', 'postgres://postgres@127.0.0.1:1/none'],
      io,
    );
    expect(code).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/is a file; a report is a directory/);
    expect(readFileSync(file, 'utf8')).toBe('mine');
  });
});

describe('reconcile --date in the future', () => {
  it('is exit 2 naming --date, before any service starts or anything is written', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fs-out-')), 'out');
    const io = captureIO();
    const code = await main(
      ['reconcile', '--date', '9999-12-31', '--out', dir, '--database-url', 'postgres://postgres@127.0.0.1:1/none'],
      io,
    );
    expect(code).toBe(2);
    expect(io.stderr.join('\n')).toMatch(/--date: 9999-12-31 has not begun yet in UTC; expected a day up to today/);
    expect(readdirSync(join(dir, '..'))).toEqual([]);
  });
});
