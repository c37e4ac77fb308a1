import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EngineStatus } from './engine-host.js';
import { WorkerEngineHost } from './worker-engine-host.js';

const START = {
  portalUrl: 'ws://127.0.0.1:9',
  token: 'secret-token-value',
  deviceId: 'd',
  deviceName: 'n',
  appVersion: '0.1.0',
  settings: { logLevel: 'info' as const, internetResourceEnabled: false },
};

describe('WorkerEngineHost', () => {
  it('boots the engine worker idle, refuses a capture while down, and stops it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fz-worker-'));
    const host = new WorkerEngineHost({ stateDir: dir, dnsControl: 'off' });
    const statuses: EngineStatus[] = [];
    host.on('status', (s) => statuses.push(s));
    await host.start(START);
    await expect(host.start(START)).rejects.toThrow(/already started/);
    await expect(host.capture({ seconds: 0 }, () => {})).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(host.capture({ seconds: 5 }, () => {})).rejects.toMatchObject({ code: 'not-connected' });
    await host.stop();
    expect(statuses[0]).toEqual({ state: 'idle' });
    expect(statuses.at(-1)).toEqual({ state: 'stopped' });
    // Not reported as a crash.
    expect(statuses.some((s) => s.state === 'failed')).toBe(false);
    await rm(dir, { recursive: true });
  }, 30_000);
});
