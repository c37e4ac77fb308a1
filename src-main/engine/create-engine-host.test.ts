import { describe, expect, it } from 'vitest';
import { MissingEngineHost, createEngineHost, registerEngineHost } from './create-engine-host.js';
import { FakeEngineHost } from './fake-engine-host.js';

describe('engine host factory', () => {
  it('runs the simulation only when asked', () => {
    expect(createEngineHost({ FZ_ENGINE: 'simulated' }, []).host).toBeInstanceOf(FakeEngineHost);
    expect(createEngineHost({}, ['electron', '.', '--simulated-engine']).kind).toBe('simulated');
  });

  it('without a worker host, starting fails with an explanation instead of pretending', async () => {
    const { host, kind } = createEngineHost({}, []);
    expect(kind).toBe('none');
    expect(host).toBeInstanceOf(MissingEngineHost);
    await expect(
      host.start({
        portalUrl: 'wss://x',
        token: 't',
        deviceId: 'd',
        deviceName: 'n',
        appVersion: '0',
        settings: { logLevel: 'info', internetResourceEnabled: false },
      }),
    ).rejects.toMatchObject({ code: 'tun-unavailable' });
    const chunks: Uint8Array[] = [];
    await expect(host.capture({ seconds: 10 }, (c) => chunks.push(c))).rejects.toMatchObject({
      code: 'capture-unavailable',
      message: expect.stringMatching(/no tunnel engine/),
    });
    await expect(host.capture({ seconds: 0 }, (c) => chunks.push(c))).rejects.toMatchObject({
      code: 'invalid-argument',
    });
    expect(chunks).toEqual([]);
  });

  it('uses the worker host once it is registered', () => {
    const worker = new FakeEngineHost();
    registerEngineHost('worker', () => worker);
    expect(createEngineHost({}, [])).toEqual({ host: worker, kind: 'worker' });
  });
});
