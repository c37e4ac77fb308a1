/**
 * Reconnect policy of the portal session (docs/protocol.md §3.3). Pure: the caller passes the time
 * and the random source, so tests can replay it exactly.
 *
 * Two phases, as connlib's phoenix-channel:
 * - before the first successful join ("initial"): a fixed interval without jitter and a short
 *   budget, so a wrong URL or a dead portal is reported quickly;
 * - after having been joined once: exponential backoff with jitter and a long budget. A
 *   successful join resets it.
 * A `Retry-After` from the portal overrides the computed delay.
 */

export interface BackoffOptions {
  /** First delay after having been connected (default 500 ms). */
  readonly initialIntervalMs?: number;
  /** Growth factor per attempt (default 1.5). */
  readonly multiplier?: number;
  /** Cap of one delay (default 60 s). */
  readonly maxIntervalMs?: number;
  /** Jitter: each delay is drawn uniformly from interval × [1 − f, 1 + f] (default 0.5). */
  readonly randomizationFactor?: number;
  /** Give up once an outage lasted this long (default 30 days, the GUI client's budget). */
  readonly maxElapsedMs?: number;
  /** Delay between attempts before the first successful join (default 1 s, no jitter). */
  readonly initialPhaseIntervalMs?: number;
  /** Give up before the first join after this long (default 15 s). */
  readonly initialPhaseMaxElapsedMs?: number;
  /** Longest `Retry-After` honoured (default 1 h); longer values are clamped. */
  readonly maxRetryAfterMs?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = {
  initialIntervalMs: 500,
  multiplier: 1.5,
  maxIntervalMs: 60_000,
  randomizationFactor: 0.5,
  maxElapsedMs: 30 * 24 * 3600 * 1000,
  initialPhaseIntervalMs: 1_000,
  initialPhaseMaxElapsedMs: 15_000,
  maxRetryAfterMs: 3600 * 1000,
};

export interface BackoffDecision {
  /** Milliseconds to wait before the next attempt. */
  readonly delayMs: number;
  /** 1 for the first retry of this outage. */
  readonly attempt: number;
  /** Whether a `Retry-After` decided the delay. */
  readonly fromRetryAfter: boolean;
}

export class Backoff {
  private readonly options: Required<BackoffOptions>;
  private connectedOnce = false;
  private outageStartedAt: number | undefined;
  private currentIntervalMs: number;
  private attempt = 0;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.options = { ...DEFAULT_BACKOFF, ...options };
    validate(this.options);
    this.currentIntervalMs = this.options.initialIntervalMs;
  }

  /** Whether the session has been joined at least once (the long-budget phase). */
  get hasConnected(): boolean {
    return this.connectedOnce;
  }

  /** A join succeeded: the outage is over and later outages start from the first interval. */
  succeeded(): void {
    this.connectedOnce = true;
    this.outageStartedAt = undefined;
    this.currentIntervalMs = this.options.initialIntervalMs;
    this.attempt = 0;
  }

  /** A new start by the host: forget the current outage but keep the phase. */
  restart(): void {
    this.outageStartedAt = undefined;
    this.currentIntervalMs = this.options.initialIntervalMs;
    this.attempt = 0;
  }

  /**
   * An attempt failed at `now`. Returns the delay before the next one, or undefined when the
   * budget is spent and the caller must give up.
   */
  next(now: number, retryAfterMs?: number): BackoffDecision | undefined {
    this.outageStartedAt ??= now;
    const elapsed = now - this.outageStartedAt;
    const budget = this.connectedOnce ? this.options.maxElapsedMs : this.options.initialPhaseMaxElapsedMs;
    if (elapsed >= budget) return undefined;
    this.attempt += 1;
    if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0) {
      const delayMs = Math.min(Math.round(retryAfterMs), this.options.maxRetryAfterMs);
      return { delayMs, attempt: this.attempt, fromRetryAfter: true };
    }
    if (!this.connectedOnce) {
      return { delayMs: this.options.initialPhaseIntervalMs, attempt: this.attempt, fromRetryAfter: false };
    }
    const interval = this.currentIntervalMs;
    const f = this.options.randomizationFactor;
    const low = interval * (1 - f);
    const high = interval * (1 + f);
    const delayMs = Math.round(low + this.random() * (high - low));
    this.currentIntervalMs = Math.min(interval * this.options.multiplier, this.options.maxIntervalMs);
    return { delayMs, attempt: this.attempt, fromRetryAfter: false };
  }
}

function validate(options: Required<BackoffOptions>): void {
  const positive: (keyof BackoffOptions)[] = [
    'initialIntervalMs',
    'maxIntervalMs',
    'initialPhaseIntervalMs',
    'maxElapsedMs',
    'initialPhaseMaxElapsedMs',
    'maxRetryAfterMs',
  ];
  for (const key of positive) {
    const value = options[key];
    if (!(value > 0)) throw new RangeError(`backoff option ${key} must be > 0, got ${value}`);
  }
  if (!(options.multiplier >= 1))
    throw new RangeError(`backoff multiplier must be >= 1, got ${options.multiplier}`);
  if (!(options.randomizationFactor >= 0 && options.randomizationFactor < 1)) {
    throw new RangeError(`backoff randomizationFactor must be in [0, 1), got ${options.randomizationFactor}`);
  }
}

/**
 * Parses an HTTP `Retry-After` value (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 * Returns milliseconds from `now` (never negative), or undefined when unparseable.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d{1,10}$/.test(trimmed)) return Number(trimmed) * 1000;
  // IMF-fixdate and the obsolete formats all parse with Date; require a weekday-ish shape so
  // arbitrary garbage (e.g. "1.5") is not read as a date.
  if (!/[A-Za-z]{3}/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
