/**
 * The strided AEAD must be RFC 8439's ChaCha20-Poly1305 byte for byte: checked against @noble's
 * independent implementation and libsodium's own AEAD, across stride boundaries, in sequences of
 * mixed lengths (the scratch keeps bytes of earlier packets), in place, and with every kind of
 * tampering.
 */
import { createRequire } from 'node:module';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_STRIDED_LENGTH,
  MIN_STRIDED_LENGTH,
  createStridedChaChaPoly,
  type ChaChaPolyPrimitives,
} from './strided-chacha-poly.js';
import { toHex } from './util.js';

const sodium = createRequire(import.meta.url)('sodium-native') as ChaChaPolyPrimitives & {
  crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: null,
    nsec: null,
    n: Uint8Array,
    k: Uint8Array,
  ): number;
};
const aead = createStridedChaChaPoly(sodium);

const reference = (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array =>
  chacha20poly1305(key, nonce).encrypt(plaintext);

const length = fc.oneof(
  fc.integer({ min: MIN_STRIDED_LENGTH, max: MAX_STRIDED_LENGTH }),
  // Around the 512-byte strides of block 0 + plaintext, and the 16-byte MAC padding.
  fc.constantFrom(512, 513, 575, 576, 577, 959, 960, 961, 1024, 1420, 1436, 1472, 1473, 4031, 4032, 4096),
);
const packet = length.chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const nonce = fc.uint8Array({ minLength: 12, maxLength: 12 });

describe('strided ChaCha20-Poly1305', () => {
  it('seals exactly as @noble and libsodium do, and opens what they seal, over mixed-length sequences', () => {
    fc.assert(
      fc.property(key, fc.array(fc.tuple(nonce, packet), { minLength: 1, maxLength: 6 }), (k, packets) => {
        for (const [n, plaintext] of packets) {
          const expected = reference(k, n, plaintext);
          const sodiumSealed = new Uint8Array(plaintext.length + 16);
          sodium.crypto_aead_chacha20poly1305_ietf_encrypt(sodiumSealed, plaintext, null, null, n, k);
          expect(toHex(sodiumSealed)).toBe(toHex(expected));

          const out = new Uint8Array(plaintext.length + 16 + 8).fill(0xa5);
          expect(aead.seal(k, n, plaintext, out)).toBe(plaintext.length + 16);
          expect(toHex(out.subarray(0, plaintext.length + 16))).toBe(toHex(expected));
          expect(out.subarray(plaintext.length + 16).every((x) => x === 0xa5)).toBe(true);

          const opened = new Uint8Array(plaintext.length + 8).fill(0xa5);
          expect(aead.open(k, n, expected, opened)).toBe(plaintext.length);
          expect(toHex(opened.subarray(0, plaintext.length))).toBe(toHex(plaintext));
          expect(opened.subarray(plaintext.length).every((x) => x === 0xa5)).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('rejects a flipped bit anywhere, another nonce or another key, writing nothing', () => {
    fc.assert(
      fc.property(key, nonce, packet, fc.nat(), (k, n, plaintext, seed) => {
        const sealed = reference(k, n, plaintext);
        const out = new Uint8Array(plaintext.length).fill(0x5a);
        const untouched = (): boolean => out.every((x) => x === 0x5a);

        const flipped = sealed.slice();
        flipped[seed % flipped.length]! ^= 1 << (seed % 8);
        expect(aead.open(k, n, flipped, out)).toBe(-1);
        const otherNonce = n.slice();
        otherNonce[seed % 12]! ^= 1;
        expect(aead.open(k, otherNonce, sealed, out)).toBe(-1);
        const otherKey = k.slice();
        otherKey[seed % 32]! ^= 1;
        expect(aead.open(otherKey, n, sealed, out)).toBe(-1);
        // A truncated tag is another length with a wrong tag.
        expect(aead.open(k, n, sealed.subarray(0, sealed.length - 1), out)).toBe(-1);
        expect(untouched()).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('works in place: out may be the very buffer that holds the input', () => {
    fc.assert(
      fc.property(key, nonce, packet, (k, n, plaintext) => {
        const buffer = new Uint8Array(plaintext.length + 16);
        buffer.set(plaintext);
        aead.seal(k, n, buffer.subarray(0, plaintext.length), buffer);
        expect(toHex(buffer)).toBe(toHex(reference(k, n, plaintext)));
        expect(aead.open(k, n, buffer, buffer)).toBe(plaintext.length);
        expect(toHex(buffer.subarray(0, plaintext.length))).toBe(toHex(plaintext));
      }),
      { numRuns: 50 },
    );
  });
});
