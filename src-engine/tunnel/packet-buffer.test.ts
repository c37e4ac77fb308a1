import { describe, expect, it } from 'vitest';
import { buildTcpPacket, buildUdpPacket } from '../packet/index.js';
import { PacketBuffer } from './packet-buffer.js';

const src = new Uint8Array([100, 64, 0, 2]);
const dst = new Uint8Array([10, 0, 0, 5]);

function udp(n: number): Uint8Array {
  return buildUdpPacket({ src, dst, srcPort: 4000, dstPort: 53, payload: new Uint8Array([n]) }) as Uint8Array;
}

function syn(seq: number, ack = false): Uint8Array {
  return buildTcpPacket({
    src,
    dst,
    srcPort: 40000,
    dstPort: 80,
    sequenceNumber: seq,
    flags: ack ? 0x12 : 0x02,
  }) as Uint8Array;
}

describe('PacketBuffer', () => {
  it('keeps up to its capacity, counts the rest, and drains oldest first', () => {
    const buffer = new PacketBuffer(3);
    for (let i = 0; i < 5; i++) buffer.push(udp(i));
    expect(buffer.length).toBe(3);
    expect(buffer.dropped).toBe(2);
    expect(buffer.drain().map((p) => p[p.length - 1])).toEqual([0, 1, 2]);
    expect(buffer.length).toBe(0);
  });

  it('stores a byte-identical duplicate once and a retransmitted SYN in place of the first', () => {
    const buffer = new PacketBuffer(8);
    buffer.push(udp(1));
    buffer.push(udp(1));
    buffer.push(syn(100));
    buffer.push(syn(200));
    buffer.push(syn(300, true)); // SYN-ACK is not a SYN retransmission
    const held = buffer.drain();
    expect(held).toHaveLength(3);
    expect(held[1]).toEqual(syn(200));
  });

  it('copies what it stores (the caller reuses its slab)', () => {
    const buffer = new PacketBuffer(2);
    const packet = udp(7);
    buffer.push(packet);
    packet.fill(0);
    expect(buffer.drain()[0]).toEqual(udp(7));
  });
});
