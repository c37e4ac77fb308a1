import { describe, expect, it } from 'vitest';
import { EngineHost } from './engine-host.js';
import type { TunnelConfig } from './protocol.js';

const KEY = Buffer.alloc(32, 1).toString('base64');
const valid: TunnelConfig = {
  privateKey: KEY,
  addresses: ['10.98.0.2/24'],
  listen: { address: '127.0.0.1', port: 0 },
  peers: [{ publicKey: Buffer.alloc(32, 2).toString('base64'), allowedIps: ['10.98.0.0/24'] }],
};

// Bad configs are refused inside the worker before any TUN or socket is opened, so these run
// anywhere (no root, no device left behind).
describe('EngineHost', () => {
  it.each([
    [
      'a private key that is not 32 bytes',
      { ...valid, privateKey: 'c2hvcnQ=' },
      /privateKey is not a 32-byte base64 key/,
    ],
    [
      'a peer key that is not base64',
      { ...valid, peers: [{ ...valid.peers[0]!, publicKey: 'not base64!' }] },
      /peers\[0\]\.publicKey is not a 32-byte base64 key/,
    ],
    [
      'an allowed IP that is not a CIDR',
      { ...valid, peers: [{ ...valid.peers[0]!, allowedIps: ['10.0.0.0/99'] }] },
      /not a CIDR/,
    ],
    ['an address that is not a CIDR', { ...valid, addresses: ['nope'] }, /not a CIDR/],
    ['an MTU out of range', { ...valid, mtu: 70_000 }, /mtu must be/],
    [
      'a peer endpoint that is a host name',
      { ...valid, peers: [{ ...valid.peers[0]!, endpoint: { address: 'gw.example', port: 51820 } }] },
      /peers\[0\]\.endpoint must be an IP address/,
    ],
    ['an unknown crypto backend', { ...valid, cryptoBackend: 'rot13' as 'noble' }, /rot13/],
  ])('rejects %s with a clear error and stops its worker', async (_what, config, message) => {
    const host = new EngineHost();
    const exited = new Promise<number>((resolve) => host.once('exit', resolve));
    await expect(host.start(config)).rejects.toThrow(message);
    await exited;
    await expect(host.stats()).rejects.toThrow(/not running/);
  });

  it('never puts a key into an error message', async () => {
    const secret = Buffer.alloc(31, 7).toString('base64');
    const host = new EngineHost();
    const err = (await host.start({ ...valid, privateKey: secret }).catch((e: unknown) => e)) as Error;
    expect(err.message).not.toContain(secret);
  });
});
