import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { createConnection, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientStatus } from '../src-engine/client/client-runtime.js';
import { PacketTapSet, type PacketTap } from '../src-engine/capture/packet-tap.js';
import { readWithTcpdump } from '../src-engine/capture/test-tcpdump.js';
import { buildAssignedIps, buildGoodbye } from '../src-engine/p2p-control/codec.js';
import { buildUdpPacket } from '../src-engine/packet/build.js';
import { CaptureError, runCapture } from './capture.js';
import { readStatus, serveStatus, type StatusServerOptions } from './status.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

const STATUS = { portal: { status: 'joined', since: 0 }, connections: [] } as unknown as ClientStatus;

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fz-status-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function serve(options?: StatusServerOptions): Promise<{ path: string; dir: string; server: Server }> {
  const dir = tempDir();
  const path = join(dir, 'status.sock');
  const server = serveStatus(path, () => STATUS, options);
  cleanups.push(() => server.close());
  await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', resolve)));
  return { path, dir, server };
}

/** Sends `request` (nothing when undefined) and reads the whole answer. */
function ask(path: string, request?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    if (request !== undefined) socket.write(request);
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('end', () => resolve(text));
  });
}

const UDP4 = buildUdpPacket({
  src: new Uint8Array([100, 64, 0, 2]),
  dst: new Uint8Array([10, 20, 0, 7]),
  srcPort: 51_000,
  dstPort: 8_080,
  payload: new TextEncoder().encode('ping'),
}) as Uint8Array;
const ASSIGNED = buildAssignedIps({
  resource: '7f3a7d3e-3a3c-4cd3-9a1b-6c3e1f4f4a10',
  domain: 'db.acme.test',
  proxyIps: ['100.96.0.1', '100.96.0.2', '100.96.0.3', '100.96.0.4'],
}) as Uint8Array;

/**
 * A runtime's tap hook that, once a tap is added, sends that tap a few packets through one reused
 * buffer (as the datapath does): IPv4 UDP into the tunnel, p2p control packets out of it.
 */
function fakeRuntime() {
  const taps = new PacketTapSet();
  let added = 0;
  let removed = 0;
  const buffer = new Uint8Array(2_048);
  const addPacketTap = (tap: PacketTap): (() => void) => {
    added++;
    let live = true;
    const remove = taps.add(tap);
    const feed = (packet: Uint8Array, direction: 'to_tunnel' | 'from_tunnel'): void => {
      if (!live) return;
      buffer.set(packet);
      tap(buffer.subarray(0, packet.length), direction, Date.now());
      buffer.fill(0);
    };
    setTimeout(() => {
      feed(UDP4, 'to_tunnel');
      feed(ASSIGNED, 'from_tunnel');
      feed(buildGoodbye(), 'to_tunnel');
    }, 20);
    return () => {
      removed++;
      live = false;
      remove();
    };
  };
  return { addPacketTap, taps, added: () => added, removed: () => removed };
}

async function until(check: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('status socket', () => {
  it('is root-only (0600) and still answers a bare connection with the status', async () => {
    const { path } = await serve();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await ask(path))).toEqual(STATUS);
    expect(JSON.parse(await ask(path, '{"command":"status"}\n'))).toEqual(STATUS);
    await expect(readStatus(path)).resolves.toEqual(STATUS);
  });

  it('answers bad requests with one JSON error line and closes', async () => {
    const runtime = fakeRuntime();
    const { path } = await serve({ addPacketTap: runtime.addPacketTap });
    const error = async (request: string): Promise<string> => {
      const answer = await ask(path, request);
      expect(answer.endsWith('\n')).toBe(true);
      return (JSON.parse(answer) as { error: string }).error;
    };
    expect(await error('hello\n')).toMatch(/not a JSON line/);
    expect(await error('[1]\n')).toMatch(/JSON object/);
    expect(await error('{"command":"reboot"}\n')).toMatch(/unknown command "reboot"/);
    expect(await error('{"command":"capture"}\n')).toMatch(/"seconds"/);
    expect(await error('{"command":"capture","seconds":0}\n')).toMatch(/seconds must be .* 1 to 3600/);
    expect(await error('{"command":"capture","seconds":3601}\n')).toMatch(/seconds/);
    expect(await error('{"command":"capture","seconds":1,"maxBytes":1073741825}\n')).toMatch(
      /maxBytes .*\(1 GiB\)/,
    );
    expect(await error(`{"command":"capture","seconds":1,"x":"${'a'.repeat(2_000)}`)).toMatch(/too long/);
    expect(runtime.added()).toBe(0);
  });

  it('refuses a capture when the client offers no tap hook', async () => {
    const { path } = await serve();
    const answer = await ask(path, '{"command":"capture","seconds":1}\n');
    expect(JSON.parse(answer)).toEqual({ error: 'capture is not available in this client' });
  });

  it('streams a capture that tcpdump reads: IPv4 into the tunnel and p2p control packets', async () => {
    const runtime = fakeRuntime();
    const { path, dir } = await serve({ addPacketTap: runtime.addPacketTap });
    const out = join(dir, 'capture.pcap');
    const result = await runCapture({ socket: path, seconds: 1, out, maxBytes: 100 * 1024 * 1024 });
    const size = 24 + 3 * 16 + UDP4.length + ASSIGNED.length + 48;
    expect(result).toEqual({ out, packets: 3, bytes: size, dropped: 0, reason: 'time' });
    expect(statSync(out).size).toBe(size);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(runtime.removed()).toBe(1);
    const lines = readWithTcpdump(out).trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\d+\.\d{6} IP 100\.64\.0\.2\.51000 > 10\.20\.0\.7\.8080: UDP, length 4$/);
    expect(lines[1]).toMatch(
      new RegExp(`^\\d+\\.\\d{6} IP6 :: > ::: {2}ip-proto-255 ${ASSIGNED.length - 40}$`),
    );
    expect(lines[2]).toMatch(/^\d+\.\d{6} IP6 :: > ::: {2}ip-proto-255 8$/);
  });

  it('serves a plain pcap stream (no summary trailer) to a reader that does not ask for one', async () => {
    const runtime = fakeRuntime();
    const { path } = await serve({ addPacketTap: runtime.addPacketTap });
    const answer = Buffer.from(
      await ask(path, '{"command":"capture","seconds":1,"maxBytes":1000}\n'),
      'latin1',
    );
    expect(answer.subarray(0, 4).toString('hex')).toBe('d4c3b2a1');
    expect(answer.length).toBe(24 + 3 * 16 + UDP4.length + ASSIGNED.length + 48);
  });

  it('stops early and cleanly when the reader asks (Ctrl-C), keeping what came', async () => {
    const runtime = fakeRuntime();
    const { path, dir } = await serve({ addPacketTap: runtime.addPacketTap });
    const controller = new AbortController();
    const started = Date.now();
    const out = join(dir, 'stopped.pcap');
    const capture = runCapture({
      socket: path,
      seconds: 60,
      out,
      maxBytes: 1_000_000,
      signal: controller.signal,
    });
    await until(() => runtime.added() === 1);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the fake feeds its packets after 20 ms
    controller.abort();
    await expect(capture).resolves.toMatchObject({ packets: 3, dropped: 0, reason: 'stopped' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(runtime.removed()).toBe(1);
    expect(readWithTcpdump(out).trim().split('\n')).toHaveLength(3);
  });

  it('ends at maxBytes with reason size and counts the packet that did not fit', async () => {
    const runtime = fakeRuntime();
    const { path, dir } = await serve({ addPacketTap: runtime.addPacketTap });
    const out = join(dir, 'small.pcap');
    const maxBytes = 24 + 16 + UDP4.length + 10; // room for the first packet only
    const result = await runCapture({ socket: path, seconds: 60, out, maxBytes });
    expect(result).toEqual({ out, packets: 1, bytes: 24 + 16 + UDP4.length, dropped: 1, reason: 'size' });
    expect(readWithTcpdump(out)).toMatch(/IP 100\.64\.0\.2\.51000 > 10\.20\.0\.7\.8080/);
  });

  it('runs one capture at a time; the second is told so and leaves no file', async () => {
    const runtime = fakeRuntime();
    const { path, dir } = await serve({ addPacketTap: runtime.addPacketTap });
    const controller = new AbortController();
    const first = runCapture({
      socket: path,
      seconds: 60,
      out: join(dir, 'first.pcap'),
      maxBytes: 1_000_000,
      signal: controller.signal,
    });
    await until(() => runtime.added() === 1);
    const second = join(dir, 'second.pcap');
    const refused = runCapture({ socket: path, seconds: 1, out: second, maxBytes: 1_000_000 });
    await expect(refused).rejects.toThrow(CaptureError);
    await expect(refused).rejects.toThrow(/refused the capture: a capture is already running/);
    expect(existsSync(second)).toBe(false);
    // The status still answers meanwhile.
    await expect(readStatus(path)).resolves.toEqual(STATUS);
    controller.abort();
    await expect(first).resolves.toMatchObject({ reason: 'stopped' });
    // Once it has ended, the next one is accepted.
    await expect(
      runCapture({ socket: path, seconds: 1, out: join(dir, 'third.pcap'), maxBytes: 1_000_000 }),
    ).resolves.toMatchObject({ reason: 'time', packets: 3 });
  });

  it('ends the capture and removes its tap when the reader goes away', async () => {
    const runtime = fakeRuntime();
    const { path } = await serve({ addPacketTap: runtime.addPacketTap });
    const socket = createConnection(path);
    socket.write('{"command":"capture","seconds":60}\n');
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.destroy();
    await until(() => runtime.removed() === 1);
    expect(runtime.taps.active).toBe(false);
  });
});
