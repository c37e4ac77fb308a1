/**
 * Every backend must produce identical bytes for identical inputs and honour the same contract
 * (backend.ts). noble is the reference the others are compared with.
 */
import { createHmac, getHashes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import type { CryptoBackend } from './backend.js';
import { availableBackends, backendStatus, loadBackend } from './select.js';
import { TAG_LENGTH, fromHex, toHex } from './util.js';
import { LOW_ORDER_POINTS, RFC7748_6_1 } from './vectors.js';

const names = availableBackends();
const backends = names.map((name) => loadBackend(name));
const noble = loadBackend('noble');

const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });
/** Short payloads (including empty) and full-MTU ones. */
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 80 }),
  fc.uint8Array({ minLength: 1280, maxLength: 1500 }),
);
const adBytes = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 64 }));

/** Copies `data` into a larger buffer at `offset` and returns that view (like a packet slab). */
function inSlab(data: Uint8Array, offset: number): Uint8Array {
  const slab = new Uint8Array(offset + data.length + 7).fill(0xa5);
  const view = slab.subarray(offset, offset + data.length);
  view.set(data);
  return view;
}

/** Whether the slab bytes around a view made by inSlab still hold their fill value. */
function guardsIntact(view: Uint8Array): boolean {
  const slab = new Uint8Array(view.buffer);
  const before = slab.subarray(0, view.byteOffset);
  const after = slab.subarray(view.byteOffset + view.length);
  return before.every((x) => x === 0xa5) && after.every((x) => x === 0xa5);
}

describe('backend availability', () => {
  it('noble always loads', () => {
    expect(names).toContain('noble');
  });

  it.runIf(process.platform === 'linux' && process.arch === 'x64' && !process.versions.electron)(
    'sodium and node load on Linux x64 Node (a broken install must fail here, not hide)',
    () => {
      expect(backendStatus()).toEqual([
        { name: 'sodium', available: true },
        { name: 'node', available: true },
        { name: 'noble', available: true },
      ]);
    },
  );
});

type AeadPair = Pick<CryptoBackend, 'aeadSeal' | 'aeadOpen'>;
const chacha = (b: CryptoBackend): AeadPair => ({ aeadSeal: b.aeadSeal, aeadOpen: b.aeadOpen });
const xchacha = (b: CryptoBackend): AeadPair => ({ aeadSeal: b.xaeadSeal, aeadOpen: b.xaeadOpen });

describe.each([
  { mode: 'ChaCha20-Poly1305', nonceLength: 12, pick: chacha },
  { mode: 'XChaCha20-Poly1305', nonceLength: 24, pick: xchacha },
])('$mode across backends', ({ nonceLength, pick }) => {
  it('identical ciphertext; each opens the others; tampered tag, body, AD or nonce give -1', () => {
    fc.assert(
      fc.property(
        bytes(32),
        bytes(nonceLength),
        payload,
        adBytes,
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (key, nonce, plaintext, ad, flipSeed, offset) => {
          const sealedLength = plaintext.length + TAG_LENGTH;
          const reference = new Uint8Array(sealedLength);
          expect(pick(noble).aeadSeal(key, nonce, plaintext, ad, reference)).toBe(sealedLength);

          for (const b of backends) {
            const aead = pick(b);
            // Inputs and outputs as unaligned subarrays of larger buffers, as on the data path.
            const out = inSlab(new Uint8Array(sealedLength), offset);
            const ptView = inSlab(plaintext, offset + 1);
            expect(aead.aeadSeal(inSlab(key, offset), inSlab(nonce, 3), ptView, inSlab(ad, 5), out)).toBe(
              sealedLength,
            );
            expect(toHex(out), b.name).toBe(toHex(reference));
            expect(guardsIntact(out), `${b.name} wrote outside out`).toBe(true);

            for (const sealer of backends) {
              const sealed = new Uint8Array(sealedLength);
              pick(sealer).aeadSeal(key, nonce, plaintext, ad, sealed);
              const opened = inSlab(new Uint8Array(plaintext.length), offset);
              expect(
                aead.aeadOpen(key, nonce, inSlab(sealed, offset + 2), ad, opened),
                `${sealer.name}→${b.name}`,
              ).toBe(plaintext.length);
              expect(toHex(opened)).toBe(toHex(plaintext));
              expect(guardsIntact(opened), `${b.name} wrote outside out`).toBe(true);
            }

            const scratch = new Uint8Array(Math.max(plaintext.length, 1));
            const tampered = reference.slice();
            tampered[flipSeed % tampered.length]! ^= 1 << (flipSeed % 8);
            expect(aead.aeadOpen(key, nonce, tampered, ad, scratch), `${b.name} tampered`).toBe(-1);
            const otherAd = new Uint8Array([...ad, 0]);
            expect(aead.aeadOpen(key, nonce, reference, otherAd, scratch), `${b.name} other AD`).toBe(-1);
            const otherNonce = nonce.slice();
            otherNonce[flipSeed % nonceLength]! ^= 0x80;
            expect(aead.aeadOpen(key, otherNonce, reference, ad, scratch), `${b.name} other nonce`).toBe(-1);
          }
        },
      ),
      { numRuns: 250 },
    );
  });

  it.each(names)('%s: inputs shorter than a tag give -1 without throwing', (name) => {
    const aead = pick(loadBackend(name));
    const key = new Uint8Array(32).fill(1);
    const nonce = new Uint8Array(nonceLength);
    for (let length = 0; length < TAG_LENGTH; length++) {
      expect(aead.aeadOpen(key, nonce, new Uint8Array(length), new Uint8Array(0), new Uint8Array(0))).toBe(
        -1,
      );
    }
  });

  it.each(names)('%s: writes only the needed prefix of a larger output and rejects a short one', (name) => {
    const aead = pick(loadBackend(name));
    const key = new Uint8Array(32).fill(2);
    const nonce = new Uint8Array(nonceLength).fill(3);
    const plaintext = new Uint8Array(100).fill(4);
    const out = new Uint8Array(200).fill(0xee);
    expect(aead.aeadSeal(key, nonce, plaintext, new Uint8Array(0), out)).toBe(116);
    expect(out.subarray(116).every((x) => x === 0xee)).toBe(true);
    const opened = new Uint8Array(150).fill(0xee);
    expect(aead.aeadOpen(key, nonce, out.subarray(0, 116), new Uint8Array(0), opened)).toBe(100);
    expect(opened.subarray(0, 100)).toEqual(plaintext);
    expect(opened.subarray(100).every((x) => x === 0xee)).toBe(true);

    expect(() => aead.aeadSeal(key, nonce, plaintext, new Uint8Array(0), new Uint8Array(115))).toThrow(
      RangeError,
    );
    expect(() =>
      aead.aeadOpen(key, nonce, out.subarray(0, 116), new Uint8Array(0), new Uint8Array(99)),
    ).toThrow(RangeError);
  });

  it.each(names)(
    '%s: a wrong key or nonce length is a RangeError (a caller bug), in seal and open',
    (name) => {
      const aead = pick(loadBackend(name));
      const ok = { key: new Uint8Array(32), nonce: new Uint8Array(nonceLength) };
      const none = new Uint8Array(0);
      for (const [key, nonce] of [
        [new Uint8Array(31), ok.nonce],
        [ok.key, new Uint8Array(nonceLength === 12 ? 24 : 12)],
      ] as const) {
        expect(() => aead.aeadSeal(key, nonce, none, none, new Uint8Array(16))).toThrow(RangeError);
        expect(() => aead.aeadOpen(key, nonce, new Uint8Array(16), none, none)).toThrow(RangeError);
        expect(() => aead.aeadOpen(key, nonce, new Uint8Array(3), none, none)).toThrow(RangeError);
      }
    },
  );

  it.each(names)('%s: a failed open never leaves the plaintext in the output', (name) => {
    const aead = pick(loadBackend(name));
    const key = new Uint8Array(32).fill(5);
    const nonce = new Uint8Array(nonceLength);
    const plaintext = new Uint8Array(64).fill(0x42);
    const sealed = new Uint8Array(80);
    aead.aeadSeal(key, nonce, plaintext, new Uint8Array(0), sealed);
    sealed[79]! ^= 1;
    const out = new Uint8Array(64);
    expect(aead.aeadOpen(key, nonce, sealed, new Uint8Array(0), out)).toBe(-1);
    expect(out.some((x) => x === 0x42)).toBe(false);
  });
});

describe('X25519 across backends', () => {
  it('identical public keys and shared secrets for random keys (incl. top bit set on the public key)', () => {
    fc.assert(
      fc.property(bytes(32), bytes(32), (privateKey, publicKey) => {
        const publicRef = toHex(noble.x25519PublicKey(privateKey));
        const sharedRef = noble.x25519(privateKey, publicKey);
        for (const b of backends) {
          expect(toHex(b.x25519PublicKey(privateKey)), b.name).toBe(publicRef);
          const shared = b.x25519(privateKey, publicKey);
          expect(shared === null ? null : toHex(shared), b.name).toBe(
            sharedRef === null ? null : toHex(sharedRef),
          );
        }
      }),
      { numRuns: 40 },
    );
  });

  it('Diffie-Hellman agrees in both directions between every pair of backends', () => {
    const a = noble.randomBytes(32);
    const c = noble.randomBytes(32);
    for (const x of backends) {
      for (const y of backends) {
        expect(toHex(x.x25519(a, y.x25519PublicKey(c))!)).toBe(toHex(y.x25519(c, x.x25519PublicKey(a))!));
      }
    }
  });

  it('non-canonical u-coordinates (p+2 … 2^255-1) are reduced mod p, not rejected', () => {
    const privateKey = fromHex(RFC7748_6_1.alicePrivate);
    for (const low of [0xef, 0xf0, 0xfe, 0xff]) {
      const nonCanonical = fromHex(low.toString(16) + 'ff'.repeat(30) + '7f');
      const reduced = new Uint8Array(32);
      reduced[0] = low - 0xed; // (2^255 - 19) + k  ≡  k  (mod p)
      const expected = toHex(noble.x25519(privateKey, reduced)!);
      for (const b of backends) expect(toHex(b.x25519(privateKey, nonCanonical)!), b.name).toBe(expected);
    }
  });

  it.each(names)('%s: low-order public keys give null, never a throw', (name) => {
    const b = loadBackend(name);
    const privateKeys = [
      fromHex(RFC7748_6_1.alicePrivate),
      new Uint8Array(32),
      new Uint8Array(32).fill(0xff),
    ];
    for (const privateKey of privateKeys) {
      for (const point of LOW_ORDER_POINTS) {
        expect(b.x25519(privateKey, fromHex(point)), point).toBeNull();
      }
    }
  });

  it.each(names)('%s: a key overwritten in place is not served from a stale cache', (name) => {
    const b = loadBackend(name);
    const privateKey = fromHex(RFC7748_6_1.alicePrivate);
    const publicKey = fromHex(RFC7748_6_1.bobPublic);
    expect(toHex(b.x25519(privateKey, publicKey)!)).toBe(RFC7748_6_1.shared);
    privateKey.set(fromHex(RFC7748_6_1.bobPrivate));
    publicKey.set(fromHex(RFC7748_6_1.alicePublic));
    expect(toHex(b.x25519(privateKey, publicKey)!)).toBe(RFC7748_6_1.shared);
    expect(toHex(b.x25519PublicKey(privateKey))).toBe(RFC7748_6_1.bobPublic);
  });
});

describe('BLAKE2s functions across backends', () => {
  const parts = fc.array(fc.oneof(fc.uint8Array({ maxLength: 70 }), fc.uint8Array({ maxLength: 300 })), {
    maxLength: 5,
  });

  it('kdf equals the HMAC chain of the paper (τ0 = HMAC(key, input), τi = HMAC(τ0, τi−1 ‖ i))', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 80 }),
        fc.uint8Array({ maxLength: 100 }),
        fc.constantFrom(1 as const, 2 as const, 3 as const),
        (key, input, count) => {
          const t0 = nobleHmac(blake2s, key, input);
          const expected: string[] = [];
          let previous = new Uint8Array(0);
          for (let i = 1; i <= count; i++) {
            const message = new Uint8Array(previous.length + 1);
            message.set(previous);
            message[previous.length] = i;
            previous = nobleHmac(blake2s, t0, message);
            expected.push(toHex(previous));
          }
          for (const b of backends) expect(b.kdf(key, input, count).map(toHex), b.name).toEqual(expected);
        },
      ),
    );
  });

  it('hash, hmac and mac agree with noble and treat parts as one concatenated message', () => {
    fc.assert(
      fc.property(
        parts,
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        (msgParts, hmacKey, macKey) => {
          const joined = new Uint8Array(msgParts.reduce((n, p) => n + p.length, 0));
          let at = 0;
          for (const p of msgParts) {
            joined.set(p, at);
            at += p.length;
          }
          const hash = toHex(blake2s(joined));
          const hmac = toHex(nobleHmac(blake2s, hmacKey, joined));
          const mac = toHex(blake2s(joined, { key: macKey, dkLen: 16 }));
          for (const b of backends) {
            expect(toHex(b.hash(...msgParts)), b.name).toBe(hash);
            expect(toHex(b.hmac(hmacKey, ...msgParts)), b.name).toBe(hmac);
            expect(toHex(b.mac(macKey, ...msgParts)), b.name).toBe(mac);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it.runIf(getHashes().includes('blake2s256'))('noble HMAC-BLAKE2s equals node:crypto createHmac', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 150 }), fc.uint8Array({ maxLength: 300 }), (key, message) => {
        const node = createHmac('blake2s256', key).update(message).digest('hex');
        expect(toHex(nobleHmac(blake2s, key, message))).toBe(node);
      }),
      { numRuns: 200 },
    );
  });

  it.each(names)('%s: outputs are plain Uint8Arrays of the right length', (name) => {
    const b = loadBackend(name);
    const key = new Uint8Array(32).fill(9);
    for (const [value, length] of [
      [b.hash(key), 32],
      [b.hmac(key, key), 32],
      [b.mac(key, key), 16],
      [b.x25519PublicKey(key), 32],
      [b.x25519(key, fromHex(RFC7748_6_1.bobPublic)), 32],
      [b.randomBytes(48), 48],
    ] as const) {
      expect(value?.constructor).toBe(Uint8Array);
      expect(value?.length).toBe(length);
    }
  });
});

describe.each(names)('%s: randomBytes', (name) => {
  it('returns distinct, non-zero buffers of the requested length', () => {
    const b = loadBackend(name);
    expect(b.randomBytes(0).length).toBe(0);
    const x = b.randomBytes(32);
    const y = b.randomBytes(32);
    expect(x.length).toBe(32);
    expect(toHex(x)).not.toBe(toHex(y));
    expect(x.some((v) => v !== 0)).toBe(true);
  });

  it('never repeats bytes across many draws of mixed sizes (sodium serves small ones from a pool)', () => {
    const b = loadBackend(name);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      for (const length of [32, 24, 7, 300, 2048]) {
        const bytes = b.randomBytes(length);
        expect(bytes.length).toBe(length);
        // Any 7 bytes repeated by chance: 2^-56 per pair; a pool handing out bytes twice would.
        const key = toHex(bytes.subarray(0, 7));
        expect(seen.has(key)).toBe(false);
        seen.add(key);
      }
    }
  });
});
