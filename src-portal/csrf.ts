/**
 * CSRF protection of the sign-in form: a signed double-submit token. The GET sets a random value
 * in an HttpOnly, SameSite=Strict cookie and embeds the same value in the form; the POST must
 * carry both, equal, with a valid HMAC and not older than the form lifetime. The HMAC key lives
 * only in memory, so a cookie planted by a sibling origin cannot be forged.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const CSRF_COOKIE = 'fz_csrf';
export const CSRF_FIELD = 'csrf_token';
/** A sign-in form is valid this long. */
export const CSRF_LIFETIME_MS = 30 * 60 * 1000;

export class CsrfTokens {
  private readonly key: Buffer;

  constructor(key: Uint8Array = randomBytes(32)) {
    this.key = Buffer.from(key);
  }

  issue(now: number): string {
    const body = `${now.toString(36)}.${randomBytes(18).toString('base64url')}`;
    return `${body}.${this.sign(body)}`;
  }

  /** Whether the form value and the cookie value are the same valid, fresh token. */
  verify(field: string | undefined, cookie: string | undefined, now: number): boolean {
    if (field === undefined || cookie === undefined || field.length > 200) return false;
    const a = Buffer.from(field);
    const b = Buffer.from(cookie);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return false;
    const parts = field.split('.');
    if (parts.length !== 3) return false;
    const body = `${parts[0]}.${parts[1]}`;
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(parts[2]!);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return false;
    const issuedAt = parseInt(parts[0]!, 36);
    return Number.isFinite(issuedAt) && now - issuedAt >= 0 && now - issuedAt <= CSRF_LIFETIME_MS;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
