/**
 * Fuzzing of everything that reads untrusted bytes: random inputs and valid packets with
 * mutations (bit flips, overwritten bytes and fields, truncation, trailing junk, wrong versions
 * and lengths). Whatever comes in, nothing may throw, every result must be a PacketError or a
 * packet whose offsets stay inside the bytes, and every call must finish quickly.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyIpv4HeaderChecksum, verifyTransportChecksum } from './checksum.js';
import { MAX_IPV6_EXTENSION_HEADERS } from './constants.js';
import { PacketError, type PacketErrorCode } from './errors.js';
import { buildIcmpUnreachable } from './icmp-error.js';
import { walkIpv6ExtensionHeaders } from './ipv6.js';
import {
  rewriteDstAddress,
  rewriteDstPort,
  rewriteIcmpIdentifier,
  rewriteSrcAddress,
  rewriteSrcPort,
} from './nat.js';
import { IpPacket, parseIpPacket, type ParseOptions } from './parse.js';
import { packetArb } from './test-arbitraries.js';
import { referencePacket } from './test-reference.js';

const CODES: readonly PacketErrorCode[] = [
  'truncated',
  'bad_version',
  'bad_ihl',
  'length_mismatch',
  'bad_data_offset',
  'bad_extension_header',
  'bad_checksum',
  'unsupported',
  'too_large',
];

/** A hang guard, not a speed test: a parse takes microseconds, so only a runaway loop takes a second. */
const MAX_CALL_MS = 1_000;

const optionsArb: fc.Arbitrary<ParseOptions> = fc.record({
  maxSize: fc.constantFrom(undefined, 65535, 100, 1280),
  verifyChecksums: fc.boolean(),
});

/** Asserts everything a caller of parseIpPacket relies on. */
function checkResult(input: Uint8Array, options: ParseOptions, result: IpPacket | PacketError): void {
  if (result instanceof PacketError) {
    expect(CODES).toContain(result.code);
    expect(typeof result.message).toBe('string');
    return;
  }
  expect(result).toBeInstanceOf(IpPacket);
  const p = result;
  expect(p.buffer).toBe(input);
  expect(p.totalLength).toBeLessThanOrEqual(input.length);
  expect(p.totalLength).toBeLessThanOrEqual(options.maxSize ?? 1280);
  expect(p.headerLength).toBeLessThanOrEqual(p.payloadOffset);
  expect(p.payloadOffset).toBeLessThanOrEqual(p.totalLength);
  expect(p.payloadLength).toBe(p.totalLength - p.payloadOffset);
  expect(p.payload.length).toBe(p.payloadLength);
  expect(p.bytes.length).toBe(p.totalLength);
  if (p.version === 4) {
    expect(p.headerLength).toBeGreaterThanOrEqual(20);
    expect(p.payloadOffset).toBe(p.headerLength);
    expect(p.src.length).toBe(4);
  } else {
    expect(p.version).toBe(6);
    expect(p.headerLength).toBe(40);
    expect(p.src.length).toBe(16);
  }
  expect(p.dst.length).toBe(p.src.length);
  if (p.fragment !== null && p.fragment.offset !== 0) expect(p.transport).toBeNull();
  const t = p.transport;
  if (t !== null) {
    expect(t.buffer).toBe(input);
    expect(t.offset).toBe(p.payloadOffset);
    expect(t.length).toBe(p.payloadLength);
    switch (t.kind) {
      case 'udp':
        expect(t.length).toBeGreaterThanOrEqual(8);
        if (p.fragment === null) expect(t.lengthField).toBe(t.length);
        expect(t.payload.length).toBe(t.payloadLength);
        expect(t.srcPort).toBeLessThanOrEqual(0xffff);
        break;
      case 'tcp':
        expect(t.dataOffset).toBeGreaterThanOrEqual(20);
        expect(t.dataOffset).toBeLessThanOrEqual(t.length);
        expect(t.options.length).toBe(t.dataOffset - 20);
        expect(t.payload.length).toBe(t.payloadLength);
        break;
      default:
        expect(t.length).toBeGreaterThanOrEqual(8);
        expect(t.body.length).toBe(t.length - 8);
    }
  }
  if (options.verifyChecksums === true) {
    if (p.version === 4) expect(verifyIpv4HeaderChecksum(input)).toBe(true);
    if (t !== null && p.fragment === null) expect(verifyTransportChecksum(input, p)).toBe(true);
  }
}

function timedParse(input: Uint8Array, options: ParseOptions): IpPacket | PacketError {
  const start = performance.now();
  const result = parseIpPacket(input, options);
  expect(performance.now() - start).toBeLessThan(MAX_CALL_MS);
  return result;
}

type Mutation = (b: Uint8Array) => Uint8Array;

/** Mutations that aim at the fields the parser checks, and blind ones. */
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([at, bit]): Mutation => (b) => {
    if (b.length > 0) b[at % b.length]! ^= 1 << bit;
    return b;
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, value]): Mutation => (b) => {
    if (b.length > 0) b[at % b.length] = value;
    return b;
  }),
  fc.nat().map(
    (n): Mutation =>
      (b) =>
        b.subarray(0, n % (b.length + 1)),
  ),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map(
    (junk): Mutation =>
      (b) =>
        Uint8Array.from([...b, ...junk]),
  ),
  // Version and IHL nibbles.
  fc.integer({ min: 0, max: 15 }).map((v): Mutation => (b) => {
    if (b.length > 0) b[0] = (v << 4) | (b[0]! & 0x0f);
    return b;
  }),
  fc.integer({ min: 0, max: 15 }).map((ihl): Mutation => (b) => {
    if (b.length > 0) b[0] = (b[0]! & 0xf0) | ihl;
    return b;
  }),
  // Length fields: IPv4 Total Length (2), IPv6 Payload Length (4), UDP Length and TCP Data
  // Offset at the usual places, and any 16-bit word.
  fc
    .tuple(fc.constantFrom(2, 4, 24, 26, 32, 44, 46, 52, 60), fc.integer({ min: 0, max: 0xffff }))
    .map(([at, value]): Mutation => (b) => {
      if (at + 1 < b.length) {
        b[at] = value >> 8;
        b[at + 1] = value & 0xff;
      }
      return b;
    }),
  // Next Header / Protocol and extension header lengths.
  fc
    .tuple(fc.constantFrom(6, 9, 40, 41, 48, 49), fc.constantFrom(0, 1, 6, 17, 43, 44, 58, 59, 60, 255))
    .map(([at, value]): Mutation => (b) => {
      if (at < b.length) b[at] = value;
      return b;
    }),
);

describe('fuzz parseIpPacket', () => {
  it('random bytes (4,000 inputs)', () => {
    const arb = fc.tuple(
      fc.oneof(
        fc.uint8Array({ maxLength: 120 }),
        // Random bytes behind a plausible first byte reach deeper into the parser.
        fc
          .tuple(fc.constantFrom(0x45, 0x46, 0x4f, 0x60, 0x6f), fc.uint8Array({ maxLength: 200 }))
          .map(([first, rest]) => Uint8Array.from([first, ...rest])),
      ),
      optionsArb,
    );
    fc.assert(
      fc.property(arb, ([input, options]) => {
        checkResult(input, options, timedParse(input, options));
      }),
      { numRuns: 4000 },
    );
  });

  it('valid packets with 1-4 mutations (8,000 inputs), then NAT rewrites on what still parses', () => {
    const arb = fc.tuple(
      packetArb(),
      fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
      optionsArb,
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.integer({ min: 0, max: 0xffff }),
    );
    fc.assert(
      fc.property(arb, ([spec, mutations, options, address, port]) => {
        let input = referencePacket(spec);
        for (const mutate of mutations) input = mutate(input);
        const result = timedParse(input, options);
        checkResult(input, options, result);
        if (result instanceof PacketError) return;
        // Rewrites on any accepted packet must not throw or change the size.
        const length = input.length;
        const a = address.subarray(0, result.version === 4 ? 4 : 16);
        for (const outcome of [
          rewriteSrcAddress(result, a),
          rewriteDstAddress(result, a),
          rewriteSrcPort(result, port),
          rewriteDstPort(result, port),
          rewriteIcmpIdentifier(result, port),
        ]) {
          if (outcome !== undefined) expect(outcome).toBeInstanceOf(PacketError);
        }
        expect(input.length).toBe(length);
      }),
      { numRuns: 8000 },
    );
  });

  it('accepts every unmutated packet and finishes in bounded total time', () => {
    const start = performance.now();
    fc.assert(
      fc.property(packetArb({ maxPayload: 900 }), optionsArb, (spec, options) => {
        const input = referencePacket(spec);
        const result = timedParse(input, { ...options, maxSize: 65535 });
        expect(result).toBeInstanceOf(IpPacket);
        checkResult(input, { ...options, maxSize: 65535 }, result);
      }),
      { numRuns: 1000 },
    );
    expect(performance.now() - start).toBeLessThan(5_000);
  });
});

describe('fuzz the IPv6 extension header walk', () => {
  it('random chains (10,000 inputs): bounded, in bounds, never throws', () => {
    const header = fc.tuple(
      fc.constantFrom(0, 43, 44, 60, 6, 17, 58, 59),
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ maxLength: 30 }),
    );
    const arb = fc.tuple(fc.array(header, { maxLength: 12 }), fc.nat(), fc.constantFrom(0, 43, 44, 60));
    fc.assert(
      fc.property(arb, ([chain, cut, first]) => {
        const bytes = [0x60, 0, 0, 0, 0, 0, first, 64, ...new Array(32).fill(0)];
        for (const [next, length, body] of chain) bytes.push(next, length, ...body);
        const input = Uint8Array.from(bytes);
        // Declared ends up to 16 bytes past the buffer: the walk must clamp, not read beyond.
        const end = 40 + (cut % (input.length - 39 + 16));
        const start = performance.now();
        const result = walkIpv6ExtensionHeaders(input, end);
        expect(performance.now() - start).toBeLessThan(MAX_CALL_MS);
        if (result instanceof PacketError) {
          expect(CODES).toContain(result.code);
        } else {
          expect(result.offset).toBeGreaterThanOrEqual(40);
          expect(result.offset).toBeLessThanOrEqual(Math.min(end, input.length));
          expect(Number.isInteger(result.protocol)).toBe(true);
          expect(result.offset - 40).toBeLessThanOrEqual(MAX_IPV6_EXTENSION_HEADERS * 256 * 8);
        }
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('fuzz ICMP error building from raw bytes', () => {
  it('never throws (2,000 inputs)', () => {
    const arb = fc.tuple(
      packetArb(),
      fc.array(mutationArb, { maxLength: 3 }),
      fc.constantFrom('prohibited' as const, 'unreachable' as const),
    );
    fc.assert(
      fc.property(arb, ([spec, mutations, reason]) => {
        let input = referencePacket(spec);
        for (const mutate of mutations) input = mutate(input);
        const result = buildIcmpUnreachable(input, reason);
        if (result instanceof PacketError) return;
        const parsed = parseIpPacket(result, { verifyChecksums: true });
        expect(parsed).toBeInstanceOf(IpPacket);
      }),
      { numRuns: 2000 },
    );
  });
});
