/**
 * Our BLAKE2s against published vectors (RFC 7693, the BLAKE2 keyed KAT, OpenSSL's keyed 16-byte
 * MAC) and against @noble/hashes for random inputs fed in random pieces.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { blake2s } from '@noble/hashes/blake2.js';
import { Blake2s, newBlake2sState } from './blake2s.js';
import { fromHex, toHex } from './util.js';
import { BLAKE2S_KEYED_KAT, BLAKE2S_MAC16_VECTORS, BLAKE2S_VECTORS } from './vectors.js';

function digest(h: Blake2s, outLength: number): string {
  const out = new Uint8Array(outLength);
  h.digestInto(out);
  return toHex(out);
}

describe('Blake2s', () => {
  const h = new Blake2s();

  it.each([...BLAKE2S_VECTORS, ...BLAKE2S_KEYED_KAT, ...BLAKE2S_MAC16_VECTORS])('$source', (v) => {
    const length = v.digest.length / 2;
    h.init(length, v.key === undefined ? undefined : fromHex(v.key)).update(fromHex(v.input));
    expect(digest(h, length)).toBe(v.digest);
  });

  it('matches @noble/hashes for any input, key and output length, however the input is split', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.option(fc.uint8Array({ minLength: 1, maxLength: 32 }), { nil: undefined }),
        fc.integer({ min: 1, max: 32 }),
        fc.array(fc.nat(300), { maxLength: 4 }),
        (input, key, outLength, cuts) => {
          const points = [0, ...cuts.map((c) => c % (input.length + 1)).sort((a, b) => a - b), input.length];
          h.init(outLength, key);
          for (let i = 1; i < points.length; i++) h.update(input.subarray(points[i - 1], points[i]));
          const expected = blake2s(input, { dkLen: outLength, ...(key ? { key } : {}) });
          expect(digest(h, outLength)).toBe(toHex(expected));
        },
      ),
    );
  });

  it('continues from a saved state as if the prefix were hashed again', () => {
    const key = fromHex('000102030405060708090a0b0c0d0e0f');
    const prefix = new Uint8Array(70).fill(7);
    const state = newBlake2sState();
    h.init(16, key).update(prefix).save(state);
    h.init(32).update(new Uint8Array(3)); // something else in between
    for (const tail of [new Uint8Array(0), new Uint8Array(1).fill(9), new Uint8Array(100).fill(1)]) {
      h.restore(state).update(tail);
      const all = new Uint8Array(prefix.length + tail.length);
      all.set(prefix);
      all.set(tail, prefix.length);
      expect(digest(h, 16)).toBe(toHex(blake2s(all, { key, dkLen: 16 })));
    }
  });

  it('refuses lengths outside 1..32 and keys over 32 bytes', () => {
    expect(() => h.init(0)).toThrow(RangeError);
    expect(() => h.init(33)).toThrow(RangeError);
    expect(() => h.init(32, new Uint8Array(33))).toThrow(RangeError);
  });
});
