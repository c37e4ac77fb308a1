/**
 * Reference backend: pure JavaScript (@noble/*). Always loads, including under Electron whose
 * BoringSSL lacks ChaCha20-Poly1305. Slowest of the three; the others must match it byte for byte.
 */
import { randomFillSync } from 'node:crypto';
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import type { CryptoBackend } from './backend.js';
import { nobleHashing } from './hashing.js';
import { TAG_LENGTH, X25519_LENGTH, checkAeadArgs, checkLength, isAllZero } from './util.js';

type AeadConstructor = typeof chacha20poly1305;

function seal(
  aead: AeadConstructor,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): number {
  const length = plaintext.length + TAG_LENGTH;
  checkAeadArgs(key, nonce, aead.nonceLength, out, length);
  // noble writes into `out` (exactly sized view) and encrypts in place there: no extra copy.
  aead(key, nonce, ad).encrypt(plaintext, out.length === length ? out : out.subarray(0, length));
  return length;
}

function open(
  aead: AeadConstructor,
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): number {
  const length = ciphertext.length - TAG_LENGTH;
  checkAeadArgs(key, nonce, aead.nonceLength, out, Math.max(length, 0));
  if (length < 0) return -1;
  const cipher = aead(key, nonce, ad);
  try {
    // noble verifies the tag before it writes anything into `out`.
    cipher.decrypt(ciphertext, out.length === length ? out : out.subarray(0, length));
  } catch {
    return -1;
  }
  return length;
}

function sharedSecret(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null {
  checkLength(privateKey, X25519_LENGTH, 'X25519 private key');
  checkLength(publicKey, X25519_LENGTH, 'X25519 public key');
  let secret: Uint8Array;
  try {
    // noble throws for the low-order u-coordinates (whose result would be all zeros).
    secret = x25519.getSharedSecret(privateKey, publicKey);
  } catch {
    return null;
  }
  return isAllZero(secret) ? null : secret;
}

/** XChaCha20-Poly1305 from noble, shared with node.ts (node:crypto has no XChaCha). */
export const nobleXaead: Pick<CryptoBackend, 'xaeadSeal' | 'xaeadOpen'> = {
  xaeadSeal: (key, nonce, plaintext, ad, out) => seal(xchacha20poly1305, key, nonce, plaintext, ad, out),
  xaeadOpen: (key, nonce, ciphertext, ad, out) => open(xchacha20poly1305, key, nonce, ciphertext, ad, out),
};

export function createNobleBackend(): CryptoBackend {
  return {
    name: 'noble',
    aeadSeal: (key, nonce, plaintext, ad, out) => seal(chacha20poly1305, key, nonce, plaintext, ad, out),
    aeadOpen: (key, nonce, ciphertext, ad, out) => open(chacha20poly1305, key, nonce, ciphertext, ad, out),
    ...nobleXaead,
    x25519PublicKey(privateKey) {
      checkLength(privateKey, X25519_LENGTH, 'X25519 private key');
      return x25519.getPublicKey(privateKey);
    },
    x25519: sharedSecret,
    ...nobleHashing,
    randomBytes: (length) => randomFillSync(new Uint8Array(length)),
  };
}
