/**
 * The primitives WireGuard needs, behind one small interface so the data path can use the
 * fastest implementation that loads (sodium-native, node:crypto) while @noble/* stays the
 * reference that always works (Electron's BoringSSL has no ChaCha20-Poly1305).
 *
 * Every backend must produce identical bytes for identical inputs; `backends.test.ts` proves it.
 * Hot-path calls (aeadSeal/aeadOpen) write into caller-provided buffers and allocate nothing
 * packet-sized.
 */
export type BackendName = 'sodium' | 'node' | 'noble';

export interface CryptoBackend {
  readonly name: BackendName;

  /**
   * ChaCha20-Poly1305 (RFC 8439) seal. `nonce` is 12 bytes; `out` must hold
   * plaintext.length + 16 bytes and may not overlap `plaintext`. Returns the bytes written.
   */
  aeadSeal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    ad: Uint8Array,
    out: Uint8Array,
  ): number;
  /**
   * ChaCha20-Poly1305 open. `out` must hold ciphertext.length - 16 bytes and may not overlap
   * `ciphertext`. Returns the plaintext length, or -1 when the tag does not verify (or the input
   * is shorter than a tag). Never throws on bad input.
   */
  aeadOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    ciphertext: Uint8Array,
    ad: Uint8Array,
    out: Uint8Array,
  ): number;

  /** XChaCha20-Poly1305 (24-byte nonce), used only by cookie replies. Same contract as aeadSeal. */
  xaeadSeal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    ad: Uint8Array,
    out: Uint8Array,
  ): number;
  /** XChaCha20-Poly1305 open. Same contract as aeadOpen. */
  xaeadOpen(
    key: Uint8Array,
    nonce: Uint8Array,
    ciphertext: Uint8Array,
    ad: Uint8Array,
    out: Uint8Array,
  ): number;

  /** X25519 public key of a 32-byte private key (RFC 7748 clamping applied). */
  x25519PublicKey(privateKey: Uint8Array): Uint8Array;
  /**
   * X25519 shared secret. Returns null when the result is all zeros (low-order public key),
   * which WireGuard must treat as a failed handshake. Never throws on a 32-byte input.
   */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null;

  /** BLAKE2s-256 (unkeyed) of the concatenation of `parts`. */
  hash(...parts: Uint8Array[]): Uint8Array;
  /** HMAC-BLAKE2s-256 (RFC 2104, 64-byte block) of the concatenation of `parts`. */
  hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  /** Keyed BLAKE2s with a 16-byte output (WireGuard's MAC), over the concatenation of `parts`. */
  mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  /**
   * The paper's KDF_n (§5.4; HKDF, RFC 5869, over HMAC-BLAKE2s): τ0 = HMAC(key, input),
   * τ1 = HMAC(τ0, 0x1), τi = HMAC(τ0, τi−1 ‖ i); returns τ1…τn, n = `count` (1–3), 32 bytes each.
   * A backend may reuse τ0's HMAC pads across the n outputs; the result equals the HMAC chain.
   */
  kdf(key: Uint8Array, input: Uint8Array, count: 1 | 2 | 3): Uint8Array[];

  /** Cryptographically secure random bytes. */
  randomBytes(length: number): Uint8Array;

  /**
   * A fresh X25519 key pair for a handshake's ephemeral key, when the backend has one made ahead
   * (ephemeral-pool.ts); otherwise (absent, or undefined) the handshake makes one from
   * randomBytes and x25519PublicKey.
   */
  ephemeralKeyPair?(): EphemeralKeyPair | undefined;
}

export interface EphemeralKeyPair {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}
