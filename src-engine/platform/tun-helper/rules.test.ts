import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, HelperError, MAX_FRAME_BYTES, parseRequest } from './protocol.js';
import { canonicalCidr, checkApplyConfig, inTunnelRanges, isDnsName, isTunnelAddress } from './rules.js';
import { toApplyConfig } from './client.js';
import { UidLimiter } from '../../../src-helper/limits.js';
import { groupAccess } from '../../../src-helper/access.js';

const ok = {
  addresses: ['100.64.0.2/32', 'fd00:2021:1111::2/128'],
  mtu: 1280,
  routes: ['10.0.0.0/8', '0.0.0.0/0', '::/0'],
  dns: { servers: ['100.100.111.1', 'fd00:2021:1111:8000:100:100:111:0'], searchDomain: 'corp.test' },
};
const bytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

describe('helper rules', () => {
  it('allows interface addresses only inside the tunnel ranges', () => {
    expect(inTunnelRanges('100.64.0.2/32')).toBe(true);
    expect(inTunnelRanges('100.127.255.255/32')).toBe(true);
    expect(inTunnelRanges('100.128.0.1/32')).toBe(false);
    expect(inTunnelRanges('100.64.0.2/9')).toBe(false); // wider than the range
    expect(inTunnelRanges('fd00:2021:1111:ffff::1/128')).toBe(true);
    expect(inTunnelRanges('fd00:2021:1112::1/128')).toBe(false);
    expect(inTunnelRanges('10.0.0.1/32')).toBe(false);
    expect(inTunnelRanges('100.64.0.2')).toBe(false); // prefix required
    expect(isTunnelAddress('100.100.111.1')).toBe(true);
    expect(isTunnelAddress('192.0.2.53')).toBe(false);
  });

  it('accepts a real config and names every broken rule', () => {
    expect(checkApplyConfig(ok)).toEqual([]);
    const problems = checkApplyConfig({
      addresses: ['192.168.1.5/24'],
      mtu: 65536,
      routes: ['10.0.0.0/8 dev eth0'],
      dns: { servers: ['8.8.8.8'], searchDomain: 'bad domain' },
    });
    expect(problems.join('\n')).toMatch(/192\.168\.1\.5\/24.*not inside/);
    expect(problems.join('\n')).toMatch(/mtu 65536/);
    expect(problems.join('\n')).toMatch(/not a CIDR/);
    expect(problems.join('\n')).toMatch(/8\.8\.8\.8.*not a tunnel address/);
    expect(problems.join('\n')).toMatch(/not a DNS name/);
    expect(checkApplyConfig({ ...ok, mtu: 1279 })).toHaveLength(1);
    expect(checkApplyConfig({ ...ok, mtu: 9000 })).toEqual([]);
  });

  it('checks DNS names and canonicalises routes', () => {
    expect(isDnsName('corp.test')).toBe(true);
    expect(isDnsName('a-b.c_d.example.')).toBe(true);
    for (const bad of ['', '-a.test', 'a..b', 'a b', 'x;rm -rf', 'a'.repeat(64)])
      expect(isDnsName(bad)).toBe(false);
    expect(canonicalCidr('10.1.2.3/8')).toBe('10.0.0.0/8');
    expect(canonicalCidr('fd00:222::5/64')).toBe('fd00:222::/64');
    expect(() => canonicalCidr('10.0.0.0/33')).toThrow();
  });

  it('maps the engine config to an apply request the rules accept', () => {
    const config = toApplyConfig({
      ipv4: '100.64.0.2',
      ipv6: 'fd00:2021:1111::2',
      routes: ['10.0.0.0/8'],
      upstreamDns: [],
      dnsServers: ['100.100.111.1'],
      searchDomain: null,
    });
    expect(checkApplyConfig(config)).toEqual([]);
    expect(parseRequest(bytes({ id: 1, type: 'apply', device: 'tun-fz0', config })).type).toBe('apply');
  });
});

describe('helper protocol', () => {
  it('parses the three requests and refuses everything else with a clear error', () => {
    expect(parseRequest(bytes({ id: 1, type: 'open' }))).toEqual({ id: 1, type: 'open' });
    const refused = (v: unknown): HelperError => {
      try {
        parseRequest(typeof v === 'string' ? new TextEncoder().encode(v) : bytes(v));
      } catch (e) {
        return e as HelperError;
      }
      throw new Error('accepted');
    };
    expect(refused('{nope').code).toBe('bad-request');
    expect(refused([1]).code).toBe('bad-request');
    expect(refused({ id: 1, type: 'exec' }).message).toMatch(/unknown request type "exec"/);
    expect(refused({ id: 1, type: 'open', name: 'eth0' }).code).toBe('bad-request'); // no caller-chosen names
    expect(refused({ id: -1, type: 'open' }).code).toBe('bad-request');
    expect(refused({ id: 1, type: 'close', device: 'eth0; reboot' }).code).toBe('bad-request');
    expect(
      refused({ id: 1, type: 'apply', device: 'tun-fz0', config: { ...ok, addresses: ['10.0.0.1/32'] } })
        .code,
    ).toBe('refused');
  });

  it('frames round-trip in pieces and an oversized length is refused from the header alone', () => {
    const d = new FrameDecoder();
    const a = encodeFrame({ a: 1 });
    const b = encodeFrame({ b: 'x'.repeat(1000) });
    const all = new Uint8Array([...a, ...b]);
    const out = [...d.push(all.subarray(0, 3)), ...d.push(all.subarray(3, 20)), ...d.push(all.subarray(20))];
    expect(out.map((f) => JSON.parse(new TextDecoder().decode(f)) as unknown)).toEqual([
      { a: 1 },
      { b: 'x'.repeat(1000) },
    ]);
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, MAX_FRAME_BYTES + 1);
    expect(() => new FrameDecoder().push(header)).toThrow(/exceeds the limit/);
    expect(() => encodeFrame('x'.repeat(MAX_FRAME_BYTES))).toThrow();
  });
});

describe('helper limits and access', () => {
  it('counts requests and connections per uid within one second', () => {
    let now = 0;
    const l = new UidLimiter(
      { maxConnectionsPerUid: 2, maxConnectsPerSecond: 3, maxRequestsPerSecond: 2 },
      () => now,
    );
    expect([l.request(1), l.request(1), l.request(2)]).toEqual([undefined, undefined, undefined]);
    expect(l.request(1)).toMatch(/too many requests/);
    now = 1000;
    expect(l.request(1)).toBeUndefined();
    expect([l.connect(5), l.connect(5)]).toEqual([undefined, undefined]);
    expect(l.connect(5)).toMatch(/open connections/);
    l.disconnect(5);
    expect(l.connect(5)).toMatch(/per second/); // the fourth attempt within the second
  });

  it('lets in root and the group (primary or supplementary), nobody else', () => {
    const a = groupAccess('fz-tunnel', 990);
    expect(a.check({ uid: 0, gid: 0, pid: 1, groups: [] })).toBeUndefined();
    expect(a.check({ uid: 1000, gid: 990, pid: 1, groups: [] })).toBeUndefined();
    expect(a.check({ uid: 1000, gid: 1000, pid: 1, groups: [27, 990] })).toBeUndefined();
    expect(a.check({ uid: 1000, gid: 1000, pid: 1, groups: [27] })).toMatch(/not in the group fz-tunnel/);
    expect(groupAccess('fz-tunnel', undefined).check({ uid: 1000, gid: 990, pid: 1, groups: [990] })).toMatch(
      /does not exist/,
    );
  });
});
