/**
 * The address attribute value shared by MAPPED-ADDRESS (RFC 8489 §14.1) and the XOR-ed forms
 * XOR-MAPPED-ADDRESS (§14.2), XOR-PEER-ADDRESS and XOR-RELAYED-ADDRESS (RFC 8656 §18.3, §18.5):
 * reserved byte, family, port, then 4 or 16 address bytes. The XOR with the magic cookie (and,
 * for IPv6, the transaction ID) keeps NATs that rewrite addresses in payloads from touching it.
 */
import { formatIpv4, formatIpv6, parseIpAddress } from '../../packet/address.js';
import { readU16, writeU16 } from '../../packet/bytes.js';
import { FAMILY_IPV4, FAMILY_IPV6, MAGIC_COOKIE } from '../constants.js';
import type { TransportAddress } from '../transport-address.js';

const COOKIE_BYTES = Uint8Array.of(
  MAGIC_COOKIE >>> 24,
  (MAGIC_COOKIE >>> 16) & 0xff,
  (MAGIC_COOKIE >>> 8) & 0xff,
  MAGIC_COOKIE & 0xff,
);

/** The 16-byte IPv6 mask: cookie ‖ transaction ID; the IPv4 mask is its first 4 bytes. */
function maskByte(i: number, transactionId: Uint8Array): number {
  return i < 4 ? COOKIE_BYTES[i]! : transactionId[i - 4]!;
}

/**
 * Decodes an address value; `transactionId` set means the XOR-ed form. Undefined when the family
 * is neither IPv4 nor IPv6 or the length does not match it (the reserved first byte is ignored).
 */
export function decodeAddressValue(
  value: Uint8Array,
  transactionId: Uint8Array | undefined,
): TransportAddress | undefined {
  if (value.length < 4) return undefined;
  const family = value[1];
  const size = family === FAMILY_IPV4 ? 4 : family === FAMILY_IPV6 ? 16 : 0;
  if (size === 0 || value.length !== 4 + size) return undefined;
  let port = readU16(value, 2);
  // A copy, never `slice`: on a Node Buffer that is a view, and the XOR would rewrite the datagram.
  const ip = Uint8Array.from(value.subarray(4, 4 + size));
  if (transactionId !== undefined) {
    port ^= MAGIC_COOKIE >>> 16;
    for (let i = 0; i < size; i++) ip[i]! ^= maskByte(i, transactionId);
  }
  return { address: size === 4 ? formatIpv4(ip) : formatIpv6(ip), port };
}

/** Encodes an address value; throws RangeError for an invalid address (our own input). */
export function encodeAddressValue(
  address: TransportAddress,
  transactionId: Uint8Array | undefined,
): Uint8Array {
  const ip = parseIpAddress(address.address);
  if (ip === null) throw new RangeError(`not an IP address: ${address.address}`);
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 0xffff) {
    throw new RangeError(`invalid port: ${address.port}`);
  }
  const out = new Uint8Array(4 + ip.length);
  out[1] = ip.length === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
  writeU16(out, 2, transactionId === undefined ? address.port : address.port ^ (MAGIC_COOKIE >>> 16));
  for (let i = 0; i < ip.length; i++) {
    out[4 + i] = transactionId === undefined ? ip[i]! : ip[i]! ^ maskByte(i, transactionId);
  }
  return out;
}
