import type { CryptoBackend } from './crypto/backend.js';
import { CONSTRUCTION, IDENTIFIER } from './constants.js';

const encoder = new TextEncoder();

/** HKDF over HMAC-BLAKE2s as the paper's KDF_n (§5.4): up to three 32-byte outputs. */
export function kdf1(c: CryptoBackend, key: Uint8Array, input: Uint8Array): Uint8Array {
  return c.kdf(key, input, 1)[0]!;
}

export function kdf2(c: CryptoBackend, key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const [t1, t2] = c.kdf(key, input, 2);
  return [t1!, t2!];
}

export function kdf3(
  c: CryptoBackend,
  key: Uint8Array,
  input: Uint8Array,
): [Uint8Array, Uint8Array, Uint8Array] {
  const [t1, t2, t3] = c.kdf(key, input, 3);
  return [t1!, t2!, t3!];
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
