// reconcile's --json document: what the command prints is read back as it is; a field it does
// not write is refused by its path.
import { describe, expect, it } from 'vitest';
import { reconcileDocumentSchema } from '../../../../src/core/documents/reconcile.js';
import { checkShape } from '../../../../src/core/report/load.js';
import { reconcileDocument } from '../../../helpers/documents.js';

const roundTrip = (doc: unknown) =>
  checkShape(reconcileDocumentSchema, JSON.parse(JSON.stringify(doc)), 'reconcile.json');

describe('the reconcile document', () => {
  it('round-trips, with and without the outcome of --fix', () => {
    expect(roundTrip(reconcileDocument())).toEqual(reconcileDocument());
    const fixed = reconcileDocument();
    fixed.fixes = {
      applied: true,
      planned: { refund_charge: 1 },
      outcome: { planned: 1, done: 1, skipped: 0, failed: [], refundedMinor: { EUR: 100 }, released: 0 },
    };
    expect(roundTrip(fixed)).toEqual(fixed);
  });

  it('refuses an unknown field, naming its path', () => {
    const doc = JSON.parse(JSON.stringify(reconcileDocument()));
    doc.read.pagesSkipped = 0;
    expect(() => roundTrip(doc)).toThrow(/^reconcile\.json: read\.pagesSkipped: unknown field \(0\)/);
  });
});
