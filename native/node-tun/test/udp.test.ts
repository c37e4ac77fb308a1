/**
 * UdpSocket on loopback (in-process), plus the EAGAIN/onceWritable scenario, which needs a
 * slow qdisc and so runs in a network namespace (root only).
 */
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, test } from 'vitest';
import { ADDR_SIZE, UdpSocket, decodeAddress, encodeAddress, type SystemError } from '../index.js';
import { isRoot, runScenario } from './helpers/netns.js';

const INDEX_JS = new URL('../index.js', import.meta.url).pathname;

interface Batch {
  buffer: Uint8Array;
  lengths: Uint32Array;
  addrs: Uint8Array;
  slotSize: number;
  headroom: number;
}

function batch(slots: number, slotSize = 2048, headroom = 16): Batch {
  return {
    buffer: new Uint8Array(slots * slotSize),
    lengths: new Uint32Array(slots),
    addrs: new Uint8Array(slots * ADDR_SIZE),
    slotSize,
    headroom,
  };
}

function payload(i: number, size: number): Uint8Array {
  const p = new Uint8Array(size).fill((i * 7) & 0xff);
  new DataView(p.buffer).setUint16(0, i);
  return p;
}

function slot(b: Batch, i: number): Uint8Array {
  const start = i * b.slotSize + b.headroom;
  return b.buffer.subarray(start, start + b.lengths[i]!);
}

function fill(b: Batch, payloads: Uint8Array[], address: string, port: number): void {
  payloads.forEach((p, i) => {
    b.buffer.set(p, i * b.slotSize + b.headroom);
    b.lengths[i] = p.length;
    encodeAddress(address, port, b.addrs, i * ADDR_SIZE);
  });
}

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const open: UdpSocket[] = [];
function bind(address: string, options: Partial<Parameters<typeof UdpSocket.bind>[0]> = {}): UdpSocket {
  const s = UdpSocket.bind({ address, port: 0, ...options });
  open.push(s);
  return s;
}
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

function thrown(fn: () => unknown): SystemError {
  try {
    fn();
  } catch (e) {
    return e as SystemError;
  }
  throw new Error('did not throw');
}

describe('address records', () => {
  test.each([
    ['127.0.0.1', 0, '127.0.0.1', 4],
    ['10.1.2.3', 65535, '10.1.2.3', 4],
    ['::1', 51820, '::1', 6],
    ['fd00::1:2', 443, 'fd00::1:2', 6],
    ['2001:db8::ff00:42:8329', 9, '2001:db8::ff00:42:8329', 6],
    ['::ffff:192.0.2.1', 53, '192.0.2.1', 4],
  ])('%s:%i round-trips', (address, port, expected, family) => {
    const recs = new Uint8Array(3 * ADDR_SIZE).fill(0xaa);
    encodeAddress(address, port, recs, ADDR_SIZE);
    expect(recs[ADDR_SIZE]).toBe(family);
    expect(recs[ADDR_SIZE + 1]).toBe(0);
    expect((recs[ADDR_SIZE + 2]! << 8) | recs[ADDR_SIZE + 3]!).toBe(port);
    expect(recs[0]).toBe(0xaa); // neighbours untouched
    expect(recs[2 * ADDR_SIZE]).toBe(0xaa);
    expect(decodeAddress(recs, ADDR_SIZE)).toEqual({ address: expected, port });
  });

  test('IPv4 layout', () => {
    const rec = new Uint8Array(ADDR_SIZE).fill(0xff);
    encodeAddress('192.0.2.7', 0x1234, rec, 0);
    expect(Array.from(rec)).toEqual([4, 0, 0x12, 0x34, 192, 0, 2, 7, ...new Array<number>(12).fill(0)]);
  });

  test('bad input throws', () => {
    const rec = new Uint8Array(ADDR_SIZE * 2);
    expect(() => encodeAddress('nope', 1, rec, 0)).toThrow(TypeError);
    expect(() => encodeAddress('fe80::1%eth0', 1, rec, 0)).toThrow(TypeError);
    expect(() => encodeAddress('1.2.3.4', 65536, rec, 0)).toThrow(RangeError);
    expect(() => encodeAddress('1.2.3.4', 1, rec, 21)).toThrow(RangeError);
    expect(() => encodeAddress('1.2.3.4', 1, [] as unknown as Uint8Array, 0)).toThrow(TypeError);
    expect(() => decodeAddress(rec, 0)).toThrow(RangeError); // family 0
    expect(() => decodeAddress(rec, 30)).toThrow(RangeError);
  });
});

describe('UdpSocket', () => {
  test.each([['127.0.0.1'], ['::1']])('two sockets exchange batches on %s', async (host) => {
    const a = bind(host);
    const b = bind(host);
    expect(a.address).toBe(host);
    expect(a.port).toBeGreaterThan(0);
    const N = 32;
    const payloads = Array.from({ length: N }, (_, i) => payload(i, 20 + i * 37));
    const atB: { data: Uint8Array; from: { address: string; port: number } }[] = [];
    const echoed: Uint8Array[] = [];
    const bBatch = batch(64);
    const aBatch = batch(64);
    // b echoes each batch straight back: the source records become the destinations.
    b.startReading(
      bBatch.buffer,
      bBatch.slotSize,
      bBatch.headroom,
      bBatch.lengths,
      bBatch.addrs,
      64,
      (count) => {
        for (let i = 0; i < count; i++)
          atB.push({ data: slot(bBatch, i).slice(), from: decodeAddress(bBatch.addrs, i * ADDR_SIZE) });
        expect(
          b.send(bBatch.buffer, bBatch.slotSize, bBatch.headroom, bBatch.lengths, bBatch.addrs, count),
        ).toBe(count);
      },
      (err) => {
        throw err;
      },
    );
    a.startReading(
      aBatch.buffer,
      aBatch.slotSize,
      aBatch.headroom,
      aBatch.lengths,
      aBatch.addrs,
      64,
      (count) => {
        for (let i = 0; i < count; i++) echoed.push(slot(aBatch, i).slice());
      },
      (err) => {
        throw err;
      },
    );
    const out = batch(N, 4096, 0);
    fill(out, payloads, host, b.port);
    expect(a.send(out.buffer, out.slotSize, out.headroom, out.lengths, out.addrs, N)).toBe(N);
    await until(() => echoed.length >= N);
    expect(atB.map((m) => Buffer.from(m.data).toString('hex'))).toEqual(
      payloads.map((p) => Buffer.from(p).toString('hex')),
    );
    expect(atB.every((m) => m.from.address === host && m.from.port === a.port)).toBe(true);
    expect(echoed.map((m) => Buffer.from(m).toString('hex'))).toEqual(
      payloads.map((p) => Buffer.from(p).toString('hex')),
    );
    expect(a.stats).toMatchObject({ sentDatagrams: N, receivedDatagrams: N, sendBatches: 1 });
    expect(b.stats.receivedDatagrams).toBe(N);
    expect(b.stats.receiveBatches).toBeLessThan(N); // batches of more than one datagram
  });

  test('a dual-stack socket sees IPv4 peers as IPv4 records and answers them', async () => {
    const server = bind('::');
    const client = bind('127.0.0.1');
    const sb = batch(8);
    const cb = batch(8);
    const from: { address: string; port: number }[] = [];
    let replies = 0;
    server.startReading(
      sb.buffer,
      sb.slotSize,
      sb.headroom,
      sb.lengths,
      sb.addrs,
      8,
      (n) => {
        for (let i = 0; i < n; i++) from.push(decodeAddress(sb.addrs, i * ADDR_SIZE));
        server.send(sb.buffer, sb.slotSize, sb.headroom, sb.lengths, sb.addrs, n);
      },
      () => {},
    );
    client.startReading(
      cb.buffer,
      cb.slotSize,
      cb.headroom,
      cb.lengths,
      cb.addrs,
      8,
      (n) => (replies += n),
      () => {},
    );
    const out = batch(1);
    fill(out, [payload(1, 100)], '127.0.0.1', server.port);
    client.send(out.buffer, out.slotSize, out.headroom, out.lengths, out.addrs, 1);
    await until(() => replies === 1);
    expect(from).toEqual([{ address: '127.0.0.1', port: client.port }]);
  });

  test('truncated datagrams are dropped and counted; the rest are packed into slots', async () => {
    const a = bind('127.0.0.1');
    const b = bind('127.0.0.1');
    const rb = batch(8, 128, 0);
    const got: number[][] = [];
    b.startReading(
      rb.buffer,
      rb.slotSize,
      rb.headroom,
      rb.lengths,
      rb.addrs,
      8,
      (n) => {
        for (let i = 0; i < n; i++) got.push([rb.lengths[i]!, slot(rb, i)[0]!, slot(rb, i)[1]!]);
      },
      () => {},
    );
    const sizes = [100, 200, 128, 129, 50];
    const out = batch(sizes.length);
    fill(
      out,
      sizes.map((s, i) => payload(i, s)),
      '127.0.0.1',
      b.port,
    );
    a.send(out.buffer, out.slotSize, out.headroom, out.lengths, out.addrs, sizes.length);
    await until(() => got.length === 3);
    expect(got).toEqual([
      [100, 0, 0],
      [128, 0, 2],
      [50, 0, 4],
    ]);
    expect(b.stats.truncated).toBe(2);
    expect(b.stats.receivedDatagrams).toBe(3);
  });

  test('a destination the socket cannot reach is dropped and counted, not thrown', async () => {
    const a = bind('127.0.0.1');
    const b = bind('127.0.0.1');
    let got = 0;
    const rb = batch(8);
    b.startReading(
      rb.buffer,
      rb.slotSize,
      rb.headroom,
      rb.lengths,
      rb.addrs,
      8,
      (n) => (got += n),
      () => {},
    );
    const out = batch(3);
    fill(out, [payload(0, 10), payload(1, 10), payload(2, 10)], '127.0.0.1', b.port);
    encodeAddress('::1', b.port, out.addrs, ADDR_SIZE); // IPv6 destination on an IPv4 socket
    expect(a.send(out.buffer, out.slotSize, out.headroom, out.lengths, out.addrs, 3)).toBe(3);
    await until(() => got === 2);
    expect(a.stats).toMatchObject({ sentDatagrams: 2, sendErrors: 1 });
  });

  test('stays idle (no CPU) while reading with no traffic', async () => {
    const s = bind('127.0.0.1');
    const rb = batch(8);
    s.startReading(
      rb.buffer,
      rb.slotSize,
      rb.headroom,
      rb.lengths,
      rb.addrs,
      8,
      () => {},
      () => {},
    );
    s.onceWritable(() => {}); // fires once, then the poll stops watching for writability
    await new Promise((r) => setTimeout(r, 50));
    const cpu0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 400));
    const u = process.cpuUsage(cpu0);
    expect((u.user + u.system) / 1000).toBeLessThan(80);
  });

  test('bad arguments throw TypeError/RangeError; system errors carry code and syscall', () => {
    const B = UdpSocket as unknown as { bind: (...args: unknown[]) => UdpSocket };
    expect(() => B.bind()).toThrow(TypeError);
    expect(() => B.bind({ port: 0 })).toThrow(TypeError);
    expect(() => B.bind({ address: 'localhost', port: 0 })).toThrow(TypeError);
    expect(() => B.bind({ address: '127.0.0.1' })).toThrow(TypeError);
    expect(() => B.bind({ address: '127.0.0.1', port: 70000 })).toThrow(RangeError);
    expect(() => B.bind({ address: '127.0.0.1', port: 0, recvBufferSize: 0 })).toThrow(RangeError);
    expect(() => B.bind({ address: '127.0.0.1', port: 0, reuseAddr: 1 })).toThrow(TypeError);
    expect(() => new (UdpSocket as unknown as new () => unknown)()).toThrow(TypeError);

    const s = bind('127.0.0.1');
    const busy = thrown(() => UdpSocket.bind({ address: '127.0.0.1', port: s.port }));
    expect(busy).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });

    const b = batch(4);
    const fn = (): void => {};
    const u = s as unknown as Record<string, (...args: unknown[]) => unknown>;
    expect(() =>
      u.startReading!(b.buffer, 2048, 0, b.lengths, new Uint8Array(3 * ADDR_SIZE), 4, fn, fn),
    ).toThrow(RangeError);
    expect(() => u.startReading!(b.buffer, 2048, 0, b.lengths, b.addrs, 5, fn, fn)).toThrow(RangeError);
    expect(() => u.startReading!(b.buffer, 2048, 0, b.lengths, new Uint16Array(80), 4, fn, fn)).toThrow(
      TypeError,
    );
    expect(() => u.startReading!(b.buffer, 2048, 0, b.lengths, b.addrs, 4, fn, null)).toThrow(TypeError);
    expect(() => u.send!(b.buffer, 2048, 0, b.lengths, b.addrs, 1)).toThrow(RangeError); // record family 0
    encodeAddress('127.0.0.1', 9, b.addrs, 0);
    b.lengths[0] = 2049;
    expect(() => u.send!(b.buffer, 2048, 0, b.lengths, b.addrs, 1)).toThrow(RangeError);
    b.lengths[0] = 10;
    expect(() => u.send!(b.buffer, 2048, 0, b.lengths, new Uint8Array(10), 1)).toThrow(RangeError);
    expect(() => u.send!(b.buffer, 2048, 0, b.lengths, b.addrs, 5)).toThrow(RangeError);
    expect(() => u.onceWritable!('later')).toThrow(TypeError);
    expect(s.send(b.buffer, 2048, 0, b.lengths, b.addrs, 0)).toBe(0);
  });

  test('callbacks may close the socket, restart reading with new buffers, or chain onceWritable', async () => {
    const a = bind('127.0.0.1');
    const send = (port: number, n: number): void => {
      const out = batch(n);
      fill(
        out,
        Array.from({ length: n }, (_, i) => payload(i, 10)),
        '127.0.0.1',
        port,
      );
      a.send(out.buffer, out.slotSize, out.headroom, out.lengths, out.addrs, n);
    };
    const c = UdpSocket.bind({ address: '127.0.0.1', port: 0 });
    const cb = batch(1);
    let closes = 0;
    c.startReading(
      cb.buffer,
      cb.slotSize,
      cb.headroom,
      cb.lengths,
      cb.addrs,
      1,
      () => {
        closes++;
        c.close();
      },
      () => {},
    );
    const d = bind('127.0.0.1');
    const first = batch(1);
    const second = batch(4);
    let firstCalls = 0;
    let secondPackets = 0;
    d.startReading(
      first.buffer,
      first.slotSize,
      first.headroom,
      first.lengths,
      first.addrs,
      1,
      () => {
        firstCalls++;
        d.stopReading();
        d.startReading(
          second.buffer,
          second.slotSize,
          second.headroom,
          second.lengths,
          second.addrs,
          4,
          (n) => {
            secondPackets += n;
          },
          () => {},
        );
      },
      () => {},
    );
    const e = UdpSocket.bind({ address: '127.0.0.1', port: 0 });
    let writable = 0;
    e.onceWritable(() => {
      writable++;
      e.onceWritable(() => {
        writable++;
        e.close();
      });
    });
    send(c.port, 5);
    send(d.port, 5);
    await until(() => secondPackets === 4 && writable === 2);
    await new Promise((r) => setTimeout(r, 30));
    expect({ closes, cFd: c.fd, firstCalls, secondPackets, writable, eFd: e.fd }).toEqual({
      closes: 1,
      cFd: -1,
      firstCalls: 1,
      secondPackets: 4,
      writable: 2,
      eFd: -1,
    });
  });

  test('an exception in onPackets is an uncaught exception; reading goes on', () => {
    const script = `
      import { UdpSocket, ADDR_SIZE, encodeAddress } from ${JSON.stringify(INDEX_JS)};
      let uncaught = 0, calls = 0;
      process.on('uncaughtException', () => uncaught++);
      const a = UdpSocket.bind({ address: '127.0.0.1', port: 0 });
      const b = UdpSocket.bind({ address: '127.0.0.1', port: 0 });
      const buf = new Uint8Array(8 * 2048), lens = new Uint32Array(8), addrs = new Uint8Array(8 * ADDR_SIZE);
      b.startReading(buf, 2048, 0, lens, addrs, 8, () => { if (++calls === 1) throw new Error('boom'); }, () => {});
      const send = () => { lens[0] = 10; encodeAddress('127.0.0.1', b.port, addrs, 0); a.send(buf, 2048, 0, lens, addrs, 1); };
      send();
      setTimeout(send, 50);
      setTimeout(() => { console.log(JSON.stringify({ calls, uncaught })); a.close(); b.close(); }, 100);
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ calls: 2, uncaught: 1 });
  });

  test('close is idempotent; a closed socket throws EBADF', () => {
    const s = UdpSocket.bind({ address: '127.0.0.1', port: 0 });
    const b = batch(1);
    encodeAddress('127.0.0.1', 9, b.addrs, 0);
    s.startReading(
      b.buffer,
      b.slotSize,
      b.headroom,
      b.lengths,
      b.addrs,
      1,
      () => {},
      () => {},
    );
    s.onceWritable(() => {
      throw new Error('must not fire after close');
    });
    s.close();
    s.close();
    s.stopReading();
    expect(s.fd).toBe(-1);
    expect(thrown(() => s.send(b.buffer, b.slotSize, b.headroom, b.lengths, b.addrs, 1))).toMatchObject({
      code: 'EBADF',
    });
    expect(thrown(() => s.onceWritable(() => {}))).toMatchObject({ code: 'EBADF' });
  });

  test('works in a worker thread, and a worker terminated while reading does not disturb the process', async () => {
    const code = `
      const { parentPort } = require('node:worker_threads');
      const { UdpSocket, ADDR_SIZE } = require(${JSON.stringify(INDEX_JS)});
      const s = UdpSocket.bind({ address: '127.0.0.1', port: 0 });
      const buf = new Uint8Array(2048 * 8), lens = new Uint32Array(8), addrs = new Uint8Array(8 * ADDR_SIZE);
      s.startReading(buf, 2048, 0, lens, addrs, 8, (n) => parentPort.postMessage({ got: n }), () => {});
      parentPort.postMessage({ port: s.port });
    `;
    const worker = new Worker(code, { eval: true });
    let got = 0;
    const port = await new Promise<number>((resolve) =>
      worker.on('message', (m: { port?: number; got?: number }) => {
        if (m.port !== undefined) resolve(m.port);
        if (m.got !== undefined) got += m.got;
      }),
    );
    const a = bind('127.0.0.1');
    const out = batch(5);
    fill(
      out,
      [1, 2, 3, 4, 5].map((i) => payload(i, 64)),
      '127.0.0.1',
      port,
    );
    a.send(out.buffer, out.slotSize, out.headroom, out.lengths, out.addrs, 5);
    await until(() => got === 5);
    await worker.terminate();
    // The worker's socket is closed: its port can be bound again.
    const again = bind('127.0.0.1', { port });
    expect(again.port).toBe(port);
  });

  test.skipIf(!isRoot)(
    'send stops at EAGAIN and onceWritable resumes it, without spinning (netns)',
    async () => {
      const r = await runScenario<{
        sendResults: number[];
        writableEvents: number;
        received: number;
        elapsedMs: number;
        cpuMs: number;
        stats: { sender: { eagainSends: number; sentDatagrams: number } };
      }>('udpEagain');
      expect(r.sendResults[0]).toBeLessThan(256);
      expect(r.sendResults.reduce((a, b) => a + b, 0)).toBe(256);
      expect(r.writableEvents).toBeGreaterThan(0);
      expect(r.writableEvents).toBe(r.stats.sender.eagainSends);
      expect(r.stats.sender.sentDatagrams).toBe(256);
      expect(r.received).toBe(256);
      expect(r.cpuMs).toBeLessThan(Math.max(200, r.elapsedMs * 0.5));
    },
  );
});
