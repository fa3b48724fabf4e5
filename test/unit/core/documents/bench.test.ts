// bench's summary.json: what the command writes is read back as it is; a field it does not
// write is refused by its path.
import { describe, expect, it } from 'vitest';
import { parseSummary } from '../../../../src/core/report/load.js';
import { benchDocument } from '../../../helpers/documents.js';

const roundTrip = (doc: unknown) => parseSummary(JSON.parse(JSON.stringify(doc)), 'summary.json');

describe('the bench document', () => {
  it('round-trips, reference, calibration and baseline included', () => {
    const saved = roundTrip(benchDocument());
    if (saved.kind !== 'bench') throw new Error('a bench summary');
    expect(saved.bench).toEqual(benchDocument());
  });

  it('round-trips without the parts only some runs have', () => {
    const { reference: _r, calibration: _c, baseline: _b, ...doc } = benchDocument();
    const saved = roundTrip(doc);
    if (saved.kind !== 'bench') throw new Error('a bench summary');
    expect(saved.bench).toEqual(doc);
  });

  it.each([
    [
      'in a strategy',
      (d: Record<string, any>) => (d.strategies[0].lateness = 1),
      /^summary\.json: strategies\.0\.lateness: unknown field \(1\)/,
    ],
    [
      'in the config',
      (d: Record<string, any>) => (d.config.rampUp = 5),
      /^summary\.json: config\.rampUp: unknown field \(5\)/,
    ],
    [
      'in a baseline row',
      (d: Record<string, any>) => (d.baseline.rows[0].why = 'x'),
      /^summary\.json: baseline\.rows\.0\.why: unknown field \("x"\)/,
    ],
  ])('refuses an unknown field %s, naming its path', (_name, change, message) => {
    const doc = JSON.parse(JSON.stringify(benchDocument()));
    change(doc);
    expect(() => roundTrip(doc)).toThrow(message);
  });
});
