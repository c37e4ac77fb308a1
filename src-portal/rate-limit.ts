/**
 * Fixed-window attempt counters per key (client IP, email), for sign-in and authentication
 * failures. Pure apart from the clock passed in; memory is bounded by evicting the oldest keys.
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

  /** Whether one more attempt for `key` may proceed now; counts it if so. */
  attempt(key: string, now: number): RateDecision {
    const decision = this.check(key, now);
    if (decision.allowed) this.record(key, now);
    return decision;
  }

  /** Whether `key` is currently blocked, without counting. */
  check(key: string, now: number): RateDecision {
    const window = this.windows.get(key);
    if (!window || now - window.start >= this.options.windowMs) return { allowed: true };
    if (window.count < this.options.limit) return { allowed: true };
    return { allowed: false, retryAfterMs: window.start + this.options.windowMs - now };
  }

  /** Counts one attempt (e.g. a failure) for `key`. */
  record(key: string, now: number): void {
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
    window.count += 1;
  }

  reset(key: string): void {
    this.windows.delete(key);
  }
}
