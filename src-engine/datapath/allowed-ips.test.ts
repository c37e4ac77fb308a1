import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpAddress } from '../packet/index.js';
import { AllowedIps, parseCidr } from './allowed-ips.js';

const lookup = (t: AllowedIps<string>, ip: string): string | undefined => {
  const b = parseIpAddress(ip)!;
  return t.lookup(b, 0, b.length as 4 | 16);
};

describe('AllowedIps', () => {
  it('picks the most specific prefix, for IPv4 and IPv6', () => {
    const t = new AllowedIps<string>();
    t.insert(parseCidr('0.0.0.0/0'), 'default');
    t.insert(parseCidr('10.0.0.0/8'), 'ten');
    t.insert(parseCidr('10.1.2.0/24'), 'lan');
    t.insert(parseCidr('10.1.2.3/32'), 'host');
    t.insert(parseCidr('fd00::/8'), 'ula');
    t.insert(parseCidr('fd00:2021:1111::/107'), 'tunnel');
    expect(lookup(t, '10.1.2.3')).toBe('host');
    expect(lookup(t, '10.1.2.4')).toBe('lan');
    expect(lookup(t, '10.9.9.9')).toBe('ten');
    expect(lookup(t, '192.0.2.1')).toBe('default');
    expect(lookup(t, 'fd00:2021:1111::5')).toBe('tunnel');
    expect(lookup(t, 'fd12::1')).toBe('ula');
    expect(lookup(t, '2001:db8::1')).toBeUndefined();
    t.removeValue('host');
    expect(lookup(t, '10.1.2.3')).toBe('lan');
  });

  it('agrees with a bit-by-bit model on random IPv4 prefixes', () => {
    const bits = (ip: Uint8Array): string => [...ip].map((b) => b.toString(2).padStart(8, '0')).join('');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 })), {
          maxLength: 12,
        }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        (prefixes, addr) => {
          const t = new AllowedIps<number>();
          prefixes.forEach(([net, len], i) => t.insert({ bytes: net, prefix: len }, i));
          let best = -1;
          let bestLen = -1;
          prefixes.forEach(([net, len], i) => {
            if (bits(net).slice(0, len) === bits(addr).slice(0, len) && len > bestLen) {
              best = i;
              bestLen = len;
            }
          });
          const got = t.lookup(addr, 0, 4);
          if (best === -1) expect(got).toBeUndefined();
          else expect(prefixes[got!]![1]).toBe(bestLen);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('rejects malformed CIDRs with a clear error', () => {
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'nope/8', '10.0.0.0/-1', '10.0.0/8', '']) {
      expect(() => parseCidr(bad)).toThrow(/not a CIDR/);
    }
  });
});
