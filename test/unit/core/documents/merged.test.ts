// report merge's summary.json: the merge of simulate shards is read back as it is; a field it
// does not write is refused by its path.
import { describe, expect, it } from 'vitest';
import { parseSummary } from '../../../../src/core/report/load.js';
import { mergeSimulations } from '../../../../src/core/report/merge.js';
import { simulateBoth, simulateOne } from '../../../helpers/documents.js';

const roundTrip = (doc: unknown) => parseSummary(JSON.parse(JSON.stringify(doc)), 'summary.json');
const shards = (make: (shard: { index: number; count: number }) => unknown) =>
  [0, 1].map((index) => ({ file: `shard-${index}/summary.json`, doc: make({ index, count: 2 }) }));

describe('the merged document', () => {
  it.each([
    ['of one mode', () => mergeSimulations(shards(simulateOne))],
    ['of --mode both', () => mergeSimulations(shards(simulateBoth))],
  ])('%s round-trips, outDir included', (_name, merge) => {
    const merged = merge();
    merged.outDir = '/tmp/merged';
    const saved = roundTrip(merged);
    if (saved.kind !== 'simulate') throw new Error('a simulate summary');
    expect(saved.document).toEqual(JSON.parse(JSON.stringify(merged)));
  });

  it.each([
    [
      'in the merge notes',
      (d: Record<string, any>) => (d.merge.skew = 1),
      /^summary\.json: merge\.skew: unknown field \(1\)/,
    ],
    [
      'in a shard record',
      (d: Record<string, any>) => (d.shards[1].host = 'b'),
      /^summary\.json: shards\.1\.host: unknown field \("b"\)/,
    ],
  ])('refuses an unknown field %s, naming its path', (_name, change, message) => {
    const doc = JSON.parse(JSON.stringify(mergeSimulations(shards(simulateOne))));
    change(doc);
    expect(() => roundTrip(doc)).toThrow(message);
  });
});
