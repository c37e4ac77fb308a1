/**
 * MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5), MESSAGE-INTEGRITY-SHA256 (§14.6) and FINGERPRINT
 * (§14.7). Each covers the message up to its own attribute, with the header's length field
 * rewritten to end just after that attribute, so later attributes can be appended without
 * invalidating it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { writeU16 } from '../../packet/bytes.js';
import {
  ATTRIBUTE_HEADER_LENGTH,
  FINGERPRINT_XOR,
  MESSAGE_INTEGRITY_LENGTH,
  STUN_HEADER_LENGTH,
} from '../constants.js';
import { crc32 } from './crc32.js';

/**
 * Which integrity attribute(s) a message carries or should carry. RFC 8489 §9.1.1: a request
 * carries both unless the agent knows which one the peer supports; §9.1.2/§9.2.4: a response
 * carries the one(s) the request had.
 */
export type IntegrityAlgorithm = 'sha1' | 'sha256' | 'both';

export type IntegrityCheck =
  | 'ok'
  /** No integrity attribute, or only MESSAGE-INTEGRITY where MESSAGE-INTEGRITY-SHA256 was required. */
  | 'missing'
  | 'mismatch';

/**
 * HMAC over `message[0, attrOffset)` with the header's length field set as if the message ended
 * after an attribute of `valueLength` bytes at `attrOffset`.
 */
export function integrityHmac(
  hash: 'sha1' | 'sha256',
  key: Uint8Array,
  message: Uint8Array,
  attrOffset: number,
  valueLength: number,
): Uint8Array {
  // Copies (not `slice`, which is a view on a Node Buffer): the message itself must not change.
  const header = Uint8Array.from(message.subarray(0, STUN_HEADER_LENGTH));
  writeU16(header, 2, attrOffset + ATTRIBUTE_HEADER_LENGTH + valueLength - STUN_HEADER_LENGTH);
  const hmac = createHmac(hash, key);
  hmac.update(header);
  hmac.update(message.subarray(STUN_HEADER_LENGTH, attrOffset));
  return new Uint8Array(hmac.digest());
}

/** Constant-time comparison of an HMAC with the received (possibly truncated, §14.6) value. */
export function hmacMatches(expected: Uint8Array, received: Uint8Array): boolean {
  if (received.length > expected.length) return false;
  return timingSafeEqual(expected.subarray(0, received.length), received);
}

/**
 * FINGERPRINT value for a FINGERPRINT attribute at `attrOffset`: CRC-32 of everything before it
 * (with the length field covering the fingerprint), XOR 0x5354554e.
 */
export function fingerprintValue(message: Uint8Array, attrOffset: number): number {
  const header = Uint8Array.from(message.subarray(0, 4));
  writeU16(header, 2, attrOffset + ATTRIBUTE_HEADER_LENGTH + 4 - STUN_HEADER_LENGTH);
  const crc = crc32(message, 4, attrOffset, crc32(header));
  return (crc ^ FINGERPRINT_XOR) >>> 0;
}

export const SHA1_HMAC_LENGTH = MESSAGE_INTEGRITY_LENGTH;
