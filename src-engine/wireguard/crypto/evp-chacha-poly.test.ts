/**
 * OpenSSL's ChaCha20-Poly1305 through the evp-aead addon: present on Linux Node (a broken build
 * must fail here, not quietly fall back), RFC 8439's bytes (checked against @noble), safe with
 * any aliasing of input and output, strict about sizes, and one context set per thread.
 */
import { createRequire } from 'node:module';
import type * as EvpAead from 'evp-aead';
import { Worker } from 'node:worker_threads';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { evpAeadStatus, loadEvpChaChaPoly } from './evp-chacha-poly.js';
import { loadBackend } from './select.js';
import { toHex } from './util.js';

const evp = createRequire(import.meta.url)('evp-aead') as typeof EvpAead;
const onLinuxNode = process.platform === 'linux' && !process.versions.electron;

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const nonce = fc.uint8Array({ minLength: 12, maxLength: 12 });
const data = fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ minLength: 1200, maxLength: 2100 }));
const ad = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 48 }));

describe.runIf(onLinuxNode)('evp-aead', () => {
  afterEach(() => {
    delete process.env.FZ_EVP_AEAD;
  });

  it("finds Node's OpenSSL and the sodium backend uses it", () => {
    expect({ available: evp.available, reason: evp.reason, source: evp.source }).toEqual({
      available: true,
      reason: '',
      source: 'process',
    });
    loadBackend('sodium');
    expect(evpAeadStatus).toBe('OpenSSL (process)');
  });

  it('seals as @noble does and opens what it seals; a flipped bit gives -1 and a zeroed output', () => {
    fc.assert(
      fc.property(key, nonce, data, ad, fc.nat(), (k, n, plaintext, a, seed) => {
        const expected = chacha20poly1305(k, n, a).encrypt(plaintext);
        const out = new Uint8Array(plaintext.length + 16 + 4).fill(0xee);
        expect(evp.seal(k, n, plaintext, a, out)).toBe(plaintext.length + 16);
        expect(toHex(out.subarray(0, expected.length))).toBe(toHex(expected));
        expect(out.subarray(expected.length).every((x) => x === 0xee)).toBe(true);

        const opened = new Uint8Array(plaintext.length + 4).fill(0xee);
        expect(evp.open(k, n, expected, a, opened)).toBe(plaintext.length);
        expect(toHex(opened.subarray(0, plaintext.length))).toBe(toHex(plaintext));
        expect(opened.subarray(plaintext.length).every((x) => x === 0xee)).toBe(true);

        const flipped = expected.slice();
        flipped[seed % flipped.length]! ^= 1 << (seed % 8);
        expect(evp.open(k, n, flipped, a, opened)).toBe(-1);
        expect(opened.subarray(0, plaintext.length).every((x) => x === 0)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('works in place and when input and output overlap by any offset', () => {
    fc.assert(
      fc.property(key, nonce, data, fc.integer({ min: -40, max: 40 }), (k, n, plaintext, shift) => {
        const expected = chacha20poly1305(k, n).encrypt(plaintext);
        const slab = new Uint8Array(plaintext.length + 16 + 100);
        const inAt = 50;
        slab.set(plaintext, inAt);
        const sealedAt = inAt + shift;
        const sealed = slab.subarray(sealedAt, sealedAt + plaintext.length + 16);
        evp.seal(k, n, slab.subarray(inAt, inAt + plaintext.length), new Uint8Array(0), sealed);
        expect(toHex(sealed)).toBe(toHex(expected));
        const openedAt = sealedAt - shift;
        const opened = slab.subarray(openedAt, openedAt + plaintext.length);
        expect(evp.open(k, n, sealed, new Uint8Array(0), opened)).toBe(plaintext.length);
        expect(toHex(opened)).toBe(toHex(plaintext));
      }),
      { numRuns: 200 },
    );
  });

  it('refuses wrong sizes and argument types with a clear error', () => {
    const k = new Uint8Array(32);
    const n = new Uint8Array(12);
    const none = new Uint8Array(0);
    expect(() => evp.seal(new Uint8Array(31), n, none, none, new Uint8Array(16))).toThrow(
      new RangeError('AEAD key must be 32 bytes'),
    );
    expect(() => evp.seal(k, new Uint8Array(24), none, none, new Uint8Array(16))).toThrow(
      new RangeError('AEAD nonce must be 12 bytes'),
    );
    expect(() => evp.seal(k, n, new Uint8Array(10), none, new Uint8Array(25))).toThrow(
      new RangeError('output buffer too small'),
    );
    expect(() => evp.open(k, n, new Uint8Array(30), none, new Uint8Array(13))).toThrow(RangeError);
    expect(() => evp.seal(k, n, 'text' as unknown as Uint8Array, none, new Uint8Array(32))).toThrow(
      TypeError,
    );
    expect(() =>
      evp.seal(k, n, new Uint16Array(4) as unknown as Uint8Array, none, new Uint8Array(32)),
    ).toThrow(TypeError);
    expect(evp.open(k, n, new Uint8Array(15), none, none)).toBe(-1);
  });

  it('FZ_EVP_AEAD=0 keeps libsodium', () => {
    process.env.FZ_EVP_AEAD = '0';
    const reference = loadBackend('noble');
    expect(loadEvpChaChaPoly(reference)).toBeUndefined();
    expect(evpAeadStatus).toBe('off (FZ_EVP_AEAD=0)');
  });

  it('is not used when it disagrees with the reference', () => {
    const noble = loadBackend('noble');
    const wrong: Parameters<typeof loadEvpChaChaPoly>[0] = {
      aeadSeal: (k, n, p, a, out) => {
        const length = noble.aeadSeal(k, n, p, a, out);
        out[0]! ^= 1;
        return length;
      },
      aeadOpen: noble.aeadOpen,
    };
    expect(loadEvpChaChaPoly(wrong)).toBeUndefined();
    expect(evpAeadStatus).toBe('evp-aead disagrees with libsodium; not used');
  });

  it('gives each thread its own contexts: two workers and the main thread seal at once', async () => {
    const script = `
      const { parentPort, workerData } = require('node:worker_threads');
      const evp = require(workerData.path);
      const key = new Uint8Array(32).fill(workerData.id), nonce = new Uint8Array(12), none = new Uint8Array(0);
      const p = new Uint8Array(1400).fill(workerData.id), out = new Uint8Array(1416), back = new Uint8Array(1400);
      let ok = 0;
      for (let i = 0; i < 20000; i++) {
        nonce[0] = i & 0xff; nonce[1] = i >> 8;
        evp.seal(key, nonce, p, none, out);
        if (evp.open(key, nonce, out, none, back) === 1400 && back[1399] === workerData.id) ok++;
      }
      parentPort.postMessage(ok);
    `;
    const path = createRequire(import.meta.url).resolve('evp-aead');
    const run = (id: number): Promise<number> =>
      new Promise((resolve, reject) => {
        const w = new Worker(script, { eval: true, workerData: { path, id } });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const workers = [run(1), run(2)];
    const k = new Uint8Array(32).fill(9);
    const out = new Uint8Array(1416);
    const back = new Uint8Array(1400);
    let mainOk = 0;
    for (let i = 0; i < 5000; i++) {
      const n = Uint8Array.of(i & 0xff, i >> 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
      evp.seal(k, n, new Uint8Array(1400).fill(9), new Uint8Array(0), out);
      if (evp.open(k, n, out, new Uint8Array(0), back) === 1400) mainOk++;
    }
    expect(await Promise.all(workers)).toEqual([20000, 20000]);
    expect(mainOk).toBe(5000);
  });
});
