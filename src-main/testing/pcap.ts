// Tests only: reads a classic little-endian pcap file (the format src-engine/capture writes)
// strictly, so a test sees a malformed header or a cut record instead of skipping it.

export interface PcapRecord {
  readonly timestampMs: number;
  readonly originalLength: number;
  readonly data: Uint8Array;
}

export interface PcapFile {
  readonly magic: number;
  readonly version: string;
  readonly snaplen: number;
  readonly linktype: number;
  readonly records: readonly PcapRecord[];
}

export function readPcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < 24) throw new Error(`pcap: ${bytes.length} bytes, shorter than the file header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  if (magic !== 0xa1b2c3d4) throw new Error(`pcap: magic ${magic.toString(16)}`);
  const records: PcapRecord[] = [];
  let at = 24;
  while (at < bytes.length) {
    if (at + 16 > bytes.length) throw new Error(`pcap: a cut record header at ${at}`);
    const seconds = view.getUint32(at, true);
    const micros = view.getUint32(at + 4, true);
    const captured = view.getUint32(at + 8, true);
    const originalLength = view.getUint32(at + 12, true);
    if (micros > 999_999 || captured > originalLength) throw new Error(`pcap: a bad record header at ${at}`);
    if (at + 16 + captured > bytes.length) throw new Error(`pcap: a cut record at ${at}`);
    records.push({
      timestampMs: seconds * 1000 + micros / 1000,
      originalLength,
      data: bytes.subarray(at + 16, at + 16 + captured),
    });
    at += 16 + captured;
  }
  return {
    magic,
    version: `${view.getUint16(4, true)}.${view.getUint16(6, true)}`,
    snaplen: view.getUint32(16, true),
    linktype: view.getUint32(20, true),
    records,
  };
}
