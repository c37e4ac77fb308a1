/**
 * The one error type of the packet library. Parsers, builders and rewriters return it as a value
 * (`T | PacketError`) and never throw, so the packet loop needs no try/catch.
 */
export type PacketErrorCode =
  /** The bytes end before a header, or before the length a header declares. */
  | 'truncated'
  /** The IP version nibble is neither 4 nor 6 (or not the family the caller asked for). */
  | 'bad_version'
  /** IPv4 IHL below 5 (RFC 791 §3.1). */
  | 'bad_ihl'
  /** Two length fields disagree: IPv4 Total Length below the header, UDP Length, ... */
  | 'length_mismatch'
  /** TCP Data Offset below 5 or past the end of the segment (RFC 9293 §3.1). */
  | 'bad_data_offset'
  /** A misplaced or overlong IPv6 extension header (RFC 8200 §4). */
  | 'bad_extension_header'
  /** Checksum verification was asked for and failed. */
  | 'bad_checksum'
  /** Valid IP we do not handle: jumbograms, overlong extension chains, rewriting a protocol without ports. */
  | 'unsupported'
  /** The declared packet size is above the caller's limit (MAX_IP_SIZE by default). */
  | 'too_large'
  /** A builder's output does not fit the caller's buffer. */
  | 'buffer_too_small'
  /** A caller passed something no packet can hold: a 5-byte address, port 70000, 41 bytes of TCP options. */
  | 'invalid_argument'
  /** RFC 1812 §4.3.2.7 / RFC 4443 §2.4 (e) forbid answering this packet with an ICMP error. */
  | 'icmp_error_suppressed';

export class PacketError extends Error {
  override readonly name = 'PacketError';
  readonly code: PacketErrorCode;

  constructor(code: PacketErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Creates a PacketError without capturing a stack trace. These errors are values describing
 * the input, not bugs, and a flood of malformed packets must not cost a stack walk each.
 */
export function packetError(code: PacketErrorCode, message: string): PacketError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new PacketError(code, message);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export function isPacketError(value: unknown): value is PacketError {
  return value instanceof PacketError;
}
