import { REPLAY_WINDOW_BLOCKS } from './constants.js';

const BITS_PER_BLOCK = 32;
const BLOCK_MASK = REPLAY_WINDOW_BLOCKS - 1;
/** Packets behind the newest one that are still accepted (RFC 6479: one block is kept spare). */
export const REPLAY_WINDOW_SIZE = (REPLAY_WINDOW_BLOCKS - 1) * BITS_PER_BLOCK;

/**
 * Sliding anti-replay window over 64-bit transport counters (paper §5.4.6, bitmap layout of
 * RFC 6479): a ring of 32-bit blocks; advancing the window clears whole blocks instead of
 * shifting bits, so each packet costs O(1).
 *
 * Counters are JS numbers: a session lives at most REJECT_AFTER_TIME (180 s), so no honest
 * peer gets anywhere near 2^53 messages; larger counters are rejected by the caller
 * (see `counter.ts`).
 */
export class ReplayWindow {
  /**
   * Allocated at the first accepted counter: a responder makes a session per answered
   * initiation, and under a handshake flood most are never used; allocating and zeroing 1 KiB
   * each was ≈ 3 % of the responder's time (docs/performance.md, "Handshakes").
   */
  private ring: Uint32Array | undefined;
  private newest = 0;

  /** Whether `counter` would be accepted, without recording it (cheap pre-check before decrypting). */
  wouldAccept(counter: number): boolean {
    if (counter > this.newest) return true;
    if (this.newest - counter >= REPLAY_WINDOW_SIZE) return false;
    if (this.ring === undefined) return true; // nothing accepted yet
    const block = Math.floor(counter / BITS_PER_BLOCK) & BLOCK_MASK;
    const bit = 1 << (counter % BITS_PER_BLOCK);
    return (this.ring[block]! & bit) === 0;
  }

  /**
   * Records an authenticated counter. Returns false (and records nothing) when it is a replay
   * or too old for the window.
   */
  accept(counter: number): boolean {
    const ring = (this.ring ??= new Uint32Array(REPLAY_WINDOW_BLOCKS));
    const blockIndex = Math.floor(counter / BITS_PER_BLOCK);
    if (counter > this.newest) {
      const newestBlock = Math.floor(this.newest / BITS_PER_BLOCK);
      const advance = Math.min(blockIndex - newestBlock, REPLAY_WINDOW_BLOCKS);
      for (let i = 1; i <= advance; i++) ring[(newestBlock + i) & BLOCK_MASK] = 0;
      this.newest = counter;
    } else if (this.newest - counter >= REPLAY_WINDOW_SIZE) {
      return false;
    }
    const block = blockIndex & BLOCK_MASK;
    const bit = 1 << (counter % BITS_PER_BLOCK);
    if ((ring[block]! & bit) !== 0) return false;
    ring[block] = ring[block]! | bit;
    return true;
  }
}
