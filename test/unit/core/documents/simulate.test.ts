// simulate's summary.json: what the command writes is read back as it is; a field it does not
// write is refused by its path.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../../src/core/errors.js';
import { parseSummary } from '../../../../src/core/report/load.js';
import { simulateBoth, simulateOne } from '../../../helpers/documents.js';

/** summary.json as written (JSON drops what is undefined) and read back. */
const roundTrip = (doc: unknown) => parseSummary(JSON.parse(JSON.stringify(doc)), 'summary.json');

describe('the simulate document', () => {
  it.each([
    ['one mode', simulateOne()],
    ['--mode both', simulateBoth()],
  ])('%s round-trips: the checked document equals the one written', (_name, doc) => {
    const saved = roundTrip(doc);
    if (saved.kind !== 'simulate') throw new Error('a simulate summary');
    expect(saved.document).toEqual(JSON.parse(JSON.stringify(doc)));
    expect(saved.simulate.runs.map((r) => r.mode)).toEqual('runs' in doc ? ['sync', 'async'] : ['sync']);
  });

  it.each([
    ['at the top', (d: Record<string, any>) => (d.reserveP42 = 1), /^summary\.json: reserveP42: unknown field \(1\)/],
    [
      'in a latency summary',
      (d: Record<string, any>) => (d.latencyMs.reserve.p42 = 3),
      /^summary\.json: latencyMs\.reserve\.p42: unknown field \(3\)/,
    ],
    [
      'in the counters',
      (d: Record<string, any>) => (d.counters.refunds = 2),
      /^summary\.json: counters\.refunds: unknown field \(2\)/,
    ],
    [
      'in a timeline bucket',
      (d: Record<string, any>) => (d.timeline.buckets[0].pay = {}),
      /^summary\.json: timeline\.buckets\.0\.pay: unknown field \(\{\}\)/,
    ],
  ])('refuses an unknown field %s, naming its path', (_name, change, message) => {
    const doc = JSON.parse(JSON.stringify(simulateOne()));
    change(doc);
    expect(() => roundTrip(doc)).toThrow(UsageError);
    expect(() => roundTrip(doc)).toThrow(message);
  });

  it('refuses an unknown field in one mode of --mode both, naming the mode by its index', () => {
    const doc = JSON.parse(JSON.stringify(simulateBoth()));
    doc.runs[1].histograms.confirm = '';
    expect(() => roundTrip(doc)).toThrow(/^summary\.json: runs\.1\.histograms\.confirm: unknown field/);
  });

  it('names the choices of a field with a few', () => {
    const doc = JSON.parse(JSON.stringify(simulateOne()));
    doc.transport = 'grpc';
    expect(() => roundTrip(doc)).toThrow(/^summary\.json: transport: expected one of direct, http, got "grpc"/);
  });
});
