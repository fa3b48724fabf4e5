// JUnit XML without any service: the cases, the escaping, the atomic write.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { checkJUnitTarget, junitCases, renderJUnit, writeFileAtomic } from '../../../src/core/junit.js';

describe('JUnit XML', () => {
  // htmlEntities: fast-xml-parser decodes numeric character references (&#10;) only with it on
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    htmlEntities: true,
    isArray: (n) => n === 'testsuite' || n === 'testcase',
  });
  const nasty = 'sku <1> & "2" \'3\'\nline two \u0001\u001b end';
  const suites = [
    {
      name: 'simulate smoke (sync, lua)',
      timeSec: 6.25,
      timestamp: '2026-11-21T10:00:00.000Z',
      cases: junitCases(
        'simulate.smoke.sync',
        [
          { name: 'no oversell', ok: false, detail: nasty },
          { name: 'conservation', ok: true, detail: 'ok' },
        ],
        [
          { source: 'reserve.p99<0.001', ok: false, value: 4.5 },
          { source: 'oversold==0', ok: true, value: 0 },
        ],
      ),
    },
    {
      name: 'simulate smoke (async, lua)',
      timeSec: 7,
      timestamp: '2026-11-21T10:00:08.000Z',
      cases: junitCases(
        'simulate.smoke.async',
        [{ name: 'no oversell', ok: true, detail: 'ok' }],
        [{ source: 'reserve.p99<0.001', ok: false, value: 5 }],
      ),
    },
  ];
  const xml = renderJUnit('flashsale simulate smoke', suites);

  it('is well-formed XML even with markup and control characters in a detail', () => {
    expect(XMLValidator.validate(xml)).toBe(true);
  });

  it('has one suite per run and one case per invariant and threshold, with the counts in the attributes', () => {
    const doc = parser.parse(xml).testsuites;
    expect([doc.tests, doc.failures]).toEqual(['6', '3']);
    expect(doc.testsuite.map((s: Record<string, string>) => [s.name, s.tests, s.failures])).toEqual([
      ['simulate smoke (sync, lua)', '4', '2'],
      ['simulate smoke (async, lua)', '2', '1'],
    ]);
    expect(doc.testsuite[0].testcase.map((c: Record<string, string>) => c.name)).toEqual([
      'no oversell',
      'conservation',
      'reserve.p99<0.001',
      'oversold==0',
    ]);
  });

  it('carries the invariant detail and the measured value through escaping', () => {
    const [inv, , thr, passed] = parser.parse(xml).testsuites.testsuite[0].testcase;
    expect(inv.failure.message).toBe('sku <1> & "2" \'3\'\nline two \uFFFD\uFFFD end');
    expect(thr.failure).toMatchObject({ type: 'threshold', message: 'reserve.p99<0.001 failed: measured 4.5' });
    expect(passed.failure).toBeUndefined();
  });

  it('is written whole, replacing an older file, with no temp file left beside it', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'fs-junit-')), 'nested');
    const file = join(dir, 'junit.xml');
    writeFileAtomic(file, 'old');
    writeFileAtomic(file, xml);
    expect(readFileSync(file, 'utf8')).toBe(xml);
    expect(readdirSync(dir)).toEqual(['junit.xml']);
  });

  it('a --junit path that is a directory is refused before any load', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fs-junit-'));
    mkdirSync(join(dir, 'reports'));
    expect(() => checkJUnitTarget(join(dir, 'reports'))).toThrow(
      /--junit: expected a file path, got .*reports, which is a directory/,
    );
    expect(() => checkJUnitTarget(join(dir, 'reports', 'junit.xml'))).not.toThrow();
    expect(existsSync(join(dir, 'reports', 'junit.xml'))).toBe(false);
  });
});
