/**
 * node:crypto backend: ChaCha20-Poly1305 and X25519 from the OpenSSL linked into Node, @noble for
 * XChaCha20-Poly1305 (node:crypto has none), and BLAKE2s (hash, HMAC, keyed 16-byte MAC) from our
 * own `blake2s.ts`: node:crypto's `blake2s256` cost more per call in object set-up than the hash
 * itself, and it has no keyed variant. Unavailable when the linked library has no
 * `chacha20-poly1305` (Electron's BoringSSL).
 *
 * The per-packet cost here is node:crypto's per-call object overhead, not the cipher; node:crypto
 * cannot write into a caller buffer, so seal/open copy the result once into `out`.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  getCiphers,
  randomFillSync,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import type { CryptoBackend } from './backend.js';
import { blake2sHashing } from './hashing.js';
import { nobleXaead } from './noble.js';
import {
  BackendUnavailableError,
  TAG_LENGTH,
  X25519_LENGTH,
  checkLength,
  checkAeadArgs,
  fromHex,
  isAllZero,
  plain,
  toHex,
} from './util.js';

const CIPHER = 'chacha20-poly1305';
const NONCE_LENGTH = 12;
const AEAD_OPTIONS = { authTagLength: TAG_LENGTH } as const;

function seal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): number {
  const length = plaintext.length + TAG_LENGTH;
  checkAeadArgs(key, nonce, NONCE_LENGTH, out, length);
  const cipher = createCipheriv(CIPHER, key, nonce, AEAD_OPTIONS);
  // An empty AD authenticates exactly like no AD (RFC 8439 §2.8: zero-length, no padding).
  if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  cipher.final();
  out.set(body, 0);
  out.set(cipher.getAuthTag(), plaintext.length);
  return length;
}

function open(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): number {
  const length = ciphertext.length - TAG_LENGTH;
  checkAeadArgs(key, nonce, NONCE_LENGTH, out, Math.max(length, 0));
  if (length < 0) return -1;
  const decipher = createDecipheriv(CIPHER, key, nonce, AEAD_OPTIONS);
  decipher.setAuthTag(ciphertext.subarray(length));
  if (ad.length > 0) decipher.setAAD(ad, { plaintextLength: length });
  const body = decipher.update(ciphertext.subarray(0, length));
  try {
    decipher.final(); // throws when the tag does not verify
  } catch {
    return -1;
  }
  // Unverified plaintext never reaches `out`.
  out.set(body, 0);
  return length;
}

// ---- X25519 through KeyObjects ----------------------------------------------------------------

const PKCS8_X25519_PREFIX = fromHex('302e020100300506032b656e04220420');
const SPKI_X25519_PREFIX = fromHex('302a300506032b656e032100');
/** Placeholder `x` for JWK private-key import; Node derives the public key from `d` (probed below). */
const JWK_PLACEHOLDER_X = 'A'.repeat(43);

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64url');
}

function concat(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length + b.length); // not the shared pool: may hold a private key
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

// Importing raw keys as DER goes through OpenSSL 3's decoder framework and costs ≈100 µs (public)
// and ≈500 µs (private) on the project machine; JWK import costs ≈11 µs and ≈40 µs. JWK private
// import needs an `x`, which Node ignores for OKP keys; `chooseImporters` checks that on this
// runtime, falling back to DER when it does not hold.
const importPrivateJwk = (raw: Uint8Array): KeyObject =>
  createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d: base64url(raw), x: JWK_PLACEHOLDER_X },
    format: 'jwk',
  });
const importPublicJwk = (raw: Uint8Array): KeyObject =>
  createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: base64url(raw) }, format: 'jwk' });
const importPrivateDer = (raw: Uint8Array): KeyObject =>
  createPrivateKey({ key: concat(PKCS8_X25519_PREFIX, raw), format: 'der', type: 'pkcs8' });
const importPublicDer = (raw: Uint8Array): KeyObject =>
  createPublicKey({ key: concat(SPKI_X25519_PREFIX, raw), format: 'der', type: 'spki' });

interface KeyImporters {
  readonly importPrivate: (raw: Uint8Array) => KeyObject;
  readonly importPublic: (raw: Uint8Array) => KeyObject;
}

function publicKeyOf(privateKey: KeyObject): Uint8Array {
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  if (typeof x !== 'string') throw new Error('node:crypto exported an X25519 JWK without x');
  return plain(Buffer.from(x, 'base64url'));
}

// RFC 7748 §6.1 (Alice's private key, Bob's public key, their shared secret).
const PROBE_PRIVATE = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
const PROBE_PUBLIC = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const PROBE_PEER = fromHex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
const PROBE_SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

function importersWork(importers: KeyImporters): boolean {
  try {
    const privateKey = importers.importPrivate(PROBE_PRIVATE);
    const publicKey = importers.importPublic(PROBE_PEER);
    return (
      toHex(publicKeyOf(privateKey)) === PROBE_PUBLIC &&
      toHex(diffieHellman({ privateKey, publicKey })) === PROBE_SHARED
    );
  } catch {
    return false;
  }
}

function chooseImporters(): KeyImporters {
  const jwk = { importPrivate: importPrivateJwk, importPublic: importPublicJwk };
  if (importersWork(jwk)) return jwk;
  const der = { importPrivate: importPrivateDer, importPublic: importPublicDer };
  if (importersWork(der)) return der;
  throw new BackendUnavailableError('node:crypto cannot import raw X25519 keys (neither JWK nor DER works)');
}

/**
 * KeyObjects keyed on the caller's Uint8Array instance (static keys are long-lived), revalidated
 * against a copy of the bytes so a caller that overwrites a key in place never gets a stale one.
 */
class KeyObjectCache {
  private readonly entries = new WeakMap<Uint8Array, { readonly raw: Uint8Array; readonly key: KeyObject }>();

  constructor(private readonly importKey: (raw: Uint8Array) => KeyObject) {}

  get(raw: Uint8Array): KeyObject {
    const hit = this.entries.get(raw);
    if (hit !== undefined && timingSafeEqual(hit.raw, raw)) return hit.key;
    const key = this.importKey(raw);
    this.entries.set(raw, { raw: raw.slice(), key });
    return key;
  }
}

export function nodeHasChaCha20Poly1305(): boolean {
  return getCiphers().includes(CIPHER);
}

export function createNodeBackend(): CryptoBackend {
  if (!nodeHasChaCha20Poly1305()) {
    throw new BackendUnavailableError(
      `node:crypto has no ${CIPHER} (linked ${process.versions.openssl ? `OpenSSL ${process.versions.openssl}` : 'crypto library'}; Electron's BoringSSL lacks it)`,
    );
  }
  const importers = chooseImporters();
  const privateKeys = new KeyObjectCache(importers.importPrivate);
  const publicKeys = new KeyObjectCache(importers.importPublic);

  return {
    name: 'node',
    aeadSeal: seal,
    aeadOpen: open,
    ...nobleXaead,
    x25519PublicKey(privateKey) {
      checkLength(privateKey, X25519_LENGTH, 'X25519 private key');
      return publicKeyOf(privateKeys.get(privateKey));
    },
    x25519(privateKey, publicKey) {
      checkLength(privateKey, X25519_LENGTH, 'X25519 private key');
      checkLength(publicKey, X25519_LENGTH, 'X25519 public key');
      try {
        // OpenSSL fails the derivation when the result is all zeros (low-order public key).
        const secret = diffieHellman({
          privateKey: privateKeys.get(privateKey),
          publicKey: publicKeys.get(publicKey),
        });
        return isAllZero(secret) ? null : plain(secret);
      } catch {
        return null;
      }
    },
    ...blake2sHashing,
    randomBytes: (length) => randomFillSync(new Uint8Array(length)),
  };
}
