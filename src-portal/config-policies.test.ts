import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.js';

const BASE = `
account: { slug: acme, name: Acme }
groups: [{ name: staff }]
sites: [{ name: HQ }]
resources:
  - { name: LAN, type: cidr, address: 10.0.0.0/24, site: HQ }
`;

describe('portal config: policies', () => {
  it('reads an optional end of a policy as unix seconds', () => {
    const config = parseConfig(
      `${BASE}policies:\n  - { group: staff, resource: LAN, expires_at: '2027-01-31T18:00:00Z' }\n  - { group: staff, resource: LAN }\n`,
    );
    expect(config.catalog.policies.map((policy) => policy.expiresAt)).toEqual([
      Date.UTC(2027, 0, 31, 18) / 1000,
      undefined,
    ]);
  });

  it('refuses an end that is not an ISO 8601 date-time', () => {
    expect(() =>
      parseConfig(`${BASE}policies:\n  - { group: staff, resource: LAN, expires_at: 'next tuesday' }\n`),
    ).toThrow(ConfigError);
  });
});
