import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FIREZONE_PROTOCOL_VERSION } from './constants.js';
import { userAgentPartsFor } from './host-user-agent.js';
import { buildUserAgent, isGatewayCompatible, parseUserAgent } from './user-agent.js';

const DEBIAN = { type: 'Linux', release: '6.1.0-18-amd64', arch: 'x64' };
const packageVersion = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

describe('userAgentPartsFor', () => {
  it('names the Firezone protocol version, not the package version', () => {
    expect(FIREZONE_PROTOCOL_VERSION).toBe('1.5.0');
    expect(buildUserAgent(userAgentPartsFor('gui-client', DEBIAN))).toBe(
      'Linux/6.1.0 gui-client/1.5.0 (x86_64; 6.1.0)',
    );
    for (const component of ['gui-client', 'headless-client', 'gateway'] as const) {
      const ua = buildUserAgent(userAgentPartsFor(component));
      expect(ua).toContain(` ${component}/${FIREZONE_PROTOCOL_VERSION} `);
      expect(parseUserAgent(ua)).toMatchObject({ component, versionString: FIREZONE_PROTOCOL_VERSION });
      if (packageVersion !== FIREZONE_PROTOCOL_VERSION) expect(ua).not.toContain(`/${packageVersion} `);
    }
  });

  it('a portal pairs our clients with our gateways; a 0.x client is not a current one', () => {
    const client = parseUserAgent(buildUserAgent(userAgentPartsFor('gui-client', DEBIAN)))!;
    const gateway = parseUserAgent(buildUserAgent(userAgentPartsFor('gateway', DEBIAN)))!;
    expect(isGatewayCompatible(client.version, gateway.version)).toBe(true);
    expect(client.version.major).toBeGreaterThanOrEqual(1);
    expect(isGatewayCompatible({ major: 0, minor: 1, patch: 0 }, gateway.version)).toBe(false);
  });

  it('keeps every token valid on other hosts', () => {
    expect(
      userAgentPartsFor('gui-client', { type: 'Darwin', release: '24.1.0', arch: 'arm64' }),
    ).toMatchObject({
      os: 'macOS',
      osVersion: '24.1.0',
      arch: 'aarch64',
    });
    expect(
      userAgentPartsFor('gui-client', { type: 'Windows_NT', release: '10.0.26100', arch: 'x64' }),
    ).toMatchObject({
      os: 'Windows',
      arch: 'x86_64',
    });
    // Odd values never make buildUserAgent throw.
    const odd = userAgentPartsFor('headless-client', {
      type: 'My OS (x)',
      release: 'weird/kernel',
      arch: 'r;isc v',
    });
    expect(() => buildUserAgent(odd)).not.toThrow();
    expect(odd).toMatchObject({ os: 'MyOSx', osVersion: '0', arch: 'riscv' });
  });
});
