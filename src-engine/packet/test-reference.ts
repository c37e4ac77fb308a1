/**
 * Test-only reference: a deliberately plain packet encoder and Internet checksum, written from
 * the RFC text with plain number arrays and none of the library's code, so tests can check the
 * library against something independent. Not exported from index.ts.
 */

/** RFC 1071 checksum the slow, obvious way: add words one at a time, carry around at once. */
export function referenceChecksum(bytes: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    sum += bytes[i]! * 256 + (bytes[i + 1] ?? 0);
    if (sum > 0xffff) sum -= 0xffff;
  }
  return 0xffff - sum;
}

/** True when a range including its checksum field sums to all ones. */
export function referenceVerifies(bytes: readonly number[]): boolean {
  return referenceChecksum(bytes) === 0;
}

export function u16(value: number): number[] {
  return [(value >> 8) & 0xff, value & 0xff];
}

export function u32(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

/** RFC 768 / RFC 9293 §3.1 (IPv4) and RFC 8200 §8.1 (IPv6) pseudo-headers, spelled out. */
export function referencePseudoHeader(
  src: readonly number[],
  dst: readonly number[],
  protocol: number,
  length: number,
): number[] {
  if (src.length === 4) return [...src, ...dst, 0, protocol, ...u16(length)];
  return [...src, ...dst, ...u32(length), 0, 0, 0, protocol];
}

export type RefTransport =
  | {
      readonly kind: 'udp';
      readonly srcPort: number;
      readonly dstPort: number;
      readonly payload: readonly number[];
      /** IPv4 only: send checksum 0 ("none"). */
      readonly noChecksum?: boolean;
    }
  | {
      readonly kind: 'tcp';
      readonly srcPort: number;
      readonly dstPort: number;
      readonly seq: number;
      readonly ack: number;
      readonly flags: number;
      readonly window: number;
      readonly urgent: number;
      /** Length a multiple of 4, at most 40. */
      readonly options: readonly number[];
      readonly payload: readonly number[];
    }
  | {
      readonly kind: 'icmp';
      readonly type: number;
      readonly code: number;
      readonly rest: readonly [number, number];
      readonly payload: readonly number[];
    }
  | { readonly kind: 'raw'; readonly protocol: number; readonly payload: readonly number[] };

export interface RefExtensionHeader {
  /** 0 Hop-by-Hop (only first), 43 Routing, 60 Destination Options. */
  readonly type: 0 | 43 | 60;
  /** Body after Next Header and Hdr Ext Len: 6 + 8k bytes. */
  readonly body: readonly number[];
}

export interface RefPacket {
  readonly src: readonly number[];
  readonly dst: readonly number[];
  readonly ttl: number;
  readonly tos: number;
  /** IPv4 only. */
  readonly identification: number;
  readonly dontFragment: boolean;
  /** IPv4 only: length a multiple of 4, at most 40. */
  readonly ipv4Options: readonly number[];
  /** IPv6 only. */
  readonly flowLabel: number;
  readonly extensionHeaders: readonly RefExtensionHeader[];
  readonly transport: RefTransport;
}

export function protocolOf(packet: RefPacket): number {
  const t = packet.transport;
  switch (t.kind) {
    case 'udp':
      return 17;
    case 'tcp':
      return 6;
    case 'icmp':
      return packet.src.length === 4 ? 1 : 58;
    case 'raw':
      return t.protocol;
  }
}

/** Encodes the upper-layer message with its checksum filled in. */
export function referenceTransport(packet: RefPacket): number[] {
  const t = packet.transport;
  const v4 = packet.src.length === 4;
  let bytes: number[];
  let checksumAt: number;
  switch (t.kind) {
    case 'udp':
      bytes = [...u16(t.srcPort), ...u16(t.dstPort), ...u16(8 + t.payload.length), 0, 0, ...t.payload];
      checksumAt = 6;
      break;
    case 'tcp':
      bytes = [
        ...u16(t.srcPort),
        ...u16(t.dstPort),
        ...u32(t.seq),
        ...u32(t.ack),
        ((20 + t.options.length) / 4) << 4,
        t.flags,
        ...u16(t.window),
        0,
        0,
        ...u16(t.urgent),
        ...t.options,
        ...t.payload,
      ];
      checksumAt = 16;
      break;
    case 'icmp':
      bytes = [t.type, t.code, 0, 0, ...u16(t.rest[0]), ...u16(t.rest[1]), ...t.payload];
      checksumAt = 2;
      break;
    case 'raw':
      return [...t.payload];
  }
  if (t.kind === 'udp' && t.noChecksum === true && v4) return bytes;
  const covered =
    t.kind === 'icmp' && v4
      ? bytes
      : [...referencePseudoHeader(packet.src, packet.dst, protocolOf(packet), bytes.length), ...bytes];
  let checksum = referenceChecksum(covered);
  if (t.kind === 'udp' && checksum === 0) checksum = 0xffff;
  bytes[checksumAt] = checksum >> 8;
  bytes[checksumAt + 1] = checksum & 0xff;
  return bytes;
}

/** The whole packet: IPv4 (RFC 791 §3.1) or IPv6 (RFC 8200 §3-4) header, then the transport. */
export function referencePacket(packet: RefPacket): Uint8Array {
  const l4 = referenceTransport(packet);
  if (packet.src.length === 4) {
    const ihl = 5 + packet.ipv4Options.length / 4;
    const header = [
      0x40 | ihl,
      packet.tos,
      ...u16(ihl * 4 + l4.length),
      ...u16(packet.identification),
      packet.dontFragment ? 0x40 : 0,
      0,
      packet.ttl,
      protocolOf(packet),
      0,
      0,
      ...packet.src,
      ...packet.dst,
      ...packet.ipv4Options,
    ];
    const checksum = referenceChecksum(header);
    header[10] = checksum >> 8;
    header[11] = checksum & 0xff;
    return Uint8Array.from([...header, ...l4]);
  }
  const chain: number[] = [];
  const types = packet.extensionHeaders.map((h) => h.type);
  packet.extensionHeaders.forEach((h, i) => {
    const next = i + 1 < types.length ? types[i + 1]! : protocolOf(packet);
    chain.push(next, (h.body.length + 2) / 8 - 1, ...h.body);
  });
  const first = types.length > 0 ? types[0]! : protocolOf(packet);
  const header = [
    0x60 | (packet.tos >> 4),
    ((packet.tos & 0x0f) << 4) | (packet.flowLabel >> 16),
    ...u16(packet.flowLabel & 0xffff),
    ...u16(chain.length + l4.length),
    first,
    packet.ttl,
    ...packet.src,
    ...packet.dst,
  ];
  return Uint8Array.from([...header, ...chain, ...l4]);
}

export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
