import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenFileError } from '../src-engine/platform/token-file.js';
import { formatStatus } from './status.js';
import { parseCommand, UsageError } from './cli.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tokenFile(mode: number, text = '.abc.def\n'): string {
  const dir = mkdtempSync(join(tmpdir(), 'fz-client-test-'));
  dirs.push(dir);
  const file = join(dir, 'token');
  writeFileSync(file, text, { mode });
  return file;
}

describe('headless client command line', () => {
  it('reads flags and Firezone environment variables, a flag winning', () => {
    const file = tokenFile(0o600);
    const command = parseCommand(
      ['--api-url', 'ws://127.0.0.1:8080', '--token-file', file, '--tun-name', 'tun9'],
      {
        FIREZONE_API_URL: 'wss://ignored.example',
        FIREZONE_ID: 'device-1',
      },
    );
    expect(command).toMatchObject({
      kind: 'run',
      config: { apiUrl: 'ws://127.0.0.1:8080', token: '.abc.def', id: 'device-1', tunName: 'tun9' },
    });
    expect(
      parseCommand([], { FIREZONE_API_URL: 'https://portal.example', FIREZONE_TOKEN: 'tok' }),
    ).toMatchObject({
      kind: 'run',
      config: { apiUrl: 'https://portal.example', token: 'tok' },
    });
    expect(parseCommand(['status', '--json'], {})).toEqual({
      kind: 'status',
      socket: '/run/fz-client/status.sock',
      json: true,
    });
    expect(parseCommand(['internet-resource', 'on'], { FZ_CLIENT_STATUS: '/tmp/s.sock' })).toEqual({
      kind: 'internet',
      socket: '/tmp/s.sock',
      enabled: true,
    });
    const run = parseCommand(['-u', 'ws://x', '--dns-control', 'resolv-conf'], { FIREZONE_TOKEN: 't' });
    expect(run).toMatchObject({ kind: 'run', config: { dnsControl: 'resolv-conf' } });
    expect(parseCommand(['-u', 'ws://x'], { FIREZONE_TOKEN: 't' })).toMatchObject({
      config: { dnsControl: 'auto' },
    });
  });

  it('refuses bad usage with clear errors and never takes a token on the command line', () => {
    expect(() => parseCommand(['--token', 'secret'], {})).toThrow(/process list/);
    expect(() => parseCommand([], { FIREZONE_TOKEN: 't' })).toThrow(/portal URL is required/);
    expect(() => parseCommand(['-u', 'ftp://x'], { FIREZONE_TOKEN: 't' })).toThrow(/ws:\/\//);
    expect(() => parseCommand(['-u', 'ws://x'], {})).toThrow(/token is required/);
    expect(() => parseCommand(['-u', 'ws://x', '--log-level', 'loud'], { FIREZONE_TOKEN: 't' })).toThrow(
      UsageError,
    );
    expect(() => parseCommand(['frobnicate'], {})).toThrow(/unknown command/);
    expect(() => parseCommand(['internet-resource', 'maybe'], {})).toThrow(/on or off/);
    expect(() => parseCommand(['-u', 'ws://x', '--dns-control', 'dnsmasq'], { FIREZONE_TOKEN: 't' })).toThrow(
      /unknown DNS control/,
    );
    expect(() =>
      parseCommand(['-u', 'ws://x', '--tun-name', 'a name with spaces'], { FIREZONE_TOKEN: 't' }),
    ).toThrow(/interface name/);
  });

  it('refuses a token file others can read, without printing the token', () => {
    const file = tokenFile(0o644, 'super-secret-token\n');
    let error: unknown;
    try {
      parseCommand(['-u', 'ws://x', '--token-file', file], {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TokenFileError);
    expect((error as Error).message).toMatch(/too open/);
    expect((error as Error).message).not.toContain('super-secret-token');
  });

  it('prints the status a person needs: user, resources, and per connection path, RTT, bytes, handshake', () => {
    const text = formatStatus(
      {
        portal: { status: 'joined', since: 0 },
        signedInAs: { name: 'Alice', email: 'alice@acme.test' },
        deviceId: 'd',
        interface: {
          ipv4: '100.64.0.2',
          ipv6: 'fd00:2021:1111::2',
          routes: [],
          upstreamDns: [],
          dnsServers: ['100.100.111.1'],
          searchDomain: null,
        },
        resources: [
          {
            id: 'r1',
            name: 'HQ LAN',
            address: '10.20.0.0/16',
            type: 'cidr',
            gatewayId: 'g1234567-x',
            siteOffline: false,
            sites: [{ id: 's1', name: 'HQ' }],
            addressDescription: null,
            canBeDisabled: false,
            flow: { state: 'connected', gatewayId: 'g1234567-x' },
          },
        ],
        connections: [
          {
            id: 'g1234567-x',
            state: 'connected',
            path: {
              local: '10.1.0.2:52625',
              remote: '10.2.0.2:52625',
              localKind: 'host',
              remoteKind: 'srflx',
              relayed: false,
            },
            rttMs: 1.5,
            txBytes: 100,
            rxBytes: 200,
            lastHandshakeAt: 1_000,
            resources: ['r1'],
          },
        ],
        relays: [],
        dns: { sentinels: ['100.100.111.1'], localAnswers: 3, forwarded: 2, failures: 0, names: [] },
        drops: {},
      },
      11_000,
    );
    expect(text).toContain('Signed in as: Alice <alice@acme.test>');
    expect(text).toContain('HQ LAN');
    expect(text).toContain('direct (host → srflx');
    expect(text).toContain('rtt:            1.5 ms');
    expect(text).toContain('sent 100, received 200');
    expect(text).toContain('last handshake: 10 s ago');
    expect(text).toContain('DNS:          100.100.111.1 (answered here 3, forwarded 2, failed 0)');
  });
});
