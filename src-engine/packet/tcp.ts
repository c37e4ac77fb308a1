/**
 * TCP header (RFC 9293 §3.1): a view over one segment inside a packet, and its writer.
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { TCP_CHECKSUM_OFFSET, TCP_MIN_HEADER_LENGTH } from './constants.js';
import { packetError, type PacketError } from './errors.js';

/** A TCP header in place: getters read the packet, so they see rewrites made after parsing. */
export class TcpHeader {
  readonly kind = 'tcp';

  constructor(
    /** The whole IP packet (offset 0 = IP header). */
    readonly buffer: Uint8Array,
    /** Where the TCP header starts in `buffer`. */
    readonly offset: number,
    /** TCP bytes present in this packet (header, options and data). */
    readonly length: number,
  ) {}

  get srcPort(): number {
    return readU16(this.buffer, this.offset);
  }

  get dstPort(): number {
    return readU16(this.buffer, this.offset + 2);
  }

  get sequenceNumber(): number {
    return readU32(this.buffer, this.offset + 4);
  }

  get acknowledgmentNumber(): number {
    return readU32(this.buffer, this.offset + 8);
  }

  /** Header length in bytes, options included (the Data Offset field counts 32-bit words). */
  get dataOffset(): number {
    return (this.buffer[this.offset + 12]! >>> 4) * 4;
  }

  /** Control bits CWR..FIN (TCP_SYN, TCP_ACK, ...). */
  get flags(): number {
    return this.buffer[this.offset + 13]!;
  }

  get window(): number {
    return readU16(this.buffer, this.offset + 14);
  }

  get checksum(): number {
    return readU16(this.buffer, this.offset + TCP_CHECKSUM_OFFSET);
  }

  get urgentPointer(): number {
    return readU16(this.buffer, this.offset + 18);
  }

  /** Options and padding, as a view (no copy). */
  get options(): Uint8Array {
    return this.buffer.subarray(this.offset + TCP_MIN_HEADER_LENGTH, this.offset + this.dataOffset);
  }

  get payloadOffset(): number {
    return this.offset + this.dataOffset;
  }

  get payloadLength(): number {
    return this.length - this.dataOffset;
  }

  /** The segment's data, as a view (no copy). */
  get payload(): Uint8Array {
    return this.buffer.subarray(this.payloadOffset, this.offset + this.length);
  }
}

/** Validates the TCP header at `offset`: Data Offset at least 5 words and inside the segment. */
export function parseTcp(packet: Uint8Array, offset: number, length: number): TcpHeader | PacketError {
  if (length < TCP_MIN_HEADER_LENGTH)
    return packetError('truncated', `TCP header needs 20 bytes, has ${length}`);
  const dataOffset = (packet[offset + 12]! >>> 4) * 4;
  if (dataOffset < TCP_MIN_HEADER_LENGTH || dataOffset > length) {
    return packetError('bad_data_offset', `TCP Data Offset ${dataOffset} bytes in a ${length}-byte segment`);
  }
  return new TcpHeader(packet, offset, length);
}

export interface TcpHeaderFields {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly sequenceNumber: number;
  readonly acknowledgmentNumber: number;
  readonly flags: number;
  readonly window: number;
  readonly urgentPointer: number;
  /** Raw options; zero-padded to a 32-bit boundary (0 is End of Option List, RFC 9293 §3.2). */
  readonly options: Uint8Array;
}

/** Writes the TCP header and options with a zero checksum; returns the header length. */
export function writeTcpHeader(buf: Uint8Array, at: number, fields: TcpHeaderFields): number {
  const headerLength = TCP_MIN_HEADER_LENGTH + ((fields.options.length + 3) & ~3);
  writeU16(buf, at, fields.srcPort);
  writeU16(buf, at + 2, fields.dstPort);
  writeU32(buf, at + 4, fields.sequenceNumber);
  writeU32(buf, at + 8, fields.acknowledgmentNumber);
  buf[at + 12] = (headerLength / 4) << 4;
  buf[at + 13] = fields.flags;
  writeU16(buf, at + 14, fields.window);
  writeU16(buf, at + TCP_CHECKSUM_OFFSET, 0);
  writeU16(buf, at + 18, fields.urgentPointer);
  buf.set(fields.options, at + TCP_MIN_HEADER_LENGTH);
  buf.fill(0, at + TCP_MIN_HEADER_LENGTH + fields.options.length, at + headerLength);
  return headerLength;
}

/** Maximum Segment Size option (RFC 9293 §3.2, kind 2, length 4), for SYN segments. */
export function tcpMssOption(mss: number): Uint8Array {
  return Uint8Array.of(2, 4, mss >>> 8, mss & 0xff);
}
