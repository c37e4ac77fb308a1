import { describe, expect, it } from 'vitest';
import { silentLogger } from '../portal/log.js';
import { createTunProvider } from './create-tun-provider.js';

const make = (env: NodeJS.ProcessEnv, euid: number, platform: NodeJS.Platform = 'linux') =>
  createTunProvider({ name: 'tun-test', logger: silentLogger, env, euid, platform });

describe('createTunProvider', () => {
  it('is direct for root and with FZ_TUN_PROVIDER=direct, the helper otherwise', () => {
    expect(make({}, 0).kind).toBe('direct');
    expect(make({}, 1000).kind).toBe('helper');
    expect(make({ FZ_TUN_PROVIDER: 'direct' }, 1000).kind).toBe('direct');
    expect(make({ FZ_TUN_PROVIDER: 'helper' }, 0).kind).toBe('helper');
    expect(make({}, 1000, 'win32').kind).toBe('helper');
    expect(() => make({ FZ_TUN_PROVIDER: 'yes' }, 0)).toThrow(/must be "direct" or "helper"/);
    expect(() => make({}, 0, 'darwin')).toThrow(/Linux only/);
  });
});
