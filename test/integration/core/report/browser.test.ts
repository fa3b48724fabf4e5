// report.html opened in a real browser (Debian's Chromium through playwright-core), offline:
// every request that is not file: is refused and recorded, and the charts must have drawn data.
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { main } from '../../../../src/cli.js';
import { captureIO } from '../../../helpers/io.js';
import { DATABASE_URL, REDIS_URL } from '../../../helpers/services.js';
import { simulate } from '../../../helpers/simulate.js';

const CHROMIUM = '/usr/bin/chromium';

interface DrawnChart {
  id: string;
  kind: string;
  title: string;
  xLength: number;
  /** Non-null y values over all series. */
  points: number;
  /** Canvas pixels painted in one of the chart's series colours (the data, not axes or grid). */
  seriesPixels: number;
}

// A string, not a function: the page runs it as written, whatever the test transform does to functions.
const INSPECT_CHARTS = `(() => (window.flashsaleCharts || []).map((c) => {
  const u = c.plot;
  const { width, height } = u.ctx.canvas;
  const px = u.ctx.getImageData(0, 0, width, height).data;
  const rgb = c.colors.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
  let seriesPixels = 0;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] < 200) continue;
    if (rgb.some(([r, g, b]) => Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) < 24)) seriesPixels++;
  }
  const points = u.data.slice(1).reduce((n, s) => n + s.filter((v) => v !== null && v !== undefined).length, 0);
  const title = (u.root.querySelector('.u-title') || {}).textContent || '';
  return { id: c.id, kind: c.kind, title, xLength: u.data[0].length, points, seriesPixels };
}))()`;

async function openReport(browser: Browser, dir: string) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const network: string[] = [];
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (!/^(file|data|blob|about):/.test(r.url())) network.push(r.url());
  });
  await page.route('**', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    network.push(url);
    return route.abort();
  });
  await page.goto(pathToFileURL(join(dir, 'report.html')).href, { waitUntil: 'load' });
  const charts = (await page.evaluate(INSPECT_CHARTS)) as DrawnChart[];
  const text = await page.locator('body').innerText();
  const screenshot = join(dir, 'report.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  await context.close();
  return { charts, text, network, problems, screenshot };
}

function expectDrawn(charts: DrawnChart[]) {
  for (const c of charts) {
    expect(c.points, `${c.title}: data points`).toBeGreaterThan(0);
    expect(c.seriesPixels, `${c.title}: pixels in a series colour`).toBeGreaterThan(20);
  }
}

function expectScreenshot(file: string) {
  expect(existsSync(file)).toBe(true);
  expect(statSync(file).size).toBeGreaterThan(10 * 1024);
}

describe('report.html in a browser, offline', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('simulate smoke: throughput, latency, stock and outcome charts drawn from the run, tables for invariants and latency, nothing fetched', async () => {
    const { code, out, report } = await simulate(['--workers', '1', '--scenario', 'scenarios/smoke.json']);
    expect(code).toBe(0);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    // every journey started and ended inside some bucket, and every order was counted in one
    const sum = (k: string) => summary.timeline.buckets.reduce((n: number, b: Record<string, number>) => n + b[k]!, 0);
    expect(sum('started')).toBe(report.counters.journeys);
    expect(sum('completed')).toBe(report.counters.journeys);
    expect(sum('orders')).toBe(report.counters.orders);
    const skus = report.skus.map((s: { sku: string }) => s.sku);
    expect([...new Set(summary.timeline.stock.map((s: { sku: string }) => s.sku))].sort()).toEqual([...skus].sort());
    for (const s of summary.timeline.stock) expect(s.available).toBeGreaterThanOrEqual(0);
    for (const s of summary.timeline.stock) expect(s.available).toBeLessThanOrEqual(50);

    const r = await openReport(browser, out);
    expect(r.network).toEqual([]);
    expect(r.problems).toEqual([]);
    expect(r.charts.map((c) => c.title)).toEqual([
      expect.stringMatching(/^Throughput/),
      expect.stringMatching(/^Reserve latency/),
      expect.stringMatching(/^Stock left per SKU/),
      expect.stringMatching(/^Outcomes/),
    ]);
    expectDrawn(r.charts);
    expect(r.charts[0]!.xLength).toBe(summary.timeline.buckets.length);
    for (const inv of report.invariants) expect(r.text).toContain(inv.name);
    expect(r.text).toMatch(/latency ms\s+p50/);
    expectScreenshot(r.screenshot);
  });

  it('bench atomic,lua: successes/s and p50/p99 bars side by side, invariants per strategy, nothing fetched', async () => {
    const io = captureIO();
    const out = join(mkdtempSync(join(tmpdir(), 'fs-report-')), 'out');
    const code = await main(
      [
        'bench',
        '--redis-url',
        REDIS_URL,
        '--database-url',
        DATABASE_URL,
        '--out',
        out,
        '--json',
        '--strategy',
        'atomic,lua',
        '--buyers',
        '500',
        '--stock',
        '100',
        '--workers',
        '1',
      ],
      io,
    );
    expect(code).toBe(0);
    const report = JSON.parse(io.stdout.join('\n'));

    const r = await openReport(browser, out);
    expect(r.network).toEqual([]);
    expect(r.problems).toEqual([]);
    expect(r.charts.map((c) => [c.title, c.kind, c.xLength])).toEqual([
      ['Throughput per strategy', 'bars', 2],
      ['Reserve latency per strategy', 'bars', 2],
    ]);
    expectDrawn(r.charts);
    // two series (successes/s and attempts/s; p50 and p99) over two strategies
    expect(r.charts.map((c) => c.points)).toEqual([4, 4]);
    for (const s of report.strategies)
      for (const inv of s.invariants) expect(r.text).toContain(`${s.strategy}\t${inv.name}`);
    expectScreenshot(r.screenshot);
  });
});
