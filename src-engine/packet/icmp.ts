/**
 * ICMP (RFC 792) and ICMPv6 (RFC 4443) message headers: a view over one message inside a
 * packet, and its writer. Both share the layout type, code, checksum, 4 bytes of
 * "rest of header" (identifier and sequence number for echo; unused/MTU/pointer for errors).
 */
import { readU16, writeU16 } from './bytes.js';
import {
  ICMP_CHECKSUM_OFFSET,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HEADER_LENGTH,
  ICMP_PARAMETER_PROBLEM,
  ICMP_REDIRECT,
  ICMP_SOURCE_QUENCH,
  ICMP_TIME_EXCEEDED,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
} from './constants.js';
import { packetError, type PacketError } from './errors.js';

export type IcmpKind = 'icmpv4' | 'icmpv6';

/** An ICMP or ICMPv6 header in place: getters read the packet, so they see later rewrites. */
export class IcmpHeader {
  constructor(
    readonly kind: IcmpKind,
    /** The whole IP packet (offset 0 = IP header). */
    readonly buffer: Uint8Array,
    /** Where the ICMP message starts in `buffer`. */
    readonly offset: number,
    /** Message bytes present in this packet. */
    readonly length: number,
  ) {}

  get type(): number {
    return this.buffer[this.offset]!;
  }

  get code(): number {
    return this.buffer[this.offset + 1]!;
  }

  get checksum(): number {
    return readU16(this.buffer, this.offset + ICMP_CHECKSUM_OFFSET);
  }

  get isEcho(): boolean {
    return isEchoType(this.kind, this.type);
  }

  /** Error messages quote a packet; RFC 1812 §4.3.2.7 and RFC 4443 §2.4 (e) never answer them. */
  get isError(): boolean {
    return isErrorType(this.kind, this.type);
  }

  /** Echo Identifier, or null for messages other than echo request/reply. */
  get identifier(): number | null {
    return this.isEcho ? readU16(this.buffer, this.offset + 4) : null;
  }

  /** Echo Sequence Number, or null for messages other than echo request/reply. */
  get sequence(): number | null {
    return this.isEcho ? readU16(this.buffer, this.offset + 6) : null;
  }

  /** Everything after the 8-byte header: echo data, or the quoted packet of an error. */
  get body(): Uint8Array {
    return this.buffer.subarray(this.offset + ICMP_HEADER_LENGTH, this.offset + this.length);
  }
}

export function isEchoType(kind: IcmpKind, type: number): boolean {
  return kind === 'icmpv4'
    ? type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY
    : type === ICMPV6_ECHO_REQUEST || type === ICMPV6_ECHO_REPLY;
}

/** ICMPv4 error types per RFC 1122 §3.2.2; ICMPv6 errors are types 0-127 (RFC 4443 §2.1). */
export function isErrorType(kind: IcmpKind, type: number): boolean {
  if (kind === 'icmpv6') return type < 128;
  return (
    type === ICMP_DEST_UNREACHABLE ||
    type === ICMP_SOURCE_QUENCH ||
    type === ICMP_REDIRECT ||
    type === ICMP_TIME_EXCEEDED ||
    type === ICMP_PARAMETER_PROBLEM
  );
}

/** Validates that the message holds its 8-byte header. */
export function parseIcmp(
  kind: IcmpKind,
  packet: Uint8Array,
  offset: number,
  length: number,
): IcmpHeader | PacketError {
  if (length < ICMP_HEADER_LENGTH) {
    return packetError('truncated', `ICMP header needs 8 bytes, has ${length}`);
  }
  return new IcmpHeader(kind, packet, offset, length);
}

/**
 * Writes the 8-byte ICMP header with a zero checksum; `word1` and `word2` are the two 16-bit
 * halves of the rest of the header (identifier and sequence for echo, zeros for errors).
 */
export function writeIcmpHeader(
  buf: Uint8Array,
  at: number,
  type: number,
  code: number,
  word1: number,
  word2: number,
): void {
  buf[at] = type;
  buf[at + 1] = code;
  writeU16(buf, at + ICMP_CHECKSUM_OFFSET, 0);
  writeU16(buf, at + 4, word1);
  writeU16(buf, at + 6, word2);
}
