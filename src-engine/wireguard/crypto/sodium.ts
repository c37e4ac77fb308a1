/**
 * sodium-native backend: ChaCha20-Poly1305, XChaCha20-Poly1305 and X25519 from libsodium (native,
 * one N-API call per operation, writes straight into the caller's buffer). libsodium has no
 * BLAKE2s, so hash, HMAC and the keyed 16-byte MAC come from our own (`blake2s.ts`, via
 * hashing.ts).
 *
 * sodium-native is loaded lazily through createRequire: a missing or broken native module makes
 * this backend unavailable instead of breaking the import of the engine. sodium-native 5 takes
 * any Uint8Array view (it reads buffer/byteOffset/byteLength), so subarrays of a packet slab are
 * passed as they are, without Buffer wrapping.
 */
import { createRequire } from 'node:module';
import type { CryptoBackend } from './backend.js';
import { loadEvpChaChaPoly } from './evp-chacha-poly.js';
import { blake2sHashing } from './hashing.js';
import {
  MAX_STRIDED_LENGTH,
  MIN_STRIDED_LENGTH,
  createStridedChaChaPoly,
  type ChaChaPolyPrimitives,
} from './strided-chacha-poly.js';
import {
  BackendUnavailableError,
  TAG_LENGTH,
  X25519_LENGTH,
  checkLength,
  checkAeadArgs,
  isAllZero,
} from './util.js';

/** The part of sodium-native's API this backend uses (the package ships no typings). */
interface SodiumNative {
  crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_xchacha20poly1305_ietf_encrypt: SodiumNative['crypto_aead_chacha20poly1305_ietf_encrypt'];
  crypto_aead_xchacha20poly1305_ietf_decrypt: SodiumNative['crypto_aead_chacha20poly1305_ietf_decrypt'];
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  // For the strided AEAD of full-size packets (strided-chacha-poly.ts); optional: without them
  // every packet goes through libsodium's AEAD.
  crypto_stream_chacha20_ietf_xor_ic?: ChaChaPolyPrimitives['crypto_stream_chacha20_ietf_xor_ic'];
  crypto_onetimeauth?: ChaChaPolyPrimitives['crypto_onetimeauth'];
  crypto_onetimeauth_verify?: ChaChaPolyPrimitives['crypto_onetimeauth_verify'];
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  randombytes_buf(buffer: Uint8Array): void;
}

const REQUIRED_FUNCTIONS: readonly (keyof SodiumNative)[] = [
  'crypto_aead_chacha20poly1305_ietf_encrypt',
  'crypto_aead_chacha20poly1305_ietf_decrypt',
  'crypto_aead_xchacha20poly1305_ietf_encrypt',
  'crypto_aead_xchacha20poly1305_ietf_decrypt',
  'crypto_scalarmult',
  'crypto_scalarmult_base',
  'randombytes_buf',
];

let loaded: { readonly sodium: SodiumNative } | { readonly error: BackendUnavailableError } | undefined;

/** Loads sodium-native once; throws BackendUnavailableError (with the cause) when it cannot. */
function loadSodium(): SodiumNative {
  if (loaded === undefined) {
    try {
      const mod: unknown = createRequire(import.meta.url)('sodium-native');
      const missing = REQUIRED_FUNCTIONS.filter(
        (fn) => typeof (mod as Record<string, unknown>)[fn] !== 'function',
      );
      loaded =
        missing.length === 0
          ? { sodium: mod as SodiumNative }
          : { error: new BackendUnavailableError(`sodium-native lacks ${missing.join(', ')}`) };
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
      loaded = { error: new BackendUnavailableError(`sodium-native failed to load: ${reason}`, { cause }) };
    }
  }
  if ('error' in loaded) throw loaded.error;
  return loaded.sodium;
}

type Encrypt = SodiumNative['crypto_aead_chacha20poly1305_ietf_encrypt'];
type Decrypt = SodiumNative['crypto_aead_chacha20poly1305_ietf_decrypt'];

function seal(
  encrypt: Encrypt,
  nonceLength: number,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): number {
  const length = plaintext.length + TAG_LENGTH;
  checkAeadArgs(key, nonce, nonceLength, out, length);
  // sodium-native wants the output to be exactly m.length + ABYTES.
  return encrypt(out.length === length ? out : out.subarray(0, length), plaintext, ad, null, nonce, key);
}

function open(
  decrypt: Decrypt,
  nonceLength: number,
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): number {
  const length = ciphertext.length - TAG_LENGTH;
  checkAeadArgs(key, nonce, nonceLength, out, Math.max(length, 0));
  if (length < 0) return -1;
  try {
    // Throws "could not verify data" on a bad tag; libsodium verifies before decrypting.
    return decrypt(out.length === length ? out : out.subarray(0, length), null, ciphertext, ad, nonce, key);
  } catch {
    return -1;
  }
}

/** Bytes of randomness fetched from the kernel at once. */
const RANDOM_POOL_SIZE = 1024;

/**
 * randombytes_buf makes one getrandom(2) system call per call (≈ 2 µs, and a chance for the
 * scheduler to switch away on a busy machine); a handshake needs 32 bytes for its ephemeral key.
 * Small requests are served from a pool filled by one call per 1 KiB; bytes handed out are
 * wiped from the pool at once, so it never holds a key that is in use.
 */
function randomPool(sodium: SodiumNative): (length: number) => Uint8Array {
  const pool = new Uint8Array(RANDOM_POOL_SIZE);
  let position = RANDOM_POOL_SIZE;
  return (length) => {
    const bytes = new Uint8Array(length);
    if (length > RANDOM_POOL_SIZE / 4) {
      sodium.randombytes_buf(bytes);
      return bytes;
    }
    if (position + length > RANDOM_POOL_SIZE) {
      sodium.randombytes_buf(pool);
      position = 0;
    }
    for (let i = 0; i < length; i++) bytes[i] = pool[position + i]!;
    pool.fill(0, position, position + length);
    position += length;
    return bytes;
  };
}

/** The strided AEAD when this sodium-native has its primitives (FZ_STRIDED_AEAD=0 turns it off). */
function stridedOf(sodium: SodiumNative) {
  const {
    crypto_stream_chacha20_ietf_xor_ic: xor,
    crypto_onetimeauth: mac,
    crypto_onetimeauth_verify: verify,
  } = sodium;
  if (!xor || !mac || !verify || process.env.FZ_STRIDED_AEAD === '0') return undefined;
  return createStridedChaChaPoly({
    crypto_stream_chacha20_ietf_xor_ic: xor,
    crypto_onetimeauth: mac,
    crypto_onetimeauth_verify: verify,
  });
}

export function createSodiumBackend(): CryptoBackend {
  const sodium = loadSodium();
  const {
    crypto_aead_chacha20poly1305_ietf_encrypt: encrypt,
    crypto_aead_chacha20poly1305_ietf_decrypt: decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt: xencrypt,
    crypto_aead_xchacha20poly1305_ietf_decrypt: xdecrypt,
  } = sodium;

  const strided = stridedOf(sodium);
  // Full-size transport packets (empty AD) take the strided path; the rest libsodium's AEAD.
  const useStrided = (ad: Uint8Array, length: number): boolean =>
    strided !== undefined && ad.length === 0 && length >= MIN_STRIDED_LENGTH && length <= MAX_STRIDED_LENGTH;
  const libsodium: Pick<CryptoBackend, 'aeadSeal' | 'aeadOpen'> = {
    aeadSeal(key, nonce, plaintext, ad, out) {
      if (!useStrided(ad, plaintext.length)) return seal(encrypt, 12, key, nonce, plaintext, ad, out);
      checkAeadArgs(key, nonce, 12, out, plaintext.length + TAG_LENGTH);
      return strided!.seal(key, nonce, plaintext, out);
    },
    aeadOpen(key, nonce, ciphertext, ad, out) {
      const length = ciphertext.length - TAG_LENGTH;
      if (!useStrided(ad, length)) return open(decrypt, 12, key, nonce, ciphertext, ad, out);
      checkAeadArgs(key, nonce, 12, out, length);
      return strided!.open(key, nonce, ciphertext, out);
    },
  };
  // OpenSSL's ChaCha20-Poly1305 where the process has it (evp-chacha-poly.ts), else libsodium's.
  const chachaPoly = loadEvpChaChaPoly(libsodium) ?? libsodium;

  return {
    name: 'sodium',
    aeadSeal: chachaPoly.aeadSeal,
    aeadOpen: chachaPoly.aeadOpen,
    xaeadSeal: (key, nonce, plaintext, ad, out) => seal(xencrypt, 24, key, nonce, plaintext, ad, out),
    xaeadOpen: (key, nonce, ciphertext, ad, out) => open(xdecrypt, 24, key, nonce, ciphertext, ad, out),
    x25519PublicKey(privateKey) {
      checkLength(privateKey, X25519_LENGTH, 'X25519 private key');
      const publicKey = new Uint8Array(X25519_LENGTH);
      sodium.crypto_scalarmult_base(publicKey, privateKey);
      return publicKey;
    },
    x25519(privateKey, publicKey) {
      checkLength(privateKey, X25519_LENGTH, 'X25519 private key');
      checkLength(publicKey, X25519_LENGTH, 'X25519 public key');
      const secret = new Uint8Array(X25519_LENGTH);
      try {
        // libsodium rejects low-order points (and an all-zero result) with status -1, which
        // sodium-native turns into a thrown Error.
        sodium.crypto_scalarmult(secret, privateKey, publicKey);
      } catch {
        return null;
      }
      return isAllZero(secret) ? null : secret;
    },
    ...blake2sHashing,
    randomBytes: randomPool(sodium),
  };
}
