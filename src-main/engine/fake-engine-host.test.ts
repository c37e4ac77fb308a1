import { describe, expect, it } from 'vitest';
import type { Resource } from '../../src-shared/domain.js';
import { decodeP2pControl, isP2pControl } from '../../src-engine/p2p-control/codec.js';
import { IPPROTO_ICMP, IPPROTO_UDP } from '../../src-engine/packet/constants.js';
import { isPacketError } from '../../src-engine/packet/errors.js';
import { parseIpPacket } from '../../src-engine/packet/parse.js';
import { readPcap } from '../testing/pcap.js';
import { eventually } from '../testing/test-app.js';
import { EngineStartError, type EngineCaptureOptions, type EngineStatus } from './engine-host.js';
import { FakeEngineHost } from './fake-engine-host.js';
import { demoScenario } from './fake-scenario.js';

const options = {
  portalUrl: 'wss://api.example.com',
  token: 'secret-token',
  deviceId: 'd',
  deviceName: 'laptop',
  appVersion: '0.1.0',
  settings: { logLevel: 'info' as const, internetResourceEnabled: false },
};
const fast = { startMs: 1, portalMs: 2, tunnelMs: 2, flowMs: 2, tickMs: 10, retryMs: 5 };

function record(engine: FakeEngineHost) {
  const statuses: EngineStatus['state'][] = [];
  let resources: readonly Resource[] = [];
  engine.on('status', (s) => statuses.push(s.state));
  engine.on('resources', (r) => (resources = r));
  return { statuses, resources: () => resources };
}

describe('demo scenario', () => {
  it('has 50 resources in 3 sites plus the Internet Resource, unique ids', () => {
    const s = demoScenario();
    const regular = s.resources.filter((r) => r.type !== 'internet');
    expect(regular).toHaveLength(50);
    expect(new Set(regular.map((r) => r.siteId)).size).toBe(3);
    expect(new Set(s.resources.map((r) => r.id)).size).toBe(s.resources.length);
  });
});

describe('FakeEngineHost', () => {
  it('follows the documented lifecycle with realistic events', async () => {
    const engine = new FakeEngineHost({ timings: fast });
    const r = record(engine);
    await engine.start(options);
    engine.connect();
    await eventually(() => engine.status.state === 'connected');
    await eventually(() => r.resources().some((x) => x.connection.state === 'connected'));
    // Diagnostics move: RTT measured, bytes grow.
    const first = r.resources().find((x) => x.name === 'GitLab')!;
    await eventually(() => {
      const c = r.resources().find((x) => x.name === 'GitLab')?.connection;
      return (
        c?.state === 'connected' &&
        c.diagnostics.rttMs !== null &&
        first.connection.state === 'connected' &&
        c.diagnostics.rxBytes > first.connection.diagnostics.rxBytes
      );
    });
    const lab = r.resources().find((x) => x.name === 'Lab network')!;
    expect(lab.sites[0]!.status).toBe('offline');
    engine.disconnect();
    await eventually(() => engine.status.state === 'idle');
    await engine.stop();
    await eventually(() => r.resources().length === 0);
    expect(r.statuses).toEqual([
      'idle',
      'connecting',
      'connecting',
      'connected',
      'disconnecting',
      'idle',
      'stopped',
    ]);
  });

  it('start failures reject with the error; events are async', async () => {
    const engine = new FakeEngineHost({ timings: fast });
    const r = record(engine);
    engine.failNextStart({ code: 'permission-denied', message: 'no CAP_NET_ADMIN' });
    await expect(engine.start(options)).rejects.toBeInstanceOf(EngineStartError);
    await expect(engine.start({ ...options, token: '' })).rejects.toMatchObject({
      code: 'authentication-failed',
    });
    await engine.start(options);
    expect(r.statuses).toEqual(['idle']);
    engine.connect();
    expect(r.statuses).toEqual(['idle']); // not emitted from inside the call
    await Promise.resolve();
    expect(r.statuses).toEqual(['idle', 'connecting']);
  });

  it('never puts the token in a log record', async () => {
    const engine = new FakeEngineHost({ timings: fast });
    const logs: string[] = [];
    engine.on('log', (l) => logs.push(l.message));
    await engine.start(options);
    engine.connect();
    await eventually(() => engine.status.state === 'connected');
    engine.simulatePortalSignOut();
    expect(logs.length).toBeGreaterThan(3);
    expect(logs.join('\n')).not.toContain('secret-token');
  });

  it('Internet Resource follows applySettings', async () => {
    const engine = new FakeEngineHost({ timings: fast });
    const r = record(engine);
    await engine.start(options);
    engine.connect();
    await eventually(() => engine.status.state === 'connected');
    const internet = () => r.resources().find((x) => x.type === 'internet')!;
    expect(internet().connection.state).toBe('idle');
    engine.applySettings({ logLevel: 'info', internetResourceEnabled: true });
    await eventually(() => internet().connection.state === 'connected');
    engine.applySettings({ logLevel: 'info', internetResourceEnabled: false });
    await eventually(() => internet().connection.state === 'idle');
  });
});

describe('FakeEngineHost packet capture', () => {
  async function connectedEngine(): Promise<FakeEngineHost> {
    const engine = new FakeEngineHost({ timings: { ...fast, packetMs: 20 } });
    await engine.start(options);
    engine.connect();
    await eventually(() => engine.status.state === 'connected');
    return engine;
  }

  function collect() {
    const chunks: Uint8Array[] = [];
    return {
      sink: (c: Uint8Array) => chunks.push(c),
      bytes: () => Buffer.concat(chunks),
      chunks,
    };
  }

  it('records valid pcap records of the simulated traffic and stops when the time is up', async () => {
    const engine = await connectedEngine();
    const out = collect();
    const started = Date.now();
    const summary = await engine.capture({ seconds: 1 }, out.sink);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    expect(summary.reason).toBe('time');
    expect(summary.dropped).toBe(0);
    const pcap = readPcap(out.bytes());
    expect(pcap).toMatchObject({ magic: 0xa1b2c3d4, version: '2.4', snaplen: 65535, linktype: 101 });
    expect(pcap.records).toHaveLength(summary.packets);
    expect(out.bytes().length).toBe(summary.bytes);
    expect(summary.packets).toBeGreaterThan(20);

    // Every record is a whole, checksummed IP packet with a time inside the capture.
    const protocols = new Set<number>();
    const control: string[] = [];
    for (const r of pcap.records) {
      expect(r.timestampMs).toBeGreaterThanOrEqual(started - 1);
      expect(r.data.length).toBe(r.originalLength);
      if (isP2pControl(r.data)) {
        const event = decodeP2pControl(r.data);
        control.push('kind' in event ? event.kind : 'error');
        continue;
      }
      const packet = parseIpPacket(r.data, { verifyChecksums: true });
      if (isPacketError(packet)) throw packet;
      expect(packet.version).toBe(4);
      protocols.add(packet.protocol);
    }
    expect([...protocols].sort()).toEqual([IPPROTO_ICMP, IPPROTO_UDP]);
    // The DNS resource's proxy addresses go to the gateway and are confirmed, once per capture.
    expect(control).toEqual(['assigned_ips', 'domain_status']);
    const assigned = decodeP2pControl(pcap.records.find((r) => isP2pControl(r.data))!.data);
    expect(assigned).toMatchObject({ kind: 'assigned_ips', domain: 'gitlab.hq.corp.example' });
    await engine.stop();
  });

  it('stops at the size limit, counting the packet that did not fit as dropped', async () => {
    const engine = await connectedEngine();
    const out = collect();
    const summary = await engine.capture({ seconds: 60, maxBytes: 400 }, out.sink);
    expect(summary.reason).toBe('size');
    expect(summary.bytes).toBeLessThanOrEqual(400);
    expect(summary.dropped).toBe(1);
    expect(readPcap(out.bytes()).records).toHaveLength(summary.packets);
    expect(summary.packets).toBeGreaterThan(0);
    await engine.stop();
  });

  it('stops early on the signal and when the tunnel goes down', async () => {
    const engine = await connectedEngine();
    const abort = new AbortController();
    const out = collect();
    const capture = engine.capture({ seconds: 60, signal: abort.signal }, out.sink);
    await eventually(() => out.chunks.length > 5);
    abort.abort();
    expect((await capture).reason).toBe('stopped');

    const again = engine.capture({ seconds: 60 }, collect().sink);
    await expect(engine.capture({ seconds: 5 }, collect().sink)).rejects.toMatchObject({
      code: 'capture-busy',
    });
    engine.disconnect();
    expect(await again).toMatchObject({ reason: 'stopped' });
    await eventually(() => engine.status.state === 'idle');
    await expect(engine.capture({ seconds: 5 }, collect().sink)).rejects.toMatchObject({
      code: 'not-connected',
    });
    await engine.stop();
  });

  it('refuses captures out of bounds before writing anything', async () => {
    const engine = await connectedEngine();
    const bad: EngineCaptureOptions[] = [
      { seconds: 0 },
      { seconds: 3601 },
      { seconds: 1.5 },
      { seconds: Number.NaN },
      { seconds: 10, maxBytes: 23 },
      { seconds: 10, maxBytes: 1024 * 1024 * 1024 + 1 },
    ];
    for (const o of bad) {
      const out = collect();
      await expect(engine.capture(o, out.sink)).rejects.toMatchObject({ code: 'invalid-argument' });
      expect(out.chunks).toEqual([]);
    }
    await engine.stop();
  });
});
