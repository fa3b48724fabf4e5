// The wire contract of the sale API (documented in server.ts), shared by the server and the client
// so that a status code cannot mean one thing on one side and another on the other.
import type { PayOutcome } from '../engine/types.js';

export const PATHS = {
  availability: '/v1/availability/',
  reservations: '/v1/reservations',
  orders: '/v1/orders/',
  paySuffix: '/pay',
  health: '/healthz',
} as const;

/** Units per reservation request; anything larger is a client bug, not a purchase. */
export const MAX_QTY = 1000;
/** sku, user, clickId, orderId: long enough for any UUID-ish id, short enough to keep keys small. */
export const MAX_TEXT = 200;

export const RESERVE_STATUS = {
  granted: 201,
  duplicate: 200,
  refused: 409,
  rateLimited: 429,
} as const;

export const PAY_STATUS: Record<PayOutcome['status'], number> = {
  paid: 200,
  declined: 402,
  expired: 410,
  // 502 and not 500: the engine worked, the provider behind it did not. The client tells this
  // apart from a proxy's 502 by the body's `status: 'failed'`.
  failed: 502,
};
