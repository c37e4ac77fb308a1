/**
 * Known-answer tests, run against every backend that loads here (RFC 8439, draft-irtf-cfrg-xchacha,
 * RFC 7748, RFC 7693 / BLAKE2 KAT, and BLAKE2s MAC / HMAC values computed with OpenSSL).
 */
import { describe, expect, it } from 'vitest';
import { blake2s } from '@noble/hashes/blake2.js';
import type { CryptoBackend } from './backend.js';
import { availableBackends, loadBackend } from './select.js';
import { TAG_LENGTH, fromHex, toHex } from './util.js';
import {
  BLAKE2S_KEYED_KAT,
  BLAKE2S_MAC16_VECTORS,
  BLAKE2S_VECTORS,
  HMAC_BLAKE2S_VECTORS,
  RFC7748_5_2,
  RFC7748_6_1,
  RFC7748_ITERATED,
  RFC8439_2_8_2,
  RFC8439_A_5,
  XCHACHA_A_3_1,
  type AeadVector,
} from './vectors.js';

function sealHex(seal: CryptoBackend['aeadSeal'], v: AeadVector): string {
  const plaintext = fromHex(v.plaintext);
  const out = new Uint8Array(plaintext.length + TAG_LENGTH);
  expect(seal(fromHex(v.key), fromHex(v.nonce), plaintext, fromHex(v.ad), out)).toBe(out.length);
  return toHex(out);
}

function openHex(open: CryptoBackend['aeadOpen'], v: AeadVector): string {
  const sealed = fromHex(v.sealed);
  const out = new Uint8Array(sealed.length - TAG_LENGTH);
  expect(open(fromHex(v.key), fromHex(v.nonce), sealed, fromHex(v.ad), out)).toBe(out.length);
  return toHex(out);
}

describe('BLAKE2s primitive used for the keyed MAC (@noble/hashes)', () => {
  it.each(BLAKE2S_KEYED_KAT)('$source', (v) => {
    expect(toHex(blake2s(fromHex(v.input), { key: fromHex(v.key!) }))).toBe(v.digest);
  });
});

describe.each(availableBackends())('%s backend: known answers', (name) => {
  const b = loadBackend(name);

  describe('ChaCha20-Poly1305', () => {
    it('RFC 8439 §2.8.2 seal', () => {
      expect(sealHex(b.aeadSeal, RFC8439_2_8_2)).toBe(RFC8439_2_8_2.sealed);
    });
    it('RFC 8439 §2.8.2 open', () => {
      expect(openHex(b.aeadOpen, RFC8439_2_8_2)).toBe(RFC8439_2_8_2.plaintext);
    });
    it('RFC 8439 §A.5 decryption (and the same bytes on seal)', () => {
      expect(openHex(b.aeadOpen, RFC8439_A_5)).toBe(RFC8439_A_5.plaintext);
      expect(sealHex(b.aeadSeal, RFC8439_A_5)).toBe(RFC8439_A_5.sealed);
    });
  });

  describe('XChaCha20-Poly1305', () => {
    it('draft-irtf-cfrg-xchacha-03 §A.3.1 seal and open', () => {
      expect(sealHex(b.xaeadSeal, XCHACHA_A_3_1)).toBe(XCHACHA_A_3_1.sealed);
      expect(openHex(b.xaeadOpen, XCHACHA_A_3_1)).toBe(XCHACHA_A_3_1.plaintext);
    });
  });

  describe('X25519', () => {
    it.each(RFC7748_5_2)('$source', (v) => {
      expect(toHex(b.x25519(fromHex(v.scalar), fromHex(v.u))!)).toBe(v.result);
    });

    it('RFC 7748 §5.2 iterated: 1 and 1,000 iterations', () => {
      let k = fromHex(RFC7748_ITERATED.start);
      let u = fromHex(RFC7748_ITERATED.start);
      for (let i = 1; i <= 1000; i++) {
        const next = b.x25519(k, u)!;
        u = k;
        k = next;
        if (i === 1) expect(toHex(k)).toBe(RFC7748_ITERATED.after1);
      }
      expect(toHex(k)).toBe(RFC7748_ITERATED.after1000);
    });

    it('RFC 7748 §6.1 Diffie-Hellman', () => {
      const v = RFC7748_6_1;
      expect(toHex(b.x25519PublicKey(fromHex(v.alicePrivate)))).toBe(v.alicePublic);
      expect(toHex(b.x25519PublicKey(fromHex(v.bobPrivate)))).toBe(v.bobPublic);
      expect(toHex(b.x25519(fromHex(v.alicePrivate), fromHex(v.bobPublic))!)).toBe(v.shared);
      expect(toHex(b.x25519(fromHex(v.bobPrivate), fromHex(v.alicePublic))!)).toBe(v.shared);
    });
  });

  describe('BLAKE2s-256', () => {
    it.each(BLAKE2S_VECTORS)('$source', (v) => {
      expect(toHex(b.hash(fromHex(v.input)))).toBe(v.digest);
    });

    it('WireGuard initial chaining key matches a direct BLAKE2s computation', () => {
      const construction = new TextEncoder().encode('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
      const chainingKey = b.hash(construction);
      expect(toHex(chainingKey)).toBe('60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36');
      expect(chainingKey).toEqual(blake2s(construction));
    });

    it('hashes the concatenation of its parts', () => {
      const abc = BLAKE2S_VECTORS[0]!;
      expect(toHex(b.hash(fromHex('61'), new Uint8Array(0), fromHex('6263')))).toBe(abc.digest);
      expect(toHex(b.hash())).toBe(BLAKE2S_VECTORS[1]!.digest);
    });
  });

  describe('HMAC-BLAKE2s', () => {
    it.each(HMAC_BLAKE2S_VECTORS)('$source', (v) => {
      expect(toHex(b.hmac(fromHex(v.key!), fromHex(v.input)))).toBe(v.digest);
    });
  });

  describe('keyed BLAKE2s, 16-byte output (mac)', () => {
    it.each(BLAKE2S_MAC16_VECTORS)('$source', (v) => {
      const input = fromHex(v.input);
      expect(toHex(b.mac(fromHex(v.key!), input))).toBe(v.digest);
      // Split into two parts: same MAC.
      const cut = input.length >> 1;
      expect(toHex(b.mac(fromHex(v.key!), input.subarray(0, cut), input.subarray(cut)))).toBe(v.digest);
    });
  });
});
