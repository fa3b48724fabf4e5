// k6 against `flashsale serve`: each iteration a new buyer reserves one unit and pays for it.
//   k6 run -e BASE=http://127.0.0.1:8080 -e SKU=sku-1 examples/k6-buy.js
// then: flashsale check --namespace <the sale serve printed>
/* global __ENV */
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

export const options = { vus: 50, duration: '10s' };
const BASE = __ENV.BASE || 'http://127.0.0.1:8080';
const SKU = __ENV.SKU || 'sku-1';

export default function () {
  const buyer = `k6-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  const r = http.post(`${BASE}/v1/reservations`, JSON.stringify({ sku: SKU, qty: 1, user: buyer, clickId: buyer }), {
    headers: { 'Content-Type': 'application/json' },
  });
  // 201 a new hold, 409 sold out or over the per-user limit, 429 rate-limited
  check(r, { 'reserve answered': (res) => [201, 409, 429].includes(res.status) });
  if (r.status !== 201) return;
  const p = http.post(`${BASE}/v1/orders/${r.json('orderId')}/pay`);
  // 200 paid, 402 declined, 410 the hold ran out
  check(p, { 'pay answered': (res) => [200, 402, 410].includes(res.status) });
}
