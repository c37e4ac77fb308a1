/**
 * STUN attributes as typed values, and the codec of each value (RFC 8489 §14, RFC 8656 §18,
 * RFC 8445 §16.1). Attribute names are the RFCs' own, so `attr.type === 'XOR-RELAYED-ADDRESS'`
 * reads like the spec. Attributes this codec does not know are kept as `unknown` with their raw
 * value, so nothing is lost and comprehension-required ones can be reported (RFC 8489 §6.3.1).
 */
import { readU16, readU32, writeU16, writeU32 } from '../../packet/bytes.js';
import {
  ATTR_ADDITIONAL_ADDRESS_FAMILY,
  ATTR_CHANNEL_NUMBER,
  ATTR_DATA,
  ATTR_ERROR_CODE,
  ATTR_FINGERPRINT,
  ATTR_ICE_CONTROLLED,
  ATTR_ICE_CONTROLLING,
  ATTR_LIFETIME,
  ATTR_MAPPED_ADDRESS,
  ATTR_MESSAGE_INTEGRITY,
  ATTR_MESSAGE_INTEGRITY_SHA256,
  ATTR_NONCE,
  ATTR_PRIORITY,
  ATTR_REALM,
  ATTR_REQUESTED_ADDRESS_FAMILY,
  ATTR_REQUESTED_TRANSPORT,
  ATTR_SOFTWARE,
  ATTR_UNKNOWN_ATTRIBUTES,
  ATTR_USE_CANDIDATE,
  ATTR_USERNAME,
  ATTR_XOR_MAPPED_ADDRESS,
  ATTR_XOR_PEER_ADDRESS,
  ATTR_XOR_RELAYED_ADDRESS,
  FAMILY_IPV4,
  FAMILY_IPV6,
  FINGERPRINT_LENGTH,
  MAX_ERROR_CLASS,
  MAX_TEXT_ATTRIBUTE_BYTES,
  MAX_USERNAME_BYTES,
  MESSAGE_INTEGRITY_LENGTH,
  MESSAGE_INTEGRITY_SHA256_LENGTH,
  MESSAGE_INTEGRITY_SHA256_MIN_LENGTH,
  MIN_ERROR_CLASS,
} from '../constants.js';
import type { AddressFamily, TransportAddress } from '../transport-address.js';
import { decodeAddressValue, encodeAddressValue } from './address-codec.js';

export type AddressAttributeType =
  'MAPPED-ADDRESS' | 'XOR-MAPPED-ADDRESS' | 'XOR-PEER-ADDRESS' | 'XOR-RELAYED-ADDRESS';
export type TextAttributeType = 'USERNAME' | 'REALM' | 'NONCE' | 'SOFTWARE';
export type FamilyAttributeType = 'ADDITIONAL-ADDRESS-FAMILY' | 'REQUESTED-ADDRESS-FAMILY';

export type StunAttribute =
  | { readonly type: AddressAttributeType; readonly address: TransportAddress }
  | { readonly type: TextAttributeType; readonly value: string }
  | { readonly type: 'ERROR-CODE'; readonly code: number; readonly reason: string }
  | { readonly type: 'LIFETIME'; readonly seconds: number }
  | { readonly type: 'REQUESTED-TRANSPORT'; readonly protocol: number }
  | { readonly type: 'CHANNEL-NUMBER'; readonly channel: number }
  /** `data` is a view into the decoded datagram (no copy on the relayed data path). */
  | { readonly type: 'DATA'; readonly data: Uint8Array }
  | { readonly type: FamilyAttributeType; readonly family: AddressFamily }
  | { readonly type: 'PRIORITY'; readonly priority: number }
  | { readonly type: 'USE-CANDIDATE' }
  | { readonly type: 'ICE-CONTROLLED' | 'ICE-CONTROLLING'; readonly tieBreaker: bigint }
  | { readonly type: 'UNKNOWN-ATTRIBUTES'; readonly types: readonly number[] }
  /** Decoded only: added by `encodeMessage` from its options, never given to it. */
  | { readonly type: 'MESSAGE-INTEGRITY' | 'MESSAGE-INTEGRITY-SHA256'; readonly hmac: Uint8Array }
  | { readonly type: 'FINGERPRINT'; readonly crc: number }
  /** Any other type, value kept as a view. */
  | { readonly type: 'unknown'; readonly code: number; readonly value: Uint8Array };

export type StunAttributeType = StunAttribute['type'];
type Narrow<A, T> = A extends { readonly type: infer K }
  ? [T] extends [K]
    ? Omit<A, 'type'> & { readonly type: T }
    : never
  : never;
/** The attribute value shape of one type, e.g. `AttributeOf<'XOR-PEER-ADDRESS'>`. */
export type AttributeOf<T extends StunAttributeType> = Narrow<StunAttribute, T>;

/** Attribute type numbers of the typed attributes. */
export const ATTRIBUTE_CODES: Readonly<Record<Exclude<StunAttributeType, 'unknown'>, number>> = {
  'MAPPED-ADDRESS': ATTR_MAPPED_ADDRESS,
  'XOR-MAPPED-ADDRESS': ATTR_XOR_MAPPED_ADDRESS,
  'XOR-PEER-ADDRESS': ATTR_XOR_PEER_ADDRESS,
  'XOR-RELAYED-ADDRESS': ATTR_XOR_RELAYED_ADDRESS,
  USERNAME: ATTR_USERNAME,
  REALM: ATTR_REALM,
  NONCE: ATTR_NONCE,
  SOFTWARE: ATTR_SOFTWARE,
  'ERROR-CODE': ATTR_ERROR_CODE,
  LIFETIME: ATTR_LIFETIME,
  'REQUESTED-TRANSPORT': ATTR_REQUESTED_TRANSPORT,
  'CHANNEL-NUMBER': ATTR_CHANNEL_NUMBER,
  DATA: ATTR_DATA,
  'ADDITIONAL-ADDRESS-FAMILY': ATTR_ADDITIONAL_ADDRESS_FAMILY,
  'REQUESTED-ADDRESS-FAMILY': ATTR_REQUESTED_ADDRESS_FAMILY,
  PRIORITY: ATTR_PRIORITY,
  'USE-CANDIDATE': ATTR_USE_CANDIDATE,
  'ICE-CONTROLLED': ATTR_ICE_CONTROLLED,
  'ICE-CONTROLLING': ATTR_ICE_CONTROLLING,
  'UNKNOWN-ATTRIBUTES': ATTR_UNKNOWN_ATTRIBUTES,
  'MESSAGE-INTEGRITY': ATTR_MESSAGE_INTEGRITY,
  'MESSAGE-INTEGRITY-SHA256': ATTR_MESSAGE_INTEGRITY_SHA256,
  FINGERPRINT: ATTR_FINGERPRINT,
};

const NAMES = new Map<number, Exclude<StunAttributeType, 'unknown'>>(
  Object.entries(ATTRIBUTE_CODES).map(([name, code]) => [
    code,
    name as Exclude<StunAttributeType, 'unknown'>,
  ]),
);

/** The RFC name of an attribute type number, or its hex. */
export function attributeName(code: number): string {
  return NAMES.get(code) ?? `0x${code.toString(16).padStart(4, '0')}`;
}

export function attributeCode(attr: StunAttribute): number {
  return attr.type === 'unknown' ? attr.code : ATTRIBUTE_CODES[attr.type];
}

// ---------------------------------------------------------------------------------------------
// Decoding

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

function decodeText(value: Uint8Array, maxBytes: number): string | undefined {
  if (value.length > maxBytes) return undefined;
  try {
    return utf8.decode(value);
  } catch {
    return undefined;
  }
}

function decodeFamily(value: Uint8Array): AddressFamily | undefined {
  if (value.length !== 4) return undefined;
  return value[0] === FAMILY_IPV4 ? 'ipv4' : value[0] === FAMILY_IPV6 ? 'ipv6' : undefined;
}

/**
 * Decodes one attribute value. Undefined means the value is malformed for its type (wrong length,
 * bad family, invalid UTF-8, out-of-range error class); unknown types never fail.
 */
export function decodeAttribute(
  code: number,
  value: Uint8Array,
  transactionId: Uint8Array,
): StunAttribute | undefined {
  const type = NAMES.get(code);
  switch (type) {
    case undefined:
      return { type: 'unknown', code, value };
    case 'MAPPED-ADDRESS': {
      const address = decodeAddressValue(value, undefined);
      return address && { type, address };
    }
    case 'XOR-MAPPED-ADDRESS':
    case 'XOR-PEER-ADDRESS':
    case 'XOR-RELAYED-ADDRESS': {
      const address = decodeAddressValue(value, transactionId);
      return address && { type, address };
    }
    case 'USERNAME':
    case 'REALM':
    case 'NONCE':
    case 'SOFTWARE': {
      const text = decodeText(value, type === 'USERNAME' ? MAX_USERNAME_BYTES : MAX_TEXT_ATTRIBUTE_BYTES);
      return text === undefined ? undefined : { type, value: text };
    }
    case 'ERROR-CODE': {
      // §14.8: 21 reserved bits, 3-bit class, 8-bit number, then the reason phrase.
      if (value.length < 4) return undefined;
      const cls = value[2]! & 0x07;
      const number = value[3]!;
      if (cls < MIN_ERROR_CLASS || cls > MAX_ERROR_CLASS || number > 99) return undefined;
      const reason = decodeText(value.subarray(4), MAX_TEXT_ATTRIBUTE_BYTES);
      return reason === undefined ? undefined : { type, code: cls * 100 + number, reason };
    }
    case 'LIFETIME':
      return value.length === 4 ? { type, seconds: readU32(value, 0) } : undefined;
    case 'REQUESTED-TRANSPORT':
      // RFC 8656 §18.8: protocol number, then 24 RFFU bits (ignored on receipt).
      return value.length === 4 ? { type, protocol: value[0]! } : undefined;
    case 'CHANNEL-NUMBER':
      // RFC 8656 §18.1: the number, then 16 RFFU bits.
      return value.length === 4 ? { type, channel: readU16(value, 0) } : undefined;
    case 'DATA':
      return { type, data: value };
    case 'ADDITIONAL-ADDRESS-FAMILY':
    case 'REQUESTED-ADDRESS-FAMILY': {
      const family = decodeFamily(value);
      return family && { type, family };
    }
    case 'PRIORITY':
      return value.length === 4 ? { type, priority: readU32(value, 0) } : undefined;
    case 'USE-CANDIDATE':
      return value.length === 0 ? { type } : undefined;
    case 'ICE-CONTROLLED':
    case 'ICE-CONTROLLING':
      return value.length === 8
        ? { type, tieBreaker: (BigInt(readU32(value, 0)) << 32n) | BigInt(readU32(value, 4)) }
        : undefined;
    case 'UNKNOWN-ATTRIBUTES': {
      if (value.length % 2 !== 0) return undefined;
      const types: number[] = [];
      for (let i = 0; i < value.length; i += 2) types.push(readU16(value, i));
      return { type, types };
    }
    case 'MESSAGE-INTEGRITY':
      return value.length === MESSAGE_INTEGRITY_LENGTH ? { type, hmac: value } : undefined;
    case 'MESSAGE-INTEGRITY-SHA256':
      return value.length >= MESSAGE_INTEGRITY_SHA256_MIN_LENGTH &&
        value.length <= MESSAGE_INTEGRITY_SHA256_LENGTH &&
        value.length % 4 === 0
        ? { type, hmac: value }
        : undefined;
    case 'FINGERPRINT':
      return value.length === FINGERPRINT_LENGTH ? { type, crc: readU32(value, 0) } : undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding (our own values: invalid ones are programming errors and throw RangeError)

function encodeText(type: string, text: string, maxBytes: number): Uint8Array {
  const bytes = utf8Encoder.encode(text);
  if (bytes.length > maxBytes) throw new RangeError(`${type} longer than ${maxBytes} bytes`);
  return bytes;
}

function u32(value: number, what: string): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`invalid ${what}: ${value}`);
  }
  const out = new Uint8Array(4);
  writeU32(out, 0, value);
  return out;
}

function familyByte(family: AddressFamily): number {
  return family === 'ipv4' ? FAMILY_IPV4 : FAMILY_IPV6;
}

/** The value bytes of an attribute. */
export function encodeAttributeValue(attr: StunAttribute, transactionId: Uint8Array): Uint8Array {
  switch (attr.type) {
    case 'MAPPED-ADDRESS':
      return encodeAddressValue(attr.address, undefined);
    case 'XOR-MAPPED-ADDRESS':
    case 'XOR-PEER-ADDRESS':
    case 'XOR-RELAYED-ADDRESS':
      return encodeAddressValue(attr.address, transactionId);
    case 'USERNAME':
      return encodeText(attr.type, attr.value, MAX_USERNAME_BYTES);
    case 'REALM':
    case 'NONCE':
    case 'SOFTWARE':
      return encodeText(attr.type, attr.value, MAX_TEXT_ATTRIBUTE_BYTES);
    case 'ERROR-CODE': {
      const cls = Math.floor(attr.code / 100);
      if (!Number.isInteger(attr.code) || cls < MIN_ERROR_CLASS || cls > MAX_ERROR_CLASS) {
        throw new RangeError(`invalid STUN error code: ${attr.code}`);
      }
      const reason = encodeText('reason phrase', attr.reason, MAX_TEXT_ATTRIBUTE_BYTES);
      const out = new Uint8Array(4 + reason.length);
      out[2] = cls;
      out[3] = attr.code % 100;
      out.set(reason, 4);
      return out;
    }
    case 'LIFETIME':
      return u32(attr.seconds, 'LIFETIME');
    case 'REQUESTED-TRANSPORT': {
      if (!Number.isInteger(attr.protocol) || attr.protocol < 0 || attr.protocol > 255) {
        throw new RangeError(`invalid protocol: ${attr.protocol}`);
      }
      return Uint8Array.of(attr.protocol, 0, 0, 0);
    }
    case 'CHANNEL-NUMBER': {
      if (!Number.isInteger(attr.channel) || attr.channel < 0 || attr.channel > 0xffff) {
        throw new RangeError(`invalid channel number: ${attr.channel}`);
      }
      const out = new Uint8Array(4);
      writeU16(out, 0, attr.channel);
      return out;
    }
    case 'DATA':
      return attr.data;
    case 'ADDITIONAL-ADDRESS-FAMILY':
    case 'REQUESTED-ADDRESS-FAMILY':
      return Uint8Array.of(familyByte(attr.family), 0, 0, 0);
    case 'PRIORITY':
      return u32(attr.priority, 'PRIORITY');
    case 'USE-CANDIDATE':
      return new Uint8Array(0);
    case 'ICE-CONTROLLED':
    case 'ICE-CONTROLLING': {
      if (attr.tieBreaker < 0n || attr.tieBreaker > 0xffffffffffffffffn) {
        throw new RangeError('tie-breaker must be an unsigned 64-bit value');
      }
      const out = new Uint8Array(8);
      writeU32(out, 0, Number(attr.tieBreaker >> 32n));
      writeU32(out, 4, Number(attr.tieBreaker & 0xffffffffn));
      return out;
    }
    case 'UNKNOWN-ATTRIBUTES': {
      const out = new Uint8Array(2 * attr.types.length);
      attr.types.forEach((t, i) => writeU16(out, 2 * i, t));
      return out;
    }
    case 'MESSAGE-INTEGRITY':
    case 'MESSAGE-INTEGRITY-SHA256':
    case 'FINGERPRINT':
      throw new RangeError(`${attr.type} is computed by encodeMessage; pass it in the options`);
    case 'unknown':
      if (!Number.isInteger(attr.code) || attr.code < 0 || attr.code > 0xffff) {
        throw new RangeError(`invalid attribute type: ${attr.code}`);
      }
      return attr.value;
  }
}
