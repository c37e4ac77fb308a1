/**
 * ChaCha20-Poly1305 through OpenSSL (the `evp-aead` addon, native/evp-aead): the fastest AEAD we
 * have where Node's OpenSSL is in the process, ≈ 1.1 µs per full-size
 * packet against ≈ 1.6 µs for libsodium's strided path and ≈ 2.1 µs for its AEAD
 * (docs/performance.md). The sodium backend uses it for ChaCha20-Poly1305 when it is available
 * and agrees with libsodium on a self-check at load; Electron (BoringSSL, nothing exported) and
 * machines without OpenSSL 3 keep libsodium. `FZ_EVP_AEAD=0` turns it off (for comparisons).
 */
import { createRequire } from 'node:module';
import type * as EvpAeadModule from 'evp-aead';
import type { CryptoBackend } from './backend.js';

type Aead = Pick<CryptoBackend, 'aeadSeal' | 'aeadOpen'>;

/** Why OpenSSL's AEAD is not used in this process ('' when it is), for status and logs. */
export let evpAeadStatus = 'not loaded';

/**
 * OpenSSL's ChaCha20-Poly1305 when it loads and seals and opens exactly as `reference` does on a
 * few inputs (empty, small with AD, full-size, a tampered tag); undefined otherwise.
 */
export function loadEvpChaChaPoly(reference: Aead): Aead | undefined {
  if (process.env.FZ_EVP_AEAD === '0') {
    evpAeadStatus = 'off (FZ_EVP_AEAD=0)';
    return undefined;
  }
  let mod: typeof EvpAeadModule;
  try {
    mod = createRequire(import.meta.url)('evp-aead') as typeof EvpAeadModule;
  } catch (cause) {
    evpAeadStatus = `evp-aead failed to load: ${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}`;
    return undefined;
  }
  if (!mod.available) {
    evpAeadStatus = `evp-aead unavailable: ${mod.reason}`;
    return undefined;
  }
  const evp: Aead = { aeadSeal: mod.seal, aeadOpen: mod.open };
  if (!agrees(evp, reference)) {
    evpAeadStatus = 'evp-aead disagrees with libsodium; not used';
    return undefined;
  }
  evpAeadStatus = `OpenSSL (${mod.source})`;
  return evp;
}

/** Both directions, both ways round, with and without AD; a flipped tag bit must be refused. */
function agrees(evp: Aead, reference: Aead): boolean {
  const key = Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 7) & 0xff);
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => (i * 13 + 1) & 0xff);
  for (const [length, adLength] of [
    [0, 0],
    [60, 32],
    [1436, 0],
  ] as const) {
    const plaintext = Uint8Array.from({ length }, (_, i) => (i * 7 + 3) & 0xff);
    const ad = Uint8Array.from({ length: adLength }, (_, i) => i);
    const ours = new Uint8Array(length + 16);
    const theirs = new Uint8Array(length + 16);
    if (evp.aeadSeal(key, nonce, plaintext, ad, ours) !== length + 16) return false;
    reference.aeadSeal(key, nonce, plaintext, ad, theirs);
    if (!ours.every((x, i) => x === theirs[i])) return false;
    const opened = new Uint8Array(length);
    if (evp.aeadOpen(key, nonce, theirs, ad, opened) !== length) return false;
    if (!opened.every((x, i) => x === plaintext[i])) return false;
    theirs[length]! ^= 1;
    if (evp.aeadOpen(key, nonce, theirs, ad, opened) !== -1) return false;
  }
  return true;
}
