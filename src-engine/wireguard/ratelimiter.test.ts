import { describe, expect, it } from 'vitest';
import { HANDSHAKE_BURST_PER_SOURCE, HANDSHAKES_PER_SECOND_PER_SOURCE } from './constants.js';
import { RateLimiter } from './ratelimiter.js';

describe('RateLimiter', () => {
  it('allows a burst of 5, then 20 per second, per source', () => {
    const r = new RateLimiter();
    let allowed = 0;
    for (let i = 0; i < 50; i++) if (r.allow('192.0.2.1', 1000)) allowed++;
    expect(allowed).toBe(HANDSHAKE_BURST_PER_SOURCE);
    expect(r.allow('192.0.2.2', 1000)).toBe(true); // other sources are not affected
    // One second later, 20 more (the bucket refills at 20/s, capped at the burst).
    allowed = 0;
    for (let t = 1000; t < 2000; t += 10) if (r.allow('192.0.2.1', t)) allowed++;
    expect(allowed).toBeGreaterThanOrEqual(HANDSHAKES_PER_SECOND_PER_SOURCE - 1);
    expect(allowed).toBeLessThanOrEqual(HANDSHAKES_PER_SECOND_PER_SOURCE + HANDSHAKE_BURST_PER_SOURCE);
  });

  it('keeps memory bounded under a flood of sources and forgets idle ones', () => {
    const r = new RateLimiter(100);
    for (let i = 0; i < 1000; i++) r.allow(`10.0.${i >> 8}.${i & 255}`, 0);
    expect(r.size).toBeLessThanOrEqual(100);
    expect(r.allow('10.9.9.9', 0)).toBe(false); // full of active sources: new ones wait
    r.allow('10.9.9.9', 5_000); // later, idle entries are swept
    expect(r.size).toBe(1);
  });
});
