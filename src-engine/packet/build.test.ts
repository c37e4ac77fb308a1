import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpAddress } from './address.js';
import {
  buildIcmpEcho,
  buildTcpPacket,
  buildUdpPacket,
  writeIcmpEcho,
  writeIpHeader,
  writeTcpPacket,
  writeUdpPacket,
  type IpFields,
} from './build.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from './constants.js';
import { PacketError, type PacketErrorCode } from './errors.js';
import { writeIpv4Header } from './ipv4.js';
import { writeIpv6Header } from './ipv6.js';
import { parseIpPacket, type IpPacket } from './parse.js';
import { tcpMssOption } from './tcp.js';
import { transportArb } from './test-arbitraries.js';
import { CAPTURED } from './test-fixtures.js';
import { referencePacket, type RefPacket } from './test-reference.js';

function ip(text: string): Uint8Array {
  const bytes = parseIpAddress(text);
  if (bytes === null) throw new Error(text);
  return bytes;
}

function ok<T>(value: T | PacketError): T {
  if (value instanceof PacketError) throw new Error(`unexpected ${value.code}: ${value.message}`);
  return value;
}

function expectCode(value: unknown, code: PacketErrorCode): void {
  expect(value).toBeInstanceOf(PacketError);
  expect((value as PacketError).code).toBe(code);
}

function parseChecked(bytes: Uint8Array): IpPacket {
  return ok(parseIpPacket(bytes, { verifyChecksums: true, maxSize: 65535 }));
}

const V4 = { src: ip('10.9.0.1'), dst: ip('10.9.0.2') };
const V6 = { src: ip('fd00::1'), dst: ip('fd00::2') };

describe('builders reproduce packets the kernel wrote, byte for byte', () => {
  it('UDP over IPv4 and IPv6', () => {
    const payload = new TextEncoder().encode('hello, tun');
    expect(
      ok(buildUdpPacket({ ...V4, identification: 0x0612, srcPort: 40000, dstPort: 5353, payload })),
    ).toEqual(CAPTURED.udp4);
    const payload6 = new TextEncoder().encode('hello, tun6');
    expect(
      ok(buildUdpPacket({ ...V6, flowLabel: 0xc5bf7, srcPort: 40001, dstPort: 5353, payload: payload6 })),
    ).toEqual(CAPTURED.udp6);
  });

  it('TCP SYN with options over IPv4 and IPv6', () => {
    const tcp4 = buildTcpPacket({
      ...V4,
      identification: 0xeefd,
      srcPort: 40002,
      dstPort: 80,
      flags: TCP_SYN,
      sequenceNumber: 0x9cb95683,
      window: 0xfbe0,
      options: CAPTURED.tcp4.subarray(40, 60),
    });
    expect(ok(tcp4)).toEqual(CAPTURED.tcp4);
    const tcp6 = buildTcpPacket({
      ...V6,
      flowLabel: 0xf2a18,
      srcPort: 40003,
      dstPort: 443,
      flags: TCP_SYN,
      sequenceNumber: 0x832a5f21,
      window: 0xfc94,
      options: CAPTURED.tcp6.subarray(60, 80),
    });
    expect(ok(tcp6)).toEqual(CAPTURED.tcp6);
  });

  it('ICMP and ICMPv6 echo requests', () => {
    const icmp4 = buildIcmpEcho({
      ...V4,
      identification: 0x3b83,
      echo: 'request',
      identifier: 0x1980,
      sequence: 1,
      payload: CAPTURED.icmp4.subarray(28),
    });
    expect(ok(icmp4)).toEqual(CAPTURED.icmp4);
    const icmp6 = buildIcmpEcho({
      ...V6,
      flowLabel: 0x50e19,
      echo: 'request',
      identifier: 0x1982,
      sequence: 1,
      payload: CAPTURED.icmp6.subarray(48),
    });
    expect(ok(icmp6)).toEqual(CAPTURED.icmp6);
  });
});

describe('write* builders fill a caller buffer', () => {
  it('write at an offset, return the length, touch nothing else', () => {
    const buf = new Uint8Array(200).fill(0xaa);
    const payload = new TextEncoder().encode('hello, tun');
    const n = ok(
      writeUdpPacket(buf, 7, { ...V4, identification: 0x0612, srcPort: 40000, dstPort: 5353, payload }),
    );
    expect(n).toBe(CAPTURED.udp4.length);
    expect(buf.subarray(7, 7 + n)).toEqual(CAPTURED.udp4);
    expect(buf.subarray(0, 7).every((b) => b === 0xaa)).toBe(true);
    expect(buf.subarray(7 + n).every((b) => b === 0xaa)).toBe(true);
  });

  it('take a payload already built in place without copying it', () => {
    const buf = new Uint8Array(100);
    const text = new TextEncoder().encode('hello, tun');
    buf.set(text, 28);
    const payload = buf.subarray(28, 28 + text.length);
    const n = ok(
      writeUdpPacket(buf, 0, { ...V4, identification: 0x0612, srcPort: 40000, dstPort: 5353, payload }),
    );
    expect(buf.subarray(0, n)).toEqual(CAPTURED.udp4);
  });

  it('report a buffer that is too small', () => {
    expectCode(writeUdpPacket(new Uint8Array(27), 0, { ...V4, srcPort: 1, dstPort: 2 }), 'buffer_too_small');
    expectCode(writeUdpPacket(new Uint8Array(28), 1, { ...V4, srcPort: 1, dstPort: 2 }), 'buffer_too_small');
    expectCode(
      writeTcpPacket(new Uint8Array(59), 0, { ...V6, srcPort: 1, dstPort: 2, flags: 0 }),
      'buffer_too_small',
    );
    expectCode(
      writeIcmpEcho(new Uint8Array(47), 0, { ...V6, echo: 'reply', identifier: 1, sequence: 1 }),
      'buffer_too_small',
    );
    expectCode(
      writeIpv4Header(new Uint8Array(19), 0, { ...V4, protocol: 17, payloadLength: 0 }),
      'buffer_too_small',
    );
    expectCode(
      writeIpv6Header(new Uint8Array(40), 1, { ...V6, nextHeader: 17, payloadLength: 0 }),
      'buffer_too_small',
    );
    expectCode(
      writeUdpPacket(new Uint8Array(100), -1, { ...V4, srcPort: 1, dstPort: 2 }),
      'buffer_too_small',
    );
  });

  it('reject arguments no packet can hold', () => {
    const big = new Uint8Array(70_000);
    const cases: [string, () => unknown][] = [
      [
        '5-byte address',
        () => buildUdpPacket({ src: new Uint8Array(5), dst: new Uint8Array(5), srcPort: 1, dstPort: 1 }),
      ],
      ['mixed families', () => buildUdpPacket({ src: V4.src, dst: V6.dst, srcPort: 1, dstPort: 1 })],
      ['port 65536', () => buildUdpPacket({ ...V4, srcPort: 65536, dstPort: 1 })],
      ['port -1', () => buildTcpPacket({ ...V4, srcPort: 1, dstPort: -1, flags: 0 })],
      ['port 1.5', () => buildUdpPacket({ ...V4, srcPort: 1.5, dstPort: 1 })],
      ['flags 256', () => buildTcpPacket({ ...V4, srcPort: 1, dstPort: 1, flags: 256 })],
      [
        'sequence 2^32',
        () => buildTcpPacket({ ...V4, srcPort: 1, dstPort: 1, flags: 0, sequenceNumber: 2 ** 32 }),
      ],
      [
        '41 bytes of options',
        () => buildTcpPacket({ ...V4, srcPort: 1, dstPort: 1, flags: 0, options: new Uint8Array(41) }),
      ],
      ['TTL 256', () => buildIcmpEcho({ ...V4, ttl: 256, echo: 'request', identifier: 1, sequence: 1 })],
      [
        'flow label 2^20',
        () => buildIcmpEcho({ ...V6, flowLabel: 1 << 20, echo: 'request', identifier: 1, sequence: 1 }),
      ],
      ['identifier 65536', () => buildIcmpEcho({ ...V6, echo: 'request', identifier: 65536, sequence: 1 })],
      [
        'IPv4 payload over 65515',
        () => buildUdpPacket({ ...V4, srcPort: 1, dstPort: 1, payload: big.subarray(0, 65508) }),
      ],
      [
        'IPv6 payload over 65535',
        () => buildUdpPacket({ ...V6, srcPort: 1, dstPort: 1, payload: big.subarray(0, 65528) }),
      ],
    ];
    for (const [name, build] of cases) {
      const result = build();
      expect(result, name).toBeInstanceOf(PacketError);
      expect((result as PacketError).code, name).toBe('invalid_argument');
    }
    // The largest packets that do fit.
    expect(
      ok(buildUdpPacket({ ...V4, srcPort: 1, dstPort: 1, payload: big.subarray(0, 65507) })).length,
    ).toBe(65535);
    expect(
      ok(buildUdpPacket({ ...V6, srcPort: 1, dstPort: 1, payload: big.subarray(0, 65527) })).length,
    ).toBe(65575);
  });

  it('writeIpHeader picks the family from the address length', () => {
    const buf = new Uint8Array(40);
    expect(writeIpHeader(buf, 0, V4, 17, 0)).toBe(20);
    expect(writeIpHeader(buf, 0, V6, 17, 0)).toBe(40);
  });

  it('pad TCP options to 32 bits with zeros (End of Option List)', () => {
    const mss = tcpMssOption(1240);
    const options = Uint8Array.of(...mss, 1, 3, 3); // MSS, NOP, 3 bytes of window scale
    const p = parseChecked(ok(buildTcpPacket({ ...V4, srcPort: 1, dstPort: 2, flags: TCP_SYN, options })));
    const tcp = p.transport;
    if (tcp?.kind !== 'tcp') throw new Error('not TCP');
    expect(tcp.dataOffset).toBe(28);
    expect([...tcp.options]).toEqual([2, 4, 4, 216, 1, 3, 3, 0]);
  });
});

describe('build → parse round trips', () => {
  const ipFields = fc.constantFrom(4, 16).chain((n) =>
    fc.record({
      src: fc.uint8Array({ minLength: n, maxLength: n }),
      dst: fc.uint8Array({ minLength: n, maxLength: n }),
      ttl: fc.integer({ min: 0, max: 255 }),
      tos: fc.integer({ min: 0, max: 255 }),
      identification: fc.integer({ min: 0, max: 0xffff }),
      dontFragment: fc.boolean(),
      flowLabel: fc.integer({ min: 0, max: 0xfffff }),
    }),
  );

  /** The same packet, described for the independent reference encoder. */
  function asRef(fields: Required<IpFields>, transport: RefPacket['transport']): RefPacket {
    return {
      src: [...fields.src],
      dst: [...fields.dst],
      ttl: fields.ttl,
      tos: fields.tos,
      identification: fields.identification,
      dontFragment: fields.dontFragment,
      ipv4Options: [],
      flowLabel: fields.flowLabel,
      extensionHeaders: [],
      transport,
    };
  }

  it('equal the reference encoder and parse back to the same fields', () => {
    const arb = ipFields.chain((fields) =>
      fc.tuple(fc.constant(fields), transportArb(fields.src.length === 4 ? 4 : 6, { otherProtocols: false })),
    );
    fc.assert(
      fc.property(arb, ([fields, t]) => {
        let built: Uint8Array | PacketError;
        let expected: RefPacket['transport'] = t;
        const payload = Uint8Array.from(t.payload);
        switch (t.kind) {
          case 'udp':
            expected = { ...t, noChecksum: false };
            built = buildUdpPacket({ ...fields, srcPort: t.srcPort, dstPort: t.dstPort, payload });
            break;
          case 'tcp':
            built = buildTcpPacket({
              ...fields,
              srcPort: t.srcPort,
              dstPort: t.dstPort,
              flags: t.flags,
              sequenceNumber: t.seq,
              acknowledgmentNumber: t.ack,
              window: t.window,
              urgentPointer: t.urgent,
              options: Uint8Array.from(t.options),
              payload,
            });
            break;
          case 'icmp': {
            const echo = (t.type & 1) === 0 ? 'request' : 'reply';
            const v4 = fields.src.length === 4;
            const type = v4 ? (echo === 'request' ? 8 : 0) : echo === 'request' ? 128 : 129;
            expected = { ...t, type, code: 0 };
            built = buildIcmpEcho({ ...fields, echo, identifier: t.rest[0], sequence: t.rest[1], payload });
            break;
          }
          default:
            return;
        }
        const bytes = ok(built);
        expect(bytes).toEqual(referencePacket(asRef(fields, expected)));
        const p = parseChecked(bytes);
        expect([...p.src]).toEqual([...fields.src]);
        expect([...p.dst]).toEqual([...fields.dst]);
        expect(p.ttl).toBe(fields.ttl);
        expect(p.totalLength).toBe(bytes.length);
      }),
      { numRuns: 1000 },
    );
  });

  it('parse TCP flags and data back', () => {
    const payload = new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n');
    const p = parseChecked(
      ok(
        buildTcpPacket({
          ...V6,
          srcPort: 50000,
          dstPort: 80,
          flags: TCP_ACK | TCP_PSH,
          sequenceNumber: 1,
          payload,
        }),
      ),
    );
    const tcp = p.transport;
    if (tcp?.kind !== 'tcp') throw new Error('not TCP');
    expect(tcp.flags).toBe(TCP_ACK | TCP_PSH);
    expect(tcp.payload).toEqual(payload);
    expect(tcp.window).toBe(65535);
  });
});
