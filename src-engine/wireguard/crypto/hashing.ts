/**
 * BLAKE2s-based functions (hash, HMAC, 16-byte keyed MAC). libsodium has no BLAKE2s and node:crypto
 * has neither keyed BLAKE2s nor variable output length, so:
 * - `nobleHashing` is pure @noble/hashes and always works;
 * - `nodeHashing()` uses node:crypto's `blake2s256` for hash/HMAC when OpenSSL provides it (faster
 *   per call) and noble for the keyed 16-byte MAC.
 * Internal to this directory; backends spread one of these into themselves.
 */
import { createHash, createHmac, getHashes } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import type { CryptoBackend } from './backend.js';
import { plain } from './util.js';

export type HashFunctions = Pick<CryptoBackend, 'hash' | 'hmac' | 'mac'>;

/** WireGuard's MAC output length (mac1/mac2, cookie MAC). */
const MAC_LENGTH = 16;

function nobleHash(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return blake2s(parts[0]!);
  const h = blake2s.create();
  for (const part of parts) h.update(part);
  return h.digest();
}

function nobleHmacParts(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = nobleHmac.create(blake2s, key);
  for (const part of parts) h.update(part);
  return h.digest();
}

function nobleMac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create({ key, dkLen: MAC_LENGTH });
  for (const part of parts) h.update(part);
  return h.digest();
}

export const nobleHashing: HashFunctions = { hash: nobleHash, hmac: nobleHmacParts, mac: nobleMac };

const NODE_BLAKE2S = 'blake2s256';

let nodeHasBlake2s: boolean | undefined;

/** Whether node:crypto (its linked OpenSSL/BoringSSL) provides BLAKE2s-256. */
export function nodeHasBlake2s256(): boolean {
  nodeHasBlake2s ??= getHashes().includes(NODE_BLAKE2S);
  return nodeHasBlake2s;
}

function nodeHash(...parts: Uint8Array[]): Uint8Array {
  const h = createHash(NODE_BLAKE2S);
  for (const part of parts) h.update(part);
  return plain(h.digest());
}

function nodeHmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac(NODE_BLAKE2S, key);
  for (const part of parts) h.update(part);
  return plain(h.digest());
}

const nodeHashingImpl: HashFunctions = { hash: nodeHash, hmac: nodeHmac, mac: nobleMac };

/** node:crypto hash/HMAC when `blake2s256` exists, else noble; the 16-byte MAC is always noble. */
export function nodeHashing(): HashFunctions {
  return nodeHasBlake2s256() ? nodeHashingImpl : nobleHashing;
}
