// The card token the engine hands the provider: an HMAC-SHA256 over what the buyer agreed to pay
// (transaction id, amount, currency) and until when, under a secret both sides share. A charge
// whose body disagrees with its token (other amount, other transaction) is declined, which is how
// the mock stands in for a real card network refusing a tampered or stale authorisation.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface TokenClaims {
  transactionId: string;
  /** Integer minor units. */
  amount: number;
  /** ISO 4217, upper case. */
  currency: string;
  /** Epoch ms after which the token is refused. */
  expiresAt: number;
}

export type TokenCheck = { ok: true } | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' };

const VERSION = 'v1';

function signature(claims: TokenClaims, secret: string): Buffer {
  // A JSON array, not a joined string: no separator a transaction id could contain can make two
  // different claim sets sign the same bytes.
  const message = JSON.stringify([claims.transactionId, claims.amount, claims.currency, claims.expiresAt]);
  return createHmac('sha256', secret).update(message).digest();
}

/** `v1.<expiresAt>.<base64url HMAC>`; the claims themselves travel in the charge body. */
export function signToken(claims: TokenClaims, secret: string): string {
  return `${VERSION}.${claims.expiresAt}.${signature(claims, secret).toString('base64url')}`;
}

/** Checks `token` against the charge it arrived with, at `now` (epoch ms). */
export function verifyToken(
  token: string,
  charge: Omit<TokenClaims, 'expiresAt'>,
  secret: string,
  now: number,
): TokenCheck {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION || !/^\d{1,16}$/.test(parts[1]))
    return { ok: false, reason: 'malformed' };
  const expiresAt = Number(parts[1]);
  const given = Buffer.from(parts[2], 'base64url');
  const expected = signature({ ...charge, expiresAt }, secret);
  // timingSafeEqual throws on a length difference, and comparing in constant time is the point.
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: 'bad_signature' };
  // Checked after the signature so an attacker cannot learn anything from a forged expiry.
  if (now >= expiresAt) return { ok: false, reason: 'expired' };
  return { ok: true };
}
