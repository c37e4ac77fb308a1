/**
 * parseIpPacket: validates an IPv4 or IPv6 packet and describes it, never throwing. The result
 * is a view: it keeps the buffer and offsets, and reads addresses, TTL and ports from the bytes
 * on demand, so it stays true after in-place NAT rewrites and copies nothing.
 */
import { readU16 } from './bytes.js';
import { verifyIpv4HeaderChecksum, verifyTransportChecksum, type ChecksumScope } from './checksum.js';
import {
  IPPROTO_HOPOPTS,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_DST_OFFSET,
  IPV4_FLAG_MF,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_MIN_HEADER_LENGTH,
  IPV4_SRC_OFFSET,
  IPV6_DST_OFFSET,
  IPV6_HEADER_LENGTH,
  IPV6_SRC_OFFSET,
  MAX_IP_SIZE,
  MAX_LENGTH_FIELD,
} from './constants.js';
import { isPacketError, packetError, type PacketError } from './errors.js';
import type { IpFragment } from './fragment.js';
import { parseIcmp, type IcmpHeader } from './icmp.js';
import { walkIpv6ExtensionHeaders } from './ipv6.js';
import { parseTcp, type TcpHeader } from './tcp.js';
import { parseUdp, type UdpHeader } from './udp.js';

export type Transport = UdpHeader | TcpHeader | IcmpHeader;

export interface ParseOptions {
  /**
   * Largest packet accepted, judged by its declared length (IPv4 Total Length, IPv6 40 + Payload
   * Length). Default MAX_IP_SIZE (1280, our TUN MTU); pass 65535 (or MAX_IPV6_PACKET_SIZE) to
   * accept anything the length fields can describe.
   */
  readonly maxSize?: number;
  /**
   * Verify the IPv4 header checksum and, for packets that are not fragments, the UDP, TCP, ICMP
   * or ICMPv6 checksum. Off by default: packets from our own TUN were made by the local stack.
   */
  readonly verifyChecksums?: boolean;
}

/** A validated IP packet. Offsets are from the start of `buffer` and always within totalLength. */
export class IpPacket implements ChecksumScope {
  constructor(
    /** The bytes the packet was parsed from; bytes past totalLength are not part of it. */
    readonly buffer: Uint8Array,
    readonly version: 4 | 6,
    /** IPv4: IHL × 4, options included. IPv6: 40, the fixed header (see payloadOffset). */
    readonly headerLength: number,
    /** IPv4 Total Length, or 40 + IPv6 Payload Length. */
    readonly totalLength: number,
    /** IPv4 Protocol, or the IPv6 Next Header that names the upper layer after any extension headers. */
    readonly protocol: number,
    /** Start of the upper-layer header: after IPv4 options or IPv6 extension headers. */
    readonly payloadOffset: number,
    /** Non-null for fragments (first or later); null for whole datagrams. */
    readonly fragment: IpFragment | null,
    /**
     * The UDP, TCP, ICMP or ICMPv6 header, validated; null for other protocols and for
     * fragments other than the first, which carry no upper-layer header.
     */
    readonly transport: Transport | null,
  ) {}

  /** Upper-layer bytes: totalLength − payloadOffset. */
  get payloadLength(): number {
    return this.totalLength - this.payloadOffset;
  }

  /** Source address: a 4- or 16-byte view of the packet (no copy). */
  get src(): Uint8Array {
    const at = this.version === 4 ? IPV4_SRC_OFFSET : IPV6_SRC_OFFSET;
    return this.buffer.subarray(at, at + (this.version === 4 ? 4 : 16));
  }

  /** Destination address: a 4- or 16-byte view of the packet (no copy). */
  get dst(): Uint8Array {
    const at = this.version === 4 ? IPV4_DST_OFFSET : IPV6_DST_OFFSET;
    return this.buffer.subarray(at, at + (this.version === 4 ? 4 : 16));
  }

  /** IPv4 Time to Live or IPv6 Hop Limit. */
  get ttl(): number {
    return this.buffer[this.version === 4 ? 8 : 7]!;
  }

  /** The packet itself without trailing bytes, as a view. */
  get bytes(): Uint8Array {
    return this.buffer.subarray(0, this.totalLength);
  }

  /** The upper-layer message (header included), as a view. */
  get payload(): Uint8Array {
    return this.buffer.subarray(this.payloadOffset, this.totalLength);
  }
}

/** The version nibble of the first byte (0 for an empty buffer). */
export function ipVersion(buf: Uint8Array): number {
  return buf.length === 0 ? 0 : buf[0]! >>> 4;
}

/**
 * Validates `buf` as one IP packet and describes it, or returns why not. Never throws, for
 * any input. Bytes after the declared length are allowed and ignored (links may pad).
 */
export function parseIpPacket(buf: Uint8Array, options?: ParseOptions): IpPacket | PacketError {
  const maxSize = options?.maxSize ?? MAX_IP_SIZE;
  const verify = options?.verifyChecksums ?? false;
  switch (ipVersion(buf)) {
    case 4:
      return parseIpv4(buf, maxSize, verify);
    case 6:
      return parseIpv6(buf, maxSize, verify);
    default:
      return buf.length === 0
        ? packetError('truncated', 'empty packet')
        : packetError('bad_version', `IP version ${buf[0]! >>> 4}`);
  }
}

function parseIpv4(buf: Uint8Array, maxSize: number, verify: boolean): IpPacket | PacketError {
  if (buf.length < IPV4_MIN_HEADER_LENGTH) {
    return packetError('truncated', `IPv4 header needs 20 bytes, has ${buf.length}`);
  }
  const headerLength = (buf[0]! & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER_LENGTH) return packetError('bad_ihl', `IPv4 IHL ${headerLength / 4}`);
  const totalLength = readU16(buf, 2);
  if (totalLength < headerLength) {
    return packetError('length_mismatch', `IPv4 Total Length ${totalLength} < header ${headerLength}`);
  }
  if (totalLength > maxSize) return packetError('too_large', `IPv4 packet of ${totalLength} bytes`);
  if (totalLength > buf.length) {
    return packetError('truncated', `IPv4 Total Length ${totalLength}, have ${buf.length} bytes`);
  }
  if (verify && !verifyIpv4HeaderChecksum(buf)) return packetError('bad_checksum', 'IPv4 header checksum');

  const payloadLength = totalLength - headerLength;
  const flagsAndOffset = readU16(buf, 6);
  const fragmentOffset = (flagsAndOffset & IPV4_FRAGMENT_OFFSET_MASK) * 8;
  const moreFragments = (flagsAndOffset & IPV4_FLAG_MF) !== 0;
  let fragment: IpFragment | null = null;
  if (fragmentOffset !== 0 || moreFragments) {
    // A fragment may not reach past the largest datagram (RFC 791 §3.2; the "ping of death").
    if (fragmentOffset + payloadLength > MAX_LENGTH_FIELD) {
      return packetError('length_mismatch', `IPv4 fragment ends at ${fragmentOffset + payloadLength}`);
    }
    fragment = { offset: fragmentOffset, moreFragments, identification: readU16(buf, 4) };
  }
  const protocol = buf[9]!;
  return finish(buf, 4, headerLength, totalLength, protocol, headerLength, fragment, verify);
}

function parseIpv6(buf: Uint8Array, maxSize: number, verify: boolean): IpPacket | PacketError {
  if (buf.length < IPV6_HEADER_LENGTH) {
    return packetError('truncated', `IPv6 header needs 40 bytes, has ${buf.length}`);
  }
  const payloadLength = readU16(buf, 4);
  if (payloadLength === 0 && buf[6] === IPPROTO_HOPOPTS) {
    // Payload Length 0 with Hop-by-Hop Options is a jumbogram (RFC 2675): never on our links.
    return packetError('unsupported', 'IPv6 jumbogram');
  }
  const totalLength = IPV6_HEADER_LENGTH + payloadLength;
  if (totalLength > maxSize) return packetError('too_large', `IPv6 packet of ${totalLength} bytes`);
  if (totalLength > buf.length) {
    return packetError('truncated', `IPv6 Payload Length ${payloadLength}, have ${buf.length - 40} bytes`);
  }
  const upper = walkIpv6ExtensionHeaders(buf, totalLength);
  if (isPacketError(upper)) return upper;
  return finish(
    buf,
    6,
    IPV6_HEADER_LENGTH,
    totalLength,
    upper.protocol,
    upper.offset,
    upper.fragment,
    verify,
  );
}

/** Validates the upper-layer header (first fragments included) and, if asked, its checksum. */
function finish(
  buf: Uint8Array,
  version: 4 | 6,
  headerLength: number,
  totalLength: number,
  protocol: number,
  payloadOffset: number,
  fragment: IpFragment | null,
  verify: boolean,
): IpPacket | PacketError {
  const payloadLength = totalLength - payloadOffset;
  let transport: Transport | null | PacketError = null;
  // Only the first fragment carries the upper-layer header (RFC 791 §3.2, RFC 8200 §4.5).
  if (fragment === null || fragment.offset === 0) {
    transport = parseTransport(buf, version, protocol, payloadOffset, payloadLength, fragment === null);
    if (isPacketError(transport)) return transport;
  }
  const packet = new IpPacket(
    buf,
    version,
    headerLength,
    totalLength,
    protocol,
    payloadOffset,
    fragment,
    transport,
  );
  if (verify && transport !== null && fragment === null && !verifyTransportChecksum(buf, packet)) {
    return packetError('bad_checksum', `${transport.kind} checksum`);
  }
  return packet;
}

function parseTransport(
  buf: Uint8Array,
  version: 4 | 6,
  protocol: number,
  offset: number,
  length: number,
  whole: boolean,
): Transport | null | PacketError {
  switch (protocol) {
    case IPPROTO_UDP:
      return parseUdp(buf, offset, length, whole);
    case IPPROTO_TCP:
      return parseTcp(buf, offset, length);
    case IPPROTO_ICMP:
      return version === 4 ? parseIcmp('icmpv4', buf, offset, length) : null;
    case IPPROTO_ICMPV6:
      return version === 6 ? parseIcmp('icmpv6', buf, offset, length) : null;
    default:
      return null;
  }
}
