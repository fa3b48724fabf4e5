// renderHtml without a browser: what it refuses, what it escapes, which charts it plans.
import { describe, expect, it } from 'vitest';
import { escapeHtml, renderHtml, reportKind } from '../../../../src/core/report/html.js';
import { UsageError } from '../../../../src/core/errors.js';

const hostile = '</script><img src=x onerror=alert(1)>';

const simulateSummary = (over: Record<string, unknown> = {}) => ({
  ok: false,
  strategy: 'lua',
  mode: 'sync',
  transport: 'direct',
  scenario: `smoke ${hostile}`,
  stock: 10,
  sold: 10,
  oversold: 0,
  counters: { journeys: 30, orders: 10, soldOut: 20 },
  latencyMs: { reserve: { p50: 1, p90: 2, p95: 3, p99: 4, p999: 5, max: 6, mean: 1.5 } },
  invariants: [{ name: 'no oversell', ok: false, detail: `sku ${hostile} oversold by 1` }],
  skus: [{ sku: hostile, stock: 10, sold: 10, held: 0, remaining: 0, revenueMinor: 100, currency: 'EUR' }],
  timeline: {
    bucketMs: 250,
    buckets: [
      { t: 0, started: 20, completed: 10, orders: 8, reserve: { count: 18, p50: 1, p95: 2, p99: 3 } },
      { t: 250, started: 10, completed: 20, orders: 2, reserve: { count: 0, p50: 0, p95: 0, p99: 0 } },
    ],
    stock: [
      { t: 10, sku: hostile, available: 10 },
      { t: 260, sku: hostile, available: 0 },
    ],
  },
  ...over,
});

/** The chart specs the page will hand to uPlot. */
function specs(html: string): {
  title: string;
  kind: string;
  x: number[];
  categories?: string[];
  series: { label: string; values: (number | null)[] }[];
}[] {
  const m = html.match(/<script type="application\/json" id="flashsale-charts">([\s\S]*?)<\/script>/);
  expect(m).not.toBeNull();
  return JSON.parse(m![1]!);
}

describe('renderHtml', () => {
  it.each([
    ['a bench summary by its strategies and config', { strategies: [], config: {} }, 'bench'],
    ['a simulate summary by its counters and reserve latency', simulateSummary(), 'simulate'],
    ['a simulate --mode both summary by its runs', { mode: 'both', runs: [simulateSummary()] }, 'simulate'],
  ])('recognises %s', (_name, doc, kind) => {
    expect(reportKind(doc)).toBe(kind);
  });

  it.each([
    ['null', null],
    ['an array', []],
    ['a reconcile summary', { verdict: 'ok', summary: [] }],
  ])('refuses %s with a usage error naming summary.json', (_name, doc) => {
    expect(() => renderHtml(doc)).toThrow(UsageError);
    expect(() => renderHtml(doc)).toThrow(/^summary\.json: .*expected (an object|a simulate summary)/);
  });

  it('escapes every string from the summary, in the page and in the chart data', () => {
    const html = renderHtml(simulateSummary());
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;');
    // the SKU name reaches the chart legend through JSON, which must not end its <script> early
    const json = html.match(/id="flashsale-charts">([\s\S]*?)<\/script>/)![1]!;
    expect(json).not.toContain('</');
    expect(specs(html).find((s) => s.title.startsWith('Stock'))!.series[0]!.label).toBe(hostile);
    expect(escapeHtml(`a&b"c'd`)).toBe('a&amp;b&quot;c&#39;d');
  });

  it('inlines uPlot and asks for nothing over the network', () => {
    const html = renderHtml(simulateSummary());
    expect(html).toContain('uPlot');
    expect(html.length).toBeGreaterThan(40_000);
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
  });

  it('plots per-second rates from bucket counts, and no reserve latency where no reserve was sent', () => {
    const [throughput, latency, stock, outcomes] = specs(renderHtml(simulateSummary()));
    expect(throughput!.x).toEqual([0, 0.25]);
    expect(throughput!.series.map((s) => s.values)).toEqual([
      [80, 40],
      [40, 80],
      [32, 8],
    ]);
    expect(latency!.series.map((s) => s.values)).toEqual([
      [1, null],
      [2, null],
      [3, null],
    ]);
    expect(stock!.series[0]!.values).toEqual([10, 0]);
    expect(outcomes!.kind).toBe('bars');
    expect(outcomes!.series[0]!.values[outcomes!.categories!.indexOf('sold out')]).toBe(20);
  });

  it('says so instead of drawing when a summary has no time series (an older run)', () => {
    const html = renderHtml(simulateSummary({ timeline: undefined }));
    expect(html).toContain('No time series in this summary');
    expect(specs(html).map((s) => s.kind)).toEqual(['bars']);
  });

  it('draws one section per mode for --mode both', () => {
    const html = renderHtml({
      ok: true,
      mode: 'both',
      strategy: 'lua',
      scenario: 'smoke',
      runs: [simulateSummary({ mode: 'sync' }), simulateSummary({ mode: 'async' })],
    });
    expect(specs(html)).toHaveLength(8);
    expect(html).toMatch(/<h2>sync run[\s\S]*<h2>async run/);
  });

  it('puts the strategies of a bench side by side, with their p50 and p99', () => {
    const strategy = (name: string, p50: number, p99: number) => ({
      strategy: name,
      successPerSec: 100,
      attemptsPerSec: 500,
      latencyMs: { p50, p99 },
      invariants: [{ name: 'no oversell', ok: true, detail: '' }],
      ok: true,
    });
    const html = renderHtml({
      ok: true,
      config: { stock: 100, skus: 1, buyers: 500 },
      strategies: [strategy('atomic', 2, 9), strategy('lua', 1, 3)],
    });
    const [throughput, latency] = specs(html);
    expect(throughput!.categories).toEqual(['atomic', 'lua']);
    expect(latency!.series.map((s) => [s.label, s.values])).toEqual([
      ['p50', [2, 1]],
      ['p99', [9, 3]],
    ]);
  });
});
