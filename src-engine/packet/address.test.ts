import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addressKey,
  formatIp,
  formatIpv4,
  formatIpv6,
  parseIpAddress,
  parseIpv4Address,
  parseIpv6Address,
} from './address.js';

function v6(text: string): Uint8Array {
  const bytes = parseIpv6Address(text);
  if (bytes === null) throw new Error(text);
  return bytes;
}

/** WHATWG URL host serialization: an independent RFC 5952-style formatter (no dotted IPv4 tail). */
function urlForm(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

describe('IPv4 text', () => {
  it('formats and parses dotted decimal', () => {
    expect(formatIpv4(Uint8Array.of(100, 64, 0, 1))).toBe('100.64.0.1');
    expect(formatIpv4(Uint8Array.of(9, 9, 192, 168, 1, 255), 2)).toBe('192.168.1.255');
    expect([...parseIpv4Address('255.0.10.1')!]).toEqual([255, 0, 10, 1]);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', '1.2.3.4 ', '0x1.2.3.4', '1..3.4'])(
    'rejects %j',
    (text) => {
      expect(parseIpv4Address(text)).toBeNull();
    },
  );

  it('round-trips every address', () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        expect(formatIpv4(parseIpv4Address(text)!)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});

describe('IPv6 text (RFC 5952)', () => {
  it.each([
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'], // §4.1, §4.2.1
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2: not for one zero group
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // §4.2.3: the longest run
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3: the first of equal runs
    ['2001:DB8::AbC', '2001:db8::abc'], // §4.3: lowercase
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['::ffff:c000:0201', '::ffff:192.0.2.1'], // §5: IPv4-mapped
    ['fd00:2021:1111:8000:100:100:111:0', 'fd00:2021:1111:8000:100:100:111:0'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
  ])('%s → %s', (input, canonical) => {
    expect(formatIpv6(v6(input))).toBe(canonical);
    expect(formatIp(v6(input))).toBe(canonical);
  });

  it.each([
    '',
    ':',
    ':::',
    '1::2::3',
    '12345::',
    'g::',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::',
    '::1.2.3.4.5',
    '1.2.3.4::',
    '::1.2.3.4:1',
    'fe80::1%eth0',
  ])('rejects %j', (text) => {
    expect(parseIpv6Address(text)).toBeNull();
    if (!text.includes('%')) expect(isIP(text)).toBe(0); // node agrees (it allows zones)
  });

  it('agrees with the WHATWG URL parser and serializer on random addresses', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.ipV6(), (bytes, text) => {
        const formatted = formatIpv6(bytes);
        expect(parseIpv6Address(formatted)).toEqual(bytes);
        const mapped =
          bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
        if (!mapped) expect(formatted).toBe(urlForm(formatted));

        const parsed = parseIpv6Address(text);
        expect(parsed).not.toBeNull();
        expect(parsed).toEqual(parseIpv6Address(urlForm(text)));
      }),
      { numRuns: 500 },
    );
  });
});

it('parseIpAddress and formatIp pick the family', () => {
  expect(parseIpAddress('10.0.0.1')?.length).toBe(4);
  expect(parseIpAddress('::1')?.length).toBe(16);
  expect(parseIpAddress('example.com')).toBeNull();
  expect(formatIp(new Uint8Array(5))).toBe('<invalid address of 5 bytes>');
});

describe('addressKey', () => {
  it('is one-to-one over addresses of both families, and an IPv4 key is a number', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        (a, b) => {
          expect(typeof addressKey(a)).toBe('number');
          expect(addressKey(a) === addressKey(b)).toBe(formatIp(a) === formatIp(b));
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (a, b) => {
          expect(addressKey(a) === addressKey(b)).toBe(formatIp(a) === formatIp(b));
        },
      ),
    );
    expect(addressKey(v6('::ffff:10.0.0.1'))).not.toBe(addressKey(parseIpAddress('10.0.0.1')!));
    expect(addressKey(parseIpAddress('255.255.255.255')!)).toBe(0xffffffff);
  });
});
