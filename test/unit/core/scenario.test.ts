// Scenario files: every bundled one is valid, and a bad field is refused naming its path.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario, parseScenario } from '../../../src/core/scenario.js';

const smoke = () => JSON.parse(JSON.stringify(loadScenarioRaw('smoke.json')));
function loadScenarioRaw(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join('scenarios', file), 'utf8'));
}

describe('the bundled scenarios', () => {
  const files = readdirSync('scenarios').filter((f) => f.endsWith('.json'));
  it('are the seven the README promises', () => {
    expect(files.sort()).toEqual([
      'abandon-heavy.json',
      'black-friday.json',
      'deep-stock.json',
      'multi-sku.json',
      'payment-chaos.json',
      'smoke.json',
      'tight-hold.json',
    ]);
  });
  it.each(files.map((f) => [f]))('%s is valid and fully resolved', (file) => {
    const s = loadScenario(join('scenarios', file));
    expect(s.name).toBe(file.replace('.json', ''));
    expect(s.skus.length).toBeGreaterThan(0);
    expect(s.buyers.qty.min).toBeLessThanOrEqual(s.buyers.qty.max);
    expect(s.payment.faults).toMatchObject({ decline: expect.any(Number) });
  });
  it('black-friday is 100,000 buyers for 1,000 units over 10 SKUs, peaking within 1 s', () => {
    const s = loadScenario('scenarios/black-friday.json');
    expect(s.skus.reduce((n, k) => n + k.stock, 0)).toBe(1000);
    expect(s.skus).toHaveLength(10);
    expect(s.traffic).toMatchObject({ model: 'open', maxArrivals: 100_000 });
    if (s.traffic.model === 'open') expect(s.traffic.stages[0].durationMs).toBeLessThanOrEqual(1000);
  });
  it('payment-chaos turns on every provider fault', () => {
    const f = loadScenario('scenarios/payment-chaos.json').payment.faults;
    for (const k of [
      'decline',
      'serverError',
      'timeout',
      'amountDrift',
      'duplicate',
      'dropped',
      'nextDaySettlement',
      'latency',
      'orphan',
    ] as const)
      expect(f[k]).toBeGreaterThan(0);
  });
});

describe('a bad scenario is refused with the file, the field and what is accepted', () => {
  const cases: [string, (s: Record<string, any>) => void, RegExp][] = [
    [
      'an unknown field',
      (s) => (s.colour = 'red'),
      /smoke: \(top level\): expected only the fields documented in README.md, got unknown field\(s\) colour/,
    ],
    ['a negative stock', (s) => (s.skus.stockEach = -1), /smoke: skus.stockEach: expected at least 0, got -1/],
    [
      'a stage target no generator could play',
      (s) => (s.traffic.stages[0].target = 1e308),
      /smoke: traffic.stages.0.target: expected arrivals\/s from 0 to 1,000,000, got 1e\+308/,
    ],
    [
      'a NUL in a SKU name',
      (s) => (s.skus = [{ sku: 'tee\u0000', stock: 1, priceMinor: 100, currency: 'EUR' }]),
      /smoke: skus.0.sku: expected a printable name \(no NUL or other control characters\)/,
    ],
    [
      'a price above what the provider charges for an order',
      (s) => (s.skus.priceMinor = 60_000_000),
      /smoke: skus.priceMinor: expected at most 49999999 \(an order of buyers.qty.max 2 units is charged at most 99999999 minor units by the provider\), got 60000000/,
    ],
    [
      'an unknown strategy',
      (s) => (s.strategy = 'magic'),
      /smoke: strategy: expected one of lua, list, .*auto, got "magic"/,
    ],
    [
      'a rate above 1',
      (s) => (s.buyers.abandonRate = 1.5),
      /smoke: buyers.abandonRate: expected a rate from 0 to 1, got 1.5/,
    ],
    [
      'an unknown traffic model',
      (s) => (s.traffic.model = 'poisson'),
      /smoke: traffic.model: expected model "open" \(arrival-rate stages\) or "closed" \(virtual buyers\)/,
    ],
    [
      'a lower-case currency',
      (s) => (s.skus.currency = 'eur'),
      /smoke: skus.currency: expected an ISO 4217 code in upper case, e.g. "EUR", got "eur"/,
    ],
    [
      'a provider fault that does not exist',
      (s) => (s.payment.faults.meteor = 0.1),
      /smoke: payment.faults: expected only known faults/,
    ],
    [
      'fault rates that add up past 1',
      (s) => Object.assign(s.payment.faults, { decline: 0.6, serverError: 0.6 }),
      /smoke: payment.faults: expected rates of .* that add up to at most 1/,
    ],
    [
      'a hold shorter than a payment can take',
      (s) => Object.assign(s, { holdTtlMs: 1000 }),
      /smoke: holdTtlMs: expected more than a payment can take \(payment.timeoutMs × \(retries \+ 1\) plus backoff = 1340 ms\), got 1000/,
    ],
    [
      'a pause before paying that, with the slowest payment, outlasts the hold',
      (s) => Object.assign(s, { holdTtlMs: 5000, buyers: { ...s.buyers, payAfterMs: { min: 0, max: 4000 } } }),
      /smoke: holdTtlMs: expected more than the slowest buyer's pause before paying \(buyers.payAfterMs 4000 ms\) plus the longest a payment can take \(1340 ms\), got 5000/,
    ],
    [
      'a pause whose min is above its max',
      (s) => (s.buyers.payAfterMs = { min: 9, max: 2 }),
      /smoke: buyers.payAfterMs: expected min ≤ max/,
    ],
    ['qty min above max', (s) => (s.buyers.qty = { min: 3, max: 2 }), /smoke: buyers.qty: expected min ≤ max/],
    [
      'a closed model with neither iterations nor duration',
      (s) => (s.traffic = { model: 'closed', buyers: 5 }),
      /smoke: traffic: expected exactly one of iterations or durationMs for the closed model, got neither/,
    ],
  ];
  it.each(cases)('%s', (_name, mutate, message) => {
    const raw = smoke();
    mutate(raw);
    expect(() => parseScenario(raw, 'smoke')).toThrow(message);
  });
  it('a file that is not JSON, or not there', () => {
    expect(() => loadScenario('package-lock.json.missing')).toThrow(
      /--scenario: cannot read package-lock.json.missing: ENOENT/,
    );
    expect(() => loadScenario('README.md')).toThrow(/--scenario: README.md is not valid JSON/);
  });
});
