// Reading back a JUnit file a command wrote: it must parse, and its cases are what CI shows.
import { readFileSync } from 'node:fs';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { expect } from 'vitest';

export interface Case {
  name: string;
  failure?: { message: string };
}
export interface Suite {
  name: string;
  tests: string;
  failures: string;
  testcase: Case[];
}

export function readJUnit(file: string): { failures: number; tests: number; suites: Suite[] } {
  const xml = readFileSync(file, 'utf8');
  expect(XMLValidator.validate(xml)).toBe(true);
  const doc = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    htmlEntities: true,
    isArray: (n) => n === 'testsuite' || n === 'testcase',
  }).parse(xml).testsuites;
  return { failures: Number(doc.failures), tests: Number(doc.tests), suites: doc.testsuite };
}
