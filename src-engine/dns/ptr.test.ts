import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, parseIpAddress } from '../packet/address.js';
import { ipToReverseName, reverseNameToIp } from './ptr.js';

describe('reverse names', () => {
  it('reads in-addr.arpa and ip6.arpa names', () => {
    expect(formatIp(reverseNameToIp('1.0.96.100.in-addr.arpa')!)).toBe('100.96.0.1');
    expect(formatIp(reverseNameToIp('1.0.96.100.IN-ADDR.ARPA.')!)).toBe('100.96.0.1');
    const v6 = ipToReverseName(parseIpAddress('fd00:2021:1111:8000::1')!);
    expect(v6).toBe('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.1.1.1.1.1.2.0.2.0.0.d.f.ip6.arpa');
    expect(formatIp(reverseNameToIp(v6.toUpperCase())!)).toBe('fd00:2021:1111:8000::1');
  });

  it('refuses partial zones and malformed labels', () => {
    for (const name of [
      '0.96.100.in-addr.arpa',
      '256.0.96.100.in-addr.arpa',
      '01.0.96.100.in-addr.arpa',
      'x.0.96.100.in-addr.arpa',
      '1.1.0.96.100.in-addr.arpa',
      'in-addr.arpa',
      'example.com',
      '0.0.ip6.arpa',
      `${'g.'.repeat(32)}ip6.arpa`,
      `${'00.'.repeat(32)}ip6.arpa`,
    ]) {
      expect(reverseNameToIp(name), name).toBeNull();
    }
  });

  it('round-trips every address (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
        ),
        (bytes) => {
          expect(reverseNameToIp(ipToReverseName(bytes))).toEqual(bytes);
        },
      ),
    );
  });
});
