/** Whether OpenSSL's ChaCha20-Poly1305 was found in the process (Node's OpenSSL). */
export declare const available: boolean;
/** Why it is not available ('' when it is). */
export declare const reason: string;
/** Where the OpenSSL symbols came from: 'process', or '' when unavailable. */
export declare const source: string;
/**
 * RFC 8439 ChaCha20-Poly1305: writes ciphertext ‖ 16-byte tag to `out` and returns its length
 * (plaintext.length + 16). `out` may be the plaintext's own buffer. Throws a RangeError on a key
 * that is not 32 bytes, a nonce that is not 12, or an `out` that is too small.
 */
export declare function seal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): number;
/**
 * Verifies and decrypts ciphertext ‖ tag into `out`; returns the plaintext length, or -1 when the
 * tag does not verify (then the first ciphertext.length − 16 bytes of `out` are zeroed).
 */
export declare function open(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): number;
