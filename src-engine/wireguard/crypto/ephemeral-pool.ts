/**
 * Ephemeral X25519 key pairs made ahead of time on another thread, for a gateway answering many
 * handshakes. A response needs one fresh key pair (random scalar + fixed-base multiplication,
 * ≈ 9 % of a response's time) besides three shared secrets that depend on the initiation; the key
 * pair does not, so a worker fills a ring of them in shared memory and the handshake takes one.
 * When the ring is empty (a flood faster than the worker), the key pair is made inline as before.
 *
 * Each pair is used once: `take` copies it out and wipes the slot. The worker sleeps (Atomics.wait)
 * while the ring is more than half full, so an idle gateway spends nothing on it.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { CryptoBackend, EphemeralKeyPair } from './backend.js';

const KEY = 32;
const SLOT = 2 * KEY; // private ‖ public
/** state[0]: pairs taken (head), state[1]: pairs made (tail), state[2]: 1 once closed. */
const HEADER_INTS = 4;

// CommonJS so it runs as `eval` without a TypeScript loader. Counters are Int32 and wrap;
// `(tail - head) | 0` stays right across the wrap.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const sodium = require(workerData.sodiumPath);
const state = new Int32Array(workerData.buffer, 0, ${HEADER_INTS});
const slots = new Uint8Array(workerData.buffer, ${HEADER_INTS * 4});
const capacity = workerData.capacity;
const pair = new Uint8Array(${SLOT});
for (;;) {
  if (Atomics.load(state, 2) === 1) break;
  const head = Atomics.load(state, 0);
  const tail = Atomics.load(state, 1);
  if (((tail - head) | 0) >= capacity) {
    Atomics.wait(state, 0, head);
    continue;
  }
  // Made in a private buffer and copied in: sodium-native's randombytes_buf silently writes
  // nothing into memory of a SharedArrayBuffer.
  sodium.randombytes_buf(pair.subarray(0, ${KEY}));
  sodium.crypto_scalarmult_base(pair.subarray(${KEY}), pair.subarray(0, ${KEY}));
  slots.set(pair, ((tail >>> 0) % capacity) * ${SLOT});
  pair.fill(0);
  Atomics.store(state, 1, (tail + 1) | 0);
}
`;

export class EphemeralKeyPool {
  private readonly state: Int32Array;
  private readonly slots: Uint8Array;
  private readonly worker: Worker;
  /** Pairs handed out from the ring, and made inline because it was empty. */
  readonly stats = { fromPool: 0, inline: 0 };

  private constructor(
    private readonly capacity: number,
    sodiumPath: string,
  ) {
    const buffer = new SharedArrayBuffer(HEADER_INTS * 4 + capacity * SLOT);
    this.state = new Int32Array(buffer, 0, HEADER_INTS);
    this.slots = new Uint8Array(buffer, HEADER_INTS * 4);
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { buffer, capacity, sodiumPath } });
    this.worker.unref(); // never what keeps a process alive
    this.worker.on('error', () => this.close()); // an empty ring only means pairs are made inline
  }

  /** A pool with its worker, or undefined when sodium-native (which the worker uses) is missing. */
  static start(capacity = 256): EphemeralKeyPool | undefined {
    let sodiumPath: string;
    try {
      sodiumPath = createRequire(import.meta.url).resolve('sodium-native');
    } catch {
      return undefined;
    }
    return new EphemeralKeyPool(capacity, sodiumPath);
  }

  /** A fresh pair from the ring, or undefined when it is empty. */
  take(): EphemeralKeyPair | undefined {
    if (Atomics.load(this.state, 2) === 1) return undefined; // closed: the slots are wiped
    const head = this.state[0]!;
    const tail = Atomics.load(this.state, 1);
    if (head === tail) return undefined;
    const at = ((head >>> 0) % this.capacity) * SLOT;
    const privateKey = this.slots.slice(at, at + KEY);
    const publicKey = this.slots.slice(at + KEY, at + SLOT);
    this.slots.fill(0, at, at + KEY);
    Atomics.store(this.state, 0, (head + 1) | 0);
    // Wake the worker once the ring is down to half; above that it may keep sleeping.
    if (((tail - head - 1) | 0) <= this.capacity >> 1) Atomics.notify(this.state, 0);
    return { privateKey, publicKey };
  }

  close(): void {
    if (Atomics.exchange(this.state, 2, 1) === 1) return;
    Atomics.notify(this.state, 0);
    void this.worker.terminate();
    this.slots.fill(0);
  }
}

/**
 * `backend` with `ephemeralKeyPair` served from `pool`; when the pool is empty the handshake makes
 * the pair itself (noise.ts). For the gateway; a client makes a handful of handshakes and keeps
 * the backend as it is.
 */
export function withEphemeralKeyPool(backend: CryptoBackend, pool: EphemeralKeyPool): CryptoBackend {
  return {
    ...backend,
    ephemeralKeyPair: () => {
      const pair = pool.take();
      if (pair) pool.stats.fromPool++;
      else pool.stats.inline++;
      return pair;
    },
  };
}
