import type { CryptoBackend } from './crypto/backend.js';
import { CONSTRUCTION, IDENTIFIER } from './constants.js';

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);
const encoder = new TextEncoder();

/** HKDF over HMAC-BLAKE2s as the paper's KDF_n (§5.4): up to three 32-byte outputs. */
export function kdf1(c: CryptoBackend, key: Uint8Array, input: Uint8Array): Uint8Array {
  const t0 = c.hmac(key, input);
  const t1 = c.hmac(t0, ONE);
  t0.fill(0);
  return t1;
}

export function kdf2(c: CryptoBackend, key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const t0 = c.hmac(key, input);
  const t1 = c.hmac(t0, ONE);
  const t2 = c.hmac(t0, t1, TWO);
  t0.fill(0);
  return [t1, t2];
}

export function kdf3(
  c: CryptoBackend,
  key: Uint8Array,
  input: Uint8Array,
): [Uint8Array, Uint8Array, Uint8Array] {
  const t0 = c.hmac(key, input);
  const t1 = c.hmac(t0, ONE);
  const t2 = c.hmac(t0, t1, TWO);
  const t3 = c.hmac(t0, t2, THREE);
  t0.fill(0);
  return [t1, t2, t3];
}

const initialCache = new WeakMap<CryptoBackend, { chainingKey: Uint8Array; hash: Uint8Array }>();

/**
 * C0 = HASH(CONSTRUCTION) and H0 = HASH(C0 ‖ IDENTIFIER): the same for every handshake, so they
 * are computed once per backend. Callers must copy before mutating (they never do: every step
 * produces a fresh array).
 */
export function initialState(c: CryptoBackend): { chainingKey: Uint8Array; hash: Uint8Array } {
  let s = initialCache.get(c);
  if (!s) {
    const chainingKey = c.hash(encoder.encode(CONSTRUCTION));
    s = { chainingKey, hash: c.hash(chainingKey, encoder.encode(IDENTIFIER)) };
    initialCache.set(c, s);
  }
  return s;
}

export function labelKey(c: CryptoBackend, label: string, publicKey: Uint8Array): Uint8Array {
  return c.hash(encoder.encode(label), publicKey);
}
