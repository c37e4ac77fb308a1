/**
 * Fixed-window attempt counters per key (client IP, (IP, email), (IP, token)), for sign-in and
 * authentication failures, with optional costs per attempt; and a per-key exponential backoff
 * that delays attempts without ever refusing them (the per-account brake of sign-in). Pure apart
 * from the clock passed in; memory is bounded by evicting the oldest keys. The scheme that uses
 * them is described in src-portal/README.md ("Abuse limits").
 */

export interface RateLimitOptions {
  /** Attempts allowed per window. */
  readonly limit: number;
  readonly windowMs: number;
  /** Keys remembered at most (oldest windows are forgotten first). */
  readonly maxKeys?: number;
}

export type RateDecision =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private readonly maxKeys: number;

  constructor(private readonly options: RateLimitOptions) {
    if (!(options.limit >= 1) || !(options.windowMs > 0))
      throw new RangeError('rate limit needs limit >= 1 and windowMs > 0');
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  /**
   * Whether one more attempt for `key` may proceed now; counts it (`cost`, default 1) if so.
   * Synchronous: call it before any `await` so that concurrent attempts cannot all pass.
   */
  attempt(key: string, now: number, cost = 1): RateDecision {
    const decision = this.check(key, now, cost);
    if (decision.allowed) this.record(key, now, cost);
    return decision;
  }

  /** Whether an attempt costing `cost` (default 1) would fit now, without counting it. */
  check(key: string, now: number, cost = 1): RateDecision {
    const window = this.windows.get(key);
    if (!window || now - window.start >= this.options.windowMs) {
      return cost <= this.options.limit
        ? { allowed: true }
        : { allowed: false, retryAfterMs: this.options.windowMs };
    }
    if (window.count + cost <= this.options.limit) return { allowed: true };
    return { allowed: false, retryAfterMs: window.start + this.options.windowMs - now };
  }

  /** Counts one attempt (e.g. a failure) for `key`, weighing `cost` (default 1). */
  record(key: string, now: number, cost = 1): void {
    let window = this.windows.get(key);
    if (!window || now - window.start >= this.options.windowMs) {
      this.windows.delete(key);
      window = { start: now, count: 0 };
      this.windows.set(key, window);
      while (this.windows.size > this.maxKeys) {
        const oldest = this.windows.keys().next().value;
        if (oldest === undefined) break;
        this.windows.delete(oldest);
      }
    }
    window.count += cost;
  }

  /** Gives back `cost` (default 1) counted in the current window, e.g. a reserved attempt that succeeded. */
  refund(key: string, cost = 1): void {
    const window = this.windows.get(key);
    if (window) window.count = Math.max(0, window.count - cost);
  }

  reset(key: string): void {
    this.windows.delete(key);
  }
}

export interface BackoffOptions {
  /** Failures per key that cost no delay (typos). */
  readonly freeFailures: number;
  /** The delay after the free failures; it doubles with every further failure… */
  readonly baseDelayMs: number;
  /** …up to this cap, so a legitimate attempt is never delayed longer. */
  readonly maxDelayMs: number;
  /** A key is forgotten after this long without a failure. */
  readonly windowMs: number;
  /** Keys remembered at most (least recently failed are forgotten first). */
  readonly maxKeys?: number;
}

/**
 * Per-key exponential backoff that slows attempts down but never refuses one: after
 * `freeFailures` failures each further attempt waits `baseDelayMs × 2^(failures − free)`, at most
 * `maxDelayMs`. `reserve` counts the attempt as a failure at once (so a burst of concurrent
 * attempts sees growing delays); `refund` takes it back when it turns out to be a success.
 */
export class Backoff {
  private readonly entries = new Map<string, { failures: number; last: number }>();
  private readonly maxKeys: number;

  constructor(private readonly options: BackoffOptions) {
    if (
      !(options.freeFailures >= 0) ||
      !(options.baseDelayMs >= 0) ||
      !(options.maxDelayMs >= options.baseDelayMs) ||
      !(options.windowMs > 0)
    )
      throw new RangeError('backoff needs freeFailures >= 0, 0 <= baseDelayMs <= maxDelayMs, windowMs > 0');
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  /** The delay an attempt for `key` would wait now, without counting it. */
  delayFor(key: string, now: number): number {
    return this.delayAfter(this.current(key, now)?.failures ?? 0);
  }

  /** Counts an attempt for `key` (as a failure until refunded); returns how long it must wait first. */
  reserve(key: string, now: number): number {
    let entry = this.current(key, now);
    const delay = this.delayAfter(entry?.failures ?? 0);
    if (!entry) entry = { failures: 0, last: now };
    this.entries.delete(key); // re-insert: the map's order is the eviction order
    this.entries.set(key, entry);
    entry.failures += 1;
    entry.last = now;
    while (this.entries.size > this.maxKeys) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return delay;
  }

  /** Takes back one reserved attempt (it succeeded). */
  refund(key: string): void {
    const entry = this.entries.get(key);
    if (entry) entry.failures = Math.max(0, entry.failures - 1);
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  private current(key: string, now: number): { failures: number; last: number } | undefined {
    const entry = this.entries.get(key);
    if (entry && now - entry.last >= this.options.windowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private delayAfter(failures: number): number {
    const over = failures - this.options.freeFailures;
    if (over < 0) return 0;
    return Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** Math.min(over, 30));
  }
}

export interface ConnectLimitOptions {
  /** Budget per (client IP, credential) (default 120 per minute: 120 connects or 12 failures). */
  readonly perCredential?: { readonly limit: number; readonly windowMs: number };
  /**
   * Budget per client IP over all credentials (default 3000 per minute). Credentials that
   * authenticated within `trustMs` are exempt from it, so a guesser at a shared address cannot
   * lock out the users behind it who are already known.
   */
  readonly perIp?: { readonly limit: number; readonly windowMs: number };
  /** What a failed authentication costs; a success costs 1 (default 10). */
  readonly failureCost?: number;
  /** How long a credential that authenticated stays exempt from the per-IP budget (default 24 h). */
  readonly trustMs?: number;
  readonly maxKeys?: number;
}

/**
 * Limits of authenticated connection attempts (the WebSocket upgrade): a budget per
 * (IP, credential) and a much larger one per IP; failures cost `failureCost`, successes 1.
 * `credential` is an opaque digest of what was presented (never the secret itself), or
 * undefined when nothing was. Call `check` before verifying, then `succeeded` or `failed`.
 */
export class ConnectLimiter {
  private readonly perCredential: RateLimiter;
  private readonly perIp: RateLimiter;
  private readonly trusted = new Map<string, number>();
  private readonly failureCost: number;
  private readonly trustMs: number;
  private readonly maxKeys: number;

  constructor(options: ConnectLimitOptions = {}) {
    this.maxKeys = options.maxKeys ?? 10_000;
    this.perCredential = new RateLimiter({
      ...(options.perCredential ?? { limit: 120, windowMs: 60_000 }),
      maxKeys: this.maxKeys,
    });
    this.perIp = new RateLimiter({
      ...(options.perIp ?? { limit: 3000, windowMs: 60_000 }),
      maxKeys: this.maxKeys,
    });
    this.failureCost = options.failureCost ?? 10;
    this.trustMs = options.trustMs ?? 24 * 60 * 60 * 1000;
    if (!(this.failureCost >= 1)) throw new RangeError('failureCost must be >= 1');
  }

  /** Whether an attempt with `credential` from `ip` may be verified now (counts nothing). */
  check(ip: string, credential: string | undefined, now: number): RateDecision {
    const own = this.perCredential.check(pairKey(ip, credential), now);
    if (!own.allowed) return own;
    if (credential !== undefined && this.isTrusted(credential, now)) return own;
    return this.perIp.check(ip, now);
  }

  succeeded(ip: string, credential: string | undefined, now: number): void {
    this.perCredential.record(pairKey(ip, credential), now);
    this.perIp.record(ip, now);
    if (credential === undefined) return;
    this.trusted.delete(credential);
    this.trusted.set(credential, now + this.trustMs);
    while (this.trusted.size > this.maxKeys) {
      const oldest = this.trusted.keys().next().value;
      if (oldest === undefined) break;
      this.trusted.delete(oldest);
    }
  }

  failed(ip: string, credential: string | undefined, now: number): void {
    this.perCredential.record(pairKey(ip, credential), now, this.failureCost);
    this.perIp.record(ip, now, this.failureCost);
    if (credential !== undefined) this.trusted.delete(credential); // e.g. revoked since
  }

  private isTrusted(credential: string, now: number): boolean {
    const until = this.trusted.get(credential);
    if (until === undefined) return false;
    if (until > now) return true;
    this.trusted.delete(credential);
    return false;
  }
}

function pairKey(ip: string, credential: string | undefined): string {
  return `${ip} ${credential ?? '-'}`;
}
