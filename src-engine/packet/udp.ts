/**
 * UDP header (RFC 768): a view over the bytes of one datagram inside a packet, and its writer.
 */
import { readU16, writeU16 } from './bytes.js';
import { UDP_CHECKSUM_OFFSET, UDP_HEADER_LENGTH } from './constants.js';
import { packetError, type PacketError } from './errors.js';

/** A UDP header in place: getters read the packet, so they see rewrites made after parsing. */
export class UdpHeader {
  readonly kind = 'udp';

  constructor(
    /** The whole IP packet (offset 0 = IP header). */
    readonly buffer: Uint8Array,
    /** Where the UDP header starts in `buffer`. */
    readonly offset: number,
    /** UDP bytes present in this packet: the whole datagram unless the packet is a first fragment. */
    readonly length: number,
  ) {}

  get srcPort(): number {
    return readU16(this.buffer, this.offset);
  }

  get dstPort(): number {
    return readU16(this.buffer, this.offset + 2);
  }

  /** The Length field: header plus data, of the whole datagram. */
  get lengthField(): number {
    return readU16(this.buffer, this.offset + 4);
  }

  /** 0 means "no checksum" over IPv4 (RFC 768). */
  get checksum(): number {
    return readU16(this.buffer, this.offset + UDP_CHECKSUM_OFFSET);
  }

  get payloadOffset(): number {
    return this.offset + UDP_HEADER_LENGTH;
  }

  get payloadLength(): number {
    return this.length - UDP_HEADER_LENGTH;
  }

  /** The data after the header, as a view (no copy). */
  get payload(): Uint8Array {
    return this.buffer.subarray(this.payloadOffset, this.offset + this.length);
  }
}

/**
 * Validates the UDP header at `offset` with `length` bytes of IP payload. For a whole datagram
 * the Length field must equal the IP payload length; a first fragment only needs the header.
 */
export function parseUdp(
  packet: Uint8Array,
  offset: number,
  length: number,
  whole: boolean,
): UdpHeader | PacketError {
  if (length < UDP_HEADER_LENGTH) return packetError('truncated', `UDP header needs 8 bytes, has ${length}`);
  const lengthField = readU16(packet, offset + 4);
  if (lengthField < UDP_HEADER_LENGTH || (whole && lengthField !== length)) {
    return packetError('length_mismatch', `UDP Length ${lengthField}, IP payload ${length}`);
  }
  return new UdpHeader(packet, offset, length);
}

/** Writes the 8-byte UDP header with a zero checksum; the caller fills the checksum in last. */
export function writeUdpHeader(
  buf: Uint8Array,
  at: number,
  srcPort: number,
  dstPort: number,
  payloadLength: number,
): void {
  writeU16(buf, at, srcPort);
  writeU16(buf, at + 2, dstPort);
  writeU16(buf, at + 4, UDP_HEADER_LENGTH + payloadLength);
  writeU16(buf, at + UDP_CHECKSUM_OFFSET, 0);
}
