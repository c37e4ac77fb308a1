import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildTcpPacket, buildUdpPacket } from '../packet/build.js';
import { isPacketError } from '../packet/errors.js';
import { flowQueue } from './linux.js';

function ok(p: ReturnType<typeof buildUdpPacket>): Uint8Array {
  if (isPacketError(p)) throw new Error(JSON.stringify(p));
  return p;
}

// Unicast addresses (10/8 and fd00::/8), as the tunnel carries.
const v4 = fc.uint8Array({ minLength: 3, maxLength: 3 }).map((b) => Uint8Array.of(10, ...b));
const v6 = fc.uint8Array({ minLength: 15, maxLength: 15 }).map((b) => Uint8Array.of(0xfd, ...b));
const port = fc.integer({ min: 1, max: 65535 });

const queueOf = (p: Uint8Array, n = 2): number => flowQueue(p, 0, p.length, n);

describe('flowQueue (the TUN queue a flow is written through)', () => {
  it('gives both directions of a TCP or UDP flow the same queue, over IPv4 and IPv6', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          v4.chain((a) => v4.map((b) => [a, b])),
          v6.chain((a) => v6.map((b) => [a, b])),
        ),
        port,
        port,
        fc.boolean(),
        fc.integer({ min: 2, max: 8 }),
        ([a, b], pa, pb, tcp, n) => {
          const build = (src: Uint8Array, dst: Uint8Array, srcPort: number, dstPort: number): Uint8Array =>
            ok(
              tcp
                ? buildTcpPacket({ src, dst, srcPort, dstPort, flags: 0x10 })
                : buildUdpPacket({ src, dst, srcPort, dstPort }),
            );
          const out = build(a!, b!, pa, pb);
          const back = build(b!, a!, pb, pa);
          const q = queueOf(out, n);
          expect(q).toBeGreaterThanOrEqual(0);
          expect(q).toBeLessThan(n);
          expect(queueOf(back, n)).toBe(q);
        },
      ),
    );
  });

  it('spreads flows that differ only in their ports over the queues', () => {
    const src = Uint8Array.of(10, 98, 0, 2);
    const dst = Uint8Array.of(10, 98, 0, 1);
    const counts = [0, 0];
    for (let p = 40_000; p < 41_000; p++)
      counts[queueOf(ok(buildTcpPacket({ src, dst, srcPort: p, dstPort: 5201, flags: 0x10 })))]!++;
    expect(counts[0]).toBeGreaterThan(400);
    expect(counts[1]).toBeGreaterThan(400);
  });

  it('hashes fragments by their addresses alone, so all fragments of a datagram share a queue', () => {
    const src = Uint8Array.of(10, 98, 0, 2);
    const dst = Uint8Array.of(10, 98, 0, 1);
    const byAddresses = new Set<number>();
    for (let id = 0; id < 64; id++) {
      const first = ok(buildUdpPacket({ src, dst, srcPort: 1000 + id, dstPort: 53, identification: id }));
      first[6] = 0x20; // more fragments, offset 0: no ports used
      const later = Uint8Array.from(first);
      later[6] = 0x00;
      later[7] = 0x10; // offset 16 × 8: its "ports" are payload bytes
      later.fill(0xab, 20);
      expect(queueOf(first)).toBe(queueOf(later));
      byAddresses.add(queueOf(first));
    }
    expect(byAddresses.size).toBe(1);
  });

  it('sends what is not IPv4 or IPv6 to the first queue', () => {
    expect(queueOf(Uint8Array.of(0x50, 1, 2, 3), 4)).toBe(0);
    expect(flowQueue(new Uint8Array(60), 0, 10, 4)).toBe(0);
  });
});
