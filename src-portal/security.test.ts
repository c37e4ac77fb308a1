import { describe, expect, it } from 'vitest';
import { CsrfTokens, CSRF_LIFETIME_MS } from './csrf.js';
import { escapeHtml, htmlHeaders, signInPage } from './html.js';
import { createJsonLogger } from './log.js';
import { hashPassword, parsePasswordHash, verifyPassword } from './passwords.js';
import { RateLimiter } from './rate-limit.js';
import { extractToken, mintClientToken, tokenIdOf } from './tokens.js';

describe('passwords', () => {
  it('hashes with scrypt and verifies in constant time', async () => {
    const hash = await hashPassword('hunter22', { N: 4096, r: 8, p: 1 });
    expect(hash).toMatch(/^scrypt\$4096\$8\$1\$/);
    expect(await verifyPassword('hunter22', hash)).toBe(true);
    expect(await verifyPassword('hunter23', hash)).toBe(false);
    expect(await hashPassword('hunter22', { N: 4096, r: 8, p: 1 })).not.toBe(hash); // salted
  });

  it('explains malformed hashes', () => {
    expect(() => parsePasswordHash('plain')).toThrow(/expected "scrypt\$N\$r\$p\$salt\$hash"/);
    expect(() => parsePasswordHash('scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==')).toThrow(
      /power of two/,
    );
  });
});

describe('CSRF tokens', () => {
  it('accept the matching fresh pair only', () => {
    const csrf = new CsrfTokens();
    const token = csrf.issue(1_000);
    expect(csrf.verify(token, token, 2_000)).toBe(true);
    expect(csrf.verify(token, undefined, 2_000)).toBe(false);
    expect(csrf.verify(token, csrf.issue(1_000), 2_000)).toBe(false);
    expect(csrf.verify(token, token, 1_000 + CSRF_LIFETIME_MS + 1)).toBe(false);
    expect(new CsrfTokens().verify(token, token, 2_000)).toBe(false); // another key
    const forged = `${token.split('.').slice(0, 2).join('.')}.AAAA`;
    expect(csrf.verify(forged, forged, 2_000)).toBe(false);
  });
});

describe('RateLimiter', () => {
  it('allows `limit` attempts per window and says when to retry', () => {
    const limiter = new RateLimiter({ limit: 2, windowMs: 1_000 });
    expect(limiter.attempt('ip', 0).allowed).toBe(true);
    expect(limiter.attempt('ip', 10).allowed).toBe(true);
    expect(limiter.attempt('ip', 20)).toEqual({ allowed: false, retryAfterMs: 980 });
    expect(limiter.attempt('other', 20).allowed).toBe(true);
    expect(limiter.attempt('ip', 1_000).allowed).toBe(true);
  });

  it('bounds its memory', () => {
    const limiter = new RateLimiter({ limit: 1, windowMs: 1_000, maxKeys: 3 });
    for (const key of ['a', 'b', 'c', 'd']) limiter.attempt(key, 0);
    expect(limiter.check('a', 0).allowed).toBe(true); // forgotten
    expect(limiter.check('d', 0).allowed).toBe(false);
  });
});

describe('client tokens', () => {
  it('are nonce ‖ .id.secret and parse back', () => {
    const minted = mintClientToken('abc123');
    expect(minted.token.startsWith('abc123.')).toBe(true);
    expect(tokenIdOf(minted.token)).toBe(minted.id);
    expect(tokenIdOf(minted.fragment)).toBe(minted.id);
    expect(tokenIdOf('a.b.c')).toBeUndefined();
    expect(() => mintClientToken('has.dot')).toThrow(/nonce/);
  });

  it('are read from X-Authorization, else from ?token', () => {
    expect(extractToken('Bearer  abc ', null)).toBe('abc');
    expect(extractToken(undefined, 'xyz')).toBe('xyz');
    expect(extractToken(undefined, null)).toBeUndefined();
  });
});

describe('HTML and logs', () => {
  it('escape everything interpolated', () => {
    expect(escapeHtml(`<a href="x">'&`)).toBe('&#60;a href=&#34;x&#34;&#62;&#39;&#38;');
    const html = signInPage({
      accountName: '<b>',
      action: '/a',
      as: 'gui-client',
      nonce: '"',
      state: 's',
      csrf: 'c',
      error: '<i>',
    });
    expect(html).not.toContain('<b>');
    expect(html).not.toContain('<i>');
    expect(htmlHeaders()['Content-Security-Policy']).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'/);
  });

  it('write one JSON object per line with a level and redact secret fields', () => {
    const lines: string[] = [];
    const log = createJsonLogger({
      level: 'info',
      write: (line) => lines.push(line),
      clock: () => new Date(0),
    });
    log.debug('hidden');
    log.warn('hello', { token: 'abc', nested: { password: 'pw', ok: 1 }, token_id: 'id-1' });
    expect(lines).toEqual([
      '{"ts":"1970-01-01T00:00:00.000Z","level":"warn","msg":"hello","token":"[redacted]","nested":{"password":"[redacted]","ok":1},"token_id":"id-1"}\n',
    ]);
  });
});
