import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frameTcpMessage, TcpDnsDeframer } from './tcp-framing.js';

describe('DNS over TCP framing', () => {
  it('puts a 2-byte big-endian length in front', () => {
    expect([...frameTcpMessage(new Uint8Array([7, 8, 9]))]).toEqual([0, 3, 7, 8, 9]);
    expect(frameTcpMessage(new Uint8Array(300)).subarray(0, 2)).toEqual(new Uint8Array([1, 44]));
    expect(() => frameTcpMessage(new Uint8Array(65536))).toThrow(RangeError);
  });

  it('reassembles messages split and joined at any boundary (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 600 }), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 }),
        (messages, cuts) => {
          const stream = new Uint8Array(messages.reduce((n, m) => n + m.length + 2, 0));
          let at = 0;
          for (const m of messages) {
            stream.set(frameTcpMessage(m), at);
            at += m.length + 2;
          }
          const deframer = new TcpDnsDeframer();
          const out: Uint8Array[] = [];
          let offset = 0;
          for (let i = 0; offset < stream.length; i++) {
            const size = cuts[i % cuts.length]!;
            out.push(...deframer.push(stream.subarray(offset, offset + size)));
            offset += size;
          }
          expect(out).toEqual(messages);
          expect(deframer.buffered).toBe(0);
        },
      ),
    );
  });

  it('skips empty frames and keeps a partial message', () => {
    const deframer = new TcpDnsDeframer();
    expect(deframer.push(new Uint8Array([0, 0, 0, 2, 5]))).toEqual([]);
    expect(deframer.buffered).toBe(3);
    expect(deframer.push(new Uint8Array([6, 0]))).toEqual([new Uint8Array([5, 6])]);
    expect(deframer.buffered).toBe(1);
  });
});
