/**
 * IPv6 header (RFC 8200 §3) field access and writing, and the extension header walk (§4) that
 * finds the upper-layer header. Accessors work in place on a packet at offset 0 of `packet` and
 * do not check bounds: call them on a packet that parseIpPacket accepted.
 */
import { isUint, readU16, readU32, writeU16, writeU32 } from './bytes.js';
import {
  DEFAULT_TTL,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ROUTING,
  IPV6_DST_OFFSET,
  IPV6_FRAGMENT_HEADER_LENGTH,
  IPV6_HEADER_LENGTH,
  IPV6_SRC_OFFSET,
  MAX_IPV6_EXTENSION_HEADERS,
  MAX_LENGTH_FIELD,
} from './constants.js';
import { packetError, type PacketError } from './errors.js';
import type { IpFragment } from './fragment.js';

export function ipv6TrafficClass(packet: Uint8Array): number {
  return ((packet[0]! & 0x0f) << 4) | (packet[1]! >>> 4);
}

export function ipv6FlowLabel(packet: Uint8Array): number {
  return ((packet[1]! & 0x0f) << 16) | readU16(packet, 2);
}

/** Bytes after the 40-byte fixed header, extension headers included. */
export function ipv6PayloadLength(packet: Uint8Array): number {
  return readU16(packet, 4);
}

/** Next Header of the fixed header: an extension header or the upper layer. */
export function ipv6NextHeader(packet: Uint8Array): number {
  return packet[6]!;
}

export function ipv6HopLimit(packet: Uint8Array): number {
  return packet[7]!;
}

/** Source address as a view of the packet's own 16 bytes (no copy). */
export function ipv6Src(packet: Uint8Array): Uint8Array {
  return packet.subarray(IPV6_SRC_OFFSET, IPV6_SRC_OFFSET + 16);
}

/** Destination address as a view of the packet's own 16 bytes (no copy). */
export function ipv6Dst(packet: Uint8Array): Uint8Array {
  return packet.subarray(IPV6_DST_OFFSET, IPV6_DST_OFFSET + 16);
}

/** Where the extension header chain ends. */
export interface Ipv6UpperLayer {
  /** The Next Header that names the upper layer (IPPROTO_NONE when there is none). */
  readonly protocol: number;
  /** Offset of the upper-layer header from the start of the packet. */
  readonly offset: number;
  /** Set when a Fragment header makes this a real fragment; atomic fragments (RFC 6946) are whole. */
  readonly fragment: IpFragment | null;
}

/**
 * Walks Hop-by-Hop Options, Routing, Fragment and Destination Options headers (RFC 8200
 * §4.3-4.6) from the fixed header up to `declaredEnd` (40 + Payload Length), with bounds checks
 * on every step and at most MAX_IPV6_EXTENSION_HEADERS of them. A non-first fragment ends the
 * walk at its Fragment header: the rest of the chain and the upper-layer header are in the first
 * fragment (§4.5). Never throws; a `declaredEnd` past the bytes present counts as truncation.
 */
export function walkIpv6ExtensionHeaders(
  packet: Uint8Array,
  declaredEnd: number,
): Ipv6UpperLayer | PacketError {
  if (packet.length < IPV6_HEADER_LENGTH) return packetError('truncated', 'IPv6 header needs 40 bytes');
  const end = Math.min(declaredEnd, packet.length);
  let nextHeader = packet[6]!;
  let offset = IPV6_HEADER_LENGTH;
  let fragment: IpFragment | null = null;
  for (let count = 0; ; count++) {
    const isOptionsOrRouting =
      nextHeader === IPPROTO_HOPOPTS || nextHeader === IPPROTO_ROUTING || nextHeader === IPPROTO_DSTOPTS;
    if (!isOptionsOrRouting && nextHeader !== IPPROTO_FRAGMENT) {
      return { protocol: nextHeader, offset, fragment };
    }
    if (count === MAX_IPV6_EXTENSION_HEADERS) {
      return packetError('unsupported', `more than ${MAX_IPV6_EXTENSION_HEADERS} IPv6 extension headers`);
    }
    if (nextHeader === IPPROTO_HOPOPTS && offset !== IPV6_HEADER_LENGTH) {
      // §4.3: Hop-by-Hop Options may only follow the IPv6 header immediately.
      return packetError('bad_extension_header', `Hop-by-Hop Options header at offset ${offset}`);
    }
    if (isOptionsOrRouting) {
      if (offset + 2 > end) return packetError('truncated', `extension header at ${offset} past ${end}`);
      // Hdr Ext Len counts 8-octet units after the first 8 (§4.3, §4.4, §4.6).
      const length = (packet[offset + 1]! + 1) * 8;
      if (offset + length > end) {
        return packetError('length_mismatch', `extension header of ${length} bytes at ${offset} past ${end}`);
      }
      nextHeader = packet[offset]!;
      offset += length;
      continue;
    }
    if (offset + IPV6_FRAGMENT_HEADER_LENGTH > end) {
      return packetError('truncated', `Fragment header at ${offset} past ${end}`);
    }
    const offsetAndFlags = readU16(packet, offset + 2);
    // Fragment Offset is the top 13 bits in 8-octet units, so masking yields bytes; M is bit 0.
    const fragmentOffset = offsetAndFlags & 0xfff8;
    const moreFragments = (offsetAndFlags & 1) !== 0;
    if (fragmentOffset !== 0 || moreFragments) {
      // §4.5: a fragment whose reassembled Payload Length would exceed 65,535 must be dropped.
      const reassembled = offset - IPV6_HEADER_LENGTH + fragmentOffset + (end - offset - 8);
      if (reassembled > MAX_LENGTH_FIELD) {
        return packetError('length_mismatch', `IPv6 fragment reassembles to ${reassembled} bytes`);
      }
      fragment = { offset: fragmentOffset, moreFragments, identification: readU32(packet, offset + 4) };
    }
    nextHeader = packet[offset]!;
    offset += IPV6_FRAGMENT_HEADER_LENGTH;
    if (fragmentOffset !== 0) return { protocol: nextHeader, offset, fragment };
  }
}

export interface Ipv6HeaderFields {
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly nextHeader: number;
  /** Bytes after the fixed header; written to Payload Length. */
  readonly payloadLength: number;
  readonly hopLimit?: number;
  readonly trafficClass?: number;
  readonly flowLabel?: number;
}

/**
 * Writes the 40-byte fixed IPv6 header at `offset` and returns its length; the payload is the
 * caller's to write after it.
 */
export function writeIpv6Header(
  buf: Uint8Array,
  offset: number,
  fields: Ipv6HeaderFields,
): number | PacketError {
  const hopLimit = fields.hopLimit ?? DEFAULT_TTL;
  const trafficClass = fields.trafficClass ?? 0;
  const flowLabel = fields.flowLabel ?? 0;
  if (fields.src.length !== 16 || fields.dst.length !== 16) {
    return packetError('invalid_argument', 'IPv6 addresses must be 16 bytes');
  }
  if (
    !isUint(fields.nextHeader, 0xff) ||
    !isUint(hopLimit, 0xff) ||
    !isUint(trafficClass, 0xff) ||
    !isUint(flowLabel, 0xfffff)
  ) {
    return packetError('invalid_argument', 'IPv6 header field out of range');
  }
  if (!isUint(fields.payloadLength, MAX_LENGTH_FIELD)) {
    return packetError('invalid_argument', `IPv6 payload of ${fields.payloadLength} bytes`);
  }
  if (!isUint(offset, buf.length - IPV6_HEADER_LENGTH)) {
    return packetError('buffer_too_small', 'no room for an IPv6 header');
  }
  // Version (4 bits), Traffic Class (8), Flow Label (20).
  writeU32(buf, offset, ((6 << 28) | (trafficClass << 20) | flowLabel) >>> 0);
  writeU16(buf, offset + 4, fields.payloadLength);
  buf[offset + 6] = fields.nextHeader;
  buf[offset + 7] = hopLimit;
  buf.set(fields.src, offset + IPV6_SRC_OFFSET);
  buf.set(fields.dst, offset + IPV6_DST_OFFSET);
  return IPV6_HEADER_LENGTH;
}
