/**
 * ICMP and ICMPv6 error messages that answer a packet we will not deliver: Destination
 * Unreachable "administratively prohibited" (filters, no authorization) and "network / address
 * unreachable" (no route), docs/protocol.md §7.2. The error comes from the original destination and
 * goes back to the original source, quoting as much of the original as the RFCs allow.
 */
import { writeU16 } from './bytes.js';
import { allocateAndWrite, writeIpHeader } from './build.js';
import { transportChecksum } from './checksum.js';
import {
  ICMP_CHECKSUM_OFFSET,
  ICMP_CODE_ADMIN_PROHIBITED,
  ICMP_CODE_NET_UNREACHABLE,
  ICMP_DEST_UNREACHABLE,
  ICMP_ERROR_MAX_SIZE,
  ICMP_HEADER_LENGTH,
  ICMPV6_CODE_ADDRESS_UNREACHABLE,
  ICMPV6_CODE_ADMIN_PROHIBITED,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ERROR_MAX_SIZE,
  ICMPV6_REDIRECT,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPV4_DST_OFFSET,
  IPV4_MIN_HEADER_LENGTH,
  IPV4_SRC_OFFSET,
  IPV6_DST_OFFSET,
  IPV6_HEADER_LENGTH,
  IPV6_SRC_OFFSET,
  MAX_IPV6_PACKET_SIZE,
} from './constants.js';
import { isPacketError, packetError, type PacketError } from './errors.js';
import { writeIcmpHeader } from './icmp.js';
import { parseIpPacket, type IpPacket } from './parse.js';

/**
 * Why a packet is refused. IPv4: type 3 code 13 / code 0 (RFC 1812 §5.2.7.1, RFC 792).
 * IPv6: type 1 code 1 / code 3 (RFC 4443 §3.1).
 */
export type UnreachableReason = 'prohibited' | 'unreachable';

export interface IcmpErrorOptions {
  /** TTL / Hop Limit of the error; default 64. */
  readonly ttl?: number;
}

/**
 * Whether the RFCs allow answering `original` with an ICMP error. Never for an ICMP error or
 * ICMPv6 Redirect, a multicast or broadcast destination, or a source that does not name one
 * host (RFC 1812 §4.3.2.7, RFC 4443 §2.4 (e)); for IPv4 also not for non-initial fragments.
 * These rules stop error loops and amplification.
 */
export function icmpErrorAllowed(original: IpPacket): boolean {
  const transport = original.transport;
  if (transport !== null && (transport.kind === 'icmpv4' || transport.kind === 'icmpv6')) {
    if (transport.isError) return false;
    if (transport.kind === 'icmpv6' && transport.type === ICMPV6_REDIRECT) return false;
  }
  const src = original.src;
  const dst = original.dst;
  if (original.version === 6) {
    // ff00::/8 is multicast and :: the unspecified address (RFC 4291 §2.7, §2.5.2).
    return dst[0] !== 0xff && src[0] !== 0xff && !src.every((b) => b === 0);
  }
  if (original.fragment !== null && original.fragment.offset !== 0) return false;
  // 224/4 is multicast, 240/4 reserved (255.255.255.255 broadcast among them); a source may
  // also not be in 0/8 ("this network") or 127/8 (loopback).
  return dst[0]! < 224 && src[0]! < 224 && src[0] !== 0 && src[0] !== 127;
}

/**
 * Writes an ICMP (for an IPv4 original) or ICMPv6 (for an IPv6 original) error of `type` and
 * `code` at `offset` and returns its length. `original` is a parsed packet or raw bytes (then
 * parsed here, any size). The quote is the start of the original: up to a 576-byte error for
 * IPv4 (RFC 1812 §4.3.2.3; RFC 792 asks only for the header and 8 bytes) and up to a 1280-byte
 * error for IPv6 (RFC 4443 §2.4 (c)). The output may overlap the original's own bytes.
 */
export function writeIcmpError(
  buf: Uint8Array,
  offset: number,
  original: IpPacket | Uint8Array,
  type: number,
  code: number,
  options?: IcmpErrorOptions,
): number | PacketError {
  const packet =
    original instanceof Uint8Array ? parseIpPacket(original, { maxSize: MAX_IPV6_PACKET_SIZE }) : original;
  if (isPacketError(packet)) return packet;
  if (!icmpErrorAllowed(packet)) {
    return packetError('icmp_error_suppressed', 'the RFCs forbid an ICMP error about this packet');
  }
  const v4 = packet.version === 4;
  const ipHeaderLength = v4 ? IPV4_MIN_HEADER_LENGTH : IPV6_HEADER_LENGTH;
  const maxSize = v4 ? ICMP_ERROR_MAX_SIZE : ICMPV6_ERROR_MAX_SIZE;
  const quoteLength = Math.min(packet.totalLength, maxSize - ipHeaderLength - ICMP_HEADER_LENGTH);
  const l4Length = ICMP_HEADER_LENGTH + quoteLength;
  if (!Number.isInteger(offset) || offset < 0 || offset + ipHeaderLength + l4Length > buf.length) {
    return packetError('buffer_too_small', `no room for a ${ipHeaderLength + l4Length}-byte ICMP error`);
  }
  // Quote first, then read the addresses from the quote: correct even when `buf` is the
  // original's own buffer and the new header overwrites it. The quote (at least 548 bytes, or
  // the whole original) always holds the original IP header.
  const quoteAt = offset + ipHeaderLength + ICMP_HEADER_LENGTH;
  buf.set(packet.buffer.subarray(0, quoteLength), quoteAt);
  const size = v4 ? 4 : 16;
  const srcAt = quoteAt + (v4 ? IPV4_SRC_OFFSET : IPV6_SRC_OFFSET);
  const dstAt = quoteAt + (v4 ? IPV4_DST_OFFSET : IPV6_DST_OFFSET);
  const protocol = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  const fields = {
    src: buf.subarray(dstAt, dstAt + size),
    dst: buf.subarray(srcAt, srcAt + size),
    ttl: options?.ttl,
  };
  const written = writeIpHeader(buf, offset, fields, protocol, l4Length);
  if (isPacketError(written)) return written;
  // The 4 bytes after the checksum are "unused" and zero in Destination Unreachable.
  writeIcmpHeader(buf, offset + ipHeaderLength, type, code, 0, 0);
  const out = offset === 0 ? buf : buf.subarray(offset);
  const scope = { version: packet.version, protocol, payloadOffset: ipHeaderLength, payloadLength: l4Length };
  writeU16(out, ipHeaderLength + ICMP_CHECKSUM_OFFSET, transportChecksum(out, scope));
  return ipHeaderLength + l4Length;
}

/** Destination Unreachable for `reason`, in the original's family (see UnreachableReason). */
export function writeIcmpUnreachable(
  buf: Uint8Array,
  offset: number,
  original: IpPacket | Uint8Array,
  reason: UnreachableReason,
  options?: IcmpErrorOptions,
): number | PacketError {
  const v4 = original instanceof Uint8Array ? original[0]! >>> 4 === 4 : original.version === 4;
  const type = v4 ? ICMP_DEST_UNREACHABLE : ICMPV6_DEST_UNREACHABLE;
  const code = v4
    ? reason === 'prohibited'
      ? ICMP_CODE_ADMIN_PROHIBITED
      : ICMP_CODE_NET_UNREACHABLE
    : reason === 'prohibited'
      ? ICMPV6_CODE_ADMIN_PROHIBITED
      : ICMPV6_CODE_ADDRESS_UNREACHABLE;
  return writeIcmpError(buf, offset, original, type, code, options);
}

/** Allocating form of writeIcmpUnreachable. */
export function buildIcmpUnreachable(
  original: IpPacket | Uint8Array,
  reason: UnreachableReason,
  options?: IcmpErrorOptions,
): Uint8Array | PacketError {
  return allocateAndWrite(ICMPV6_ERROR_MAX_SIZE, (buf) =>
    writeIcmpUnreachable(buf, 0, original, reason, options),
  );
}

/** Allocating form of writeIcmpError. */
export function buildIcmpError(
  original: IpPacket | Uint8Array,
  type: number,
  code: number,
  options?: IcmpErrorOptions,
): Uint8Array | PacketError {
  return allocateAndWrite(ICMPV6_ERROR_MAX_SIZE, (buf) =>
    writeIcmpError(buf, 0, original, type, code, options),
  );
}
