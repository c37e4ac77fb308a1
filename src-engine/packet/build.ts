/**
 * Packet builders: IPv4/IPv6 + UDP, TCP and ICMP/ICMPv6 echo, checksums included. The address
 * length picks the family (4 bytes IPv4, 16 bytes IPv6).
 *
 * Each `write*` fills a caller-provided buffer at `offset` and returns the packet length, so the
 * packet loop can build into a reused buffer; each `build*` allocates an exactly sized one.
 * Neither throws: bad arguments and short buffers come back as a PacketError.
 */
import { isUint, writeU16 } from './bytes.js';
import { checksumFieldOffset, transportChecksum } from './checksum.js';
import {
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HEADER_LENGTH,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_MIN_HEADER_LENGTH,
  IPV6_HEADER_LENGTH,
  MAX_LENGTH_FIELD,
  TCP_MAX_HEADER_LENGTH,
  TCP_MIN_HEADER_LENGTH,
  UDP_HEADER_LENGTH,
} from './constants.js';
import { isPacketError, packetError, type PacketError } from './errors.js';
import { writeIcmpHeader } from './icmp.js';
import { writeIpv4Header } from './ipv4.js';
import { writeIpv6Header } from './ipv6.js';
import { writeTcpHeader } from './tcp.js';
import { writeUdpHeader } from './udp.js';

const EMPTY = new Uint8Array(0);

/** IP header fields common to every builder. */
export interface IpFields {
  /** 4 bytes for IPv4, 16 for IPv6; both addresses of one family. */
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  /** IPv4 TTL or IPv6 Hop Limit; default 64. */
  readonly ttl?: number;
  /** IPv4 Type of Service or IPv6 Traffic Class; default 0. */
  readonly tos?: number;
  /** IPv4 only; default 0 (see Ipv4HeaderFields.dontFragment). */
  readonly identification?: number;
  /** IPv4 only; default true. */
  readonly dontFragment?: boolean;
  /** IPv6 only; default 0. */
  readonly flowLabel?: number;
}

export interface UdpPacketFields extends IpFields {
  readonly srcPort: number;
  readonly dstPort: number;
  /** Default empty. May already sit where it belongs in the output buffer (it is then not copied). */
  readonly payload?: Uint8Array;
}

export interface TcpPacketFields extends IpFields {
  readonly srcPort: number;
  readonly dstPort: number;
  /** Control bits, e.g. TCP_SYN or TCP_ACK | TCP_PSH. */
  readonly flags: number;
  readonly sequenceNumber?: number;
  readonly acknowledgmentNumber?: number;
  /** Default 65535. */
  readonly window?: number;
  readonly urgentPointer?: number;
  /** Raw TCP options, at most 40 bytes, zero-padded to 32 bits (e.g. tcpMssOption(1240)). */
  readonly options?: Uint8Array;
  readonly payload?: Uint8Array;
}

export interface IcmpEchoFields extends IpFields {
  /** Echo Request (ICMP type 8 / ICMPv6 128) or Echo Reply (0 / 129). */
  readonly echo: 'request' | 'reply';
  readonly identifier: number;
  readonly sequence: number;
  readonly payload?: Uint8Array;
}

/** 20 for IPv4 fields (no options), 40 for IPv6. */
export function ipHeaderLengthFor(fields: IpFields): number {
  return fields.src.length === 4 ? IPV4_MIN_HEADER_LENGTH : IPV6_HEADER_LENGTH;
}

/**
 * Writes the IPv4 or IPv6 header for `protocol` and `payloadLength` upper-layer bytes; returns
 * its length.
 */
export function writeIpHeader(
  buf: Uint8Array,
  offset: number,
  fields: IpFields,
  protocol: number,
  payloadLength: number,
): number | PacketError {
  const size = fields.src.length;
  if ((size !== 4 && size !== 16) || fields.dst.length !== size) {
    return packetError('invalid_argument', 'addresses must be both 4 or both 16 bytes');
  }
  if (size === 4) {
    return writeIpv4Header(buf, offset, {
      src: fields.src,
      dst: fields.dst,
      protocol,
      payloadLength,
      ttl: fields.ttl,
      tos: fields.tos,
      identification: fields.identification,
      dontFragment: fields.dontFragment,
    });
  }
  return writeIpv6Header(buf, offset, {
    src: fields.src,
    dst: fields.dst,
    nextHeader: protocol,
    payloadLength,
    hopLimit: fields.ttl,
    trafficClass: fields.tos,
    flowLabel: fields.flowLabel,
  });
}

/** Writes a UDP datagram in an IP packet at `offset`; returns the packet length. */
export function writeUdpPacket(
  buf: Uint8Array,
  offset: number,
  fields: UdpPacketFields,
): number | PacketError {
  if (!isUint(fields.srcPort, 0xffff) || !isUint(fields.dstPort, 0xffff)) {
    return packetError('invalid_argument', `UDP ports ${fields.srcPort}, ${fields.dstPort}`);
  }
  const payload = fields.payload ?? EMPTY;
  const l4Offset = writeHeaderAndPayload(buf, offset, fields, IPPROTO_UDP, UDP_HEADER_LENGTH, payload);
  if (isPacketError(l4Offset)) return l4Offset;
  writeUdpHeader(buf, l4Offset, fields.srcPort, fields.dstPort, payload.length);
  return finishChecksum(buf, offset, l4Offset, UDP_HEADER_LENGTH + payload.length);
}

/** Writes a TCP segment in an IP packet at `offset`; returns the packet length. */
export function writeTcpPacket(
  buf: Uint8Array,
  offset: number,
  fields: TcpPacketFields,
): number | PacketError {
  const options = fields.options ?? EMPTY;
  const header = {
    srcPort: fields.srcPort,
    dstPort: fields.dstPort,
    sequenceNumber: fields.sequenceNumber ?? 0,
    acknowledgmentNumber: fields.acknowledgmentNumber ?? 0,
    flags: fields.flags,
    window: fields.window ?? 0xffff,
    urgentPointer: fields.urgentPointer ?? 0,
    options,
  };
  if (
    !isUint(header.srcPort, 0xffff) ||
    !isUint(header.dstPort, 0xffff) ||
    !isUint(header.sequenceNumber, 0xffffffff) ||
    !isUint(header.acknowledgmentNumber, 0xffffffff) ||
    !isUint(header.flags, 0xff) ||
    !isUint(header.window, 0xffff) ||
    !isUint(header.urgentPointer, 0xffff)
  ) {
    return packetError('invalid_argument', 'TCP header field out of range');
  }
  if (options.length > TCP_MAX_HEADER_LENGTH - TCP_MIN_HEADER_LENGTH) {
    return packetError('invalid_argument', `${options.length} bytes of TCP options`);
  }
  const headerLength = TCP_MIN_HEADER_LENGTH + ((options.length + 3) & ~3);
  const payload = fields.payload ?? EMPTY;
  const l4Offset = writeHeaderAndPayload(buf, offset, fields, IPPROTO_TCP, headerLength, payload);
  if (isPacketError(l4Offset)) return l4Offset;
  writeTcpHeader(buf, l4Offset, header);
  return finishChecksum(buf, offset, l4Offset, headerLength + payload.length);
}

/** Writes an ICMP (IPv4) or ICMPv6 (IPv6) echo request or reply at `offset`; returns the packet length. */
export function writeIcmpEcho(buf: Uint8Array, offset: number, fields: IcmpEchoFields): number | PacketError {
  if (!isUint(fields.identifier, 0xffff) || !isUint(fields.sequence, 0xffff)) {
    return packetError(
      'invalid_argument',
      `ICMP echo identifier ${fields.identifier}, sequence ${fields.sequence}`,
    );
  }
  const v4 = fields.src.length === 4;
  const protocol = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  const request = fields.echo === 'request';
  // RFC 792 "Echo or Echo Reply Message"; RFC 4443 §4.1, §4.2.
  const type = v4
    ? request
      ? ICMP_ECHO_REQUEST
      : ICMP_ECHO_REPLY
    : request
      ? ICMPV6_ECHO_REQUEST
      : ICMPV6_ECHO_REPLY;
  const payload = fields.payload ?? EMPTY;
  const l4Offset = writeHeaderAndPayload(buf, offset, fields, protocol, ICMP_HEADER_LENGTH, payload);
  if (isPacketError(l4Offset)) return l4Offset;
  writeIcmpHeader(buf, l4Offset, type, 0, fields.identifier, fields.sequence);
  return finishChecksum(buf, offset, l4Offset, ICMP_HEADER_LENGTH + payload.length);
}

export function buildUdpPacket(fields: UdpPacketFields): Uint8Array | PacketError {
  const size = ipHeaderLengthFor(fields) + UDP_HEADER_LENGTH + (fields.payload?.length ?? 0);
  return allocateAndWrite(size, (buf) => writeUdpPacket(buf, 0, fields));
}

export function buildTcpPacket(fields: TcpPacketFields): Uint8Array | PacketError {
  const options = fields.options?.length ?? 0;
  const size =
    ipHeaderLengthFor(fields) + TCP_MIN_HEADER_LENGTH + ((options + 3) & ~3) + (fields.payload?.length ?? 0);
  return allocateAndWrite(size, (buf) => writeTcpPacket(buf, 0, fields));
}

export function buildIcmpEcho(fields: IcmpEchoFields): Uint8Array | PacketError {
  const size = ipHeaderLengthFor(fields) + ICMP_HEADER_LENGTH + (fields.payload?.length ?? 0);
  return allocateAndWrite(size, (buf) => writeIcmpEcho(buf, 0, fields));
}

/**
 * Allocates `size` bytes (when the size is sane) and runs the writer on them; the writer
 * validates everything else and reports errors. A writer that used less than `size` gets its
 * output copied into an exactly sized array, so callers never hold a view of a larger buffer.
 */
export function allocateAndWrite(
  size: number,
  write: (buf: Uint8Array) => number | PacketError,
): Uint8Array | PacketError {
  if (size > IPV6_HEADER_LENGTH + MAX_LENGTH_FIELD) {
    return packetError('invalid_argument', `a packet of ${size} bytes`);
  }
  const buf = new Uint8Array(size);
  const written = write(buf);
  if (isPacketError(written)) return written;
  return written === size ? buf : buf.slice(0, written);
}

/**
 * Checks the sizes, writes the IP header and puts the payload after the upper-layer header;
 * returns the offset of the upper-layer header.
 */
function writeHeaderAndPayload(
  buf: Uint8Array,
  offset: number,
  fields: IpFields,
  protocol: number,
  l4HeaderLength: number,
  payload: Uint8Array,
): number | PacketError {
  const ipHeaderLength = ipHeaderLengthFor(fields);
  const l4Length = l4HeaderLength + payload.length;
  if (!isUint(offset, buf.length) || offset + ipHeaderLength + l4Length > buf.length) {
    return packetError('buffer_too_small', `no room for ${ipHeaderLength + l4Length} bytes at ${offset}`);
  }
  const written = writeIpHeader(buf, offset, fields, protocol, l4Length);
  if (isPacketError(written)) return written;
  const l4Offset = offset + written;
  const payloadAt = l4Offset + l4HeaderLength;
  // Skip the copy when the caller built the payload in place (TypedArray.set would clone it).
  if (payload.buffer !== buf.buffer || payload.byteOffset !== buf.byteOffset + payloadAt) {
    buf.set(payload, payloadAt);
  }
  return l4Offset;
}

/**
 * Fills in the upper-layer checksum once everything else is written (the protocol is read back
 * from the header just written, which has no extension headers); returns the packet length.
 */
function finishChecksum(buf: Uint8Array, offset: number, l4Offset: number, l4Length: number): number {
  const packet = offset === 0 ? buf : buf.subarray(offset);
  const version = packet[0]! >>> 4 === 4 ? 4 : 6;
  const protocol = version === 4 ? packet[9]! : packet[6]!;
  const payloadOffset = l4Offset - offset;
  const scope = { version, protocol, payloadOffset, payloadLength: l4Length } as const;
  writeU16(packet, payloadOffset + checksumFieldOffset(version, protocol), transportChecksum(packet, scope));
  return payloadOffset + l4Length;
}
