import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { REKEY_TIMEOUT } from '../constants.js';
import { Tunn } from '../tunn.js';
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

/** Full handshakes between two Tunns using `crypto`; the responder's completed count. */
function completedHandshakes(crypto: CryptoBackend, rounds: number): number {
  const ka = crypto.randomBytes(32);
  const kb = crypto.randomBytes(32);
  const A = { address: '10.0.0.1', port: 1 };
  const B = { address: '10.0.0.2', port: 2 };
  const a = new Tunn({ crypto, staticPrivate: ka, peerPublic: crypto.x25519PublicKey(kb), endpoint: B });
  const b = new Tunn({ crypto, staticPrivate: kb, peerPublic: crypto.x25519PublicKey(ka), endpoint: A });
  const out = new Uint8Array(256);
  let now = 0;
  for (let i = 0; i < rounds; i++) {
    now += REKEY_TIMEOUT;
    const init = a.initiateHandshake(now);
    if (init.type !== 'network') throw new Error('no initiation');
    const response = b.decapsulate(init.packet, A, out, now);
    if (response.type !== 'network') throw new Error('no response');
    const confirm = a.decapsulate(Uint8Array.from(response.packet), B, out, now);
    if (confirm.type !== 'network') throw new Error('no confirmation');
    b.decapsulate(Uint8Array.from(confirm.packet), A, out, now);
  }
  return b.stats.handshakesCompleted;
}
