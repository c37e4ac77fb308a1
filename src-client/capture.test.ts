import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PacketTapSet, type PacketTap } from '../src-engine/capture/packet-tap.js';
import { pcapFileHeader, pcapRecord } from '../src-engine/capture/pcap-writer.js';
import { encodeCaptureTrailer } from './capture-protocol.js';
import {
  captureCommand,
  CaptureError,
  CaptureUsageError,
  formatByteCount,
  formatCaptureResult,
  parseByteCount,
  parseCaptureArgs,
  PcapStreamReader,
  runCapture,
  type CaptureIo,
} from './capture.js';
import { serveStatus } from './status.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fz-capture-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const DEFAULT_SOCKET = '/run/fz-client/status.sock';
const MiB = 1024 * 1024;

describe('capture command line', () => {
  it('reads --seconds, --out, --max-bytes (with K/M/G) and the socket from flag, env or default', () => {
    expect(parseCaptureArgs(['--seconds', '30', '--out', 'f.pcap'], {}, DEFAULT_SOCKET)).toEqual({
      socket: DEFAULT_SOCKET,
      seconds: 30,
      out: 'f.pcap',
      maxBytes: 100 * MiB,
    });
    expect(
      parseCaptureArgs(
        ['--seconds', '5', '-o', 'x', '--max-bytes', '10M'],
        { FZ_CLIENT_STATUS: '/e.sock' },
        DEFAULT_SOCKET,
      ),
    ).toMatchObject({ socket: '/e.sock', maxBytes: 10 * MiB });
    expect(
      parseCaptureArgs(
        ['--seconds', '5', '--out', 'x', '--max-bytes', '1GiB', '--status-socket', '/f.sock'],
        { FZ_CLIENT_STATUS: '/e.sock' },
        DEFAULT_SOCKET,
      ),
    ).toMatchObject({ socket: '/f.sock', maxBytes: 1024 * MiB });
    expect(parseByteCount('4096')).toBe(4_096);
    expect(parseByteCount('64k')).toBe(65_536);
    expect(parseByteCount('1.5M')).toBeUndefined();
  });

  it('refuses missing or out-of-bounds arguments with usage errors', () => {
    const parse = (argv: string[]) => () => parseCaptureArgs(argv, {}, DEFAULT_SOCKET);
    expect(parse(['--out', 'f'])).toThrow(/--seconds N is required/);
    expect(parse(['--seconds', '5'])).toThrow(/--out FILE is required/);
    expect(parse(['--seconds', '0', '--out', 'f'])).toThrow(
      /--seconds must be a whole number from 1 to 3600/,
    );
    expect(parse(['--seconds', '3601', '--out', 'f'])).toThrow(/--seconds/);
    expect(parse(['--seconds', '1.5', '--out', 'f'])).toThrow(/--seconds/);
    expect(parse(['--seconds', '5', '--out', 'f', '--max-bytes', '2G'])).toThrow(/--max-bytes .*\(1 GiB\)/);
    expect(parse(['--seconds', '5', '--out', 'f', '--max-bytes', 'lots'])).toThrow(/--max-bytes/);
    expect(parse(['--seconds', '5', '--out', 'f', '--frobnicate'])).toThrow(CaptureUsageError);
    expect(parse(['--seconds', '5', '--out', 'f', 'extra'])).toThrow(CaptureUsageError);
  });
});

const PACKET = new Uint8Array([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);

describe('PcapStreamReader', () => {
  const stream = Buffer.concat([
    pcapFileHeader(),
    pcapRecord(PACKET, 1_000),
    pcapRecord(PACKET.subarray(0, 7), 2_000),
  ]);
  const trailer = encodeCaptureTrailer({ packets: 2, bytes: stream.length, dropped: 4, reason: 'size' });

  it('passes whole records on, however the stream is cut into chunks, and takes the trailer off', () => {
    const all = Buffer.concat([stream, trailer]);
    for (const size of [1, 3, 16, 17, 50, all.length]) {
      const reader = new PcapStreamReader();
      const out: Uint8Array[] = [];
      for (let i = 0; i < all.length; i += size) out.push(reader.push(all.subarray(i, i + size)));
      expect(Buffer.concat(out)).toEqual(stream);
      expect(reader.packets).toBe(2);
      expect(reader.bytes).toBe(stream.length);
      expect(reader.finish()).toEqual({
        kind: 'pcap',
        summary: { packets: 2, bytes: stream.length, dropped: 4, reason: 'size' },
        cutBytes: 0,
      });
    }
  });

  it('keeps a record cut off by a broken stream out of the file', () => {
    const reader = new PcapStreamReader();
    const out = reader.push(stream.subarray(0, stream.length - 3));
    expect(out.length).toBe(24 + 16 + PACKET.length);
    expect(reader.finish()).toEqual({ kind: 'pcap', cutBytes: 16 + 7 - 3 });
  });

  it('tells a JSON answer and an empty one from a capture, and refuses anything else', () => {
    const json = new PcapStreamReader();
    expect(json.push(Buffer.from('{"error":"busy"}\n')).length).toBe(0);
    expect(json.finish()).toEqual({ kind: 'json', answer: { error: 'busy' } });
    expect(new PcapStreamReader().finish()).toEqual({ kind: 'empty' });
    expect(() => new PcapStreamReader().push(Buffer.alloc(24, 1))).toThrow(/neither JSON nor a pcap/);
    const corrupt = Buffer.concat([pcapFileHeader(), Buffer.from('00000000000000000000010000000000', 'hex')]);
    expect(() => new PcapStreamReader().push(corrupt)).toThrow(/corrupt/);
  });
});

function fakeIo(): CaptureIo & { out: () => string; err: () => string; signals: EventEmitter } {
  let out = '';
  let err = '';
  const signals = new EventEmitter();
  return {
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
    signals: signals as unknown as CaptureIo['signals'] & EventEmitter,
    out: () => out,
    err: () => err,
  };
}

describe('runCapture and the capture command', () => {
  it('says when the client is not running, and leaves no file', async () => {
    const dir = tempDir();
    const out = join(dir, 'f.pcap');
    const run = runCapture({ socket: join(dir, 'none.sock'), seconds: 1, out, maxBytes: MiB });
    await expect(run).rejects.toThrow(CaptureError);
    await expect(run).rejects.toThrow(/the client is not running \(no status socket at/);
    expect(existsSync(out)).toBe(false);
  });

  it('never overwrites a file and says when it cannot write one', async () => {
    const dir = tempDir();
    const existing = join(dir, 'old.pcap');
    writeFileSync(existing, 'keep me');
    await expect(
      runCapture({ socket: join(dir, 's'), seconds: 1, out: existing, maxBytes: MiB }),
    ).rejects.toThrow(/already exists/);
    expect(readFileSync(existing, 'utf8')).toBe('keep me');
    await expect(
      runCapture({ socket: join(dir, 's'), seconds: 1, out: join(dir, 'no/such/dir/f.pcap'), maxBytes: MiB }),
    ).rejects.toThrow(/cannot write .*no\/such\/dir\/f\.pcap/);
  });

  it('tells a client from before capture (it answers any connection with its status)', async () => {
    const dir = tempDir();
    const path = join(dir, 'old.sock');
    const server = createServer((socket) => socket.end('{"portal":{"status":"joined"}}\n'));
    cleanups.push(() => server.close());
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const out = join(dir, 'f.pcap');
    await expect(runCapture({ socket: path, seconds: 1, out, maxBytes: MiB })).rejects.toThrow(
      /does not support capture/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('prints the server error and exits 1 when the capture is refused', async () => {
    const dir = tempDir();
    const path = join(dir, 'status.sock');
    const server = serveStatus(path, () => ({}) as never);
    cleanups.push(() => server.close());
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const io = fakeIo();
    const code = await captureCommand(
      { socket: path, seconds: 1, out: join(dir, 'f.pcap'), maxBytes: MiB },
      io,
    );
    expect(code).toBe(1);
    expect(io.err()).toMatch(
      /fz-client: the client refused the capture: capture is not available in this client/,
    );
    expect(io.out()).toBe('');
  });

  it('stops on Ctrl-C and prints the summary line', async () => {
    const dir = tempDir();
    const path = join(dir, 'status.sock');
    const taps = new PacketTapSet();
    const server = serveStatus(path, () => ({}) as never, {
      addPacketTap: (tap: PacketTap) => taps.add(tap),
    });
    cleanups.push(() => server.close());
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const io = fakeIo();
    const out = join(dir, 'f.pcap');
    const command = captureCommand({ socket: path, seconds: 60, out, maxBytes: MiB }, io);
    while (!taps.active) await new Promise((resolve) => setTimeout(resolve, 5));
    taps.emit(PACKET, 'to_tunnel', Date.now());
    await new Promise((resolve) => setTimeout(resolve, 20));
    io.signals.emit('SIGINT');
    expect(await command).toBe(0);
    expect(io.out()).toBe(
      `capture: 1 packet, ${24 + 16 + PACKET.length} bytes written to ${out} (ended: stopped)\n`,
    );
    expect(io.err()).toMatch(/Ctrl-C stops\ncapture: stopping…\n$/);
    expect(io.signals.listenerCount('SIGINT')).toBe(0);
  });

  it('keeps the whole records of a capture the client broke off, and exits 1 for it', async () => {
    const dir = tempDir();
    const path = join(dir, 'dying.sock');
    const stream = Buffer.concat([pcapFileHeader(), pcapRecord(PACKET, 1_000), pcapRecord(PACKET, 2_000)]);
    const server = createServer((socket) => {
      socket.once('data', () => socket.write(stream.subarray(0, stream.length - 5), () => socket.destroy()));
    });
    cleanups.push(() => server.close());
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const out = join(dir, 'f.pcap');
    const io = fakeIo();
    expect(await captureCommand({ socket: path, seconds: 5, out, maxBytes: MiB }, io)).toBe(1);
    expect(readFileSync(out)).toEqual(stream.subarray(0, 24 + 16 + PACKET.length));
    expect(io.out()).toMatch(
      /^capture: 1 packet, 60 bytes written to .* \(ended: disconnected: .*a partial record of 31 bytes left out\)\n$/,
    );
  });

  it('formats dropped packets, a broken-off capture and byte counts', () => {
    expect([100 * MiB, 1024 * MiB, 1_024, 1_000, 1_536].map(formatByteCount)).toEqual([
      '100 MiB',
      '1 GiB',
      '1 KiB',
      '1000 bytes',
      '1536 bytes',
    ]);
    expect(formatCaptureResult({ out: 'f', packets: 2, bytes: 100, dropped: 3, reason: 'size' })).toBe(
      'capture: 2 packets, 100 bytes written to f (ended: size; 3 dropped)\n',
    );
    expect(
      formatCaptureResult({
        out: 'f',
        packets: 2,
        bytes: 100,
        dropped: 0,
        reason: 'disconnected',
        detail: 'reset',
      }),
    ).toBe('capture: 2 packets, 100 bytes written to f (ended: disconnected: reset)\n');
  });
});
