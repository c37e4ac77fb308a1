import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, dnsPatternProblem, loadConfig, parseConfig, parseTurnUrl } from './config.js';

const MINIMAL = `
account: { slug: acme, name: Acme }
groups: [{ name: staff }]
sites: [{ name: HQ }]
`;

function problems(yaml: string): string[] {
  try {
    parseConfig(yaml, 'test.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('portal config', () => {
  it('loads the commented example', () => {
    const config = loadConfig('examples/portal/portal.example.yaml');
    expect(config.catalog.account.slug).toBe('acme');
    expect(config.catalog.resources.map((resource) => resource.type)).toEqual([
      'dns',
      'cidr',
      'cidr',
      'internet',
    ]);
    expect(config.gatewayTokens).toHaveLength(3);
    expect(config.clientTokenTtlSeconds).toBe(30 * 86_400);
    // Ids are stable: derived from the account and the names.
    expect(loadConfig('examples/portal/portal.example.yaml').catalog).toEqual(config.catalog);
    // Example passwords are real scrypt hashes, and the token entries are hashed.
    expect(readFileSync('examples/portal/portal.example.yaml', 'utf8')).toContain('scrypt$32768$8$1$');
    expect(config.gatewayTokens.every((entry) => /^[0-9a-f]{64}$/.test(entry.sha256))).toBe(true);
  });

  it('expands filters and normalises single addresses', () => {
    const config = parseConfig(`${MINIMAL}
resources:
  - { name: Host, type: cidr, address: "10.1.2.3", site: HQ, filters: [{ protocol: udp, ports: ["53", "5000-5010"] }, { protocol: tcp }] }
  - { name: V6, type: cidr, address: "2001:db8::/32", site: HQ }
`);
    const [host, v6] = config.catalog.resources;
    expect(host).toMatchObject({
      address: '10.1.2.3/32',
      filters: [
        { protocol: 'udp', port_range_start: 53, port_range_end: 53 },
        { protocol: 'udp', port_range_start: 5000, port_range_end: 5010 },
        { protocol: 'tcp', port_range_start: 0, port_range_end: 65535 },
      ],
    });
    expect(v6).toMatchObject({ address: '2001:db8::/32' });
  });

  it('reports every problem with its path', () => {
    expect(
      problems(`${MINIMAL}
users: [{ email: a@x.test, name: A, groups: [ghosts], password_hash: "md5$abc" }]
resources:
  - { name: Net, type: cidr, address: 10.0.0.1/8, site: Mars }
  - { name: Tunnel, type: cidr, address: 100.64.0.0/16, site: HQ }
  - { name: Wide, type: cidr, address: 100.0.0.0/8, site: HQ }
  - { name: Bad, type: dns, address: "a..b", site: HQ }
  - { name: Ports, type: cidr, address: 10.9.0.0/16, site: HQ, filters: [{ protocol: tcp, ports: ["90-80"] }] }
  - { name: net, type: cidr, address: 10.8.0.0/16, site: HQ }
policies: [{ group: staff, resource: Nothing }]
relays: [{ name: r, urls: ["turn:relay.example:3478"], secret: "12345678" }]
dns: { upstream_do53: ["100.100.111.1", "nonsense"] }
`),
    ).toEqual([
      'resources[5]: duplicate name "net"',
      'users[0].groups: unknown group "ghosts"',
      'users[0].password_hash: expected "scrypt$N$r$p$salt$hash" (make one with `hash-password`)',
      'resources[0].site: unknown site "Mars"',
      'resources[0].address: "10.0.0.1/8" has host bits set; the network is 10.0.0.0/8',
      'resources[1].address: 100.64.0.0/16 overlaps the reserved tunnel range 100.64.0.0/10',
      'resources[2].address: 100.0.0.0/8 overlaps the reserved tunnel range 100.64.0.0/10',
      'resources[3].address: "a..b" has an empty or over-long label',
      'resources[4].filters[0].ports[0]: expected a port "N" or range "N-M" within 0-65535',
      'policies[0].resource: unknown resource "Nothing"',
      'relays[0].urls[0]: "relay.example" is not an IP address (the portal sends relays as ip:port, without DNS)',
      'dns.upstream_do53[0]: 100.100.111.1 is inside the reserved tunnel ranges',
      'dns.upstream_do53[1]: expected an IP address, got "nonsense"',
    ]);
  });

  it('rejects unknown keys and wrong types by path', () => {
    expect(
      problems(
        `${MINIMAL}\nresources: [{ name: X, type: cidr, address: 10.0.0.0/8, site: HQ, colour: red }]`,
      ),
    ).toEqual(['resources[0]: Unrecognized key: "colour"']);
    expect(problems('account: { slug: "Not A Slug", name: x }')[0]).toMatch(/^account\.slug: /);
    expect(problems('account: [oops')[0]).toMatch(/^not valid YAML/);
    expect(() => loadConfig('/nonexistent/portal.yaml')).toThrow(/cannot read the file/);
  });

  it('checks DNS patterns and TURN URLs', () => {
    expect(dnsPatternProblem('*.corp.example')).toBeUndefined();
    expect(dnsPatternProblem('app.**.corp.example')).toBeUndefined();
    expect(dnsPatternProblem('?.corp.example')).toBeUndefined();
    expect(dnsPatternProblem('*.*')).toMatch(/at least one label without wildcards/);
    expect(dnsPatternProblem('a**.example')).toMatch(/whole label/);
    expect(dnsPatternProblem('bad name.example')).toMatch(/characters/);
    expect(parseTurnUrl('turn:[::1]:3479')).toEqual({ ip: '::1', port: 3479 });
    expect(parseTurnUrl('turn:192.0.2.1')).toEqual({ ip: '192.0.2.1', port: 3478 });
    expect(parseTurnUrl('turns:192.0.2.1')).toMatch(/expected "turn:<ip>\[:port\]"/);
  });
});
