/**
 * The classic libpcap file format (https://wiki.wireshark.org/Development/LibpcapFileFormat),
 * sans-IO: functions that return the bytes, whoever calls them decides where they go.
 *
 * Classic pcap rather than pcapng because every tool reads it (tcpdump -r, Wireshark, tshark,
 * scapy) and a stream of it can be cut after any record and still be a valid file. Link type
 * LINKTYPE_RAW: each record starts with the IPv4 or IPv6 header, which is exactly what a TUN
 * carries, so no fake Ethernet header is made up. The price: a record cannot say which way the
 * packet went (pcapng could); the addresses tell it.
 *
 * Everything is written little-endian. The format lets the writer pick its byte order (readers
 * recognise it from the magic); fixing one keeps the output the same on every machine.
 */

/** Magic of a file with microsecond timestamps (0xa1b23c4d would mean nanoseconds). */
export const PCAP_MAGIC = 0xa1b2c3d4;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
/** Longest packet data kept per record; longer packets are cut (their real length is kept). */
export const PCAP_SNAPLEN = 65_535;
/** Raw IP: the record data is an IPv4 or IPv6 packet, the version nibble says which. */
export const LINKTYPE_RAW = 101;
export const PCAP_FILE_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;

/** The 24-byte file header: magic, version 2.4, zone 0, sigfigs 0, snaplen, link type. */
export function pcapFileHeader(): Uint8Array {
  const bytes = new Uint8Array(PCAP_FILE_HEADER_LENGTH);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, PCAP_MAGIC, true);
  view.setUint16(4, PCAP_VERSION_MAJOR, true);
  view.setUint16(6, PCAP_VERSION_MINOR, true);
  view.setInt32(8, 0, true); // thiszone: timestamps are UTC
  view.setUint32(12, 0, true); // sigfigs: always 0 in practice
  view.setUint32(16, PCAP_SNAPLEN, true);
  view.setUint32(20, LINKTYPE_RAW, true);
  return bytes;
}

/** Bytes a record of `packetLength` bytes takes in the file (header included). */
export function pcapRecordLength(packetLength: number): number {
  return PCAP_RECORD_HEADER_LENGTH + Math.min(packetLength, PCAP_SNAPLEN);
}

/**
 * One record: a 16-byte header (seconds, microseconds, captured length, original length) and the
 * packet. A new array each call holding a copy of the packet, so the caller may reuse its buffer
 * at once. `timestampMs` is wall-clock time in ms since the epoch (Date.now()); fractions of a ms
 * are kept to the microsecond. A negative or non-finite time is written as 0 rather than as a
 * garbage date.
 */
export function pcapRecord(packet: Uint8Array, timestampMs: number): Uint8Array {
  const captured = Math.min(packet.length, PCAP_SNAPLEN);
  const bytes = new Uint8Array(PCAP_RECORD_HEADER_LENGTH + captured);
  const view = new DataView(bytes.buffer);
  const ms = Number.isFinite(timestampMs) && timestampMs > 0 ? timestampMs : 0;
  const seconds = Math.floor(ms / 1000);
  // Rounding can reach 1_000_000 (e.g. 999.9996 ms): clamp rather than carry into the seconds.
  const micros = Math.min(999_999, Math.round((ms - seconds * 1000) * 1000));
  view.setUint32(0, seconds >>> 0, true);
  view.setUint32(4, micros, true);
  view.setUint32(8, captured, true);
  view.setUint32(12, packet.length, true);
  bytes.set(captured === packet.length ? packet : packet.subarray(0, captured), PCAP_RECORD_HEADER_LENGTH);
  return bytes;
}
