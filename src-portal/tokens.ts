/**
 * Client tokens (docs/protocol.md §3.11): the app holds `nonce ‖ fragment`, where the nonce is the
 * app's own random value from the sign-in URL and the fragment comes back in the deep link.
 * Our fragment is `.<token id>.<secret>`: the id finds the row, the portal stores only
 * SHA-256(nonce ‖ fragment) (a 256-bit secret needs no slow hash), so neither half alone is
 * worth anything and the database holds nothing that signs in.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** What `as=` and the nonce may look like: no dots (they delimit the token). */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const ID_PATTERN = /^[A-Za-z0-9_-]{16}$/;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface MintedToken {
  readonly id: string;
  /** `.<id>.<secret>`: what the deep link carries. */
  readonly fragment: string;
  /** `nonce ‖ fragment`: what the client presents. */
  readonly token: string;
  /** Hex SHA-256 of `token`, the only thing stored. */
  readonly hash: string;
}

export function mintClientToken(nonce: string): MintedToken {
  if (nonce !== '' && !NONCE_PATTERN.test(nonce))
    throw new RangeError('nonce must be 1-128 characters of [A-Za-z0-9_-]');
  // An id is typed on command lines (`revoke-token --token-id <id>`), where a leading "-" reads
  // as an option: draw again (one in 64 would start with it).
  let id: string;
  do id = randomBytes(12).toString('base64url');
  while (id.startsWith('-'));
  const secret = randomBytes(32).toString('base64url');
  const fragment = `.${id}.${secret}`;
  const token = `${nonce}${fragment}`;
  return { id, fragment, token, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The token id inside a presented client token, or undefined when it is not shaped like one. */
export function tokenIdOf(token: string): string | undefined {
  if (token.length > 256) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [nonce, id, secret] = parts as [string, string, string];
  if (nonce !== '' && !NONCE_PATTERN.test(nonce)) return undefined;
  if (!ID_PATTERN.test(id) || !SECRET_PATTERN.test(secret)) return undefined;
  return id;
}

/** Constant-time comparison of two hex digests. */
export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}

/** `X-Authorization: Bearer <token>` (whitespace stripped), else `?token=` (§3.1). */
export function extractToken(
  header: string | string[] | undefined,
  query: string | null,
): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value !== undefined) {
    const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(value);
    if (match) return match[1];
    const trimmed = value.trim();
    return trimmed.length > 0 ? trimmed : undefined;
  }
  if (query !== null && query.trim().length > 0) return query.trim();
  return undefined;
}
