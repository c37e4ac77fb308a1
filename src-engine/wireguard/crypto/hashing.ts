/**
 * BLAKE2s-based functions (hash, HMAC, 16-byte keyed MAC). libsodium has no BLAKE2s and node:crypto
 * has neither keyed BLAKE2s nor variable output length, so:
 * - `nobleHashing` is pure @noble/hashes: the reference, used by the noble backend;
 * - `blake2sHashing` is our own BLAKE2s (`blake2s.ts`), used by the sodium and node backends. A
 *   handshake makes about 30 of these calls on inputs of one or two blocks, where per-call set-up
 *   is most of the cost: node:crypto's `blake2s256` allocated a native object and an off-heap
 *   Buffer per call (≈ 5–20 µs with the GC it caused), @noble's keyed MAC ≈ 30 µs; ours costs
 *   ≈ 0.2 µs per 64-byte block and allocates only the 32-byte result (docs/performance.md,
 *   "Handshakes").
 * Internal to this directory; backends spread one of these into themselves.
 */
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import type { CryptoBackend } from './backend.js';
import { BLAKE2S_BLOCK_LENGTH, Blake2s, newBlake2sState, wipeBlake2sState } from './blake2s.js';

export type HashFunctions = Pick<CryptoBackend, 'hash' | 'hmac' | 'mac' | 'kdf'>;

/** WireGuard's MAC output length (mac1/mac2, cookie MAC). */
const MAC_LENGTH = 16;
const HASH_LENGTH = 32;

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

const COUNTERS = [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)] as const;

/** KDF_n as the plain HMAC chain: the reference the faster version is tested against. */
function nobleKdf(key: Uint8Array, input: Uint8Array, count: 1 | 2 | 3): Uint8Array[] {
  const t0 = nobleHmacParts(key, input);
  const outputs: Uint8Array[] = [];
  let previous: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < count; i++) {
    previous = nobleHmacParts(t0, previous, COUNTERS[i]!);
    outputs.push(previous);
  }
  t0.fill(0);
  return outputs;
}

export const nobleHashing: HashFunctions = {
  hash: nobleHash,
  hmac: nobleHmacParts,
  mac: nobleMac,
  kdf: nobleKdf,
};

// One hasher and scratch for the whole process: every call runs to completion before the next.
const hasher = new Blake2s();
const IPAD = 0x36;
const OPAD = 0x5c;
const inner = new Uint8Array(HASH_LENGTH);

function hash(...parts: Uint8Array[]): Uint8Array {
  hasher.init(HASH_LENGTH);
  for (let i = 0; i < parts.length; i++) hasher.update(parts[i]!);
  const out = new Uint8Array(HASH_LENGTH);
  hasher.digestInto(out);
  return out;
}

/** HMAC (RFC 2104) over BLAKE2s-256 with its 64-byte block, as WireGuard's HKDF uses it. */
function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  // A key longer than a block is hashed first (RFC 2104 §2); WireGuard's are all 32 bytes.
  const k = key.length > BLAKE2S_BLOCK_LENGTH ? hash(key) : key;
  hasher.initHmac(k, IPAD);
  for (let i = 0; i < parts.length; i++) hasher.update(parts[i]!);
  hasher.digestInto(inner);
  const out = new Uint8Array(HASH_LENGTH);
  hasher.initHmac(k, OPAD).update(inner).digestInto(out);
  inner.fill(0);
  return out;
}

function mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  hasher.init(MAC_LENGTH, key);
  for (let i = 0; i < parts.length; i++) hasher.update(parts[i]!);
  const out = new Uint8Array(MAC_LENGTH);
  hasher.digestInto(out);
  return out;
}

const t0 = new Uint8Array(HASH_LENGTH);
const t0Inner = newBlake2sState();
const t0Outer = newBlake2sState();

/**
 * KDF_n with τ0's HMAC pads compressed once: each τi then costs two compressions instead of
 * four (KDF2 10 instead of 12, KDF3 12 instead of 16; a responder runs six KDFs per handshake).
 */
function kdf(key: Uint8Array, input: Uint8Array, count: 1 | 2 | 3): Uint8Array[] {
  const k = key.length > BLAKE2S_BLOCK_LENGTH ? hash(key) : key;
  hasher.initHmac(k, IPAD).update(input).digestInto(inner);
  hasher.initHmac(k, OPAD).update(inner).digestInto(t0);
  // Every message under τ0 is non-empty (a counter byte at least), so the pad blocks are never last.
  hasher.initHmac(t0, IPAD).commitBlock().save(t0Inner);
  hasher.initHmac(t0, OPAD).commitBlock().save(t0Outer);
  const outputs: Uint8Array[] = [];
  let previous: Uint8Array | undefined;
  for (let i = 0; i < count; i++) {
    hasher.restore(t0Inner);
    if (previous) hasher.update(previous);
    hasher.update(COUNTERS[i]!).digestInto(inner);
    const out = new Uint8Array(HASH_LENGTH);
    hasher.restore(t0Outer).update(inner).digestInto(out);
    outputs.push(out);
    previous = out;
  }
  t0.fill(0);
  inner.fill(0);
  wipeBlake2sState(t0Inner);
  wipeBlake2sState(t0Outer);
  return outputs;
}

export const blake2sHashing: HashFunctions = { hash, hmac, mac, kdf };
