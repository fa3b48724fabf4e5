// `flashsale bench` end to end through the commander program, on the real services.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { benchConfig } from '../../../src/commands/bench.js';
import { SAFE_STRATEGIES } from '../../../src/core/strategies/index.js';
import { DATABASE_URL, REDIS_URL } from '../../helpers/services.js';
import { captureIO } from '../../helpers/io.js';

const services = ['--redis-url', REDIS_URL, '--database-url', DATABASE_URL];
const tmp = () => join(mkdtempSync(join(tmpdir(), 'fs-bench-')), 'out');

async function bench(args: string[]) {
  const io = captureIO();
  const out = tmp();
  const code = await main(['bench', ...services, '--out', out, ...args], io);
  return { code, io, out, err: io.stderr.join('\n'), stdout: io.stdout.join('\n') };
}

describe('bench rejects bad input with exit 2, naming the option, writing nothing', () => {
  it.each([
    [
      'an unknown strategy, listing the valid ones',
      ['--strategy', 'magic'],
      /--strategy: unknown strategy "magic"; expected one of lua, list, decr, optimistic, pessimistic, atomic, advisory, queue, naive, all/,
    ],
    ['a negative stock', ['--stock', '-1'], /--stock: expected a whole number from 0 to 1000000000, got "-1"/],
    ['zero concurrency', ['--concurrency', '0'], /--concurrency: expected a whole number from 1 to 10000, got "0"/],
    ['a qty larger than the stock', ['--stock', '5', '--qty', '6'], /--qty 6 is larger than --stock 5/],
    ['an unknown skew', ['--skew', 'pareto'], /--skew: expected one of uniform, zipf, got "pareto"/],
    ['both buyers and duration', ['--buyers', '10', '--duration', '1'], /--buyers and --duration: give one/],
    [
      'more Postgres connections than the server has free',
      ['--strategy', 'atomic', '--concurrency', '500', '--workers', '2'],
      /--concurrency 500: each Postgres request in flight holds a connection \(400 here\), and the server has \d+ free \(max_connections \d+/,
    ],
    [
      'a list stock too large to hold as tokens',
      ['--strategy', 'list', '--stock', '20000000'],
      /--stock 20000000 × --skus 1: the list strategy keeps one token per unit/,
    ],
  ])('%s', async (_name, args, message) => {
    const r = await bench(args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(existsSync(r.out)).toBe(false);
  });

  it('an unknown option', async () => {
    const r = await bench(['--stokc', '5']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown option '--stokc'/);
  });
});

describe('bench reports an unreachable service with exit 6 and no password', () => {
  it('Redis', async () => {
    const io = captureIO();
    const out = tmp();
    const code = await main(
      ['bench', '--strategy', 'lua', '--redis-url', 'redis://admin:s3cret-pw@127.0.0.1:1', '--out', out],
      io,
    );
    const err = io.stderr.join('\n');
    expect(code).toBe(6);
    expect(err).toMatch(/Redis at redis:\/\/admin:\*\*\*@127\.0\.0\.1:1 is not reachable/);
    expect(err).not.toContain('s3cret-pw');
    expect(existsSync(out)).toBe(false);
  });

  it('Postgres', async () => {
    const io = captureIO();
    const out = tmp();
    const code = await main(
      ['bench', '--strategy', 'atomic', '--database-url', 'postgres://app:hunter2@127.0.0.1:1/shop', '--out', out],
      io,
    );
    const err = io.stderr.join('\n');
    expect(code).toBe(6);
    expect(err).toMatch(/Postgres at postgres:\/\/app:\*\*\*@127\.0\.0\.1:1\/shop is not reachable/);
    expect(err).not.toContain('hunter2');
    expect(existsSync(out)).toBe(false);
  });
});

describe('bench options', () => {
  it('expands "all" inside a list and runs each strategy once, in order', () => {
    expect(benchConfig({ strategy: 'naive,all,lua' }).strategies).toEqual(['naive', ...SAFE_STRATEGIES]);
    expect(benchConfig({}).strategies).toEqual([...SAFE_STRATEGIES]);
    expect(benchConfig({}).buyers).toBe(5000);
    expect(benchConfig({ duration: '2.5' })).toMatchObject({ durationSec: 2.5, buyers: undefined });
  });
});

describe('bench progress', () => {
  const run = async (terminal: { tty: boolean; ci: boolean }, extra: string[] = []) => {
    const io = captureIO(terminal);
    const code = await main(
      [
        'bench',
        ...services,
        '--out',
        tmp(),
        '--strategy',
        'lua',
        '--stock',
        '100000',
        '--duration',
        '1.5',
        '--concurrency',
        '4',
        '--workers',
        '1',
        ...extra,
      ],
      io,
    );
    expect(code).toBe(0);
    return io.progressLines.filter((l) => l !== '');
  };
  it('draws a live line on a terminal: rate, granted, in flight', async () => {
    const lines = await run({ tty: true, ci: false });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.at(-1)).toMatch(/^\[lua\] [\d,]+ attempts +[\d,]+\/s +granted [\d,]+ +in flight \d+/);
  });
  it('draws nothing with --json, in CI, or off a terminal', async () => {
    expect(await run({ tty: true, ci: false }, ['--json'])).toEqual([]);
    expect(await run({ tty: true, ci: true })).toEqual([]);
    expect(await run({ tty: false, ci: false })).toEqual([]);
  });
});

describe('bench judges strategies from their ledgers', () => {
  it('catches naive overselling at the default load and exits 3 naming the SKU', async () => {
    const r = await bench(['--strategy', 'naive', '--workers', '2', '--json']);
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(false);
    const naive = report.strategies[0];
    expect(naive.oversold).toBeGreaterThan(0);
    expect(naive.invariants.find((i: { name: string }) => i.name === 'no oversell')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/^sku-1: oversold by \d+/),
    });
    expect(r.err).toMatch(/naive: no oversell broken — sku-1: oversold by/);
    // the report is still written, so the failure can be inspected
    expect(JSON.parse(readFileSync(join(r.out, 'summary.json'), 'utf8')).ok).toBe(false);
  });

  it('catches naive overselling on Redis too', async () => {
    const r = await bench(['--strategy', 'naive', '--naive-store', 'redis', '--workers', '2', '--json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout).strategies[0].oversold).toBeGreaterThan(0);
  });

  it.each(SAFE_STRATEGIES.map((s) => [s]))(
    '%s: stock 100, 5,000 buyers over 2 worker threads → exactly 100 sold, 0 oversold',
    async (strategy) => {
      const r = await bench([
        '--strategy',
        strategy,
        '--workers',
        '2',
        '--stock',
        '100',
        '--buyers',
        '5000',
        '--concurrency',
        '32',
        '--json',
      ]);
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout).strategies[0];
      expect(s.attempts).toBe(5000);
      expect(s.sold + s.held).toBe(100);
      expect(s.oversold).toBe(0);
      expect(s.counters.errors).toBe(0);
      expect(s.generator.workers).toBe(2);
      expect(s.invariants.every((i: { ok: boolean }) => i.ok)).toBe(true);
    },
  );
});
