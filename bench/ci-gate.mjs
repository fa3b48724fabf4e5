#!/usr/bin/env node
// The project's own CI regression gate, run by `npm test` after the test suite: what
// docs/github-actions.yml shows a team, against this repository's committed baseline.
//
//   1. the smoke sale with its scenario's thresholds plus oversold==0 and droppedArrivals==0,
//      JUnit written (exit 3 on a broken invariant, 4 on a failed threshold);
//   2. the lua and atomic strategies against bench/baseline.json, machine-normalised by the
//      calibration each run measures, with a tolerance wide enough not to flake here (5 s runs
//      on this shared 2-core machine moved by up to ~45% between honest runs; see the README's
//      "Baselines"): it stops a change that makes a strategy 3× slower, not one that costs 10%.
//      Refresh the baseline on purpose: `node bin/flashsale.js bench … --save-baseline bench/baseline.json`
//      with the options below.
// Exits with the first non-zero exit code of the two.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}/reports/ci-gate`;
const MAX_REGRESSION = '65%';

function run(name, args) {
  console.log(`\n== ${name}: flashsale ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [`${root}/bin/flashsale.js`, ...args], {
    stdio: 'inherit',
    env: { ...process.env, CI: 'true' },
  });
  console.log(`== ${name}: exit ${r.status}`);
  return r.status ?? 1;
}

const codes = [
  run('smoke sale with thresholds', [
    'simulate',
    '--scenario',
    'scenarios/smoke.json',
    '--threshold',
    'oversold==0',
    '--threshold',
    'droppedArrivals==0',
    '--junit',
    `${out}/simulate-junit.xml`,
    '--out',
    `${out}/simulate`,
  ]),
  run('bench against the committed baseline', [
    'bench',
    '--strategy',
    'lua,atomic',
    '--stock',
    '100000000',
    '--duration',
    '5',
    '--concurrency',
    '16',
    '--workers',
    '1',
    '--baseline',
    'bench/baseline.json',
    '--max-regression',
    MAX_REGRESSION,
    '--junit',
    `${out}/bench-junit.xml`,
    '--out',
    `${out}/bench`,
  ]),
];
process.exit(codes.find((c) => c !== 0) ?? 0);
