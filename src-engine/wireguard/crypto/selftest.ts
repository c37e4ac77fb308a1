/**
 * A quick known-answer check run once when a backend is loaded (about 0.1 ms for the native
 * backends, a few ms for noble): it catches a broken native build or a crypto library that
 * behaves differently before the backend touches real traffic.
 */
import type { CryptoBackend } from './backend.js';
import { TAG_LENGTH, fromHex, toHex } from './util.js';
import {
  BLAKE2S_MAC16_VECTORS,
  BLAKE2S_VECTORS,
  HMAC_BLAKE2S_VECTORS,
  LOW_ORDER_POINTS,
  RFC7748_6_1,
  RFC8439_2_8_2,
  XCHACHA_A_3_1,
  type AeadVector,
} from './vectors.js';

function checkAead(
  backend: CryptoBackend,
  vector: AeadVector,
  seal: CryptoBackend['aeadSeal'],
  open: CryptoBackend['aeadOpen'],
): string | undefined {
  const key = fromHex(vector.key);
  const nonce = fromHex(vector.nonce);
  const ad = fromHex(vector.ad);
  const plaintext = fromHex(vector.plaintext);
  const sealed = new Uint8Array(plaintext.length + TAG_LENGTH);
  if (
    seal.call(backend, key, nonce, plaintext, ad, sealed) !== sealed.length ||
    toHex(sealed) !== vector.sealed
  ) {
    return `${vector.source} seal mismatch`;
  }
  const opened = new Uint8Array(plaintext.length);
  if (
    open.call(backend, key, nonce, sealed, ad, opened) !== plaintext.length ||
    toHex(opened) !== vector.plaintext
  ) {
    return `${vector.source} open mismatch`;
  }
  sealed[sealed.length - 1]! ^= 1;
  if (open.call(backend, key, nonce, sealed, ad, opened) !== -1)
    return `${vector.source} accepted a forged tag`;
  return undefined;
}

/** Returns a description of the first failed check, or undefined when every check passes. */
export function selfTest(backend: CryptoBackend): string | undefined {
  try {
    const aead =
      checkAead(backend, RFC8439_2_8_2, backend.aeadSeal, backend.aeadOpen) ??
      checkAead(backend, XCHACHA_A_3_1, backend.xaeadSeal, backend.xaeadOpen);
    if (aead !== undefined) return aead;

    const dh = RFC7748_6_1;
    if (toHex(backend.x25519PublicKey(fromHex(dh.alicePrivate))) !== dh.alicePublic) {
      return `${dh.source} public key mismatch`;
    }
    const shared = backend.x25519(fromHex(dh.alicePrivate), fromHex(dh.bobPublic));
    if (shared === null || toHex(shared) !== dh.shared) return `${dh.source} shared secret mismatch`;
    if (backend.x25519(fromHex(dh.alicePrivate), fromHex(LOW_ORDER_POINTS[2]!)) !== null) {
      return 'X25519 accepted a low-order public key';
    }

    const hash = BLAKE2S_VECTORS[0]!;
    if (toHex(backend.hash(fromHex(hash.input))) !== hash.digest) return `BLAKE2s ${hash.source} mismatch`;
    const hmac = HMAC_BLAKE2S_VECTORS[0]!;
    if (toHex(backend.hmac(fromHex(hmac.key!), fromHex(hmac.input))) !== hmac.digest) {
      return `HMAC-BLAKE2s ${hmac.source} mismatch`;
    }
    const mac = BLAKE2S_MAC16_VECTORS[0]!;
    if (toHex(backend.mac(fromHex(mac.key!), fromHex(mac.input))) !== mac.digest) {
      return `keyed BLAKE2s-128 ${mac.source} mismatch`;
    }
    if (backend.randomBytes(16).length !== 16) return 'randomBytes returned the wrong length';
  } catch (error) {
    return `self-test threw: ${error instanceof Error ? error.message : String(error)}`;
  }
  return undefined;
}
