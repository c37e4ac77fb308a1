/**
 * IPv4 header (RFC 791 §3.1) field access and writing, in place on a packet that starts at
 * offset 0 of `packet`. Accessors do not check bounds: call them on a packet that
 * parseIpPacket accepted (or that is known to hold a full header).
 */
import { isUint, readU16, readU32, writeU16 } from './bytes.js';
import { ipv4HeaderChecksum } from './checksum.js';
import {
  DEFAULT_TTL,
  IPV4_CHECKSUM_OFFSET,
  IPV4_DST_OFFSET,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_MIN_HEADER_LENGTH,
  IPV4_SRC_OFFSET,
  MAX_LENGTH_FIELD,
} from './constants.js';
import { packetError, type PacketError } from './errors.js';

/** Header length in bytes: IHL counts 32-bit words. */
export function ipv4HeaderLength(packet: Uint8Array): number {
  return (packet[0]! & 0x0f) * 4;
}

export function ipv4Tos(packet: Uint8Array): number {
  return packet[1]!;
}

export function ipv4TotalLength(packet: Uint8Array): number {
  return readU16(packet, 2);
}

export function ipv4Identification(packet: Uint8Array): number {
  return readU16(packet, 4);
}

export function ipv4DontFragment(packet: Uint8Array): boolean {
  return (readU16(packet, 6) & IPV4_FLAG_DF) !== 0;
}

export function ipv4MoreFragments(packet: Uint8Array): boolean {
  return (readU16(packet, 6) & IPV4_FLAG_MF) !== 0;
}

/** Fragment Offset in bytes (the field counts 8-byte units). */
export function ipv4FragmentOffset(packet: Uint8Array): number {
  return (readU16(packet, 6) & IPV4_FRAGMENT_OFFSET_MASK) * 8;
}

/** True for any fragment, first or not: MF set or a non-zero offset. */
export function ipv4IsFragment(packet: Uint8Array): boolean {
  return (readU16(packet, 6) & (IPV4_FLAG_MF | IPV4_FRAGMENT_OFFSET_MASK)) !== 0;
}

export function ipv4Ttl(packet: Uint8Array): number {
  return packet[8]!;
}

export function ipv4Protocol(packet: Uint8Array): number {
  return packet[9]!;
}

export function ipv4HeaderChecksumField(packet: Uint8Array): number {
  return readU16(packet, IPV4_CHECKSUM_OFFSET);
}

/** Source address as a view of the packet's own 4 bytes (no copy). */
export function ipv4Src(packet: Uint8Array): Uint8Array {
  return packet.subarray(IPV4_SRC_OFFSET, IPV4_SRC_OFFSET + 4);
}

/** Destination address as a view of the packet's own 4 bytes (no copy). */
export function ipv4Dst(packet: Uint8Array): Uint8Array {
  return packet.subarray(IPV4_DST_OFFSET, IPV4_DST_OFFSET + 4);
}

/** Source address as an unsigned 32-bit number: no allocation, handy for map keys and CIDR tests. */
export function ipv4SrcU32(packet: Uint8Array): number {
  return readU32(packet, IPV4_SRC_OFFSET);
}

/** Destination address as an unsigned 32-bit number. */
export function ipv4DstU32(packet: Uint8Array): number {
  return readU32(packet, IPV4_DST_OFFSET);
}

export interface Ipv4HeaderFields {
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly protocol: number;
  /** Bytes after the header; Total Length becomes 20 + payloadLength. */
  readonly payloadLength: number;
  readonly ttl?: number;
  readonly tos?: number;
  readonly identification?: number;
  /**
   * Default true. Our packets fit the 1280-byte tunnel MTU, and for such atomic datagrams the
   * Identification may be any value (RFC 6864 §4.1), so it defaults to 0.
   */
  readonly dontFragment?: boolean;
}

/**
 * Writes a 20-byte IPv4 header without options at `offset`, checksum included, and returns its
 * length; the payload is the caller's to write after it.
 */
export function writeIpv4Header(
  buf: Uint8Array,
  offset: number,
  fields: Ipv4HeaderFields,
): number | PacketError {
  const ttl = fields.ttl ?? DEFAULT_TTL;
  const tos = fields.tos ?? 0;
  const identification = fields.identification ?? 0;
  if (fields.src.length !== 4 || fields.dst.length !== 4) {
    return packetError('invalid_argument', 'IPv4 addresses must be 4 bytes');
  }
  if (
    !isUint(fields.protocol, 0xff) ||
    !isUint(ttl, 0xff) ||
    !isUint(tos, 0xff) ||
    !isUint(identification, 0xffff)
  ) {
    return packetError('invalid_argument', 'IPv4 header field out of range');
  }
  if (!isUint(fields.payloadLength, MAX_LENGTH_FIELD - IPV4_MIN_HEADER_LENGTH)) {
    return packetError('invalid_argument', `IPv4 payload of ${fields.payloadLength} bytes`);
  }
  if (!isUint(offset, buf.length - IPV4_MIN_HEADER_LENGTH)) {
    return packetError('buffer_too_small', 'no room for an IPv4 header');
  }
  const packet = buf.subarray(offset);
  packet[0] = 0x45; // version 4, IHL 5
  packet[1] = tos;
  writeU16(packet, 2, IPV4_MIN_HEADER_LENGTH + fields.payloadLength);
  writeU16(packet, 4, identification);
  writeU16(packet, 6, (fields.dontFragment ?? true) ? IPV4_FLAG_DF : 0);
  packet[8] = ttl;
  packet[9] = fields.protocol;
  writeU16(packet, IPV4_CHECKSUM_OFFSET, 0);
  packet.set(fields.src, IPV4_SRC_OFFSET);
  packet.set(fields.dst, IPV4_DST_OFFSET);
  writeU16(packet, IPV4_CHECKSUM_OFFSET, ipv4HeaderChecksum(packet));
  return IPV4_MIN_HEADER_LENGTH;
}
