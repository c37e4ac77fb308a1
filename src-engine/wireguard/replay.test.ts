import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REPLAY_WINDOW_SIZE, ReplayWindow } from './replay.js';

describe('ReplayWindow', () => {
  it('accepts each counter once, in order and out of order within the window', () => {
    const w = new ReplayWindow();
    for (let i = 0; i < 5000; i++) expect(w.accept(i)).toBe(true);
    for (let i = 0; i < 5000; i++) expect(w.accept(i)).toBe(false);
    expect(w.accept(10_000)).toBe(true);
    expect(w.accept(9_999)).toBe(true);
    expect(w.accept(10_000 - REPLAY_WINDOW_SIZE + 1)).toBe(false); // seen in the first loop
    const fresh = new ReplayWindow();
    expect(fresh.accept(10_000)).toBe(true);
    expect(fresh.accept(10_000 - REPLAY_WINDOW_SIZE + 1)).toBe(true); // oldest inside
    expect(fresh.accept(10_000 - REPLAY_WINDOW_SIZE)).toBe(false); // just outside
  });

  it('a window that has accepted nothing (its ring not yet allocated) would accept any counter', () => {
    const w = new ReplayWindow();
    expect(w.wouldAccept(0)).toBe(true);
    expect(w.wouldAccept(12_345)).toBe(true);
    expect(w.accept(0)).toBe(true);
    expect(w.wouldAccept(0)).toBe(false);
    expect(w.accept(0)).toBe(false);
  });

  it('holds at least 2,048 packets of reordering', () => {
    expect(REPLAY_WINDOW_SIZE).toBeGreaterThanOrEqual(2048);
    const w = new ReplayWindow();
    expect(w.accept(3000)).toBe(true);
    for (let i = 3000 - 2048; i < 3000; i++) expect(w.accept(i)).toBe(true);
  });

  it('clears stale bits when the window jumps far ahead', () => {
    const w = new ReplayWindow();
    expect(w.accept(5)).toBe(true);
    const far = 5 + 32 * 256 * 3; // same ring slot as 5, three laps later
    expect(w.accept(far)).toBe(true);
    for (const back of [1, 100, 8000, REPLAY_WINDOW_SIZE - 1]) expect(w.accept(far - back)).toBe(true);
    expect(w.accept(far)).toBe(false);
  });

  it('works above 2^32', () => {
    const w = new ReplayWindow();
    const base = 2 ** 40;
    expect(w.accept(base)).toBe(true);
    expect(w.accept(base - 1)).toBe(true);
    expect(w.accept(base)).toBe(false);
    expect(w.accept(base + 1)).toBe(true);
  });

  it('matches a set-based model on random sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 20_000 }), { maxLength: 400 }), (counters) => {
        const w = new ReplayWindow();
        const seen = new Set<number>();
        let newest = -1;
        for (const n of counters) {
          const expected = !seen.has(n) && (n > newest || newest - n < REPLAY_WINDOW_SIZE);
          expect(w.wouldAccept(n)).toBe(expected);
          expect(w.accept(n)).toBe(expected);
          if (expected) {
            seen.add(n);
            newest = Math.max(newest, n);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
