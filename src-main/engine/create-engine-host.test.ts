import { describe, expect, it } from 'vitest';
import { createEngineHost } from './create-engine-host.js';
import { FakeEngineHost } from './fake-engine-host.js';
import { WorkerEngineHost } from './worker-engine-host.js';

describe('engine host factory', () => {
  it('runs the simulation only when asked', () => {
    expect(
      createEngineHost({ userDataDir: '/tmp/x', env: { FZ_ENGINE: 'simulated' }, argv: [] }).host,
    ).toBeInstanceOf(FakeEngineHost);
    expect(
      createEngineHost({ userDataDir: '/tmp/x', env: {}, argv: ['electron', '.', '--simulated-engine'] })
        .kind,
    ).toBe('simulated');
  });

  it('otherwise runs the real engine in a worker, never the simulation', () => {
    const { host, kind } = createEngineHost({ userDataDir: '/tmp/x', env: {}, argv: ['electron', '.'] });
    expect(kind).toBe('worker');
    expect(host).toBeInstanceOf(WorkerEngineHost);
  });

  it('refuses an unknown DNS control with the allowed values', () => {
    expect(() =>
      createEngineHost({ userDataDir: '/tmp/x', env: { FZ_DNS_CONTROL: 'magic' }, argv: [] }),
    ).toThrow(/auto, systemd-resolved, resolv-conf, off/);
  });
});
