/**
 * The Internet checksum (RFC 1071) and everything built on it: the IPv4 header checksum, the
 * UDP/TCP/ICMPv6 checksums over a pseudo-header, the ICMPv4 checksum, and incremental updates
 * (RFC 1624) for NAT. All functions read a packet in place and allocate nothing.
 *
 * A packet here is a Uint8Array that starts at the IP header; `scope` says where its upper-layer
 * message lies (a parsed IpPacket is one).
 */
import { readU16 } from './bytes.js';
import {
  ICMP_CHECKSUM_OFFSET,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_CHECKSUM_OFFSET,
  IPV4_SRC_OFFSET,
  IPV6_SRC_OFFSET,
  TCP_CHECKSUM_OFFSET,
  UDP_CHECKSUM_OFFSET,
} from './constants.js';

/** Where the upper-layer message of a packet lies: what a transport checksum covers. */
export interface ChecksumScope {
  readonly version: 4 | 6;
  /** IPv4 Protocol, or the IPv6 Next Header that names the upper layer (after extension headers). */
  readonly protocol: number;
  readonly payloadOffset: number;
  readonly payloadLength: number;
}

/** Folds a sum of 16-bit words into 16 bits with end-around carry (RFC 1071 §2 (C)). */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * One's complement sum of buf[offset, offset + length) read as big-endian 16-bit words, added
 * to `initial` and folded. An odd final byte is padded with a zero byte (RFC 1071 §4.1), so
 * when sums are chained only the last range may have an odd length.
 */
export function onesComplementSum(buf: Uint8Array, offset: number, length: number, initial = 0): number {
  let sum = initial;
  let i = offset;
  const lastWord = offset + length - 1;
  // Deferred carries: at most 32,788 words of 0xffff for an IPv6 packet, far below 2^53.
  for (; i < lastWord; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i === lastWord) sum += buf[i]! << 8;
  return fold(sum);
}

/** RFC 1071 checksum of a byte range: the complement of its one's complement sum. */
export function internetChecksum(
  buf: Uint8Array,
  offset = 0,
  length = buf.length - offset,
  initial = 0,
): number {
  return ~onesComplementSum(buf, offset, length, initial) & 0xffff;
}

/**
 * Sum of the pseudo-header of a packet whose header holds the addresses. IPv4 (RFC 768, RFC
 * 9293 §3.1): src, dst, zero, protocol, 16-bit length. IPv6 (RFC 8200 §8.1): src, dst, 32-bit
 * length, zero, next header. Both sum to the same words because src and dst are adjacent.
 * IPv6 uses the header's Destination Address, which is the final destination at the receiver
 * (RFC 8200 §8.1); we do not originate Routing headers.
 */
export function pseudoHeaderSum(
  packet: Uint8Array,
  version: 4 | 6,
  protocol: number,
  upperLayerLength: number,
): number {
  const initial = protocol + (upperLayerLength >>> 16) + (upperLayerLength & 0xffff);
  return version === 4
    ? onesComplementSum(packet, IPV4_SRC_OFFSET, 8, initial)
    : onesComplementSum(packet, IPV6_SRC_OFFSET, 32, initial);
}

/** IPv4 header checksum (RFC 791 §3.1) the header should carry, computed as if the field were 0. */
export function ipv4HeaderChecksum(packet: Uint8Array): number {
  const headerLength = (packet[0]! & 0x0f) * 4;
  const sum = onesComplementSum(packet, 0, IPV4_CHECKSUM_OFFSET);
  const end = IPV4_CHECKSUM_OFFSET + 2;
  return ~onesComplementSum(packet, end, headerLength - end, sum) & 0xffff;
}

/** A header is intact when its sum, checksum included, is all ones (RFC 1071 §1 (3)). */
export function verifyIpv4HeaderChecksum(packet: Uint8Array): boolean {
  return onesComplementSum(packet, 0, (packet[0]! & 0x0f) * 4) === 0xffff;
}

/**
 * Offset of the checksum field inside the upper-layer header, or -1 for protocols whose
 * checksum we do not know (or that make no sense in this IP version).
 */
export function checksumFieldOffset(version: 4 | 6, protocol: number): number {
  switch (protocol) {
    case IPPROTO_UDP:
      return UDP_CHECKSUM_OFFSET;
    case IPPROTO_TCP:
      return TCP_CHECKSUM_OFFSET;
    case IPPROTO_ICMP:
      return version === 4 ? ICMP_CHECKSUM_OFFSET : -1;
    case IPPROTO_ICMPV6:
      return version === 6 ? ICMP_CHECKSUM_OFFSET : -1;
    default:
      return -1;
  }
}

/** ICMPv4 alone has no pseudo-header (RFC 792); ICMPv6 has one (RFC 4443 §2.3). */
function usesPseudoHeader(scope: ChecksumScope): boolean {
  return scope.protocol !== IPPROTO_ICMP;
}

/**
 * The checksum the upper-layer header should carry, computed as if its field were 0, or -1 when
 * the protocol has no checksum we know or the message is too short to hold the field. For UDP a
 * computed 0 is returned as 0xffff, because 0 on the wire means "no checksum" (RFC 768).
 * Only meaningful for a whole datagram, not for a fragment.
 */
export function transportChecksum(packet: Uint8Array, scope: ChecksumScope): number {
  const field = checksumFieldOffset(scope.version, scope.protocol);
  if (field < 0 || scope.payloadLength < field + 2) return -1;
  const start = scope.payloadOffset;
  let sum = usesPseudoHeader(scope)
    ? pseudoHeaderSum(packet, scope.version, scope.protocol, scope.payloadLength)
    : 0;
  sum = onesComplementSum(packet, start, field, sum);
  sum = onesComplementSum(packet, start + field + 2, scope.payloadLength - field - 2, sum);
  const checksum = ~sum & 0xffff;
  return checksum === 0 && scope.protocol === IPPROTO_UDP ? 0xffff : checksum;
}

/**
 * True when the upper-layer checksum is right. A UDP checksum of 0 means "none" over IPv4
 * (RFC 768) and is accepted; over IPv6 it is invalid (RFC 8200 §8.1). Protocols without a
 * known checksum return true.
 */
export function verifyTransportChecksum(packet: Uint8Array, scope: ChecksumScope): boolean {
  const field = checksumFieldOffset(scope.version, scope.protocol);
  if (field < 0) return true;
  if (scope.payloadLength < field + 2) return false;
  const stored = readU16(packet, scope.payloadOffset + field);
  if (scope.protocol === IPPROTO_UDP && stored === 0) return scope.version === 4;
  const initial = usesPseudoHeader(scope)
    ? pseudoHeaderSum(packet, scope.version, scope.protocol, scope.payloadLength)
    : 0;
  return onesComplementSum(packet, scope.payloadOffset, scope.payloadLength, initial) === 0xffff;
}

// Incremental update, RFC 1624 §3 eqn. 3: HC' = ~(~HC + ~m + m'). Eqn. 3 rather than eqn. 2
// because its sum is 0 only when every term is, so for a consistent HC its result equals a full
// recomputation whenever the data after the change is not all zero. That holds for every IPv4
// header (version nibble) and every pseudo-header (protocol); nat.ts handles the one exception,
// an ICMPv4 echo reply that becomes all zero. The property tests compare against recomputation.

/**
 * The `~m + m'` part of eqn. 3 for a run of 16-bit words changing from old to new: add it to a
 * checksum with applyChecksumDelta. Computing it once lets one address change update both the
 * IPv4 header checksum and the transport checksum. `length` must be even.
 */
export function checksumDelta(
  oldBytes: Uint8Array,
  oldOffset: number,
  newBytes: Uint8Array,
  newOffset: number,
  length: number,
): number {
  let delta = 0;
  for (let i = 0; i < length; i += 2) {
    delta += (~readU16(oldBytes, oldOffset + i) & 0xffff) + readU16(newBytes, newOffset + i);
  }
  return delta;
}

/** Applies a delta from checksumDelta (or `(~m & 0xffff) + m'` sums) to a checksum. */
export function applyChecksumDelta(checksum: number, delta: number): number {
  return ~fold((~checksum & 0xffff) + delta) & 0xffff;
}

/** Eqn. 3 for one 16-bit word (a port, an ICMP identifier, TTL and protocol). */
export function updateChecksum16(checksum: number, oldWord: number, newWord: number): number {
  return applyChecksumDelta(checksum, (~oldWord & 0xffff) + (newWord & 0xffff));
}

/** Eqn. 3 for equally long, even-length byte strings: 4-byte IPv4 or 16-byte IPv6 addresses. */
export function updateChecksumBytes(checksum: number, oldBytes: Uint8Array, newBytes: Uint8Array): number {
  return applyChecksumDelta(checksum, checksumDelta(oldBytes, 0, newBytes, 0, oldBytes.length));
}
