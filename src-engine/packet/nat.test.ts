import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, parseIpAddress } from './address.js';
import { PacketError } from './errors.js';
import {
  rewriteDstAddress,
  rewriteDstPort,
  rewriteIcmpIdentifier,
  rewriteSrcAddress,
  rewriteSrcPort,
} from './nat.js';
import { parseIpPacket, type IpPacket } from './parse.js';
import { bytes, packetArb } from './test-arbitraries.js';
import { CAPTURED } from './test-fixtures.js';
import {
  referenceChecksum,
  referencePacket,
  referenceTransport,
  toHex,
  type RefPacket,
  type RefTransport,
} from './test-reference.js';

function parse(b: Uint8Array): IpPacket {
  const p = parseIpPacket(b, { maxSize: 65535 });
  if (p instanceof PacketError) throw new Error(`unexpected ${p.code}: ${p.message}`);
  return p;
}

function isEcho(spec: RefPacket): boolean {
  const t = spec.transport;
  if (t.kind !== 'icmp') return false;
  return spec.src.length === 4 ? t.type === 0 || t.type === 8 : t.type === 128 || t.type === 129;
}

type Rewrite =
  | { readonly what: 'src' | 'dst'; readonly address: number[] }
  | { readonly what: 'srcPort' | 'dstPort' | 'icmpId'; readonly value: number };

function rewriteArb(spec: RefPacket): fc.Arbitrary<Rewrite> {
  const n = spec.src.length;
  const value = fc.integer({ min: 0, max: 0xffff });
  return fc.oneof(
    fc.record({ what: fc.constantFrom('src' as const, 'dst' as const), address: bytes(n, n) }),
    fc.record({ what: fc.constantFrom('srcPort' as const, 'dstPort' as const, 'icmpId' as const), value }),
  );
}

/** Applies the rewrite with the library; returns the error, if any. */
function applyRewrite(p: IpPacket, r: Rewrite): PacketError | undefined {
  switch (r.what) {
    case 'src':
      return rewriteSrcAddress(p, Uint8Array.from(r.address));
    case 'dst':
      return rewriteDstAddress(p, Uint8Array.from(r.address));
    case 'srcPort':
      return rewriteSrcPort(p, r.value);
    case 'dstPort':
      return rewriteDstPort(p, r.value);
    case 'icmpId':
      return rewriteIcmpIdentifier(p, r.value);
  }
}

/** The same rewrite on the description, for a full recomputation by the reference; null if not applicable. */
function rewriteSpec(spec: RefPacket, r: Rewrite): RefPacket | null {
  const t = spec.transport;
  switch (r.what) {
    case 'src':
      return { ...spec, src: r.address };
    case 'dst':
      return { ...spec, dst: r.address };
    case 'srcPort':
    case 'dstPort': {
      if (t.kind !== 'udp' && t.kind !== 'tcp') return null;
      const transport: RefTransport =
        r.what === 'srcPort' ? { ...t, srcPort: r.value } : { ...t, dstPort: r.value };
      return { ...spec, transport };
    }
    case 'icmpId':
      if (t.kind !== 'icmp' || !isEcho(spec)) return null;
      return { ...spec, transport: { ...t, rest: [r.value, t.rest[1]] } };
  }
}

describe('NAT rewrites equal a full recomputation', () => {
  it('for random packets and random rewrites (addresses, ports, ICMP identifiers)', () => {
    const arb = packetArb().chain((spec) =>
      fc.tuple(fc.constant(spec), fc.array(rewriteArb(spec), { minLength: 1, maxLength: 3 })),
    );
    fc.assert(
      fc.property(arb, ([spec, rewrites]) => {
        const buf = referencePacket(spec);
        const p = parse(buf);
        let expected = spec;
        for (const r of rewrites) {
          const next = rewriteSpec(expected, r);
          const before = toHex(buf);
          const error = applyRewrite(p, r);
          if (next === null) {
            expect(error?.code).toBe('unsupported');
            expect(toHex(buf)).toBe(before);
          } else {
            expect(error).toBeUndefined();
            expected = next;
          }
          expect(toHex(buf)).toBe(toHex(referencePacket(expected)));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('for UDP datagrams whose checksum is sent as 0xffff (a computed 0, RFC 768)', () => {
    const arb = packetArb({ otherProtocols: false })
      .filter((spec) => spec.transport.kind === 'udp')
      .map((spec): RefPacket => {
        const t = spec.transport as Extract<RefTransport, { kind: 'udp' }>;
        // Append a word-aligned word equal to the checksum computed with that word zero: the
        // sum becomes all ones, so the computed checksum is 0 and goes on the wire as 0xffff.
        const base = t.payload.length % 2 === 0 ? [...t.payload] : [...t.payload, 0];
        const zero = referenceTransport({
          ...spec,
          transport: { ...t, noChecksum: false, payload: [...base, 0, 0] },
        });
        const payload = [...base, zero[6]!, zero[7]!];
        return { ...spec, transport: { ...t, noChecksum: false, payload } };
      })
      .chain((spec) => fc.tuple(fc.constant(spec), rewriteArb(spec)));
    fc.assert(
      fc.property(arb, ([spec, r]) => {
        const buf = referencePacket(spec);
        const udp = parse(buf).transport;
        expect(udp?.kind === 'udp' && udp.checksum).toBe(0xffff);
        const expected = rewriteSpec(spec, r);
        const error = applyRewrite(parse(buf), r);
        if (expected === null) return;
        expect(error).toBeUndefined();
        expect(toHex(buf)).toBe(toHex(referencePacket(expected)));
      }),
      { numRuns: 300 },
    );
  });
});

function ip(text: string): Uint8Array {
  const b = parseIpAddress(text);
  if (b === null) throw new Error(text);
  return b;
}

describe('NAT rewrite details', () => {
  it('keeps a zero UDP checksum over IPv4 at zero ("none")', () => {
    const buf = Uint8Array.from(CAPTURED.udp4);
    buf[26] = 0;
    buf[27] = 0;
    const p = parse(buf);
    expect(rewriteSrcAddress(p, ip('100.96.0.7'))).toBeUndefined();
    expect(rewriteDstPort(p, 53)).toBeUndefined();
    expect([buf[26], buf[27]]).toEqual([0, 0]);
    expect(formatIp(p.src)).toBe('100.96.0.7');
    expect(p.transport?.kind === 'udp' && p.transport.dstPort).toBe(53);
    expect(parseIpPacket(buf, { verifyChecksums: true })).not.toBeInstanceOf(PacketError);
  });

  it('makes an ICMPv4 echo reply that becomes all zero carry checksum 0xffff', () => {
    const spec: RefPacket = {
      src: [10, 0, 0, 1],
      dst: [10, 0, 0, 2],
      ttl: 64,
      tos: 0,
      identification: 0,
      dontFragment: true,
      ipv4Options: [],
      flowLabel: 0,
      extensionHeaders: [],
      transport: { kind: 'icmp', type: 0, code: 0, rest: [5, 0], payload: [] },
    };
    const buf = referencePacket(spec);
    expect(rewriteIcmpIdentifier(parse(buf), 0)).toBeUndefined();
    expect([buf[22], buf[23]]).toEqual([0xff, 0xff]);
    expect(referenceChecksum([...buf.subarray(20)])).toBe(0);
  });

  it('updates a first fragment like a whole datagram, and only the IP header of later fragments', () => {
    const first = Uint8Array.from(CAPTURED.tcp4);
    setIpv4Fragment(first, true, 0);
    const whole = Uint8Array.from(CAPTURED.tcp4);
    expect(rewriteDstAddress(parse(first), ip('192.0.2.80'))).toBeUndefined();
    expect(rewriteDstAddress(parse(whole), ip('192.0.2.80'))).toBeUndefined();
    expect(toHex(first.subarray(20))).toBe(toHex(whole.subarray(20)));
    expect(referenceChecksum([...first.subarray(0, 20)])).toBe(0);

    const later = Uint8Array.from(CAPTURED.tcp4);
    setIpv4Fragment(later, false, 24);
    const payloadBefore = toHex(later.subarray(20));
    const p = parse(later);
    expect(rewriteSrcPort(p, 1)?.code).toBe('unsupported');
    expect(rewriteSrcAddress(p, ip('192.0.2.1'))).toBeUndefined();
    expect(toHex(later.subarray(20))).toBe(payloadBefore);
    expect(referenceChecksum([...later.subarray(0, 20)])).toBe(0);
  });

  it('rejects bad arguments and leaves the packet alone', () => {
    const buf = Uint8Array.from(CAPTURED.udp6);
    const p = parse(buf);
    const cases: [PacketError | undefined, string][] = [
      [rewriteSrcAddress(p, ip('10.0.0.1')), 'invalid_argument'],
      [rewriteDstAddress(p, new Uint8Array(15)), 'invalid_argument'],
      [rewriteSrcPort(p, 65536), 'invalid_argument'],
      [rewriteDstPort(p, -1), 'invalid_argument'],
      [rewriteIcmpIdentifier(p, 1), 'unsupported'],
      [rewriteIcmpIdentifier(parse(Uint8Array.from(CAPTURED.icmp4)), 70000), 'invalid_argument'],
      [rewriteSrcPort(parse(Uint8Array.from(CAPTURED.icmp6)), 1), 'unsupported'],
    ];
    for (const [result, code] of cases) expect(result?.code).toBe(code);
    expect(buf).toEqual(CAPTURED.udp6);
  });

  it('accepts a view of the packet itself as the new address', () => {
    const buf = Uint8Array.from(CAPTURED.tcp6);
    const p = parse(buf);
    expect(rewriteSrcAddress(p, p.dst)).toBeUndefined();
    expect(formatIp(p.src)).toBe('fd00::2');
    expect(parseIpPacket(buf, { verifyChecksums: true })).not.toBeInstanceOf(PacketError);
  });
});

/** Sets MF and the fragment offset (bytes) and fixes the header checksum with the reference. */
function setIpv4Fragment(buf: Uint8Array, more: boolean, offset: number): void {
  const word = (more ? 0x2000 : 0) | (offset / 8);
  buf[6] = word >> 8;
  buf[7] = word & 0xff;
  buf[10] = 0;
  buf[11] = 0;
  const sum = referenceChecksum([...buf.subarray(0, 20)]);
  buf[10] = sum >> 8;
  buf[11] = sum & 0xff;
}
