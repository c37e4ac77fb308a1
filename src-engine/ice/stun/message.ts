/**
 * Encoding and strict decoding of whole STUN messages (RFC 8489 §5, §14).
 *
 * Decoding validates the header, every attribute's framing and every known attribute's value,
 * verifies FINGERPRINT when present, and applies the ordering rules of §14.5–§14.7 (attributes
 * after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are ignored, after
 * MESSAGE-INTEGRITY-SHA256 only FINGERPRINT counts, FINGERPRINT must be last). It returns a typed
 * error instead of throwing. MESSAGE-INTEGRITY needs a key, so it is checked separately by
 * `verifyIntegrity`, once the caller knows which key applies.
 */
import { readU16, readU32, writeU16, writeU32 } from '../../packet/bytes.js';
import {
  ATTR_FINGERPRINT,
  ATTR_MESSAGE_INTEGRITY,
  ATTR_MESSAGE_INTEGRITY_SHA256,
  ATTRIBUTE_HEADER_LENGTH,
  COMPREHENSION_OPTIONAL_MIN,
  FINGERPRINT_LENGTH,
  MAGIC_COOKIE,
  MESSAGE_INTEGRITY_LENGTH,
  MESSAGE_INTEGRITY_SHA256_LENGTH,
  STUN_HEADER_LENGTH,
  TRANSACTION_ID_LENGTH,
} from '../constants.js';
import {
  attributeCode,
  decodeAttribute,
  encodeAttributeValue,
  type AttributeOf,
  type StunAttribute,
  type StunAttributeType,
} from './attributes.js';
import type { StunDecodeError } from './errors.js';
import { messageType, splitMessageType, type StunClass } from './header.js';
import {
  fingerprintValue,
  hmacMatches,
  integrityHmac,
  type IntegrityAlgorithm,
  type IntegrityCheck,
} from './integrity.js';

export interface StunMessage {
  readonly method: number;
  readonly class: StunClass;
  /** 12 bytes; a view into `raw`. */
  readonly transactionId: Uint8Array;
  /** In wire order, without those the ordering rules say to ignore. Values are views into `raw`. */
  readonly attributes: readonly StunAttribute[];
  /**
   * Comprehension-required types (0x0000–0x7FFF) this codec does not know: a server answers the
   * request with 420 listing them, a client treats the response as failed (RFC 8489 §6.3).
   */
  readonly unknownRequired: readonly number[];
  /** The datagram the message was decoded from (not copied). */
  readonly raw: Uint8Array;
  /** Offset in `raw` of the MESSAGE-INTEGRITY attribute header, if present. */
  readonly integrityOffset: number | undefined;
  /** Offset in `raw` of the MESSAGE-INTEGRITY-SHA256 attribute header, if present. */
  readonly integritySha256Offset: number | undefined;
  /** FINGERPRINT was present (and, since decoding succeeded, correct). */
  readonly hasFingerprint: boolean;
}

export type StunDecodeResult =
  | { readonly ok: true; readonly message: StunMessage }
  | { readonly ok: false; readonly error: StunDecodeError };

const TOO_SHORT: StunDecodeResult = Object.freeze({ ok: false, error: Object.freeze({ kind: 'too_short' }) });
const NOT_STUN: StunDecodeResult = Object.freeze({ ok: false, error: Object.freeze({ kind: 'not_stun' }) });

function fail(error: StunDecodeError): StunDecodeResult {
  return { ok: false, error };
}

function padded(length: number): number {
  return (length + 3) & ~3;
}

/**
 * Cheap shape test (RFC 8489 §6.3, first paragraph): leading zero bits, magic cookie, a length
 * that is a multiple of 4 and matches the datagram. Says nothing about the attributes.
 */
export function looksLikeStun(bytes: Uint8Array): boolean {
  return (
    bytes.length >= STUN_HEADER_LENGTH &&
    (bytes[0]! & 0xc0) === 0 &&
    readU32(bytes, 4) === MAGIC_COOKIE &&
    (bytes[3]! & 3) === 0 &&
    STUN_HEADER_LENGTH + readU16(bytes, 2) === bytes.length
  );
}

/** Decodes one STUN message that fills `bytes` exactly (one UDP datagram). Never throws. */
export function decodeMessage(bytes: Uint8Array): StunDecodeResult {
  if (bytes.length < STUN_HEADER_LENGTH) return TOO_SHORT;
  if ((bytes[0]! & 0xc0) !== 0 || readU32(bytes, 4) !== MAGIC_COOKIE) return NOT_STUN;
  const declared = readU16(bytes, 2);
  if (declared % 4 !== 0) return NOT_STUN;
  if (STUN_HEADER_LENGTH + declared !== bytes.length) {
    return fail({ kind: 'length_mismatch', declared, actual: bytes.length - STUN_HEADER_LENGTH });
  }
  const { method, cls } = splitMessageType(readU16(bytes, 0));
  const transactionId = bytes.subarray(8, 8 + TRANSACTION_ID_LENGTH);
  const attributes: StunAttribute[] = [];
  const unknownRequired: number[] = [];
  let integrityOffset: number | undefined;
  let integritySha256Offset: number | undefined;
  let hasFingerprint = false;

  for (let offset = STUN_HEADER_LENGTH; offset < bytes.length;) {
    const code = readU16(bytes, offset);
    const length = readU16(bytes, offset + 2);
    const valueStart = offset + ATTRIBUTE_HEADER_LENGTH;
    const next = valueStart + padded(length);
    if (next > bytes.length) return fail({ kind: 'truncated_attribute', attribute: code });
    if (hasFingerprint) return fail({ kind: 'fingerprint_not_last' });
    // §14.5, §14.6: what follows an integrity attribute is not covered by it, so only the other
    // integrity attribute and FINGERPRINT may be used.
    const ignored =
      (integritySha256Offset !== undefined && code !== ATTR_FINGERPRINT) ||
      (integrityOffset !== undefined && code !== ATTR_MESSAGE_INTEGRITY_SHA256 && code !== ATTR_FINGERPRINT);
    if (!ignored) {
      const attr = decodeAttribute(code, bytes.subarray(valueStart, valueStart + length), transactionId);
      if (attr === undefined) return fail({ kind: 'malformed_attribute', attribute: code });
      if (code === ATTR_MESSAGE_INTEGRITY) integrityOffset = offset;
      else if (code === ATTR_MESSAGE_INTEGRITY_SHA256) integritySha256Offset = offset;
      else if (attr.type === 'FINGERPRINT') {
        if (fingerprintValue(bytes, offset) !== attr.crc) return fail({ kind: 'fingerprint_mismatch' });
        hasFingerprint = true;
      } else if (attr.type === 'unknown' && code < COMPREHENSION_OPTIONAL_MIN) unknownRequired.push(code);
      attributes.push(attr);
    }
    offset = next;
  }
  return {
    ok: true,
    message: {
      method,
      class: cls,
      transactionId,
      attributes,
      unknownRequired,
      raw: bytes,
      integrityOffset,
      integritySha256Offset,
      hasFingerprint,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Encoding

export interface StunMessageInit {
  readonly method: number;
  readonly class: StunClass;
  /** 12 bytes. */
  readonly transactionId: Uint8Array;
  /** Without MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT: those come from the options. */
  readonly attributes: readonly StunAttribute[];
}

export interface EncodeOptions {
  /** Append MESSAGE-INTEGRITY and/or MESSAGE-INTEGRITY-SHA256 keyed with `key` (default 'sha1'). */
  readonly integrity?: { readonly key: Uint8Array; readonly algorithm?: IntegrityAlgorithm };
  /** Append FINGERPRINT (RFC 8489 §7: needed where STUN shares a port with other protocols). */
  readonly fingerprint?: boolean;
  /** Value of padding bytes (RFC 8489 §14: any value, ignored on receipt; RFC 5769 uses 0x20). */
  readonly paddingByte?: number;
}

/** Encodes a message. Throws RangeError for values no message can carry (our own input only). */
export function encodeMessage(init: StunMessageInit, options: EncodeOptions = {}): Uint8Array {
  if (init.transactionId.length !== TRANSACTION_ID_LENGTH) {
    throw new RangeError(`transaction ID must be ${TRANSACTION_ID_LENGTH} bytes`);
  }
  const values = init.attributes.map((attr) => encodeAttributeValue(attr, init.transactionId));
  const algorithm = options.integrity?.algorithm ?? 'sha1';
  const withSha1 = options.integrity !== undefined && algorithm !== 'sha256';
  const withSha256 = options.integrity !== undefined && algorithm !== 'sha1';
  let size = STUN_HEADER_LENGTH;
  for (const value of values) size += ATTRIBUTE_HEADER_LENGTH + padded(value.length);
  if (withSha1) size += ATTRIBUTE_HEADER_LENGTH + MESSAGE_INTEGRITY_LENGTH;
  if (withSha256) size += ATTRIBUTE_HEADER_LENGTH + MESSAGE_INTEGRITY_SHA256_LENGTH;
  if (options.fingerprint) size += ATTRIBUTE_HEADER_LENGTH + FINGERPRINT_LENGTH;
  if (size - STUN_HEADER_LENGTH > 0xffff) throw new RangeError('STUN message too large');

  const out = new Uint8Array(size);
  writeU16(out, 0, messageType(init.method, init.class));
  writeU16(out, 2, size - STUN_HEADER_LENGTH);
  writeU32(out, 4, MAGIC_COOKIE);
  out.set(init.transactionId, 8);
  let offset = STUN_HEADER_LENGTH;
  const pad = options.paddingByte ?? 0;
  init.attributes.forEach((attr, i) => {
    const value = values[i]!;
    writeU16(out, offset, attributeCode(attr));
    writeU16(out, offset + 2, value.length);
    out.set(value, offset + ATTRIBUTE_HEADER_LENGTH);
    const end = offset + ATTRIBUTE_HEADER_LENGTH + value.length;
    offset += ATTRIBUTE_HEADER_LENGTH + padded(value.length);
    if (pad !== 0) out.fill(pad, end, offset);
  });
  if (options.integrity && withSha1) {
    const hmac = integrityHmac('sha1', options.integrity.key, out, offset, MESSAGE_INTEGRITY_LENGTH);
    writeU16(out, offset, ATTR_MESSAGE_INTEGRITY);
    writeU16(out, offset + 2, MESSAGE_INTEGRITY_LENGTH);
    out.set(hmac, offset + ATTRIBUTE_HEADER_LENGTH);
    offset += ATTRIBUTE_HEADER_LENGTH + MESSAGE_INTEGRITY_LENGTH;
  }
  if (options.integrity && withSha256) {
    const hmac = integrityHmac('sha256', options.integrity.key, out, offset, MESSAGE_INTEGRITY_SHA256_LENGTH);
    writeU16(out, offset, ATTR_MESSAGE_INTEGRITY_SHA256);
    writeU16(out, offset + 2, MESSAGE_INTEGRITY_SHA256_LENGTH);
    out.set(hmac, offset + ATTRIBUTE_HEADER_LENGTH);
    offset += ATTRIBUTE_HEADER_LENGTH + MESSAGE_INTEGRITY_SHA256_LENGTH;
  }
  if (options.fingerprint) {
    const value = fingerprintValue(out, offset);
    writeU16(out, offset, ATTR_FINGERPRINT);
    writeU16(out, offset + 2, FINGERPRINT_LENGTH);
    writeU32(out, offset + ATTRIBUTE_HEADER_LENGTH, value);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading attributes and integrity

/** The first attribute of a type (RFC 8489 §14: only the first occurrence need be processed). */
export function getAttribute<T extends StunAttributeType>(
  message: Pick<StunMessage, 'attributes'>,
  type: T,
): AttributeOf<T> | undefined {
  for (const attr of message.attributes) if (attr.type === type) return attr as unknown as AttributeOf<T>;
  return undefined;
}

/** Every attribute of a type, in order (e.g. the two XOR-RELAYED-ADDRESSes of RFC 8656 §7.3). */
export function getAttributes<T extends StunAttributeType>(
  message: Pick<StunMessage, 'attributes'>,
  type: T,
): AttributeOf<T>[] {
  return message.attributes.filter((attr) => attr.type === type) as unknown as AttributeOf<T>[];
}

/** ERROR-CODE of an error response, if it has a well-formed one. */
export function errorCodeOf(message: StunMessage): { code: number; reason: string } | undefined {
  const attr = getAttribute(message, 'ERROR-CODE');
  return attr && { code: attr.code, reason: attr.reason };
}

/** Which integrity attributes a message carries; a reply uses the same (RFC 8489 §9.1.2). */
export function integrityOf(message: StunMessage): IntegrityAlgorithm | undefined {
  const sha1 = message.integrityOffset !== undefined;
  const sha256 = message.integritySha256Offset !== undefined;
  return sha1 && sha256 ? 'both' : sha256 ? 'sha256' : sha1 ? 'sha1' : undefined;
}

/**
 * Checks the message's integrity with `key` (RFC 8489 §9.1.3, §9.2.5): MESSAGE-INTEGRITY-SHA256
 * when present (MESSAGE-INTEGRITY is then ignored), else MESSAGE-INTEGRITY. `sent` is what our
 * own request carried: a response to a request we protected only with SHA-256 must not fall
 * back to SHA-1 (that would be a downgrade), so it counts as missing.
 */
export function verifyIntegrity(
  message: StunMessage,
  key: Uint8Array,
  sent?: IntegrityAlgorithm,
): IntegrityCheck {
  const raw = message.raw;
  if (message.integritySha256Offset !== undefined) {
    const at = message.integritySha256Offset;
    const length = readU16(raw, at + 2);
    const expected = integrityHmac('sha256', key, raw, at, length);
    const received = raw.subarray(at + ATTRIBUTE_HEADER_LENGTH, at + ATTRIBUTE_HEADER_LENGTH + length);
    return hmacMatches(expected, received) ? 'ok' : 'mismatch';
  }
  if (message.integrityOffset === undefined || sent === 'sha256') return 'missing';
  const at = message.integrityOffset;
  const expected = integrityHmac('sha1', key, raw, at, MESSAGE_INTEGRITY_LENGTH);
  const received = raw.subarray(
    at + ATTRIBUTE_HEADER_LENGTH,
    at + ATTRIBUTE_HEADER_LENGTH + MESSAGE_INTEGRITY_LENGTH,
  );
  return hmacMatches(expected, received) ? 'ok' : 'mismatch';
}
