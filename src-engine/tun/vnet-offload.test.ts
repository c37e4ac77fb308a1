/**
 * node-tun's TUN offload byte work (native/node-tun/src/vnet.c), checked against our own packet
 * library: a super packet the kernel hands us (virtio header + up to 64 KiB of TCP or UDP) splits
 * into ordinary packets with right headers and checksums; a run of segments coalesces into one
 * write the kernel can take, and splitting that write gives the same packets back.
 */
import fc from 'fast-check';
import { _vnet as vnet } from 'node-tun';
import { describe, expect, it } from 'vitest';
import { buildTcpPacket, buildUdpPacket } from '../packet/build.js';
import {
  pseudoHeaderSum,
  verifyIpv4HeaderChecksum,
  verifyTransportChecksum,
  fold,
} from '../packet/checksum.js';
import { isPacketError, type PacketError } from '../packet/errors.js';

const V4 = { src: Uint8Array.of(100, 64, 0, 1), dst: Uint8Array.of(10, 0, 0, 7) };
const V6 = {
  src: Uint8Array.from([0xfd, 0, 0x20, 0x21, 0x11, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
  dst: Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]),
};
const ACK = 0x10;
const PSH = 0x08;
const FIN = 0x01;
const SYN = 0x02;
const GSO_TCPV4 = 1;
const GSO_TCPV6 = 4;
const GSO_UDP_L4 = 5;
const NEEDS_CSUM = 1;

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7) & 0xff;
  return out;
}

function ok(p: Uint8Array | PacketError): Uint8Array {
  if (isPacketError(p)) throw new Error(`packet error: ${JSON.stringify(p)}`);
  return p;
}

function tcp(
  family: 4 | 6,
  seq: number,
  payload: Uint8Array,
  extra: { flags?: number; id?: number; srcPort?: number; window?: number; options?: Uint8Array } = {},
): Uint8Array {
  return ok(
    buildTcpPacket({
      ...(family === 4 ? V4 : V6),
      srcPort: extra.srcPort ?? 443,
      dstPort: 50000,
      flags: extra.flags ?? ACK,
      sequenceNumber: seq >>> 0,
      acknowledgmentNumber: 777,
      window: extra.window ?? 1000,
      identification: extra.id ?? 0,
      ...(extra.options ? { options: extra.options } : {}),
      payload,
    }),
  );
}

function header(fields: {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}): Uint8Array {
  const h = new Uint8Array(10);
  const v = new DataView(h.buffer);
  h[0] = fields.flags;
  h[1] = fields.gsoType;
  v.setUint16(2, fields.hdrLen, true);
  v.setUint16(4, fields.gsoSize, true);
  v.setUint16(6, fields.csumStart, true);
  v.setUint16(8, fields.csumOffset, true);
  return h;
}

/** What the kernel hands us: the packet with its L4 checksum left partial (pseudo-header sum). */
function asKernelGso(packet: Uint8Array, gsoType: number, gsoSize: number): Uint8Array {
  const family = packet[0]! >> 4;
  const l4 = family === 4 ? (packet[0]! & 0x0f) * 4 : 40;
  const isTcp = gsoType !== GSO_UDP_L4;
  const hdrLen = l4 + (isTcp ? (packet[l4 + 12]! >> 4) * 4 : 8);
  const field = l4 + (isTcp ? 16 : 6);
  const out = Uint8Array.from(packet);
  const partial = fold(pseudoHeaderSum(out, family as 4 | 6, isTcp ? 6 : 17, out.length - l4));
  out[field] = partial >> 8;
  out[field + 1] = partial & 0xff;
  const h = header({
    flags: NEEDS_CSUM,
    gsoType,
    hdrLen,
    gsoSize,
    csumStart: l4,
    csumOffset: isTcp ? 16 : 6,
  });
  return Uint8Array.from([...h, ...out]);
}

function scope(p: Uint8Array): {
  version: 4 | 6;
  protocol: number;
  payloadOffset: number;
  payloadLength: number;
} {
  const v4 = p[0]! >> 4 === 4;
  const off = v4 ? (p[0]! & 0x0f) * 4 : 40;
  return {
    version: v4 ? 4 : 6,
    protocol: v4 ? p[9]! : p[6]!,
    payloadOffset: off,
    payloadLength: p.length - off,
  };
}

function tcpPayload(p: Uint8Array): Uint8Array {
  const s = scope(p);
  return p.subarray(s.payloadOffset + (p[s.payloadOffset + 12]! >> 4) * 4);
}

const seqOf = (p: Uint8Array): number =>
  new DataView(p.buffer, p.byteOffset).getUint32(scope(p).payloadOffset + 4);
const flagsOf = (p: Uint8Array): number => p[scope(p).payloadOffset + 13]!;

describe('TUN offloads: splitting what the kernel hands us', () => {
  it('cuts a 10,000-byte TCPv4 segment at the MSS: headers, sequence numbers, IDs and checksums right', () => {
    const data = bytes(10_000);
    const big = tcp(4, 0xfffff000, data, { flags: ACK | PSH, id: 0xfffe });
    const parts = vnet.split(asKernelGso(big, GSO_TCPV4, 1380));
    expect(parts).toHaveLength(Math.ceil(10_000 / 1380));
    let offset = 0;
    parts.forEach((p, i) => {
      const payload = tcpPayload(p);
      expect(p.length).toBe(40 + payload.length);
      expect(new DataView(p.buffer).getUint16(2)).toBe(p.length);
      expect(new DataView(p.buffer).getUint16(4)).toBe((0xfffe + i) & 0xffff);
      expect(verifyIpv4HeaderChecksum(p)).toBe(true);
      expect(verifyTransportChecksum(p, scope(p))).toBe(true);
      expect(seqOf(p)).toBe((0xfffff000 + offset) >>> 0); // wraps around 2^32
      expect(flagsOf(p)).toBe(i === parts.length - 1 ? ACK | PSH : ACK);
      expect(Buffer.from(payload).equals(Buffer.from(data.subarray(offset, offset + payload.length)))).toBe(
        true,
      );
      offset += payload.length;
    });
    expect(offset).toBe(10_000);
  });

  it('cuts TCPv6 with options, keeping the options in every packet', () => {
    const options = Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2); // NOP NOP timestamps
    const big = tcp(6, 5, bytes(4000, 3), { options, flags: ACK | FIN });
    const parts = vnet.split(asKernelGso(big, GSO_TCPV6, 1000));
    expect(parts).toHaveLength(4);
    for (const [i, p] of parts.entries()) {
      expect(p.length).toBe(40 + 32 + 1000);
      expect(new DataView(p.buffer).getUint16(4)).toBe(p.length - 40);
      expect(verifyTransportChecksum(p, scope(p))).toBe(true);
      expect(Buffer.from(p.subarray(60, 72)).equals(Buffer.from(options))).toBe(true);
      expect(flagsOf(p) & FIN).toBe(i === 3 ? FIN : 0);
    }
  });

  it('cuts a UDP segment (USO), fixing each length and checksum', () => {
    const big = ok(buildUdpPacket({ ...V4, srcPort: 53, dstPort: 4000, payload: bytes(3000, 9) }));
    const parts = vnet.split(asKernelGso(big, GSO_UDP_L4, 1200));
    expect(parts.map((p) => p.length)).toEqual([1228, 1228, 628]);
    for (const p of parts) {
      expect(new DataView(p.buffer).getUint16(24)).toBe(p.length - 20);
      expect(verifyTransportChecksum(p, scope(p))).toBe(true);
    }
  });

  it('finishes the checksum of a single packet the kernel left partial', () => {
    const p = tcp(4, 1, bytes(300));
    const partial = asKernelGso(p, GSO_TCPV4, 1380);
    partial[1] = 0; // not a GSO packet: only the checksum is left to us
    const [out] = vnet.split(partial);
    expect(Buffer.from(out!).equals(Buffer.from(p))).toBe(true);
    const plain = Uint8Array.from([...new Uint8Array(10), ...p]);
    expect(Buffer.from(vnet.split(plain)[0]!).equals(Buffer.from(p))).toBe(true);
  });

  it('refuses malformed input: short, unknown GSO type, checksum outside the packet, wrong family', () => {
    const p = tcp(4, 1, bytes(3000));
    const good = asKernelGso(p, GSO_TCPV4, 1380);
    expect(() => vnet.split(good.subarray(0, 9))).toThrow(/not a valid/);
    const ufo = Uint8Array.from(good);
    ufo[1] = 3;
    expect(() => vnet.split(ufo)).toThrow(/not a valid/);
    const outside = Uint8Array.from(good);
    new DataView(outside.buffer).setUint16(6, 5000, true);
    expect(() => vnet.split(outside)).toThrow(/not a valid/);
    const v6type = Uint8Array.from(good);
    v6type[1] = GSO_TCPV6;
    expect(() => vnet.split(v6type)).toThrow(/not a valid/);
    const zeroMss = Uint8Array.from(good);
    new DataView(zeroMss.buffer).setUint16(4, 0, true);
    expect(() => vnet.split(zeroMss)).toThrow(/not a valid/);
  });
});

describe('TUN offloads: coalescing writes', () => {
  const run = (family: 4 | 6, n: number, size = 1000, start = 1000): Uint8Array[] =>
    Array.from({ length: n }, (_, i) => tcp(family, start + i * size, bytes(size, i), { id: 10 + i }));

  for (const family of [4, 6] as const) {
    it(`joins consecutive IPv${family} segments into one, and splitting it gives them back`, () => {
      const packets = run(family, 5);
      const groups = vnet.coalesce(packets);
      expect(groups.map((g) => g.count)).toEqual([5]);
      const g = groups[0]!;
      const v = new DataView(g.header.buffer);
      expect(g.header[0]).toBe(NEEDS_CSUM);
      expect(g.header[1]).toBe(family === 4 ? GSO_TCPV4 : GSO_TCPV6);
      expect(v.getUint16(4, true)).toBe(1000);
      expect(g.packet.length).toBe((family === 4 ? 40 : 60) + 5000);
      const back = vnet.split(Uint8Array.from([...g.header, ...g.packet]));
      expect(back.map((p) => Buffer.from(p).toString('hex'))).toEqual(
        packets.map((p) => Buffer.from(p).toString('hex')),
      );
    });
  }

  it('ends a group at a gap, another flow, a SYN, a short packet, PSH, or a bad checksum', () => {
    const base = run(4, 3);
    const gap = tcp(4, 1000 + 3 * 1000 + 1, bytes(1000));
    expect(vnet.coalesce([...base, gap]).map((g) => g.count)).toEqual([3, 1]);
    const other = tcp(4, 4000, bytes(1000), { srcPort: 444 });
    expect(vnet.coalesce([...base, other]).map((g) => g.count)).toEqual([3, 1]);
    const syn = tcp(4, 4000, bytes(1000), { flags: SYN | ACK });
    expect(vnet.coalesce([...base, syn]).map((g) => g.count)).toEqual([3, 1]);
    const short = tcp(4, 4000, bytes(500));
    const after = tcp(4, 4500, bytes(1000));
    expect(vnet.coalesce([...base, short, after]).map((g) => g.count)).toEqual([4, 1]);
    const push = tcp(4, 4000, bytes(1000), { flags: ACK | PSH });
    expect(vnet.coalesce([...base, push, after]).map((g) => g.count)).toEqual([4, 1]);
    const bad = tcp(4, 4000, bytes(1000));
    bad[bad.length - 1]! ^= 0xff;
    expect(vnet.coalesce([...base, bad]).map((g) => g.count)).toEqual([3, 1]);
    const window = tcp(4, 4000, bytes(1000), { window: 999 });
    expect(vnet.coalesce([...base, window]).map((g) => g.count)).toEqual([3, 1]);
    expect(vnet.coalesce([]).length).toBe(0);
  });

  it('keeps a group within 64 KiB', () => {
    const packets = run(4, 70, 1400);
    const counts = vnet.coalesce(packets).map((g) => g.count);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(70);
    for (const c of counts) expect(40 + c * 1400).toBeLessThanOrEqual(65535);
  });

  const udp = (family: 4 | 6, id: number, payload: Uint8Array, srcPort = 4000): Uint8Array =>
    ok(buildUdpPacket({ ...(family === 4 ? V4 : V6), srcPort, dstPort: 5000, identification: id, payload }));
  const udpRun = (family: 4 | 6, n: number, size = 1200, firstId = 100): Uint8Array[] =>
    Array.from({ length: n }, (_, i) => udp(family, (firstId + i) & 0xffff, bytes(size, i)));
  const hex = (ps: Uint8Array[]): string[] => ps.map((p) => Buffer.from(p).toString('hex'));

  for (const family of [4, 6] as const) {
    it(`joins one flow's IPv${family} UDP datagrams into a USO segment, and splitting it gives them back`, () => {
      const packets = [...udpRun(family, 4), udp(family, 104, bytes(300, 9))]; // the last one shorter
      const groups = vnet.coalesce(packets);
      expect(groups.map((g) => g.count)).toEqual([5]);
      const g = groups[0]!;
      const v = new DataView(g.header.buffer, g.header.byteOffset);
      expect(g.header[0]).toBe(NEEDS_CSUM);
      expect(g.header[1]).toBe(GSO_UDP_L4);
      expect(v.getUint16(2, true)).toBe(family === 4 ? 28 : 48); // IP + UDP header
      expect(v.getUint16(4, true)).toBe(1200);
      expect(v.getUint16(8, true)).toBe(6); // the UDP checksum field
      const ihl = family === 4 ? 20 : 40;
      expect(g.packet.length).toBe(ihl + 8 + 4 * 1200 + 300);
      expect(new DataView(g.packet.buffer, g.packet.byteOffset).getUint16(ihl + 4)).toBe(8 + 4 * 1200 + 300);
      expect(hex(vnet.split(Uint8Array.from([...g.header, ...g.packet])))).toEqual(hex(packets));
    });
  }

  it('ends a UDP group at another flow, a skipped IPv4 ID, a larger datagram, a missing or bad checksum', () => {
    const base = udpRun(4, 3);
    expect(vnet.coalesce([...base, udp(4, 103, bytes(1200), 4001)]).map((g) => g.count)).toEqual([3, 1]);
    expect(vnet.coalesce([...base, udp(4, 104, bytes(1200))]).map((g) => g.count)).toEqual([3, 1]);
    expect(vnet.coalesce([...base, udp(4, 103, bytes(1300))]).map((g) => g.count)).toEqual([3, 1]);
    const short = udp(4, 103, bytes(500));
    expect(vnet.coalesce([...base, short, udp(4, 104, bytes(1200))]).map((g) => g.count)).toEqual([4, 1]);
    const unchecked = udp(4, 103, bytes(1200));
    unchecked[26] = 0;
    unchecked[27] = 0; // IPv4 UDP without a checksum: valid, but left alone
    expect(vnet.coalesce([...base, unchecked]).map((g) => g.count)).toEqual([3, 1]);
    const bad = udp(4, 103, bytes(1200));
    bad[bad.length - 1]! ^= 0xff;
    expect(vnet.coalesce([...base, bad]).map((g) => g.count)).toEqual([3, 1]);
    // IDs run on across the 16-bit wrap.
    expect(vnet.coalesce(udpRun(4, 4, 1200, 0xfffe)).map((g) => g.count)).toEqual([4]);
  });

  it('leaves UDP alone on a device without USO', () => {
    expect(vnet.coalesce(udpRun(4, 4), false).map((g) => g.count)).toEqual([1, 1, 1, 1]);
    expect(vnet.coalesce(run(4, 3), false).map((g) => g.count)).toEqual([3]);
  });

  it('property: whatever the mix of TCP and UDP, splitting the coalesced writes gives back the packets in order', () => {
    const packetArb = fc.record({
      flow: fc.integer({ min: 0, max: 1 }),
      size: fc.constantFrom(1000, 1000, 1000, 400),
      flags: fc.constantFrom(ACK, ACK, ACK, ACK | PSH, ACK | FIN, SYN),
      skip: fc.boolean(),
      family: fc.constantFrom<4 | 6>(4, 4, 6),
      udp: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(packetArb, { maxLength: 40 }), (specs) => {
        const seqs = [1000, 9_000_000];
        const ids = [100, 0xfff0];
        const packets = specs.map((s, i) => {
          if (s.udp) {
            // UDP datagrams of the same two flows; a skip breaks the IPv4 ID run.
            if (s.skip) ids[s.flow]! += 3;
            const id = ids[s.flow]!++ & 0xffff;
            return udp(s.family, id, bytes(s.size, i), 4000 + s.flow);
          }
          if (s.skip) seqs[s.flow]! += 7;
          const p = tcp(s.family, seqs[s.flow]!, bytes(s.size, i), {
            flags: s.flags,
            srcPort: 443 + s.flow,
            id: i,
          });
          seqs[s.flow]! += s.size;
          return p;
        });
        const out: string[] = [];
        for (const g of vnet.coalesce(packets)) {
          const parts = g.count === 1 ? [g.packet] : vnet.split(Uint8Array.from([...g.header, ...g.packet]));
          expect(parts).toHaveLength(g.count);
          out.push(...parts.map((p) => Buffer.from(p).toString('hex')));
        }
        expect(out).toEqual(packets.map((p) => Buffer.from(p).toString('hex')));
      }),
      { numRuns: 300 },
    );
  });
});
