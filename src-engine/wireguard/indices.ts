import { randomInt } from 'node:crypto';

/**
 * Session indices (paper §5.4.2: "sender index") identify a handshake or session in every
 * message, so they must be unique among the live ones of one local static key. They are random
 * so they reveal nothing about how many sessions exist.
 */
export interface IndexAllocator {
  allocate(): number;
  release(index: number): void;
}

export class RandomIndexAllocator implements IndexAllocator {
  private readonly inUse = new Set<number>();

  constructor(private readonly random: () => number = () => randomInt(0, 2 ** 32 - 1)) {}

  allocate(): number {
    for (;;) {
      const index = this.random() >>> 0;
      if (!this.inUse.has(index)) {
        this.inUse.add(index);
        return index;
      }
    }
  }

  release(index: number): void {
    this.inUse.delete(index);
  }

  get size(): number {
    return this.inUse.size;
  }
}
