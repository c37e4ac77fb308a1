import { describe, expect, it } from 'vitest';
import { COOKIE_REFRESH_TIME, HANDSHAKE_INITIATION_SIZE } from './constants.js';
import { CookieChecker, CookieGenerator, sourceBytes } from './cookie.js';
import { createNobleBackend } from './crypto/noble.js';

const c = createNobleBackend();
const responderPublic = c.x25519PublicKey(new Uint8Array(32).fill(2));
const source = sourceBytes('192.0.2.1', 51820);

function message(fill: number): Uint8Array {
  const m = new Uint8Array(HANDSHAKE_INITIATION_SIZE).fill(fill);
  m.set([1, 0, 0, 0]);
  return m;
}

describe('cookies (MAC2) and secret rotation', () => {
  it('mac1 binds the message to the responder key', () => {
    const checker = new CookieChecker(c, responderPublic);
    const gen = new CookieGenerator(c, responderPublic);
    const m = message(1);
    gen.addMacs(m, 0);
    expect(checker.checkMac1(m)).toBe(true);
    const other = new CookieGenerator(c, c.x25519PublicKey(new Uint8Array(32).fill(3)));
    const m2 = message(1);
    other.addMacs(m2, 0);
    expect(checker.checkMac1(m2)).toBe(false);
  });

  it('a cookie makes mac2 valid until the responder secret rotates (2 min)', () => {
    const checker = new CookieChecker(c, responderPublic);
    const gen = new CookieGenerator(c, responderPublic);
    const first = message(1);
    gen.addMacs(first, 0);
    expect(checker.checkMac2(first, source, 0)).toBe(false); // no cookie yet
    const reply = checker.createReply(first, 7, source, 0);
    expect(gen.consumeReply(reply, 0)).toBe(true);
    expect(gen.consumeReply(reply, 0)).toBe(false); // one reply per sent message

    const retry = message(2);
    gen.addMacs(retry, 1_000);
    expect(checker.checkMac2(retry, source, 1_000)).toBe(true);
    expect(checker.checkMac2(retry, sourceBytes('192.0.2.1', 51821), 1_000)).toBe(false); // bound to the source
    // After COOKIE_REFRESH_TIME the secret is stale: mac2 from the old cookie no longer counts …
    expect(checker.checkMac2(retry, source, COOKIE_REFRESH_TIME)).toBe(false);
    // … and a new reply comes from a fresh secret, whose cookie differs from the old one.
    const again = message(3);
    gen.addMacs(again, COOKIE_REFRESH_TIME);
    const reply2 = checker.createReply(again, 7, source, COOKIE_REFRESH_TIME);
    expect(gen.consumeReply(reply2, COOKIE_REFRESH_TIME)).toBe(true);
    const fresh = message(4);
    gen.addMacs(fresh, COOKIE_REFRESH_TIME + 1);
    expect(checker.checkMac2(fresh, source, COOKIE_REFRESH_TIME + 1)).toBe(true);
    expect(checker.checkMac2(retry, source, COOKIE_REFRESH_TIME + 1)).toBe(false);
  });

  it('a tampered or misdirected cookie reply is refused', () => {
    const checker = new CookieChecker(c, responderPublic);
    const gen = new CookieGenerator(c, responderPublic);
    const m = message(1);
    gen.addMacs(m, 0);
    const reply = checker.createReply(m, 7, source, 0);
    const bad = Uint8Array.from(reply);
    bad[40]! ^= 1;
    expect(gen.consumeReply(bad, 0)).toBe(false);
    // A reply to a message we did not send (other mac1 as AD) does not decrypt.
    const other = checker.createReply(message(9), 7, source, 0);
    expect(gen.consumeReply(other, 0)).toBe(false);
  });
});
