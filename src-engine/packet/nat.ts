/**
 * In-place NAT rewrites of addresses, ports and ICMP echo identifiers, with the IPv4 header
 * checksum and the transport checksum updated incrementally (RFC 1624 §3 eqn. 3) instead of
 * recomputed: the cost is a few words, not the whole packet.
 *
 * Each takes a packet from parseIpPacket; its getters (src, dst, transport ports) read the
 * rewritten bytes afterwards. Returns undefined on success, or a PacketError and leaves the
 * packet untouched. A packet that arrived with a wrong checksum still has a wrong one after.
 * Fragments after the first have no transport header, so only their IP header is updated;
 * translating fragmented traffic end to end needs reassembly first.
 */
import { isUint, readU16, writeU16 } from './bytes.js';
import { applyChecksumDelta, checksumDelta, transportChecksum, updateChecksum16 } from './checksum.js';
import {
  ICMP_CHECKSUM_OFFSET,
  IPV4_CHECKSUM_OFFSET,
  IPV4_DST_OFFSET,
  IPV4_SRC_OFFSET,
  IPV6_DST_OFFSET,
  IPV6_SRC_OFFSET,
  TCP_CHECKSUM_OFFSET,
  UDP_CHECKSUM_OFFSET,
} from './constants.js';
import { packetError, type PacketError } from './errors.js';
import type { IpPacket } from './parse.js';

/** Rewrites the source address (4 bytes for IPv4, 16 for IPv6). */
export function rewriteSrcAddress(packet: IpPacket, address: Uint8Array): PacketError | undefined {
  return rewriteAddress(packet, packet.version === 4 ? IPV4_SRC_OFFSET : IPV6_SRC_OFFSET, address);
}

/** Rewrites the destination address (4 bytes for IPv4, 16 for IPv6). */
export function rewriteDstAddress(packet: IpPacket, address: Uint8Array): PacketError | undefined {
  return rewriteAddress(packet, packet.version === 4 ? IPV4_DST_OFFSET : IPV6_DST_OFFSET, address);
}

/** Rewrites the UDP or TCP source port. */
export function rewriteSrcPort(packet: IpPacket, port: number): PacketError | undefined {
  return rewritePort(packet, 0, port);
}

/** Rewrites the UDP or TCP destination port. */
export function rewriteDstPort(packet: IpPacket, port: number): PacketError | undefined {
  return rewritePort(packet, 2, port);
}

/**
 * Rewrites the Identifier of an ICMP or ICMPv6 echo request/reply: NAT treats it as the port of
 * ICMP (RFC 5508 §3.1).
 */
export function rewriteIcmpIdentifier(packet: IpPacket, identifier: number): PacketError | undefined {
  const icmp = packet.transport;
  if (icmp === null || icmp.kind === 'udp' || icmp.kind === 'tcp' || !icmp.isEcho) {
    return packetError('unsupported', 'not an ICMP echo message');
  }
  if (!isUint(identifier, 0xffff)) return packetError('invalid_argument', `ICMP identifier ${identifier}`);
  const buf = packet.buffer;
  const at = icmp.offset + 4;
  const field = icmp.offset + ICMP_CHECKSUM_OFFSET;
  let checksum = updateChecksum16(readU16(buf, field), readU16(buf, at), identifier);
  writeU16(buf, at, identifier);
  // Eqn. 3 yields 0 where a recomputation yields 0xffff only if the message is now all zero,
  // which an ICMPv4 echo reply (type 0, code 0) can be. Recompute in that rare case.
  if (checksum === 0 && icmp.kind === 'icmpv4' && packet.fragment === null) {
    checksum = transportChecksum(buf, packet);
  }
  writeU16(buf, field, checksum);
  return undefined;
}

function rewriteAddress(packet: IpPacket, at: number, address: Uint8Array): PacketError | undefined {
  const size = packet.version === 4 ? 4 : 16;
  if (address.length !== size) {
    return packetError('invalid_argument', `IPv${packet.version} address of ${address.length} bytes`);
  }
  const buf = packet.buffer;
  const delta = checksumDelta(buf, at, address, 0, size);
  if (packet.version === 4) {
    writeU16(buf, IPV4_CHECKSUM_OFFSET, applyChecksumDelta(readU16(buf, IPV4_CHECKSUM_OFFSET), delta));
  }
  // The addresses are in the pseudo-header of UDP, TCP and ICMPv6, not of ICMPv4 (RFC 792).
  const transport = packet.transport;
  if (transport !== null && transport.kind !== 'icmpv4') {
    adjustTransportChecksum(packet, transport.kind, transport.offset, delta);
  }
  buf.set(address, at);
  return undefined;
}

function rewritePort(packet: IpPacket, fieldOffset: 0 | 2, port: number): PacketError | undefined {
  const transport = packet.transport;
  if (transport === null || (transport.kind !== 'udp' && transport.kind !== 'tcp')) {
    return packetError('unsupported', 'no UDP or TCP header to rewrite a port in');
  }
  if (!isUint(port, 0xffff)) return packetError('invalid_argument', `port ${port}`);
  const buf = packet.buffer;
  const at = transport.offset + fieldOffset;
  adjustTransportChecksum(packet, transport.kind, transport.offset, (~readU16(buf, at) & 0xffff) + port);
  writeU16(buf, at, port);
  return undefined;
}

function adjustTransportChecksum(
  packet: IpPacket,
  kind: 'udp' | 'tcp' | 'icmpv6',
  transportOffset: number,
  delta: number,
): void {
  const buf = packet.buffer;
  const field =
    transportOffset +
    (kind === 'udp' ? UDP_CHECKSUM_OFFSET : kind === 'tcp' ? TCP_CHECKSUM_OFFSET : ICMP_CHECKSUM_OFFSET);
  const old = readU16(buf, field);
  if (kind !== 'udp') {
    writeU16(buf, field, applyChecksumDelta(old, delta));
    return;
  }
  // RFC 768: over IPv4 a zero UDP checksum means "none" and must stay zero; a computed zero is
  // sent as 0xffff. (Over IPv6 zero is invalid, RFC 8200 §8.1; we update it like any other.)
  if (old === 0 && packet.version === 4) return;
  const checksum = applyChecksumDelta(old, delta);
  writeU16(buf, field, checksum === 0 ? 0xffff : checksum);
}
