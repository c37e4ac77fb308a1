/**
 * Socket marks (SO_MARK): UdpSocket.bind({ mark }), setSocketMark on Node's own sockets and
 * createTcpSocket wrapped by net.Socket. In-process on loopback (root: setting a mark needs
 * CAP_NET_ADMIN); `ss -e` shows each socket's fwmark. The EPERM case runs a child whose bounding
 * set lacks CAP_NET_ADMIN and CAP_NET_RAW (setpriv).
 */
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { closeSync, openSync } from 'node:fs';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { ADDR_SIZE, UdpSocket, createTcpSocket, encodeAddress, setSocketMark } from '../index.js';
import { isRoot } from './helpers/netns.js';

const INDEX_JS = new URL('../index.js', import.meta.url).pathname;
const MARK = 0xfd002021;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** The fwmark `ss -e` reports for the socket with this local port, or undefined for none. */
function markOf(proto: 'u' | 't', port: number): string | undefined {
  const r = spawnSync('ss', [`-Hna${proto}e`, `sport = :${port}`], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`:${port}`);
  return /fwmark:(0x[0-9a-f]+)/.exec(r.stdout)?.[1];
}

function udp(address: string, options: Partial<Parameters<typeof UdpSocket.bind>[0]> = {}): UdpSocket {
  const s = UdpSocket.bind({ address, port: 0, ...options });
  cleanups.push(() => s.close());
  return s;
}

function dgram(type: 'udp4' | 'udp6'): Promise<DgramSocket> {
  const s = createSocket(type);
  cleanups.push(() => s.close());
  return new Promise((resolve) => s.bind(0, () => resolve(s)));
}

/** The fd of a bound node:dgram socket (Node keeps it on an internal handle). */
function dgramFd(s: DgramSocket): number {
  const key = Object.getOwnPropertySymbols(s).find((k) => k.description === 'state symbol')!;
  return (s as unknown as Record<symbol, { handle: { fd: number } }>)[key]!.handle.fd;
}

async function echoServer(host: string): Promise<Server> {
  const server = createServer((c) => c.pipe(c));
  cleanups.push(() => server.close());
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return server;
}

describe.skipIf(!isRoot)('socket marks', () => {
  test('UdpSocket.bind({ mark }) marks the socket; without mark there is none', () => {
    const marked = udp('127.0.0.1', { mark: MARK });
    expect(markOf('u', marked.port)).toBe('0xfd002021');
    const marked6 = udp('::1', { mark: 7 });
    expect(markOf('u', marked6.port)).toBe('0x7');
    const plain = udp('127.0.0.1');
    expect(markOf('u', plain.port)).toBeUndefined();
  });

  test('a marked UdpSocket still sends and receives', async () => {
    const a = udp('127.0.0.1', { mark: MARK });
    const b = udp('127.0.0.1');
    const got: number[] = [];
    const buffer = new Uint8Array(2048);
    const lengths = new Uint32Array(1);
    const addrs = new Uint8Array(ADDR_SIZE);
    b.startReading(
      buffer,
      2048,
      0,
      lengths,
      addrs,
      1,
      (n) => got.push(n, lengths[0]!),
      () => undefined,
    );
    const out = new Uint8Array(2048);
    out.set([1, 2, 3]);
    const dst = new Uint8Array(ADDR_SIZE);
    encodeAddress('127.0.0.1', b.port, dst, 0);
    expect(a.send(out, 2048, 0, new Uint32Array([3]), dst, 1)).toBe(1);
    const end = Date.now() + 3000;
    while (got.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    expect(got).toEqual([1, 3]);
  });

  test('setSocketMark marks node:dgram sockets of both families, and changes the mark', async () => {
    for (const type of ['udp4', 'udp6'] as const) {
      const s = await dgram(type);
      const port = s.address().port;
      expect(markOf('u', port)).toBeUndefined();
      setSocketMark(dgramFd(s), MARK);
      expect(markOf('u', port)).toBe('0xfd002021');
      setSocketMark(dgramFd(s), 0);
      expect(markOf('u', port)).toBeUndefined();
    }
  });

  test('createTcpSocket: Node wraps the fd and connects it (same tick); the connection is marked', async () => {
    for (const [family, host] of [
      [4, '127.0.0.1'],
      [6, '::1'],
    ] as const) {
      const server = await echoServer(host);
      const fd = createTcpSocket(family, MARK);
      expect(fd).toBeGreaterThan(2);
      const socket = new Socket({ fd, readable: true, writable: true });
      cleanups.push(() => socket.destroy());
      socket.connect((server.address() as AddressInfo).port, host);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      expect(markOf('t', socket.localPort!)).toBe('0xfd002021');
      socket.write('ping');
      const echoed = await new Promise<string>((resolve) =>
        socket.once('data', (d: Buffer) => resolve(d.toString())),
      );
      expect(echoed).toBe('ping');
    }
  });

  test('a wrapped fd that is not connected before the loop polls fails with ENOTCONN (why connect must follow at once)', async () => {
    const socket = new Socket({ fd: createTcpSocket(4, MARK), readable: true, writable: true });
    cleanups.push(() => socket.destroy());
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
    expect(error.code).toBe('ENOTCONN');
  });

  test('bad arguments and bad fds', () => {
    expect(() => udp('127.0.0.1', { mark: -1 })).toThrow(
      /options.mark must be an integer from 0 to 4294967295/,
    );
    expect(() => udp('127.0.0.1', { mark: 2 ** 32 })).toThrow(RangeError);
    expect(() => udp('127.0.0.1', { mark: '1' as unknown as number })).toThrow(TypeError);
    expect(() => setSocketMark(-1, 1)).toThrow(RangeError);
    expect(() => (setSocketMark as (fd: number) => void)(1)).toThrow(/takes two numbers/);
    expect(() => createTcpSocket(5 as 4, 1)).toThrow(/family must be 4 or 6/);
    expect(() => createTcpSocket(4, 1.5)).toThrow(RangeError);
    expect(() => setSocketMark(0x7ffffff0, 1)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    const file = openSync('/dev/null', 'r');
    cleanups.push(() => closeSync(file));
    expect(() => setSocketMark(file, 1)).toThrow(
      expect.objectContaining({ code: 'ENOTSOCK', syscall: 'setsockopt(SO_MARK)' }),
    );
  });

  test('without CAP_NET_ADMIN/CAP_NET_RAW: a clear EPERM only when a mark is asked for', () => {
    const script = `
      const { UdpSocket, createTcpSocket } = require(${JSON.stringify(INDEX_JS)});
      const out = {};
      try { UdpSocket.bind({ address: '127.0.0.1', port: 0, mark: ${MARK} }); out.marked = 'bound'; }
      catch (e) { out.marked = { code: e.code, syscall: e.syscall, message: e.message }; }
      const u = UdpSocket.bind({ address: '127.0.0.1', port: 0 }); out.plain = u.port > 0; u.close();
      try { createTcpSocket(4, 1); out.tcp = 'created'; } catch (e) { out.tcp = e.code; }
      console.log(JSON.stringify(out));`;
    const r = spawnSync('setpriv', ['--bounding-set=-net_admin,-net_raw', process.execPath, '-e', script], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as {
      marked: { code: string; syscall: string; message: string };
      plain: boolean;
      tcp: string;
    };
    expect(out.marked.code).toBe('EPERM');
    expect(out.marked.syscall).toBe('setsockopt(SO_MARK)');
    expect(out.marked.message).toMatch(/needs CAP_NET_ADMIN/);
    expect(out.plain).toBe(true);
    expect(out.tcp).toBe('EPERM');
  });
});
