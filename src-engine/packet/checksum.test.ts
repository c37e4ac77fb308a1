import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyChecksumDelta,
  checksumDelta,
  fold,
  internetChecksum,
  ipv4HeaderChecksum,
  onesComplementSum,
  transportChecksum,
  updateChecksum16,
  updateChecksumBytes,
  verifyIpv4HeaderChecksum,
  verifyTransportChecksum,
} from './checksum.js';
import { parseIpPacket } from './parse.js';
import { CAPTURED, RFC1071_EXAMPLE, RFC1071_EXAMPLE_SUM, TEXTBOOK_IPV4_HEADER } from './test-fixtures.js';
import { referenceChecksum, referencePseudoHeader } from './test-reference.js';

describe('RFC 1071 Internet checksum', () => {
  it('matches the RFC 1071 §3 numerical example', () => {
    expect(onesComplementSum(RFC1071_EXAMPLE, 0, RFC1071_EXAMPLE.length)).toBe(RFC1071_EXAMPLE_SUM);
    expect(internetChecksum(RFC1071_EXAMPLE)).toBe(~RFC1071_EXAMPLE_SUM & 0xffff);
  });

  it('is byte-order independent as RFC 1071 §2 (B) says: the swapped sum is the swapped bytes', () => {
    const swapped = Uint8Array.from(RFC1071_EXAMPLE);
    for (let i = 0; i < swapped.length; i += 2) [swapped[i], swapped[i + 1]] = [swapped[i + 1]!, swapped[i]!];
    const sum = onesComplementSum(swapped, 0, swapped.length);
    expect(((sum & 0xff) << 8) | (sum >> 8)).toBe(RFC1071_EXAMPLE_SUM);
  });

  it('pads an odd final byte with zero', () => {
    expect(internetChecksum(Uint8Array.of(0x12))).toBe(~0x1200 & 0xffff);
    expect(internetChecksum(Uint8Array.of(0xab, 0xcd, 0xef))).toBe(~(0xabcd + 0xef00 - 0xffff) & 0xffff);
  });

  it('is 0xffff for no bytes and for all-zero bytes', () => {
    expect(internetChecksum(new Uint8Array(0))).toBe(0xffff);
    expect(internetChecksum(new Uint8Array(10))).toBe(0xffff);
  });

  it('folds sums far beyond 32 bits', () => {
    expect(fold(0xffff * 0x10000 + 0xffff)).toBe(0xffff);
    expect(fold(2 ** 40)).toBe(0x100); // 2^16 ≡ 1 (mod 0xffff), so 2^40 ≡ 2^8
    expect(fold(2 ** 48)).toBe(1);
    expect(fold(0x1_0000)).toBe(1);
  });

  it('equals the reference checksum for random ranges', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const offset = bytes.length === 0 ? 0 : a % bytes.length;
        const length = bytes.length - offset === 0 ? 0 : b % (bytes.length - offset + 1);
        const expected = referenceChecksum([...bytes.subarray(offset, offset + length)]);
        expect(internetChecksum(bytes, offset, length)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('chains over ranges when all but the last have even length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (bytes, cut) => {
        const split = (cut % (bytes.length + 1)) & ~1;
        const chained = onesComplementSum(
          bytes,
          split,
          bytes.length - split,
          onesComplementSum(bytes, 0, split),
        );
        expect(chained).toBe(onesComplementSum(bytes, 0, bytes.length));
      }),
      { numRuns: 300 },
    );
  });
});

describe('IPv4 header checksum', () => {
  it('computes and verifies the textbook header (0xb861)', () => {
    expect(ipv4HeaderChecksum(TEXTBOOK_IPV4_HEADER)).toBe(0xb861);
    expect(verifyIpv4HeaderChecksum(TEXTBOOK_IPV4_HEADER)).toBe(true);
    const broken = Uint8Array.from(TEXTBOOK_IPV4_HEADER);
    broken[8] = 63;
    expect(verifyIpv4HeaderChecksum(broken)).toBe(false);
  });

  it.each(['udp4', 'tcp4', 'icmp4'] as const)('matches the kernel for captured %s', (name) => {
    const packet = CAPTURED[name];
    expect(ipv4HeaderChecksum(packet)).toBe((packet[10]! << 8) | packet[11]!);
    expect(verifyIpv4HeaderChecksum(packet)).toBe(true);
  });
});

describe('transport checksums', () => {
  it.each(Object.keys(CAPTURED) as (keyof typeof CAPTURED)[])('match the kernel for captured %s', (name) => {
    const bytes = CAPTURED[name];
    const packet = parseIpPacket(bytes);
    if (packet instanceof Error) throw packet;
    const field =
      packet.payloadOffset +
      (packet.transport!.kind === 'tcp' ? 16 : packet.transport!.kind === 'udp' ? 6 : 2);
    expect(transportChecksum(bytes, packet)).toBe((bytes[field]! << 8) | bytes[field + 1]!);
    expect(verifyTransportChecksum(bytes, packet)).toBe(true);

    // The independent reference agrees: pseudo-header (except ICMPv4) plus message sums to zero.
    const message = [...packet.payload];
    const covered =
      packet.protocol === 1
        ? message
        : [
            ...referencePseudoHeader([...packet.src], [...packet.dst], packet.protocol, message.length),
            ...message,
          ];
    expect(referenceChecksum(covered)).toBe(0);
  });

  it('detects a flipped payload bit', () => {
    const bytes = Uint8Array.from(CAPTURED.udp6);
    bytes[bytes.length - 1]! ^= 0x10;
    const packet = parseIpPacket(bytes);
    if (packet instanceof Error) throw packet;
    expect(verifyTransportChecksum(bytes, packet)).toBe(false);
  });

  it('treats UDP checksum 0 as "none" over IPv4 but invalid over IPv6', () => {
    const v4 = Uint8Array.from(CAPTURED.udp4);
    v4[26] = 0;
    v4[27] = 0;
    const p4 = parseIpPacket(v4);
    if (p4 instanceof Error) throw p4;
    expect(verifyTransportChecksum(v4, p4)).toBe(true);

    const v6 = Uint8Array.from(CAPTURED.udp6);
    v6[46] = 0;
    v6[47] = 0;
    const p6 = parseIpPacket(v6);
    if (p6 instanceof Error) throw p6;
    expect(verifyTransportChecksum(v6, p6)).toBe(false);
  });

  it('returns -1 for protocols without a known checksum', () => {
    expect(
      transportChecksum(CAPTURED.udp4, { version: 4, protocol: 47, payloadOffset: 20, payloadLength: 18 }),
    ).toBe(-1);
    expect(
      transportChecksum(CAPTURED.udp4, { version: 6, protocol: 1, payloadOffset: 20, payloadLength: 18 }),
    ).toBe(-1);
  });
});

describe('RFC 1624 incremental update', () => {
  it('gives 0x0000 on the RFC 1624 §4 example, where eqn. 2 would give 0xffff', () => {
    expect(updateChecksum16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });

  /** Random data that is not all zero, and a word index in it. */
  const dataAndWord = fc
    .uint8Array({ minLength: 2, maxLength: 64 })
    .filter((d) => d.length % 2 === 0 && d.some((b) => b !== 0))
    .chain((d) => fc.tuple(fc.constant(d), fc.nat(d.length / 2 - 1), fc.integer({ min: 0, max: 0xffff })));

  it('equals a full recomputation for one word (eqn. 3)', () => {
    fc.assert(
      fc.property(dataAndWord, ([data, word, value]) => {
        const before = internetChecksum(data);
        const changed = Uint8Array.from(data);
        changed[2 * word] = value >> 8;
        changed[2 * word + 1] = value & 0xff;
        fc.pre(changed.some((b) => b !== 0));
        const old = (data[2 * word]! << 8) | data[2 * word + 1]!;
        expect(updateChecksum16(before, old, value)).toBe(internetChecksum(changed));
      }),
      { numRuns: 2000 },
    );
  });

  it('equals a full recomputation for 4- and 16-byte address rewrites', () => {
    const arb = fc.constantFrom(4, 16).chain((n) =>
      fc.tuple(
        fc.uint8Array({ minLength: n, maxLength: n }),
        fc.uint8Array({ minLength: n, maxLength: n }),
        fc.uint8Array({ minLength: 2, maxLength: 40 }).map((rest) => rest.subarray(0, rest.length & ~1)),
      ),
    );
    fc.assert(
      fc.property(arb, ([oldAddress, newAddress, rest]) => {
        // A nonzero protocol word stands in for the rest of a pseudo-header.
        const before = Uint8Array.from([...oldAddress, 0, 17, ...rest]);
        const after = Uint8Array.from([...newAddress, 0, 17, ...rest]);
        const checksum = internetChecksum(before);
        expect(updateChecksumBytes(checksum, oldAddress, newAddress)).toBe(internetChecksum(after));
        const delta = checksumDelta(before, 0, after, 0, oldAddress.length);
        expect(applyChecksumDelta(checksum, delta)).toBe(internetChecksum(after));
      }),
      { numRuns: 2000 },
    );
  });
});
