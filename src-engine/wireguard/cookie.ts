import type { CryptoBackend } from './crypto/backend.js';
import {
  COOKIE_NONCE_SIZE,
  COOKIE_REFRESH_TIME,
  COOKIE_REPLY_SIZE,
  LABEL_COOKIE,
  LABEL_MAC1,
  MAC_SIZE,
  MESSAGE_COOKIE_REPLY,
} from './constants.js';
import { writeU32 } from './counter.js';
import { CookieReply } from './messages.js';
import { labelKey } from './kdf.js';
import { equalBytes } from './noise.js';

/**
 * MAC1/MAC2 and cookie replies (paper §5.3, §5.4.4, §5.4.7). Handshake messages end in
 * mac1 ‖ mac2 (16 bytes each). mac1 proves the sender knows our public key; mac2 proves it
 * can receive at its source address, which is what a responder under load demands.
 */

const mac1Offset = (msg: Uint8Array): number => msg.length - 2 * MAC_SIZE;
const mac2Offset = (msg: Uint8Array): number => msg.length - MAC_SIZE;

const encoder = new TextEncoder();

/** A source address as bytes for the cookie: any stable encoding works, only we verify it. */
export function sourceBytes(address: string, port: number): Uint8Array {
  return encoder.encode(`${address}|${port}`);
}

/** Responder side: validates MACs of incoming handshakes and mints cookie replies. */
export class CookieChecker {
  private readonly mac1Key: Uint8Array;
  private readonly encryptionKey: Uint8Array;
  private secret: Uint8Array;
  private secretSetAt = -Infinity;

  constructor(
    private readonly c: CryptoBackend,
    localPublic: Uint8Array,
  ) {
    this.mac1Key = labelKey(c, LABEL_MAC1, localPublic);
    this.encryptionKey = labelKey(c, LABEL_COOKIE, localPublic);
    this.secret = new Uint8Array(32);
  }

  checkMac1(msg: Uint8Array): boolean {
    const at = mac1Offset(msg);
    const expected = this.c.mac(this.mac1Key, msg.subarray(0, at));
    return equalBytes(expected, msg.subarray(at, at + MAC_SIZE));
  }

  /** mac2 is valid only with a cookie from the current secret (it rotates every two minutes). */
  checkMac2(msg: Uint8Array, source: Uint8Array, now: number): boolean {
    if (now - this.secretSetAt >= COOKIE_REFRESH_TIME) return false;
    const cookie = this.c.mac(this.secret, source);
    const at = mac2Offset(msg);
    const expected = this.c.mac(cookie, msg.subarray(0, at));
    return equalBytes(expected, msg.subarray(at, at + MAC_SIZE));
  }

  /** A cookie reply to `msg` (whose mac1 was valid) from `source`, addressed to `receiverIndex`. */
  createReply(msg: Uint8Array, receiverIndex: number, source: Uint8Array, now: number): Uint8Array {
    if (now - this.secretSetAt >= COOKIE_REFRESH_TIME) {
      this.secret.fill(0);
      this.secret = this.c.randomBytes(32);
      this.secretSetAt = now;
    }
    const cookie = this.c.mac(this.secret, source);
    const reply = new Uint8Array(COOKIE_REPLY_SIZE);
    writeU32(reply, 0, MESSAGE_COOKIE_REPLY);
    writeU32(reply, CookieReply.receiverIndex, receiverIndex);
    const nonce = this.c.randomBytes(COOKIE_NONCE_SIZE);
    reply.set(nonce, CookieReply.nonce);
    const at = mac1Offset(msg);
    this.c.xaeadSeal(
      this.encryptionKey,
      nonce,
      cookie,
      msg.subarray(at, at + MAC_SIZE),
      reply.subarray(CookieReply.encryptedCookie),
    );
    return reply;
  }
}

/** Initiator side (per peer): fills mac1/mac2 of outgoing handshakes and takes cookie replies. */
export class CookieGenerator {
  private readonly mac1Key: Uint8Array;
  private readonly decryptionKey: Uint8Array;
  private cookie = new Uint8Array(MAC_SIZE);
  private cookieSetAt = -Infinity;
  private lastMac1: Uint8Array | undefined;

  constructor(
    private readonly c: CryptoBackend,
    peerPublic: Uint8Array,
  ) {
    this.mac1Key = labelKey(c, LABEL_MAC1, peerPublic);
    this.decryptionKey = labelKey(c, LABEL_COOKIE, peerPublic);
  }

  addMacs(msg: Uint8Array, now: number): void {
    const at1 = mac1Offset(msg);
    const mac1 = this.c.mac(this.mac1Key, msg.subarray(0, at1));
    msg.set(mac1, at1);
    this.lastMac1 = mac1;
    const at2 = mac2Offset(msg);
    if (now - this.cookieSetAt < COOKIE_REFRESH_TIME) {
      msg.set(this.c.mac(this.cookie, msg.subarray(0, at2)), at2);
    } else {
      msg.fill(0, at2, at2 + MAC_SIZE);
    }
  }

  /** Takes a cookie reply to the last message we sent; false if it does not decrypt. */
  consumeReply(reply: Uint8Array, now: number): boolean {
    if (!this.lastMac1 || reply.length !== COOKIE_REPLY_SIZE) return false;
    const nonce = reply.subarray(CookieReply.nonce, CookieReply.nonce + COOKIE_NONCE_SIZE);
    const cookie = new Uint8Array(MAC_SIZE);
    const n = this.c.xaeadOpen(
      this.decryptionKey,
      nonce,
      reply.subarray(CookieReply.encryptedCookie),
      this.lastMac1,
      cookie,
    );
    if (n !== MAC_SIZE) return false;
    this.cookie = cookie;
    this.cookieSetAt = now;
    // One reply per sent message: a second copy of the reply must not refresh the cookie.
    this.lastMac1 = undefined;
    return true;
  }
}
