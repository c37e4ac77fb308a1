/**
 * IP packets: parse, build, NAT rewrite and ICMP errors on random bytes, mutated valid packets
 * and valid packets (from the engine's independent reference encoder).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  buildIcmpEcho,
  buildIcmpUnreachable,
  buildTcpPacket,
  buildUdpPacket,
  IpPacket,
  PacketError,
  parseIpPacket,
  rewriteDstAddress,
  rewriteDstPort,
  rewriteIcmpIdentifier,
  rewriteSrcAddress,
  rewriteSrcPort,
  type ParseOptions,
} from '../../src-engine/packet/index.js';
import { verifyIpv4HeaderChecksum, verifyTransportChecksum } from '../../src-engine/packet/checksum.js';
import { packetArb } from '../../src-engine/packet/test-arbitraries.js';
import { referencePacket, type RefPacket } from '../../src-engine/packet/test-reference.js';
import {
  byteMutationArb,
  applyMutations,
  type ByteMutation,
  fieldMutationArb,
  sameBytes,
  timed,
} from '../lib/bytes.js';
import type { FuzzTarget } from '../target.js';

const CODES = new Set([
  'truncated',
  'bad_version',
  'bad_ihl',
  'length_mismatch',
  'bad_data_offset',
  'bad_extension_header',
  'bad_checksum',
  'unsupported',
  'too_large',
]);

/** Generous: a parse takes microseconds; this only catches runaway loops on a loaded machine. */
const MAX_CALL_MS = 250;

const optionsArb: fc.Arbitrary<ParseOptions> = fc.record({
  maxSize: fc.constantFrom(undefined, 65535, 100, 1280),
  verifyChecksums: fc.boolean(),
});

/** Everything a caller of parseIpPacket relies on. */
export function checkParseResult(
  input: Uint8Array,
  options: ParseOptions,
  result: IpPacket | PacketError,
): void {
  if (result instanceof PacketError) {
    assert.ok(CODES.has(result.code), `unknown error code ${result.code}`);
    assert.equal(typeof result.message, 'string');
    return;
  }
  assert.ok(result instanceof IpPacket);
  const p = result;
  assert.equal(p.buffer, input);
  assert.ok(p.totalLength <= input.length, 'packet longer than its bytes');
  assert.ok(p.totalLength <= (options.maxSize ?? 1280), 'packet above maxSize');
  assert.ok(p.headerLength <= p.payloadOffset && p.payloadOffset <= p.totalLength, 'offsets out of order');
  assert.equal(p.payloadLength, p.totalLength - p.payloadOffset);
  assert.equal(p.payload.length, p.payloadLength);
  assert.equal(p.bytes.length, p.totalLength);
  if (p.version === 4) {
    assert.ok(p.headerLength >= 20);
    assert.equal(p.payloadOffset, p.headerLength);
    assert.equal(p.src.length, 4);
  } else {
    assert.equal(p.version, 6);
    assert.equal(p.headerLength, 40);
    assert.equal(p.src.length, 16);
  }
  assert.equal(p.dst.length, p.src.length);
  if (p.fragment !== null && p.fragment.offset !== 0) assert.equal(p.transport, null);
  const t = p.transport;
  if (t !== null) {
    assert.equal(t.buffer, input);
    assert.equal(t.offset, p.payloadOffset);
    assert.equal(t.length, p.payloadLength);
    switch (t.kind) {
      case 'udp':
        assert.ok(t.length >= 8);
        if (p.fragment === null) assert.equal(t.lengthField, t.length);
        assert.equal(t.payload.length, t.payloadLength);
        break;
      case 'tcp':
        assert.ok(t.dataOffset >= 20 && t.dataOffset <= t.length, 'TCP data offset out of bounds');
        assert.equal(t.options.length, t.dataOffset - 20);
        assert.equal(t.payload.length, t.payloadLength);
        break;
      default:
        assert.ok(t.length >= 8);
        assert.equal(t.body.length, t.length - 8);
    }
  }
  if (options.verifyChecksums === true) {
    if (p.version === 4) assert.ok(verifyIpv4HeaderChecksum(input), 'accepted a bad IPv4 header checksum');
    if (t !== null && p.fragment === null)
      assert.ok(verifyTransportChecksum(input, p), 'accepted a bad transport checksum');
  }
}

function parse(input: Uint8Array, options: ParseOptions): IpPacket | PacketError {
  return timed(MAX_CALL_MS, 'parseIpPacket', () => parseIpPacket(input, options));
}

/** Mutations aimed at IPv4/IPv6/UDP/TCP header fields, and blind ones. */
const packetMutationArb = fc.oneof(
  byteMutationArb,
  // Version/IHL, IPv6 next header and hop-by-hop fields, IPv4 protocol.
  fieldMutationArb([0, 6, 9, 40, 41, 48, 49], [2, 4, 24, 26, 32, 44, 46, 52, 60]),
);

const nat = fc.record({
  address: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  port: fc.integer({ min: 0, max: 0xffff }),
  which: fc.constantFrom('src' as const, 'dst' as const),
});

type Case =
  | { readonly kind: 'random'; readonly input: Uint8Array; readonly options: ParseOptions }
  | {
      readonly kind: 'mutated';
      readonly spec: RefPacket;
      readonly mutations: readonly ByteMutation[];
      readonly options: ParseOptions;
      readonly nat: { address: Uint8Array; port: number };
      readonly reason: 'prohibited' | 'unreachable';
    }
  | {
      readonly kind: 'valid';
      readonly spec: RefPacket;
      readonly nat: { address: Uint8Array; port: number; which: 'src' | 'dst' };
    }
  | {
      readonly kind: 'build';
      readonly proto: 'udp' | 'tcp' | 'icmp';
      readonly v6: boolean;
      readonly src: Uint8Array;
      readonly dst: Uint8Array;
      readonly a: number;
      readonly b: number;
      readonly payload: Uint8Array;
    };

const caseArb: fc.Arbitrary<Case> = fc.oneof(
  fc.record({
    kind: fc.constant('random' as const),
    input: fc.oneof(
      fc.uint8Array({ maxLength: 120 }),
      // Random bytes behind a plausible first byte reach deeper into the parser.
      fc
        .tuple(fc.constantFrom(0x45, 0x46, 0x4f, 0x60, 0x6f), fc.uint8Array({ maxLength: 200 }))
        .map(([first, rest]) => Uint8Array.from([first, ...rest])),
    ),
    options: optionsArb,
  }),
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('mutated' as const),
      spec: packetArb(),
      mutations: fc.array(packetMutationArb, { minLength: 1, maxLength: 4 }),
      options: optionsArb,
      nat: nat,
      reason: fc.constantFrom('prohibited' as const, 'unreachable' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('valid' as const),
      spec: packetArb({ maxPayload: 300 }),
      nat,
    }),
  },
  fc.record({
    kind: fc.constant('build' as const),
    proto: fc.constantFrom('udp' as const, 'tcp' as const, 'icmp' as const),
    v6: fc.boolean(),
    src: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    dst: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    a: fc.integer({ min: 0, max: 0xffff }),
    b: fc.integer({ min: 0, max: 0xffff }),
    payload: fc.uint8Array({ maxLength: 300 }),
  }),
);

function checkMutated(c: Extract<Case, { kind: 'mutated' }>): void {
  const input = applyMutations(referencePacket(c.spec), c.mutations);
  const result = parse(input, c.options);
  checkParseResult(input, c.options, result);
  // ICMP errors about hostile packets: never throw; what is built is a valid packet.
  const icmp = buildIcmpUnreachable(input, c.reason);
  if (!(icmp instanceof PacketError)) {
    assert.ok(
      parseIpPacket(icmp, { verifyChecksums: true }) instanceof IpPacket,
      'ICMP error does not parse',
    );
  }
  if (result instanceof PacketError) return;
  // Rewrites of any accepted packet: a PacketError or success, never a throw or a size change.
  const length = input.length;
  const address = c.nat.address.subarray(0, result.version === 4 ? 4 : 16);
  for (const outcome of [
    rewriteSrcAddress(result, address),
    rewriteDstAddress(result, address),
    rewriteSrcPort(result, c.nat.port),
    rewriteDstPort(result, c.nat.port),
    rewriteIcmpIdentifier(result, c.nat.port),
  ]) {
    if (outcome !== undefined) assert.ok(outcome instanceof PacketError);
  }
  assert.equal(input.length, length);
}

function checkValid(c: Extract<Case, { kind: 'valid' }>): void {
  const input = referencePacket(c.spec);
  const p = parse(input, { maxSize: 65535, verifyChecksums: true });
  assert.ok(p instanceof IpPacket, `a valid packet was refused: ${(p as PacketError).message}`);
  // Round trip: what the parser reads is what the reference encoder wrote.
  assert.deepEqual([...p.src], c.spec.src);
  assert.deepEqual([...p.dst], c.spec.dst);
  const t = c.spec.transport;
  const view = p.transport;
  if (t.kind === 'udp' || t.kind === 'tcp') {
    assert.equal(view?.kind, t.kind);
    if (view?.kind === 'udp' || view?.kind === 'tcp') {
      assert.equal(view.srcPort, t.srcPort);
      assert.equal(view.dstPort, t.dstPort);
      assert.deepEqual([...view.payload], t.payload);
    }
  }
  // NAT rewrite: the new values read back and every checksum still verifies.
  const address = c.nat.address.subarray(0, p.version === 4 ? 4 : 16);
  const isSrc = c.nat.which === 'src';
  assert.equal((isSrc ? rewriteSrcAddress : rewriteDstAddress)(p, address), undefined);
  const ported = view?.kind === 'udp' || view?.kind === 'tcp';
  if (ported) assert.equal((isSrc ? rewriteSrcPort : rewriteDstPort)(p, c.nat.port), undefined);
  const echo = (view?.kind === 'icmpv4' || view?.kind === 'icmpv6') && view.identifier !== null;
  if (echo) assert.equal(rewriteIcmpIdentifier(p, c.nat.port), undefined);
  const again = parseIpPacket(input, { maxSize: 65535, verifyChecksums: true });
  assert.ok(
    again instanceof IpPacket,
    `checksums broken by the NAT rewrite: ${(again as PacketError).message}`,
  );
  assert.ok(sameBytes(isSrc ? again.src : again.dst, address));
  if (ported && (again.transport?.kind === 'udp' || again.transport?.kind === 'tcp')) {
    assert.equal(isSrc ? again.transport.srcPort : again.transport.dstPort, c.nat.port);
  }
  if (echo && (again.transport?.kind === 'icmpv4' || again.transport?.kind === 'icmpv6'))
    assert.equal(again.transport.identifier, c.nat.port);
}

function checkBuild(c: Extract<Case, { kind: 'build' }>): void {
  const size = c.v6 ? 16 : 4;
  const ip = { src: c.src.subarray(0, size), dst: c.dst.subarray(0, size) };
  const built =
    c.proto === 'udp'
      ? buildUdpPacket({ ...ip, srcPort: c.a, dstPort: c.b, payload: c.payload })
      : c.proto === 'tcp'
        ? buildTcpPacket({ ...ip, srcPort: c.a, dstPort: c.b, flags: 0x18, payload: c.payload })
        : buildIcmpEcho({ ...ip, echo: 'request', identifier: c.a, sequence: c.b, payload: c.payload });
  assert.ok(!(built instanceof PacketError), `build failed: ${(built as PacketError).message}`);
  const p = parseIpPacket(built, { maxSize: 65535, verifyChecksums: true });
  assert.ok(p instanceof IpPacket, `a built packet does not parse: ${(p as PacketError).message}`);
  assert.ok(sameBytes(p.src, ip.src) && sameBytes(p.dst, ip.dst), 'addresses changed');
  const t = p.transport;
  if (t?.kind === 'udp' || t?.kind === 'tcp') {
    assert.equal(t.kind, c.proto);
    assert.deepEqual([t.srcPort, t.dstPort], [c.a, c.b]);
    assert.ok(sameBytes(t.payload, c.payload), 'payload changed');
  } else {
    assert.equal(c.proto, 'icmp');
    assert.equal(t?.kind, c.v6 ? 'icmpv6' : 'icmpv4');
    if (t?.kind === 'icmpv4' || t?.kind === 'icmpv6') assert.equal(t.identifier, c.a);
  }
}

export const packetTarget: FuzzTarget = {
  name: 'packet',
  invariants: [
    'random bytes and mutated valid packets: parseIpPacket returns a known PacketError or a view whose offsets stay inside the bytes, never throws, in bounded time',
    'valid packets parse with verified checksums and read back what was encoded (addresses, ports, payload)',
    'NAT rewrites of valid packets keep every checksum valid and read back; on hostile packets they fail with a PacketError, never throw or resize',
    'ICMP errors built about hostile packets are themselves valid packets',
    'built UDP/TCP/ICMP echo packets round-trip through the parser',
  ],
  batchRuns: 500,
  ciRuns: 2000,
  create: () => ({
    property: fc.property(caseArb, (c) => {
      switch (c.kind) {
        case 'random':
          checkParseResult(c.input, c.options, parse(c.input, c.options));
          break;
        case 'mutated':
          checkMutated(c);
          break;
        case 'valid':
          checkValid(c);
          break;
        case 'build':
          checkBuild(c);
          break;
      }
    }),
  }),
};
