/** Small helpers shared by the crypto backends. Internal to this directory. */

/** Poly1305 tag length in bytes (RFC 8439 §2.8). */
export const TAG_LENGTH = 16;
/** X25519 key and shared-secret length in bytes (RFC 7748 §5). */
export const X25519_LENGTH = 32;

/**
 * Raised when a backend cannot be constructed on this runtime (missing native module, missing
 * cipher in the linked crypto library, failed self-test). The message says why.
 */
export class BackendUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackendUnavailableError';
  }
}

/** A plain Uint8Array view of a Buffer's bytes (no copy), so every backend returns the same type. */
export function plain(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** True when every byte is zero; runs over all bytes regardless of content. */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}

/** ChaCha20 key length in bytes. */
export const KEY_LENGTH = 32;

/**
 * Throws a RangeError for a wrong key or nonce length, or an `out` that cannot hold `needed`
 * bytes. These are caller bugs (protocol constants), not bad input from the network, and every
 * backend reports them the same way.
 */
export function checkAeadArgs(
  key: Uint8Array,
  nonce: Uint8Array,
  nonceLength: number,
  out: Uint8Array,
  needed: number,
): void {
  if (key.length !== KEY_LENGTH)
    throw new RangeError(`AEAD key must be ${KEY_LENGTH} bytes, got ${key.length}`);
  if (nonce.length !== nonceLength) {
    throw new RangeError(`AEAD nonce must be ${nonceLength} bytes, got ${nonce.length}`);
  }
  if (out.length < needed) throw new RangeError(`output buffer holds ${out.length} bytes, needs ${needed}`);
}

/** Throws a RangeError unless `bytes` is exactly `length` bytes long. */
export function checkLength(bytes: Uint8Array, length: number, what: string): void {
  if (bytes.length !== length) throw new RangeError(`${what} must be ${length} bytes, got ${bytes.length}`);
}

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i]!.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`invalid hex string: ${hex}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}
