import { describe, expect, it } from 'vitest';
import { Backoff, parseRetryAfter } from './backoff.js';

describe('Backoff', () => {
  it('uses a fixed 1 s interval without jitter before the first join and gives up after 15 s', () => {
    const backoff = new Backoff({}, () => 0.99);
    const delays: number[] = [];
    let now = 0;
    for (;;) {
      const decision = backoff.next(now);
      if (!decision) break;
      delays.push(decision.delayMs);
      now += decision.delayMs;
    }
    expect(delays.every((delay) => delay === 1_000)).toBe(true);
    expect(delays).toHaveLength(15);
  });

  it('grows ×1.5 with ±50 % jitter up to 60 s once connected, and resets on success', () => {
    const backoff = new Backoff({}, () => 0.5); // midpoint: no jitter
    backoff.succeeded();
    const delays = Array.from({ length: 15 }, () => backoff.next(0)!.delayMs);
    expect(delays.slice(0, 4)).toEqual([500, 750, 1125, 1688]);
    expect(Math.max(...delays)).toBe(60_000);
    backoff.succeeded();
    expect(backoff.next(0)!.delayMs).toBe(500);
  });

  it('keeps jittered delays within the randomisation bounds', () => {
    const low = new Backoff({}, () => 0);
    const high = new Backoff({}, () => 0.999_999);
    low.succeeded();
    high.succeeded();
    expect(low.next(0)!.delayMs).toBe(250);
    expect(high.next(0)!.delayMs).toBe(750);
  });

  it('honours Retry-After over the computed delay, clamped to the maximum', () => {
    const backoff = new Backoff({ maxRetryAfterMs: 10_000 }, () => 0.5);
    expect(backoff.next(0, 7_000)).toEqual({ delayMs: 7_000, attempt: 1, fromRetryAfter: true });
    expect(backoff.next(7_000, 99_000)!.delayMs).toBe(10_000);
  });

  it('gives up after the budget of one outage', () => {
    const backoff = new Backoff({ maxElapsedMs: 5_000 }, () => 0.5);
    backoff.succeeded();
    expect(backoff.next(0)).toBeDefined();
    expect(backoff.next(4_999)).toBeDefined();
    expect(backoff.next(5_000)).toBeUndefined();
  });

  it('rejects nonsensical options with a clear error', () => {
    expect(() => new Backoff({ multiplier: 0.5 })).toThrow(/multiplier must be >= 1/);
    expect(() => new Backoff({ randomizationFactor: 1 })).toThrow(/randomizationFactor/);
    expect(() => new Backoff({ initialIntervalMs: 0 })).toThrow(/initialIntervalMs must be > 0/);
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP dates', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
  });

  it('ignores garbage', () => {
    expect(parseRetryAfter(undefined, 0)).toBeUndefined();
    expect(parseRetryAfter('1.5', 0)).toBeUndefined();
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
    expect(parseRetryAfter('-3', 0)).toBeUndefined();
  });
});
