// JUnit XML for CI dashboards (GitLab, Jenkins, GitHub test reporters): one <testsuite> per
// run (a simulate mode, a bench strategy), one <testcase> per invariant and per threshold.
import { checkJUnitFile } from './out-dir.js';
import type { InvariantResult } from './invariants.js';
import { formatValue, type ThresholdResult } from './thresholds.js';

export interface JUnitCase {
  name: string;
  classname: string;
  /** Absent: the case passed. */
  failure?: { type: string; message: string; text: string };
}

export interface JUnitSuite {
  name: string;
  timeSec: number;
  /** ISO instant the run ended. */
  timestamp: string;
  cases: JUnitCase[];
}

// Characters XML 1.0 cannot carry at all, even escaped (control characters, lone surrogates):
// an error sample from a driver may hold any of them, and one would make the whole file unreadable.
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Text content: markup characters escaped, characters XML cannot hold replaced. */
export function xmlText(s: string): string {
  return s.replace(NOT_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Attribute value (double-quoted): also quotes, and whitespace a parser would fold into spaces. */
export function xmlAttr(s: string): string {
  return xmlText(s)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;')
    .replace(/\t/g, '&#9;');
}

/** The cases of one run: its invariants, then its thresholds. */
export function junitCases(
  classname: string,
  invariants: InvariantResult[],
  thresholds: ThresholdResult[],
  validity?: { valid: boolean; reasons: string[] },
): JUnitCase[] {
  return [
    // One case for whether the run delivered its load (docs/design.md#run-validity).
    ...(validity
      ? [
          {
            name: 'run validity',
            classname: `${classname}.validity`,
            failure: validity.valid
              ? undefined
              : {
                  type: 'invalid',
                  message: validity.reasons.join('; '),
                  text: `the run did not deliver its load:\n${validity.reasons.join('\n')}`,
                },
          } satisfies JUnitCase,
        ]
      : []),
    ...invariants.map((i): JUnitCase => ({
      name: i.name,
      classname: `${classname}.invariants`,
      failure: i.ok ? undefined : { type: 'invariant', message: i.detail, text: `${i.name} broken: ${i.detail}` },
    })),
    ...thresholds.map((t): JUnitCase => ({
      name: t.source,
      classname: `${classname}.thresholds`,
      failure: t.ok
        ? undefined
        : {
            type: 'threshold',
            message: `${t.source} failed: measured ${formatValue(t.value)}`,
            text: `threshold ${t.source}\nmeasured value: ${formatValue(t.value)}`,
          },
    })),
  ];
}

export function renderJUnit(name: string, suites: JUnitSuite[]): string {
  const failures = (s: JUnitSuite) => s.cases.filter((c) => c.failure).length;
  const total = (f: (s: JUnitSuite) => number) => suites.reduce((n, s) => n + f(s), 0);
  const time = (t: number) => t.toFixed(3);
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  lines.push(
    `<testsuites name="${xmlAttr(name)}" tests="${total((s) => s.cases.length)}" failures="${total(failures)}" errors="0" time="${time(total((s) => s.timeSec))}">`,
  );
  for (const s of suites) {
    lines.push(
      `  <testsuite name="${xmlAttr(s.name)}" tests="${s.cases.length}" failures="${failures(s)}" errors="0" skipped="0" time="${time(s.timeSec)}" timestamp="${xmlAttr(s.timestamp)}">`,
    );
    for (const c of s.cases) {
      const open = `    <testcase name="${xmlAttr(c.name)}" classname="${xmlAttr(c.classname)}" time="0"`;
      if (!c.failure) {
        lines.push(`${open}/>`);
        continue;
      }
      lines.push(`${open}>`);
      lines.push(
        `      <failure type="${xmlAttr(c.failure.type)}" message="${xmlAttr(c.failure.message)}">${xmlText(c.failure.text)}</failure>`,
      );
      lines.push('    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return lines.join('\n') + '\n';
}

/** Before any load: a --junit path that can never be written fails now, not after the run. */
/** Refuses a --junit path that is a directory, someone else's file, or not writable (exit 2). */
export function checkJUnitTarget(file: string): void {
  checkJUnitFile(file);
}

export { writeFileAtomic } from './output.js';
