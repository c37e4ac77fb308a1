import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, parseIpAddress } from './address.js';
import { buildIcmpEcho, buildUdpPacket } from './build.js';
import { PacketError } from './errors.js';
import {
  buildIcmpError,
  buildIcmpUnreachable,
  icmpErrorAllowed,
  writeIcmpError,
  writeIcmpUnreachable,
} from './icmp-error.js';
import { parseIpPacket, type IpPacket } from './parse.js';
import { packetArb } from './test-arbitraries.js';
import { CAPTURED } from './test-fixtures.js';
import { referenceChecksum, referencePacket, referencePseudoHeader } from './test-reference.js';

function ip(text: string): Uint8Array {
  const bytes = parseIpAddress(text);
  if (bytes === null) throw new Error(text);
  return bytes;
}

function ok<T>(value: T | PacketError): T {
  if (value instanceof PacketError) throw new Error(`unexpected ${value.code}: ${value.message}`);
  return value;
}

function parse(bytes: Uint8Array): IpPacket {
  return ok(parseIpPacket(bytes, { verifyChecksums: true, maxSize: 65535 }));
}

/** Checks an error message against the reference checksum and returns its parts. */
function inspect(error: Uint8Array): { packet: IpPacket; type: number; code: number; quote: Uint8Array } {
  const packet = parse(error);
  const icmp = packet.transport;
  if (icmp === null || icmp.kind === 'udp' || icmp.kind === 'tcp') throw new Error('not ICMP');
  const message = [...packet.payload];
  const covered =
    packet.version === 4
      ? message
      : [...referencePseudoHeader([...packet.src], [...packet.dst], 58, message.length), ...message];
  expect(referenceChecksum(covered)).toBe(0);
  expect(icmp.isError).toBe(true);
  expect([...error.subarray(packet.payloadOffset + 4, packet.payloadOffset + 8)]).toEqual([0, 0, 0, 0]);
  return { packet, type: icmp.type, code: icmp.code, quote: icmp.body };
}

const cases = [
  ['udp4', 'prohibited', 3, 13],
  ['udp4', 'unreachable', 3, 0],
  ['tcp4', 'prohibited', 3, 13],
  ['icmp4', 'unreachable', 3, 0],
  ['udp6', 'prohibited', 1, 1],
  ['udp6', 'unreachable', 1, 3],
  ['tcp6', 'unreachable', 1, 3],
  ['icmp6', 'prohibited', 1, 1],
] as const;

describe('Destination Unreachable', () => {
  it.each(cases)(
    'for %s, %s: type %i code %i, from the original destination back to its source',
    (name, reason, type, code) => {
      const original = CAPTURED[name];
      const error = ok(buildIcmpUnreachable(original, reason));
      const parts = inspect(error);
      expect([parts.type, parts.code]).toEqual([type, code]);
      expect(parts.packet.protocol).toBe(parts.packet.version === 4 ? 1 : 58);
      expect(formatIp(parts.packet.src)).toBe(formatIp(parse(original).dst));
      expect(formatIp(parts.packet.dst)).toBe(formatIp(parse(original).src));
      expect(parts.packet.ttl).toBe(64);
      expect(parts.quote).toEqual(original); // small originals are quoted whole
    },
  );

  it('accepts a parsed packet as well as raw bytes, and a TTL', () => {
    const error = ok(buildIcmpUnreachable(parse(CAPTURED.udp4), 'prohibited', { ttl: 20 }));
    expect(parse(error).ttl).toBe(20);
    expect(error).toEqual(ok(buildIcmpError(CAPTURED.udp4, 3, 13, { ttl: 20 })));
  });

  it('quotes at most a 576-byte IPv4 error (RFC 1812 §4.3.2.3) and a 1280-byte IPv6 one (RFC 4443 §2.4)', () => {
    const payload = new Uint8Array(1252).map((_, i) => i & 0xff);
    const v4 = ok(
      buildUdpPacket({ src: ip('100.64.0.1'), dst: ip('10.0.0.5'), srcPort: 1, dstPort: 2, payload }),
    );
    const e4 = ok(buildIcmpUnreachable(v4, 'prohibited'));
    expect(e4.length).toBe(576);
    expect(inspect(e4).quote).toEqual(v4.subarray(0, 548));

    const v6 = ok(
      buildUdpPacket({
        src: ip('fd00:2021:1111::1'),
        dst: ip('2001:db8::5'),
        srcPort: 1,
        dstPort: 2,
        payload: payload.subarray(20),
      }),
    );
    expect(v6.length).toBe(1280);
    const e6 = ok(buildIcmpUnreachable(v6, 'unreachable'));
    expect(e6.length).toBe(1280);
    expect(inspect(e6).quote).toEqual(v6.subarray(0, 1232));
  });

  it('quotes options-carrying IPv4 headers whole plus at least 8 bytes (RFC 792)', () => {
    fc.assert(
      fc.property(packetArb({ version: 4 }), (spec) => {
        const original = referencePacket({ ...spec, src: [10, 0, 0, 1], dst: [10, 0, 0, 2] });
        const p = parse(original);
        if (!icmpErrorAllowed(p)) return;
        const quote = inspect(ok(buildIcmpUnreachable(p, 'prohibited'))).quote;
        expect(quote.length).toBeGreaterThanOrEqual(Math.min(p.totalLength, p.headerLength + 8));
        expect(quote).toEqual(original.subarray(0, quote.length));
      }),
      { numRuns: 200 },
    );
  });

  it('can be built in place over the original packet', () => {
    const buf = new Uint8Array(1280);
    buf.set(CAPTURED.tcp6);
    const expected = ok(buildIcmpUnreachable(CAPTURED.tcp6, 'prohibited'));
    const n = ok(writeIcmpUnreachable(buf, 0, parse(buf.subarray(0, CAPTURED.tcp6.length)), 'prohibited'));
    expect(buf.subarray(0, n)).toEqual(expected);

    const buf4 = new Uint8Array(200);
    buf4.set(CAPTURED.udp4, 3);
    const n4 = ok(writeIcmpUnreachable(buf4, 3, buf4.subarray(3, 3 + CAPTURED.udp4.length), 'unreachable'));
    expect(buf4.subarray(3, 3 + n4)).toEqual(ok(buildIcmpUnreachable(CAPTURED.udp4, 'unreachable')));
  });

  it('reports a short buffer and an unparsable original', () => {
    const short = writeIcmpError(new Uint8Array(20 + 8 + 37), 0, CAPTURED.udp4, 3, 13);
    expect(short instanceof PacketError && short.code).toBe('buffer_too_small');
    const garbage = buildIcmpUnreachable(Uint8Array.of(0x45, 0, 0), 'prohibited');
    expect(garbage instanceof PacketError && garbage.code).toBe('truncated');
  });
});

describe('packets that must not be answered with an ICMP error', () => {
  const v4 = (src: string, dst: string): Uint8Array =>
    ok(buildUdpPacket({ src: ip(src), dst: ip(dst), srcPort: 5353, dstPort: 5353 }));

  const refused: [string, Uint8Array][] = [
    ['an ICMPv4 error', ok(buildIcmpUnreachable(CAPTURED.udp4, 'prohibited'))],
    ['an ICMPv6 error', ok(buildIcmpUnreachable(CAPTURED.udp6, 'prohibited'))],
    ['an ICMPv6 redirect', CAPTURED.icmp6.map((b, i) => (i === 40 ? 137 : b))],
    ['IPv4 multicast', v4('10.0.0.1', '224.0.0.251')],
    ['IPv4 limited broadcast', v4('10.0.0.1', '255.255.255.255')],
    ['IPv4 source 0.0.0.0', v4('0.0.0.0', '10.0.0.2')],
    ['IPv4 loopback source', v4('127.0.0.1', '10.0.0.2')],
    ['IPv4 multicast source', v4('239.1.1.1', '10.0.0.2')],
    [
      'IPv6 multicast',
      ok(buildUdpPacket({ src: ip('fd00::1'), dst: ip('ff02::fb'), srcPort: 1, dstPort: 2 })),
    ],
    [
      'IPv6 unspecified source',
      ok(buildUdpPacket({ src: ip('::'), dst: ip('fd00::2'), srcPort: 1, dstPort: 2 })),
    ],
    [
      'IPv6 multicast source',
      ok(buildUdpPacket({ src: ip('ff05::1'), dst: ip('fd00::2'), srcPort: 1, dstPort: 2 })),
    ],
  ];

  it.each(refused)('%s', (_name, original) => {
    expect(icmpErrorAllowed(ok(parseIpPacket(original)))).toBe(false);
    const result = buildIcmpUnreachable(original, 'prohibited');
    expect(result instanceof PacketError && result.code).toBe('icmp_error_suppressed');
  });

  it('a non-initial IPv4 fragment', () => {
    const fragment = Uint8Array.from(CAPTURED.udp4);
    fragment[7] = 3;
    const p = ok(parseIpPacket(fragment));
    expect(icmpErrorAllowed(p)).toBe(false);
  });

  it('but echo requests and replies are answered', () => {
    const reply = ok(
      buildIcmpEcho({ src: ip('10.0.0.1'), dst: ip('10.0.0.2'), echo: 'reply', identifier: 1, sequence: 2 }),
    );
    expect(icmpErrorAllowed(parse(reply))).toBe(true);
    expect(icmpErrorAllowed(parse(CAPTURED.icmp6))).toBe(true);
  });
});
