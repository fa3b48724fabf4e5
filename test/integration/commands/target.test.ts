// An external --target judged from its buyers' side (docs/design.md#a-target-judged-from-the-buyers-side):
// a small sale server written here, not flashsale's, speaking the sale API. The one that oversells
// by a few units per SKU must be caught from the answers alone; the honest one passes.
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { scenarioFile, simulate } from '../../helpers/simulate.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** Grants up to stock + `oversell` units per SKU, never expires a hold, pays every order. */
async function saleServer(stock: number, oversell: number): Promise<string> {
  const granted = new Map<string, number>();
  const byClick = new Map<string, Record<string, unknown>>();
  let next = 0;
  const srv = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const url = req.url ?? '';
      if (req.method === 'GET' && url.startsWith('/v1/availability/')) {
        const sku = decodeURIComponent(url.slice('/v1/availability/'.length));
        return send(200, { sku, available: Math.max(0, stock + oversell - (granted.get(sku) ?? 0)) });
      }
      if (req.method === 'POST' && url === '/v1/reservations') {
        const { sku, qty, clickId } = JSON.parse(raw) as { sku: string; qty: number; clickId: string };
        const seen = byClick.get(clickId);
        if (seen) return send(200, seen);
        if ((granted.get(sku) ?? 0) + qty > stock + oversell) return send(409, { ok: false, reason: 'sold_out' });
        granted.set(sku, (granted.get(sku) ?? 0) + qty);
        const order = {
          ok: true,
          orderId: `o${++next}`,
          reservationId: `r${next}`,
          sku,
          qty,
          amountMinor: 4999,
          currency: 'EUR',
          expiresAt: Date.now() + 600_000,
          duplicate: false,
        };
        byClick.set(clickId, order);
        return send(201, order);
      }
      const pay = /^\/v1\/orders\/([^/]+)\/pay$/.exec(url);
      if (req.method === 'POST' && pay)
        return send(200, { status: 'paid', orderId: pay[1], chargeId: `ch_${pay[1]}`, attempts: 1 });
      send(404, { error: 'not found' });
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  servers.push(srv);
  return `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
}

// Every buyer who gets a hold pays for it (no abandons, no bots holding units unpaid), so what the
// target answered paid is what it granted.
const everyoneBuys = () =>
  scenarioFile('smoke.json', (s) => {
    s.buyers.abandonRate = 0;
    s.buyers.bots = { fraction: 0, requestsPerArrival: 1 };
    delete s.rateLimit;
  });

describe('--target judged from the buyers side', () => {
  it('a target that oversells by 5 per SKU: exit 3, the SKU and the amount named, labelled with the target', async () => {
    const url = await saleServer(50, 5);
    const { code, report } = await simulate(['--scenario', everyoneBuys(), '--transport', 'http', '--target', url]);
    const tally = report.invariants.find((i: { name: string }) => i.name === "no oversell (buyers' tally)");
    expect(tally.ok).toBe(false);
    expect(tally.detail).toMatch(/sku-1: the target took payment for 55 units of 50 \(oversold by 5\)/);
    expect(report.oversold).toBe(5);
    expect(code).toBe(3);
    expect(report.target).toBe(url);
    expect(report.strategyChoice).toBe(`not run here: ${url} runs its own`);
    expect(report.sold).toBe(165);
  });

  it('the honest variant passes: every SKU sold to its stock and no further, exit 0', async () => {
    const url = await saleServer(50, 0);
    const { code, report } = await simulate(['--scenario', everyoneBuys(), '--transport', 'http', '--target', url]);
    expect(report.invariants.filter((i: { ok: boolean }) => !i.ok)).toEqual([]);
    expect(report.sold).toBe(150);
    expect(code).toBe(0);
  });
});
