// The bridge's per-run secret: whoever holds it may drive the app (the page over the WebSocket,
// the OS stand-in over `POST /os/open-url`). It is random per run and compared in constant time.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 32 random bytes, base64url: usable in a URL fragment, a header and a WebSocket subprotocol. */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Constant-time comparison. Both sides are hashed first so the comparison always runs over equal
 * lengths and a wrong guess does not learn the secret's length either.
 */
export function secretMatches(expected: string, offered: string | null | undefined): boolean {
  if (typeof offered !== 'string' || offered.length === 0 || offered.length > 1024) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(offered).digest();
  return timingSafeEqual(a, b);
}

/** The secret from an `Authorization: Bearer <secret>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer ([A-Za-z0-9_-]+)$/.exec(header?.trim() ?? '');
  return m ? m[1]! : null;
}
