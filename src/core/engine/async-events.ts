// Async mode's events (docs/design.md#async-mode): what travels on which Redis stream, as pure functions
// so names and encodings are unit-tested. Every key carries the namespace's hash tag, so all
// streams of a sale live on one Redis Cluster slot and one XREAD can wait on several of them.
//
//   reserve() ── Reservation.CartCreated ──▶ [order-service]   ── Order.Created ──────▶ the waiting reserve()
//   pay()     ── Payment.Requested ───────▶ [payment-service] ── Payment.Succeeded ──▶ the waiting pay()
//                                                              └─ Payment.Failed ────▶ (declined, expired, failed)
//
// Commands (CartCreated, Payment.Requested) go to consumer groups: each is handled by one
// consumer, acknowledged after its effect, claimed by another consumer if its own died.
// Outcomes (Order.Created, Payment.*) are plain streams every engine instance tails: a waiting
// buyer recognises its answer by the correlation id it sent.
import { checkNamespace } from '../redis/keys.js';
import type { NewOrder } from './orders.js';
import type { PayOutcome, ReserveOutcome } from './types.js';

export const ORDER_GROUP = 'order-service';
export const PAYMENT_GROUP = 'payment-service';

export interface AsyncStreams {
  /** Reservation.CartCreated: a hold was granted; its order is to be created (group order-service). */
  carts: string;
  /** Order.Created (or its failure): answers to the reserves. */
  orders: string;
  /** Payment.Requested: a buyer pays an order (group payment-service). */
  payRequests: string;
  /** Payment.Succeeded / Payment.Failed: answers to the pays. */
  payments: string;
}

export function asyncStreams(namespace: string): AsyncStreams {
  const p = `fs:{${checkNamespace(namespace)}}:ev:`;
  return { carts: p + 'cart', orders: p + 'order', payRequests: p + 'pay-request', payments: p + 'payment' };
}

export type EventType =
  | 'Reservation.CartCreated'
  | 'Order.Created'
  | 'Order.Failed'
  | 'Payment.Requested'
  | 'Payment.Succeeded'
  | 'Payment.Failed';

/** The order a reserve asks for (`now` is the buyer's clock at the grant: the order's createdAt). */
export interface CartCreated extends NewOrder {
  /** Correlation id: the waiting reserve's, echoed in the answer. */
  corr: string;
  /** Wall clock when published: the consumer moves `now` on by the time the message waited. */
  sentAt: number;
  /** The strategy saw this click before. */
  duplicate: boolean;
}

export interface OrderCreated {
  corr: string;
  /** The order's reserve outcome; absent with `error`. */
  outcome?: Extract<ReserveOutcome, { ok: true }>;
  /** This delivery inserted the order (false: it existed, e.g. a duplicate click or a redelivery). */
  created?: boolean;
  /** The consumer gave up on the message. */
  error?: string;
}

export interface PaymentRequested {
  corr: string;
  orderId: string;
  now: number;
  sentAt: number;
}

export interface PaymentAnswered {
  corr: string;
  orderId: string;
  outcome?: PayOutcome;
  /** `unknown_order`, or the consumer gave up. */
  error?: string;
  errorCode?: 'unknown_order' | 'consumer_failed';
}

/** XADD field/value pairs (after MAXLEN and the id). */
export function eventFields(type: EventType, data: object): string[] {
  return ['type', type, 'data', JSON.stringify(data)];
}

/** An entry's fields back; undefined for an entry that was deleted or is not ours. */
export function parseEvent<T>(fields: string[] | null | undefined): { type: EventType; data: T } | undefined {
  if (!fields) return undefined;
  let type: string | undefined;
  let data: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'type') type = fields[i + 1];
    else if (fields[i] === 'data') data = fields[i + 1];
  }
  if (!type || data === undefined) return undefined;
  try {
    return { type: type as EventType, data: JSON.parse(data) as T };
  } catch {
    return undefined;
  }
}

/**
 * The buyer's clock when a consumer handles a message: the clock it was sent with, moved on by
 * the real time it spent on the stream (a test's frozen clock still sees the queue's lag).
 */
export function consumerNow(sentNow: number, sentAt: number, wallNow = Date.now()): number {
  return Math.round(sentNow + Math.max(0, wallNow - sentAt));
}

/**
 * The creation time of a cart's order. The click's time, like sync mode (so "time until final"
 * counts the queue too), unless the hold ran out while the message waited: then the order is
 * born Expired at the consumer's time, never Pending over a span whose units were back on sale.
 */
export function orderCreatedAt(cart: Pick<CartCreated, 'now' | 'sentAt' | 'expiresAt'>, wallNow = Date.now()): number {
  const now = consumerNow(cart.now, cart.sentAt, wallNow);
  return now >= cart.expiresAt ? now : cart.now;
}

/** XINFO GROUPS reply (flat field/value arrays) → the group's counters. */
export function parseGroupInfo(reply: unknown, group: string): { pending: number; lag?: number } | undefined {
  if (!Array.isArray(reply)) return undefined;
  for (const g of reply) {
    if (!Array.isArray(g)) continue;
    const m = new Map<string, unknown>();
    for (let i = 0; i + 1 < g.length; i += 2) m.set(String(g[i]), g[i + 1]);
    if (m.get('name') !== group) continue;
    const lag = m.get('lag');
    return { pending: Number(m.get('pending') ?? 0), ...(typeof lag === 'number' ? { lag } : {}) };
  }
  return undefined;
}
