import type { CryptoBackend } from './crypto/backend.js';
import { UNDER_LOAD_HANDSHAKES_PER_SECOND, UNDER_LOAD_HOLD_TIME } from './constants.js';
import { CookieChecker, sourceBytes } from './cookie.js';
import { RateLimiter } from './ratelimiter.js';
import type { Endpoint } from './endpoint.js';

export type GuardVerdict =
  | { readonly action: 'accept' }
  | { readonly action: 'drop'; readonly reason: 'invalid_mac1' | 'rate_limited' }
  | { readonly action: 'cookie'; readonly reply: Uint8Array };

export interface HandshakeGuardOptions {
  /** Handshake messages per second (all sources) from which the responder counts as under load. */
  underLoadThreshold?: number;
}

/**
 * The responder's defences for incoming handshake messages (paper §5.3), shared by all peers
 * of one static key: mac1 must always be valid; under load, a message without a valid mac2 is
 * answered with a cookie reply instead of being processed, and sources are rate limited.
 * Load is measured here (handshake messages per second) so the sans-IO core needs no hint from
 * the driver; `forceUnderLoad` lets a driver with better knowledge (queue depth) override it.
 */
export class HandshakeGuard {
  readonly cookies: CookieChecker;
  forceUnderLoad = false;
  private readonly limiter = new RateLimiter();
  private readonly threshold: number;
  private windowStart = -Infinity;
  private windowCount = 0;
  private underLoadUntil = -Infinity;

  constructor(c: CryptoBackend, localPublic: Uint8Array, options: HandshakeGuardOptions = {}) {
    this.cookies = new CookieChecker(c, localPublic);
    this.threshold = options.underLoadThreshold ?? UNDER_LOAD_HANDSHAKES_PER_SECOND;
  }

  isUnderLoad(now: number): boolean {
    return this.forceUnderLoad || now < this.underLoadUntil;
  }

  /**
   * Decides what to do with a handshake message (initiation or response) whose sender index is
   * `senderIndex`, received from `from`.
   */
  check(msg: Uint8Array, senderIndex: number, from: Endpoint, now: number): GuardVerdict {
    this.countMessage(now);
    if (!this.cookies.checkMac1(msg)) return DROP_MAC1;
    if (!this.isUnderLoad(now)) return ACCEPT;
    const source = sourceBytes(from.address, from.port);
    if (!this.cookies.checkMac2(msg, source, now)) {
      return { action: 'cookie', reply: this.cookies.createReply(msg, senderIndex, source, now) };
    }
    return this.limiter.allow(from.address, now) ? ACCEPT : DROP_RATE;
  }

  private countMessage(now: number): void {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    if (++this.windowCount > this.threshold) this.underLoadUntil = now + UNDER_LOAD_HOLD_TIME;
  }
}

const ACCEPT: GuardVerdict = { action: 'accept' };
const DROP_MAC1: GuardVerdict = { action: 'drop', reason: 'invalid_mac1' };
const DROP_RATE: GuardVerdict = { action: 'drop', reason: 'rate_limited' };
