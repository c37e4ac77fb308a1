import { HANDSHAKE_BURST_PER_SOURCE, HANDSHAKES_PER_SECOND_PER_SOURCE } from './constants.js';

const COST = 1000 / HANDSHAKES_PER_SECOND_PER_SOURCE;
const MAX_TOKENS = COST * HANDSHAKE_BURST_PER_SOURCE;
/** Entries idle this long are refilled to the maximum anyway, so they can be forgotten. */
const IDLE_FORGET_AFTER = MAX_TOKENS + 1000;
const DEFAULT_MAX_ENTRIES = 65_536;

interface Bucket {
  tokens: number;
  lastSeen: number;
}

/**
 * Token bucket per source address for handshake messages when under load: 20 per second with
 * a burst of 5 (wireguard-go's values). Memory is bounded: idle entries are swept, and when the
 * table is full of active sources new sources are refused until it drains.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  constructor(private readonly maxEntries = DEFAULT_MAX_ENTRIES) {}

  allow(source: string, now: number): boolean {
    if (now - this.lastSweep >= 1000) this.sweep(now);
    let bucket = this.buckets.get(source);
    if (!bucket) {
      if (this.buckets.size >= this.maxEntries) {
        this.sweep(now);
        if (this.buckets.size >= this.maxEntries) return false;
      }
      bucket = { tokens: MAX_TOKENS, lastSeen: now };
      this.buckets.set(source, bucket);
    } else {
      bucket.tokens = Math.min(MAX_TOKENS, bucket.tokens + (now - bucket.lastSeen));
      bucket.lastSeen = now;
    }
    if (bucket.tokens < COST) return false;
    bucket.tokens -= COST;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.lastSeen >= IDLE_FORGET_AFTER) this.buckets.delete(key);
    }
  }
}
