import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp } from './address.js';
import { IPPROTO_NONE, MAX_IP_SIZE, TCP_SYN } from './constants.js';
import { PacketError, type PacketErrorCode } from './errors.js';
import {
  ipv4DontFragment,
  ipv4Dst,
  ipv4DstU32,
  ipv4FragmentOffset,
  ipv4HeaderLength,
  ipv4Identification,
  ipv4IsFragment,
  ipv4MoreFragments,
  ipv4Protocol,
  ipv4Src,
  ipv4SrcU32,
  ipv4TotalLength,
  ipv4Ttl,
} from './ipv4.js';
import { ipv6FlowLabel, ipv6HopLimit, ipv6NextHeader, ipv6PayloadLength, ipv6TrafficClass } from './ipv6.js';
import { IpPacket, ipVersion, parseIpPacket, type ParseOptions } from './parse.js';
import { packetArb } from './test-arbitraries.js';
import { CAPTURED } from './test-fixtures.js';
import {
  hex,
  protocolOf,
  referencePacket,
  type RefExtensionHeader,
  type RefPacket,
} from './test-reference.js';

function parsed(bytes: Uint8Array, options?: ParseOptions): IpPacket {
  const result = parseIpPacket(bytes, options);
  if (result instanceof PacketError) throw new Error(`unexpected ${result.code}: ${result.message}`);
  return result;
}

function expectCode(bytes: Uint8Array, code: PacketErrorCode, options?: ParseOptions): void {
  const result = parseIpPacket(bytes, options);
  expect(result).toBeInstanceOf(PacketError);
  expect((result as PacketError).code).toBe(code);
}

function copy(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes);
}

const V4 = { src: [10, 0, 0, 1], dst: [10, 0, 0, 2] };
const V6 = {
  src: [0xfd, 0, 0x20, 0x21, 0x11, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  dst: [0xfd, 0, 0x20, 0x21, 0x11, 0x11, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 2],
};

function ref(overrides: Partial<RefPacket>): RefPacket {
  return {
    ...V4,
    ttl: 64,
    tos: 0,
    identification: 0,
    dontFragment: true,
    ipv4Options: [],
    flowLabel: 0,
    extensionHeaders: [],
    transport: { kind: 'udp', srcPort: 1000, dstPort: 53, payload: [1, 2, 3] },
    ...overrides,
  };
}

describe('parseIpPacket on packets the kernel wrote', () => {
  it('describes a UDP/IPv4 datagram', () => {
    const p = parsed(CAPTURED.udp4, { verifyChecksums: true });
    expect(p.version).toBe(4);
    expect(p.headerLength).toBe(20);
    expect(p.totalLength).toBe(38);
    expect(p.protocol).toBe(17);
    expect(formatIp(p.src)).toBe('10.9.0.1');
    expect(formatIp(p.dst)).toBe('10.9.0.2');
    expect(p.ttl).toBe(64);
    expect(p.payloadOffset).toBe(20);
    expect(p.payloadLength).toBe(18);
    expect(p.fragment).toBeNull();
    const udp = p.transport;
    if (udp?.kind !== 'udp') throw new Error('not UDP');
    expect([udp.srcPort, udp.dstPort, udp.lengthField, udp.checksum]).toEqual([40000, 5353, 18, 0x60ab]);
    expect(Buffer.from(udp.payload).toString()).toBe('hello, tun');
  });

  it('reads IPv4 fields in place with the accessors', () => {
    const b = CAPTURED.udp4;
    expect(ipVersion(b)).toBe(4);
    expect([
      ipv4HeaderLength(b),
      ipv4TotalLength(b),
      ipv4Identification(b),
      ipv4Ttl(b),
      ipv4Protocol(b),
    ]).toEqual([20, 38, 0x0612, 64, 17]);
    expect([ipv4DontFragment(b), ipv4MoreFragments(b), ipv4IsFragment(b), ipv4FragmentOffset(b)]).toEqual([
      true,
      false,
      false,
      0,
    ]);
    expect([...ipv4Src(b)]).toEqual([10, 9, 0, 1]);
    expect(ipv4Dst(b).buffer).toBe(b.buffer); // a view, not a copy
    expect(ipv4SrcU32(b)).toBe(0x0a090001);
    expect(ipv4DstU32(b)).toBe(0x0a090002);
  });

  it('describes a UDP/IPv6 datagram', () => {
    const p = parsed(CAPTURED.udp6, { verifyChecksums: true });
    expect([p.version, p.headerLength, p.totalLength, p.protocol, p.payloadOffset]).toEqual([
      6, 40, 59, 17, 40,
    ]);
    expect(formatIp(p.src)).toBe('fd00::1');
    expect(formatIp(p.dst)).toBe('fd00::2');
    expect(ipv6FlowLabel(CAPTURED.udp6)).toBe(0xc5bf7);
    expect(ipv6TrafficClass(CAPTURED.udp6)).toBe(0);
    expect([
      ipv6PayloadLength(CAPTURED.udp6),
      ipv6NextHeader(CAPTURED.udp6),
      ipv6HopLimit(CAPTURED.udp6),
    ]).toEqual([19, 17, 64]);
    expect(p.transport?.kind === 'udp' && [p.transport.srcPort, p.transport.dstPort]).toEqual([40001, 5353]);
  });

  it('describes TCP SYNs with options', () => {
    for (const [bytes, port, mss] of [
      [CAPTURED.tcp4, 80, 1240],
      [CAPTURED.tcp6, 443, 1220],
    ] as const) {
      const tcp = parsed(bytes, { verifyChecksums: true }).transport;
      if (tcp?.kind !== 'tcp') throw new Error('not TCP');
      expect(tcp.dstPort).toBe(port);
      expect(tcp.flags).toBe(TCP_SYN);
      expect(tcp.dataOffset).toBe(40);
      expect(tcp.acknowledgmentNumber).toBe(0);
      expect(tcp.payloadLength).toBe(0);
      expect(tcp.options.length).toBe(20);
      expect([...tcp.options.subarray(0, 2)]).toEqual([2, 4]); // MSS option
      expect((tcp.options[2]! << 8) | tcp.options[3]!).toBe(mss);
    }
    const tcp4 = parsed(CAPTURED.tcp4).transport;
    expect(tcp4?.kind === 'tcp' && [tcp4.sequenceNumber, tcp4.window, tcp4.urgentPointer]).toEqual([
      0x9cb95683, 0xfbe0, 0,
    ]);
  });

  it('describes ICMP and ICMPv6 echo requests', () => {
    for (const [bytes, kind, type, id] of [
      [CAPTURED.icmp4, 'icmpv4', 8, 0x1980],
      [CAPTURED.icmp6, 'icmpv6', 128, 0x1982],
    ] as const) {
      const icmp = parsed(bytes, { verifyChecksums: true }).transport;
      if (icmp === null || icmp.kind !== kind) throw new Error(`not ${kind}`);
      expect([icmp.type, icmp.code, icmp.identifier, icmp.sequence]).toEqual([type, 0, id, 1]);
      expect(icmp.isEcho).toBe(true);
      expect(icmp.isError).toBe(false);
      expect(icmp.body.length).toBe(16);
    }
  });

  it('ignores bytes after the declared length', () => {
    const padded = Uint8Array.from([...CAPTURED.tcp4, 0xde, 0xad, 0xbe, 0xef]);
    const p = parsed(padded, { verifyChecksums: true });
    expect(p.totalLength).toBe(CAPTURED.tcp4.length);
    expect(p.bytes).toEqual(CAPTURED.tcp4);
  });

  it('parses the p2p control "Goodbye" packet of docs/protocol.md §1.2 as protocol 255 without transport', () => {
    const goodbye = hex('6000000000 08 ff 00' + '00'.repeat(32) + '0200000000000000');
    const p = parsed(goodbye);
    expect([p.version, p.protocol, p.payloadLength, p.transport]).toEqual([6, 255, 8, null]);
    expect(formatIp(p.src)).toBe('::');
  });
});

describe('parseIpPacket on generated packets', () => {
  it('agrees with the independent reference encoder on every field', () => {
    fc.assert(
      fc.property(packetArb(), (spec) => {
        const bytes = referencePacket(spec);
        const p = parsed(bytes, { verifyChecksums: true });
        expect(p.version).toBe(spec.src.length === 4 ? 4 : 6);
        expect([...p.src]).toEqual(spec.src);
        expect([...p.dst]).toEqual(spec.dst);
        expect(p.ttl).toBe(spec.ttl);
        expect(p.totalLength).toBe(bytes.length);
        expect(p.protocol).toBe(protocolOf(spec));
        const extLength = spec.extensionHeaders.reduce((n, h) => n + h.body.length + 2, 0);
        expect(p.payloadOffset).toBe(p.version === 4 ? 20 + spec.ipv4Options.length : 40 + extLength);
        const t = spec.transport;
        const view = p.transport;
        switch (t.kind) {
          case 'udp':
          case 'tcp':
            if (view?.kind !== t.kind) throw new Error(`expected ${t.kind}`);
            expect([view.srcPort, view.dstPort]).toEqual([t.srcPort, t.dstPort]);
            expect([...view.payload]).toEqual(t.payload);
            break;
          case 'icmp':
            if (view?.kind !== (p.version === 4 ? 'icmpv4' : 'icmpv6')) throw new Error('expected ICMP');
            expect([view.type, view.code]).toEqual([t.type, t.code]);
            break;
          case 'raw':
            expect(view).toBeNull();
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('parseIpPacket rejects malformed input with a typed error', () => {
  it('empty input and unknown versions', () => {
    expectCode(new Uint8Array(0), 'truncated');
    for (const version of [0, 1, 5, 7, 15]) {
      const b = copy(CAPTURED.udp4);
      b[0] = (version << 4) | 5;
      expectCode(b, 'bad_version');
    }
  });

  it('IPv4: short header, IHL < 5, Total Length too small or past the buffer', () => {
    expectCode(CAPTURED.udp4.subarray(0, 19), 'truncated');
    const ihl4 = copy(CAPTURED.udp4);
    ihl4[0] = 0x44;
    expectCode(ihl4, 'bad_ihl');
    const ihl15 = copy(CAPTURED.udp4);
    ihl15[0] = 0x4f; // 60-byte header in a 38-byte packet
    expectCode(ihl15, 'length_mismatch');
    const short = copy(CAPTURED.udp4);
    short[3] = 19;
    expectCode(short, 'length_mismatch');
    expectCode(CAPTURED.udp4.subarray(0, 37), 'truncated');
  });

  it('IPv4: header checksum only when asked', () => {
    const b = copy(CAPTURED.udp4);
    b[8] = 1; // TTL changed, checksum not
    expect(parseIpPacket(b)).toBeInstanceOf(IpPacket);
    expectCode(b, 'bad_checksum', { verifyChecksums: true });
  });

  it('transport checksums only when asked', () => {
    for (const name of Object.keys(CAPTURED) as (keyof typeof CAPTURED)[]) {
      const b = copy(CAPTURED[name]);
      b[b.length - 1]! ^= 0x01;
      expect(parseIpPacket(b)).toBeInstanceOf(IpPacket);
      expectCode(b, 'bad_checksum', { verifyChecksums: true });
    }
  });

  it('packets above maxSize, which defaults to MAX_IP_SIZE', () => {
    const big = referencePacket(
      ref({ transport: { kind: 'udp', srcPort: 1, dstPort: 2, payload: new Array(1300).fill(7) } }),
    );
    expect(big.length).toBeGreaterThan(MAX_IP_SIZE);
    expectCode(big, 'too_large');
    expect(parsed(big, { maxSize: 65535, verifyChecksums: true }).totalLength).toBe(1328);
    const atLimit = referencePacket(
      ref({ transport: { kind: 'udp', srcPort: 1, dstPort: 2, payload: new Array(1252).fill(7) } }),
    );
    expect(parsed(atLimit).totalLength).toBe(MAX_IP_SIZE);
  });

  it('UDP: short header, Length field disagreeing with the IP payload', () => {
    const b = referencePacket(ref({ transport: { kind: 'udp', srcPort: 1, dstPort: 2, payload: [] } }));
    const seven = copy(b.subarray(0, 27));
    seven[3] = 27;
    expectCode(seven, 'truncated');
    const longer = copy(CAPTURED.udp4);
    longer[25] = 19;
    expectCode(longer, 'length_mismatch');
    const shorter = copy(CAPTURED.udp4);
    shorter[25] = 17;
    expectCode(shorter, 'length_mismatch');
    const tiny = copy(CAPTURED.udp4);
    tiny[25] = 7;
    expectCode(tiny, 'length_mismatch');
  });

  it('TCP: short header, Data Offset below 5 or past the segment', () => {
    const short = copy(CAPTURED.tcp4.subarray(0, 39));
    short[3] = 39;
    expectCode(short, 'truncated');
    const four = copy(CAPTURED.tcp4);
    four[32] = 0x40;
    expectCode(four, 'bad_data_offset');
    const fifteen = copy(CAPTURED.tcp4);
    fifteen[32] = 0xf0; // 60 bytes in a 40-byte segment
    expectCode(fifteen, 'bad_data_offset');
  });

  it('ICMP: fewer than 8 bytes', () => {
    const b = copy(CAPTURED.icmp4.subarray(0, 27));
    b[3] = 27;
    expectCode(b, 'truncated');
    const b6 = copy(CAPTURED.icmp6.subarray(0, 47));
    b6[5] = 7;
    expectCode(b6, 'truncated');
  });

  it('IPv6: short header, Payload Length past the buffer, jumbograms', () => {
    expectCode(CAPTURED.udp6.subarray(0, 39), 'truncated');
    expectCode(CAPTURED.udp6.subarray(0, CAPTURED.udp6.length - 1), 'truncated');
    const jumbo = copy(CAPTURED.udp6);
    jumbo[4] = 0;
    jumbo[5] = 0;
    jumbo[6] = 0;
    expectCode(jumbo, 'unsupported');
  });
});

describe('IPv6 extension headers', () => {
  const udp = { kind: 'udp', srcPort: 5000, dstPort: 53, payload: [9, 9] } as const;
  const dstOpts = (k = 0): RefExtensionHeader => ({ type: 60, body: new Array(6 + 8 * k).fill(1) });

  it('walks Hop-by-Hop, Routing and Destination Options to the upper layer', () => {
    const spec = ref({
      ...V6,
      extensionHeaders: [
        { type: 0, body: [1, 4, 0, 0, 0, 0] },
        { type: 43, body: [0, 0, 0, 0, 0, 0, ...new Array(16).fill(0)] },
        dstOpts(1),
      ],
      transport: udp,
    });
    const p = parsed(referencePacket(spec), { verifyChecksums: true });
    expect([p.protocol, p.headerLength, p.payloadOffset, p.payloadLength]).toEqual([
      17,
      40,
      40 + 8 + 24 + 16,
      10,
    ]);
    expect(p.transport?.kind === 'udp' && p.transport.dstPort).toBe(53);
  });

  it('rejects Hop-by-Hop anywhere but first', () => {
    const spec = ref({
      ...V6,
      extensionHeaders: [dstOpts(), { type: 0, body: [0, 0, 0, 0, 0, 0] }],
      transport: udp,
    });
    expectCode(referencePacket(spec), 'bad_extension_header');
  });

  it('caps the chain', () => {
    const eight = ref({ ...V6, extensionHeaders: new Array(8).fill(dstOpts()), transport: udp });
    expect(parsed(referencePacket(eight)).protocol).toBe(17);
    const nine = ref({ ...V6, extensionHeaders: new Array(9).fill(dstOpts()), transport: udp });
    expectCode(referencePacket(nine), 'unsupported');
  });

  it('rejects a header that runs past the payload', () => {
    const b = referencePacket(ref({ ...V6, extensionHeaders: [dstOpts()], transport: udp }));
    b[41] = 5; // Hdr Ext Len: 48 bytes
    expectCode(b, 'length_mismatch');
    const noRoom = copy(CAPTURED.udp6.subarray(0, 41));
    noRoom[4] = 0;
    noRoom[5] = 1;
    noRoom[6] = 60;
    expectCode(noRoom, 'truncated');
  });

  it('handles No Next Header', () => {
    const b = referencePacket(
      ref({ ...V6, transport: { kind: 'raw', protocol: IPPROTO_NONE, payload: [] } }),
    );
    expect([parsed(b).protocol, parsed(b).transport]).toEqual([IPPROTO_NONE, null]);
  });
});

/** Inserts an IPv6 Fragment header after the fixed header of an IPv6 packet. */
function withFragmentHeader(packet: Uint8Array, offset: number, more: boolean, id: number): Uint8Array {
  const out = new Uint8Array(packet.length + 8);
  out.set(packet.subarray(0, 40));
  out[6] = 44;
  out[40] = packet[6]!;
  out[42] = offset >> 8;
  out[43] = (offset & 0xf8) | (more ? 1 : 0);
  out.set([id >>> 24, (id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff], 44);
  out.set(packet.subarray(40), 48);
  const payload = packet.length - 40 + 8;
  out[4] = payload >> 8;
  out[5] = payload & 0xff;
  return out;
}

describe('fragments', () => {
  it('IPv4 first fragment: flagged, transport parsed without the UDP Length check', () => {
    const b = copy(CAPTURED.udp4);
    b[6] = 0x60; // DF and MF
    b[25] = 200; // the whole datagram would be longer
    const p = parsed(b);
    expect(p.fragment).toEqual({ offset: 0, moreFragments: true, identification: 0x0612 });
    expect(p.transport?.kind === 'udp' && p.transport.lengthField).toBe(200);
    expect(ipv4IsFragment(b)).toBe(true);
  });

  it('IPv4 later fragment: no transport, and no checksum verification of it', () => {
    const b = copy(CAPTURED.udp4);
    b[6] = 0x00;
    b[7] = 0x03; // offset 24 bytes, last fragment
    b[10] = 0;
    b[11] = 0;
    const sum = referenceHeaderChecksum(b);
    b[10] = sum >> 8;
    b[11] = sum & 0xff;
    const p = parsed(b, { verifyChecksums: true });
    expect(p.fragment).toEqual({ offset: 24, moreFragments: false, identification: 0x0612 });
    expect(p.transport).toBeNull();
    expect(p.protocol).toBe(17);
  });

  it('IPv4 fragment reaching past 65535 bytes is rejected (ping of death)', () => {
    const b = copy(CAPTURED.udp4);
    b[6] = 0x1f;
    b[7] = 0xff; // offset 65528
    expectCode(b, 'length_mismatch');
  });

  it('IPv6 Fragment header: first, later and atomic fragments', () => {
    const first = parsed(withFragmentHeader(CAPTURED.udp6, 0, true, 0xdeadbeef));
    expect(first.fragment).toEqual({ offset: 0, moreFragments: true, identification: 0xdeadbeef });
    expect(first.transport?.kind).toBe('udp');
    expect(first.payloadOffset).toBe(48);

    const later = parsed(withFragmentHeader(CAPTURED.udp6, 1232, false, 7));
    expect(later.fragment).toEqual({ offset: 1232, moreFragments: false, identification: 7 });
    expect([later.protocol, later.transport]).toEqual([17, null]);

    // RFC 6946: an atomic fragment is a whole datagram.
    const atomic = parsed(withFragmentHeader(CAPTURED.udp6, 0, false, 1), { verifyChecksums: true });
    expect(atomic.fragment).toBeNull();
    expect(atomic.transport?.kind).toBe('udp');

    const cut = copy(withFragmentHeader(CAPTURED.udp6, 0, true, 1).subarray(0, 47));
    cut[5] = 7; // Payload Length 7: the Fragment header does not fit
    expectCode(cut, 'truncated');
  });

  it('IPv6 fragment reassembling past 65535 bytes is rejected (RFC 8200 §4.5)', () => {
    expect(parsed(withFragmentHeader(CAPTURED.udp6, 65504, false, 1)).fragment?.offset).toBe(65504);
    expectCode(withFragmentHeader(CAPTURED.udp6, 65520, false, 1), 'length_mismatch');
  });
});

function referenceHeaderChecksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

it('parse results are views: rewriting bytes shows through', () => {
  const b = copy(CAPTURED.udp4);
  const p = parsed(b);
  b[12] = 192;
  b[20] = 0;
  b[21] = 7;
  expect(formatIp(p.src)).toBe('192.9.0.1');
  expect(p.transport?.kind === 'udp' && p.transport.srcPort).toBe(7);
});
