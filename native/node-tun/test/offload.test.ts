/**
 * UDP GSO (send) and GRO (receive) behind the unchanged slot API: whatever the offloads, the
 * receiver gets the same datagrams, in order, one per slot, with the right source records.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { ADDR_SIZE, UdpSocket, decodeAddress, encodeAddress, type UdpBindOptions } from '../index.js';

const open: UdpSocket[] = [];
function bind(options: Partial<UdpBindOptions> = {}): UdpSocket {
  const s = UdpSocket.bind({ address: '127.0.0.1', port: 0, recvBufferSize: 8 << 20, ...options });
  open.push(s);
  return s;
}
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Received {
  data: Buffer;
  port: number;
}

/** Starts reading with small batches (so coalesced receives must be split across callbacks). */
function collect(s: UdpSocket, maxBatch: number, slotSize = 2048, headroom = 32): Received[] {
  const got: Received[] = [];
  const buf = new Uint8Array(slotSize * maxBatch).fill(0xcc);
  const lens = new Uint32Array(maxBatch);
  const addrs = new Uint8Array(ADDR_SIZE * maxBatch);
  s.startReading(
    buf,
    slotSize,
    headroom,
    lens,
    addrs,
    maxBatch,
    (n) => {
      expect(n).toBeLessThanOrEqual(maxBatch);
      for (let i = 0; i < n; i++) {
        const start = i * slotSize + headroom;
        got.push({
          data: Buffer.from(buf.subarray(start, start + lens[i]!)),
          port: decodeAddress(addrs, i * ADDR_SIZE).port,
        });
        for (let j = i * slotSize; j < start; j++) if (buf[j] !== 0xcc) throw new Error('headroom written');
      }
    },
    (err) => {
      throw err;
    },
  );
  return got;
}

function datagram(i: number, size: number): Buffer {
  const b = Buffer.alloc(size, i & 0xff);
  if (size >= 2) b.writeUInt16BE(i & 0xffff, 0);
  return b;
}

function sendAll(from: UdpSocket, items: { data: Buffer; port: number }[], host = '127.0.0.1'): number {
  const slot = 2048;
  const buf = new Uint8Array(slot * items.length);
  const lens = new Uint32Array(items.length);
  const addrs = new Uint8Array(ADDR_SIZE * items.length);
  items.forEach((it, i) => {
    buf.set(it.data, i * slot + 16);
    lens[i] = it.data.length;
    encodeAddress(host, it.port, addrs, i * ADDR_SIZE);
  });
  return from.send(buf, slot, 16, lens, addrs, items.length);
}

describe('UDP GSO/GRO', () => {
  test('offloads are on by default where the kernel has them, and can be turned off', () => {
    expect(bind().offloads).toEqual({ gso: true, gro: true });
    expect(bind({ gso: false, gro: false }).offloads).toEqual({ gso: false, gro: false });
    expect(() => UdpSocket.bind({ address: '127.0.0.1', port: 0, gso: 'yes' as unknown as boolean })).toThrow(
      TypeError,
    );
  });

  test.each([
    [true, true, '127.0.0.1'],
    [true, false, '127.0.0.1'],
    [false, true, '127.0.0.1'],
    [false, false, '127.0.0.1'],
    [true, true, '::1'],
  ])('gso=%s gro=%s on %s: same datagrams, in order, one per slot', async (gso, gro, host) => {
    const sender = bind({ address: host, gso, gro: false });
    const r1 = bind({ address: host, gso: false, gro });
    const r2 = bind({ address: host, gso: false, gro });
    const got1 = collect(r1, 16);
    const got2 = collect(r2, 7);
    // Long equal-size runs (GSO material), runs ending in a shorter datagram, empty datagrams,
    // and two destinations interleaved.
    const items: { data: Buffer; port: number }[] = [];
    for (let i = 0; i < 150; i++) items.push({ data: datagram(i, 1000), port: r1.port });
    items.push({ data: datagram(150, 300), port: r1.port });
    for (let i = 151; i < 180; i++)
      items.push({ data: datagram(i, 1400), port: i % 3 === 0 ? r2.port : r1.port });
    items.push({ data: Buffer.alloc(0), port: r1.port }, { data: Buffer.alloc(0), port: r1.port });
    for (let i = 182; i < 260; i++) items.push({ data: datagram(i, 64 + (i >> 4)), port: r2.port });
    expect(sendAll(sender, items, host)).toBe(items.length);
    const want1 = items.filter((it) => it.port === r1.port);
    const want2 = items.filter((it) => it.port === r2.port);
    await until(() => got1.length >= want1.length && got2.length >= want2.length);
    await new Promise((r) => setTimeout(r, 20));
    expect(got1.map((g) => g.data.toString('hex'))).toEqual(want1.map((w) => w.data.toString('hex')));
    expect(got2.map((g) => g.data.toString('hex'))).toEqual(want2.map((w) => w.data.toString('hex')));
    expect(got1.every((g) => g.port === sender.port) && got2.every((g) => g.port === sender.port)).toBe(true);
    const s = sender.stats;
    expect(s.sentDatagrams).toBe(items.length);
    if (gso) expect(s.gsoSends).toBeGreaterThan(2);
    else expect(s.gsoSends).toBe(0);
    if (gso && gro) expect(r1.stats.groReceives).toBeGreaterThan(0);
    if (!gro) expect(r1.stats.groReceives + r2.stats.groReceives).toBe(0);
    expect(r1.stats.receivedDatagrams).toBe(want1.length);
    expect(r1.stats.receiveBatches).toBeGreaterThanOrEqual(Math.ceil(want1.length / 16));
  });

  test('coalesced segments that do not fit a slot are dropped and counted one by one', async () => {
    const sender = bind({ gso: true });
    const receiver = bind({ gro: true });
    const got = collect(receiver, 8, 128, 0);
    const items = [0, 1, 2, 3, 4].map((i) => ({ data: datagram(i, 200), port: receiver.port }));
    items.push({ data: datagram(5, 50), port: receiver.port });
    expect(sendAll(sender, items)).toBe(6);
    await until(() => got.length === 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(got.map((g) => g.data)).toEqual([datagram(5, 50)]);
    expect(receiver.stats.truncated).toBe(5);
    expect(sender.stats.gsoSends).toBe(1);
  });
});
