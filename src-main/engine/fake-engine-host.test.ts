import { describe, expect, it } from 'vitest';
import type { Resource } from '../../src-shared/domain.js';
import { eventually } from '../testing/test-app.js';
import { EngineStartError, type EngineStatus } from './engine-host.js';
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
