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

/**
 * Indices of all peers of one local key, with their owner, so a device can route responses,
 * cookie replies and transport messages to the right peer by receiver index in O(1).
 */
export class IndexTable<T> {
  private readonly owners = new Map<number, T>();

  constructor(private readonly random: () => number = () => randomInt(0, 2 ** 32 - 1)) {}

  allocatorFor(owner: T): IndexAllocator {
    return {
      allocate: () => {
        for (;;) {
          const index = this.random() >>> 0;
          if (!this.owners.has(index)) {
            this.owners.set(index, owner);
            return index;
          }
        }
      },
      release: (index) => {
        if (this.owners.get(index) === owner) this.owners.delete(index);
      },
    };
  }

  lookup(index: number): T | undefined {
    return this.owners.get(index);
  }

  /** Forgets every index of `owner` (when the peer is removed). */
  releaseAll(owner: T): void {
    for (const [index, o] of this.owners) if (o === owner) this.owners.delete(index);
  }

  get size(): number {
    return this.owners.size;
  }
}
