import { describe, expect, it } from 'vitest';
import { ADDR_SIZE, createDatagramBatch, slot } from '../tun/batch.js';
import { writeRecord } from './address-record.js';
import { DgramUdpTransport } from './dgram-udp.js';

describe('DgramUdpTransport', () => {
  it('moves batches between two sockets on loopback, with source addresses', async () => {
    const a = await DgramUdpTransport.bind({ address: '127.0.0.1', port: 0 });
    const b = await DgramUdpTransport.bind({ address: '127.0.0.1', port: 0 });
    const got: { data: string; from: number }[] = [];
    b.start(
      (batch, count) => {
        for (let i = 0; i < count; i++) {
          const at = i * ADDR_SIZE;
          got.push({
            data: Buffer.from(slot(batch, i)).toString(),
            from: (batch.addrs[at + 2]! << 8) | batch.addrs[at + 3]!,
          });
        }
      },
      (err) => {
        throw err;
      },
    );
    const out = createDatagramBatch(10, 2048);
    for (let i = 0; i < 10; i++) {
      out.buffer.set(Buffer.from(`datagram ${i}`), i * out.slotSize);
      out.lengths[i] = `datagram ${i}`.length;
      writeRecord({ address: '127.0.0.1', port: b.localPort }, out.addrs, i * ADDR_SIZE);
    }
    expect(a.send(out, 10)).toBe(10);
    for (let t = 0; t < 200 && got.length < 10; t++) await new Promise((r) => setTimeout(r, 5));
    expect(got.map((g) => g.data)).toEqual(Array.from({ length: 10 }, (_, i) => `datagram ${i}`));
    expect(new Set(got.map((g) => g.from))).toEqual(new Set([a.localPort]));
    expect(b.stats.receivedDatagrams).toBe(10);
    a.close();
    b.close();
  });
});
