/**
 * Test-only fast-check generators of valid packets, described as RefPacket values and encoded
 * by the independent reference encoder (test-reference.ts). Not exported from index.ts.
 */
import fc from 'fast-check';
import type { RefExtensionHeader, RefPacket, RefTransport } from './test-reference.js';

const byte = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

export function bytes(minLength: number, maxLength: number): fc.Arbitrary<number[]> {
  return fc.array(byte, { minLength, maxLength });
}

/** Whole 32-bit words of bytes: IPv4 and TCP options. */
function words(maxWords: number): fc.Arbitrary<number[]> {
  return fc.integer({ min: 0, max: maxWords }).chain((n) => bytes(4 * n, 4 * n));
}

/** Protocol numbers the parser has no transport view for. */
const OTHER_PROTOCOLS = [4, 41, 47, 50, 51, 59, 103, 132, 253, 255];

export interface PacketArbOptions {
  readonly version?: 4 | 6;
  readonly maxPayload?: number;
  /** Include protocols without a transport view (default true). */
  readonly otherProtocols?: boolean;
  /** Include IPv4 options and IPv6 extension headers (default true). */
  readonly extensions?: boolean;
}

export function transportArb(version: 4 | 6, options: PacketArbOptions): fc.Arbitrary<RefTransport> {
  const payload = bytes(0, options.maxPayload ?? 64);
  const udp = fc.record({
    kind: fc.constant('udp' as const),
    srcPort: u16,
    dstPort: u16,
    payload,
    noChecksum: version === 4 ? fc.boolean() : fc.constant(false),
  });
  const tcp = fc.record({
    kind: fc.constant('tcp' as const),
    srcPort: u16,
    dstPort: u16,
    seq: u32,
    ack: u32,
    flags: byte,
    window: u16,
    urgent: u16,
    options: words(10),
    payload,
  });
  const icmp = fc.record({
    kind: fc.constant('icmp' as const),
    type: fc.oneof(fc.constantFrom(0, 3, 8, 11, 1, 128, 129, 135), byte),
    code: byte,
    rest: fc.tuple(u16, u16),
    payload,
  });
  const raw = fc.record({
    kind: fc.constant('raw' as const),
    protocol: fc.constantFrom(...OTHER_PROTOCOLS),
    payload,
  });
  return options.otherProtocols === false ? fc.oneof(udp, tcp, icmp) : fc.oneof(udp, tcp, icmp, raw);
}

function extensionHeadersArb(): fc.Arbitrary<RefExtensionHeader[]> {
  const header = (type: 0 | 43 | 60): fc.Arbitrary<RefExtensionHeader> =>
    fc.integer({ min: 0, max: 3 }).chain((k) => bytes(6 + 8 * k, 6 + 8 * k).map((body) => ({ type, body })));
  return fc
    .tuple(
      fc.option(header(0), { nil: undefined }),
      fc.array(fc.constantFrom(43 as const, 60 as const).chain(header), { maxLength: 3 }),
    )
    .map(([hopByHop, rest]) => (hopByHop === undefined ? rest : [hopByHop, ...rest]));
}

/** A valid packet: fits MAX_IP_SIZE with the default maxPayload. */
export function packetArb(options: PacketArbOptions = {}): fc.Arbitrary<RefPacket> {
  const versionArb =
    options.version === undefined ? fc.constantFrom(4 as const, 6 as const) : fc.constant(options.version);
  const extensions = options.extensions ?? true;
  return versionArb.chain((version) => {
    const size = version === 4 ? 4 : 16;
    return fc.record({
      src: bytes(size, size),
      dst: bytes(size, size),
      ttl: byte,
      tos: byte,
      identification: u16,
      dontFragment: fc.boolean(),
      ipv4Options: version === 4 && extensions ? words(10) : fc.constant([]),
      flowLabel: fc.integer({ min: 0, max: 0xfffff }),
      extensionHeaders: version === 6 && extensions ? extensionHeadersArb() : fc.constant([]),
      transport: transportArb(version, options),
    });
  });
}
