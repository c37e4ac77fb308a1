import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { REKEY_TIMEOUT } from '../constants.js';
import { makePair, pump } from '../test-support.js';
import type { CryptoBackend } from './backend.js';
import { EphemeralKeyPool, withEphemeralKeyPool } from './ephemeral-pool.js';
import { loadBackend } from './select.js';
import { toHex } from './util.js';

const sodium = loadBackend('sodium');
const pools: EphemeralKeyPool[] = [];
afterEach(() => {
  for (const p of pools.splice(0)) p.close();
});

function startPool(capacity: number): EphemeralKeyPool {
  const pool = EphemeralKeyPool.start(capacity);
  if (!pool) throw new Error('no pool: sodium-native missing');
  pools.push(pool);
  return pool;
}

/** Takes until a pair comes (the worker may not have made one yet), for at most 5 s. */
async function takeSoon(pool: EphemeralKeyPool) {
  for (const deadline = Date.now() + 5_000; Date.now() < deadline; await delay(5)) {
    const pair = pool.take();
    if (pair) return pair;
  }
  throw new Error('the pool made no key pair within 5 s');
}

describe('EphemeralKeyPool', () => {
  it('hands out valid X25519 pairs, each once, and refills after being drained', async () => {
    const pool = startPool(8);
    const seen = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const first = await takeSoon(pool);
      const pairs = [first];
      for (let pair = pool.take(); pair; pair = pool.take()) pairs.push(pair);
      for (const { privateKey, publicKey } of pairs) {
        expect(toHex(publicKey)).toBe(toHex(sodium.x25519PublicKey(privateKey)));
        expect(privateKey.every((x) => x === 0)).toBe(false);
        seen.add(toHex(privateKey));
      }
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
  });

  it('never hands out the same pair twice over many takes', async () => {
    const pool = startPool(16);
    const seen = new Set<string>();
    let taken = 0;
    while (taken < 200) {
      const pair = await takeSoon(pool);
      const hex = toHex(pair.privateKey);
      expect(seen.has(hex)).toBe(false);
      seen.add(hex);
      taken++;
    }
  });

  it('a closed pool gives nothing, and handshakes then make their pairs inline', () => {
    const pool = startPool(8);
    pool.close();
    expect(pool.take()).toBeUndefined();
    const crypto = withEphemeralKeyPool(sodium, pool);
    expect(crypto.ephemeralKeyPair!()).toBeUndefined();
    expect(pool.stats).toEqual({ fromPool: 0, inline: 1 });
    expect(completedHandshakes(crypto, 3)).toBe(3);
    expect(pool.stats.fromPool).toBe(0);
    expect(pool.stats.inline).toBe(1 + 3 * 2); // an initiation and a response each
  });

  it('handshakes complete with pooled ephemeral keys on both sides', async () => {
    const pool = startPool(32);
    await takeSoon(pool); // the worker is running
    await delay(50);
    expect(completedHandshakes(withEphemeralKeyPool(sodium, pool), 5)).toBe(5);
    expect(pool.stats.fromPool).toBeGreaterThan(0);
  });
});

/** Full handshakes between two Tunns using `crypto` (test-support's pair and pump). */
function completedHandshakes(crypto: CryptoBackend, rounds: number): number {
  const pair = makePair(crypto);
  for (let i = 0; i < rounds; i++) {
    pair.now += REKEY_TIMEOUT; // the initiator sends at most one initiation per REKEY_TIMEOUT
    pump(pair, { from: 'a', result: pair.a.initiateHandshake(pair.now) });
  }
  return pair.b.stats.handshakesCompleted;
}
