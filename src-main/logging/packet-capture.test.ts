import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CaptureState } from '../../src-shared/domain.js';
import { pcapFileHeader, pcapRecord } from '../../src-engine/capture/pcap-writer.js';
import { readWithTcpdump } from '../../src-engine/capture/test-tcpdump.js';
import { MissingEngineHost } from '../testing/missing-engine-host.js';
import type { EngineCaptureOptions, EngineCaptureSummary, EngineHost } from '../engine/engine-host.js';
import { FakePlatform } from '../testing/fake-platform.js';
import { readPcap } from '../testing/pcap.js';
import { TEST_SESSION, createTestApp, eventually, type TestApp } from '../testing/test-app.js';
import { Logger } from './logger.js';
import { PacketCapture, createFreshFile, defaultCaptureName } from './packet-capture.js';

let app: TestApp | null = null;
afterEach(async () => {
  await app?.dispose();
  app = null;
});

async function connectedApp(): Promise<TestApp> {
  app = await createTestApp({ session: TEST_SESSION, timings: { packetMs: 20 } });
  await app.controller.init();
  await eventually(() => app!.controller.tunnel.state === 'connected');
  return app;
}

const captureStates = (a: TestApp) =>
  a.pushes.filter(([c]) => c === 'logs:capture').map(([, p]) => p as CaptureState);

const finished = (a: TestApp) =>
  eventually(() => {
    const s = a.controller.capture;
    return s.state === 'finished' || s.state === 'failed' ? s : undefined;
  }, 5000);

describe('logs:startCapture', () => {
  it('asks where to save, writes a fresh 0600 pcap file and reports progress and the result', async () => {
    const a = await connectedApp();
    const file = path.join(a.dir, 'captures', 'trace.pcap');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, 'an older file the user chose to replace', { mode: 0o644 });
    a.platform.savePath = file;

    expect(await a.call('logs:startCapture', { seconds: 1 })).toEqual({ ok: true, value: { path: file } });
    expect(a.platform.saveRequests).toEqual([
      {
        defaultName: expect.stringMatching(/^fz-capture-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.pcap$/),
        kind: 'packet-capture',
      },
    ]);
    expect(a.controller.capture).toMatchObject({ state: 'running', path: file, seconds: 1 });
    const end = await finished(a);
    expect(end.state).toBe('finished');
    if (end.state !== 'finished') return;

    const bytes = await readFile(file);
    // pcap magic (little-endian a1b2c3d4), version 2.4, LINKTYPE_RAW.
    expect([...bytes.subarray(0, 4)]).toEqual([0xd4, 0xc3, 0xb2, 0xa1]);
    const pcap = readPcap(bytes);
    expect(pcap.linktype).toBe(101);
    expect(end.result).toMatchObject({
      path: file,
      packets: pcap.records.length,
      bytes: bytes.length,
      dropped: 0,
      reason: 'time',
    });
    expect(end.result.endedAt - end.result.startedAt).toBeGreaterThanOrEqual(900);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    // tcpdump reads it: IPv4 UDP (DNS, NTP), ICMP echo, and the p2p control packets (IPv6 proto 255).
    const dump = readWithTcpdump(file);
    expect(dump).toMatch(/100\.72\.112\.111\.\d+ > 100\.100\.111\.1\.53: /);
    expect(dump).toMatch(/ICMP echo request/);
    expect(dump).toMatch(/NTPv4, Client/);
    expect(dump).toMatch(/> 100\.72\.112\.111\.\d+: \d+ 1\/0\/0 A 100\.96\.0\.1 /);
    expect(dump.match(/IP6 :: > :::\s+ip-proto-255/g)).toHaveLength(2);

    // Pushed: running (with progress), then the result; the snapshot has the same.
    const states = captureStates(a);
    expect(states[0]).toMatchObject({ state: 'running', packets: 0 });
    expect(states.some((s) => s.state === 'running' && s.packets > 0)).toBe(true);
    expect(states.at(-1)).toEqual(end);
    expect(a.controller.snapshot().capture).toEqual(end);
    const logs = a.logger.recent().map((e) => e.message);
    expect(logs).toContain(`packet capture started: 1 s to ${file}`);
    expect(logs.some((m) => m.startsWith('packet capture ended (time limit)'))).toBe(true);
  });

  it('refuses bad seconds at the IPC boundary, before any dialog', async () => {
    const a = await connectedApp();
    a.platform.savePath = path.join(a.dir, 'never.pcap');
    for (const arg of [
      { seconds: 0 },
      { seconds: 3601 },
      { seconds: 2.5 },
      { seconds: -10 },
      { seconds: '30' },
      { seconds: null },
      { seconds: 30, path: '/etc/passwd' },
      {},
      null,
      30,
    ]) {
      expect(await a.call('logs:startCapture', arg), JSON.stringify(arg)).toMatchObject({
        ok: false,
        error: { code: 'invalid-argument' },
      });
    }
    // And the controller checks again for callers that are not the router.
    await expect(a.controller.startCapture(0)).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(a.controller.startCapture(Number.POSITIVE_INFINITY)).rejects.toMatchObject({
      code: 'invalid-argument',
    });
    expect(a.platform.saveRequests).toEqual([]);
    expect(a.engine.calls).not.toContain('capture');
    expect(a.logger.recent().filter((e) => e.message.includes('logs:startCapture refused'))).toHaveLength(10);
  });

  it('stops early on logs:stopCapture; one capture at a time', async () => {
    const a = await connectedApp();
    const file = path.join(a.dir, 'stop.pcap');
    a.platform.savePath = file;
    expect(await a.call('logs:startCapture', { seconds: 60 })).toMatchObject({ ok: true });
    expect(await a.call('logs:startCapture', { seconds: 10 })).toMatchObject({
      ok: false,
      error: { code: 'capture-busy' },
    });
    await eventually(() => a.controller.capture.state === 'running' && a.controller.capture.packets > 0);
    expect(await a.call('logs:stopCapture')).toEqual({ ok: true, value: null });
    const end = await finished(a);
    expect(end).toMatchObject({ state: 'finished', result: { reason: 'stopped', path: file } });
    expect(readPcap(await readFile(file)).records.length).toBeGreaterThan(0);
    // A stop without a capture is harmless; a new capture can start.
    expect(await a.call('logs:stopCapture')).toMatchObject({ ok: true });
    expect(await a.call('logs:startCapture', { seconds: 1 })).toMatchObject({ ok: true });
    await eventually(() => {
      const s = a.controller.capture;
      return s.state === 'finished' && s.result.reason === 'time';
    }, 5000);
  });

  it('a cancelled dialog writes nothing; without a tunnel no dialog is shown', async () => {
    const a = await connectedApp();
    a.platform.savePath = null;
    expect(await a.call('logs:startCapture', { seconds: 10 })).toEqual({ ok: true, value: null });
    expect(a.controller.capture).toEqual({ state: 'idle' });
    expect(a.engine.calls).not.toContain('capture');

    a.controller.disconnect();
    await eventually(() => a.controller.tunnel.state === 'disconnected');
    a.platform.savePath = path.join(a.dir, 'x.pcap');
    expect(await a.call('logs:startCapture', { seconds: 10 })).toMatchObject({
      ok: false,
      error: { code: 'not-connected' },
    });
    expect(a.platform.saveRequests).toHaveLength(1);
  });

  it('the tunnel going down ends the capture with what was recorded', async () => {
    const a = await connectedApp();
    const file = path.join(a.dir, 'down.pcap');
    a.platform.savePath = file;
    await a.call('logs:startCapture', { seconds: 60 });
    await eventually(() => a.controller.capture.state === 'running' && a.controller.capture.packets > 0);
    a.controller.disconnect();
    const end = await finished(a);
    expect(end).toMatchObject({ state: 'finished', result: { reason: 'stopped' } });
    readPcap(await readFile(file));
  });

  it('an engine refusal after the dialog removes the new file and reports the error', async () => {
    const a = await connectedApp();
    const file = path.join(a.dir, 'refused.pcap');
    a.platform.savePath = file;
    a.engine.setStalled(true); // the worker stopped answering: the engine has no tunnel to tap
    expect(await a.call('logs:startCapture', { seconds: 10 })).toMatchObject({
      ok: false,
      error: { code: 'not-connected' },
    });
    await expect(lstat(file)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(a.controller.capture).toMatchObject({
      state: 'failed',
      path: null,
      error: { code: 'not-connected' },
    });
  });

  it('a file that cannot be created is reported, not thrown past the router', async () => {
    const a = await connectedApp();
    a.platform.savePath = a.dir; // a folder
    expect(await a.call('logs:startCapture', { seconds: 10 })).toMatchObject({
      ok: false,
      error: { code: 'invalid-path' },
    });
    expect(a.controller.capture).toMatchObject({ state: 'failed', error: { code: 'invalid-path' } });
    a.platform.savePath = 'relative.pcap';
    expect(await a.call('logs:startCapture', { seconds: 10 })).toMatchObject({
      ok: false,
      error: { code: 'invalid-path' },
    });
  });
});

describe('PacketCapture with other engine hosts', () => {
  async function setup(engine: EngineHost) {
    const dir = await mkdtemp(path.join(tmpdir(), 'fz-capture-'));
    const platform = new FakePlatform();
    platform.savePath = path.join(dir, 'c.pcap');
    const logger = new Logger({ level: 'debug' });
    const states: CaptureState[] = [];
    const capture = new PacketCapture({
      engine,
      platform,
      logger,
      isTunnelUp: () => true,
      onState: (st) => states.push(st),
      progressIntervalMs: 10,
    });
    return { dir, file: platform.savePath, capture, states, logger };
  }

  it('a host without an engine refuses with a clear error and leaves no file', async () => {
    const t = await setup(new MissingEngineHost());
    await expect(t.capture.start(10)).rejects.toMatchObject({
      code: 'capture-unavailable',
      message: expect.stringMatching(/no tunnel engine/),
    });
    await expect(lstat(t.file)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(t.states).toEqual([
      { state: 'failed', path: null, error: { code: 'capture-unavailable', message: expect.any(String) } },
    ]);
    await rm(t.dir, { recursive: true });
  });

  it('an engine that fails half-way: the error names the file, which keeps what was recorded', async () => {
    let fail!: (e: Error) => void;
    const packet = Uint8Array.from([0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    const engine: EngineHost = Object.assign(new MissingEngineHost(), {
      capture: (_options: EngineCaptureOptions, sink: (chunk: Uint8Array) => void) => {
        sink(pcapFileHeader());
        sink(pcapRecord(packet, 1_700_000_000_000));
        return new Promise<EngineCaptureSummary>((_resolve, reject) => (fail = reject));
      },
    });
    const t = await setup(engine);
    expect(await t.capture.start(60)).toEqual({ path: t.file });
    await eventually(() => t.states.some((st) => st.state === 'running' && st.packets === 1));
    fail(new Error('the engine worker exited'));
    const end = await eventually(() => t.states.find((st) => st.state === 'failed'));
    expect(end).toEqual({
      state: 'failed',
      path: t.file,
      error: {
        code: 'capture-failed',
        message: `The capture stopped because the tunnel engine failed (the engine worker exited). What was recorded before is in ${t.file}.`,
      },
    });
    expect(readPcap(await readFile(t.file)).records.map((r) => [...r.data])).toEqual([[...packet]]);
    await t.capture.shutdown();
    await rm(t.dir, { recursive: true });
  });
});

describe('capture file helpers', () => {
  it('creates the file fresh: a symlink in its place is replaced, not followed', async () => {
    app = await createTestApp();
    const target = path.join(app.dir, 'precious.txt');
    await writeFile(target, 'keep me', { mode: 0o644 });
    const file = path.join(app.dir, 'link.pcap');
    await symlink(target, file);
    const handle = await createFreshFile(file);
    await handle.writeFile('pcap');
    await handle.close();
    expect(await readFile(target, 'utf8')).toBe('keep me');
    expect((await lstat(file)).isSymbolicLink()).toBe(false);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toBe('pcap');
  });

  it('names captures by time', () => {
    expect(defaultCaptureName(Date.UTC(2025, 0, 2, 3, 4, 5))).toBe('fz-capture-2025-01-02-03-04-05.pcap');
  });
});
