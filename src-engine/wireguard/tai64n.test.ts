import { describe, expect, it } from 'vitest';
import { tai64n, tai64nAfter, tai64nSuccessor } from './tai64n.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('TAI64N', () => {
  it('labels the Unix epoch 2^62 + 10 and whitens nanoseconds to 2^24 ns', () => {
    expect(hex(tai64n(0))).toBe('400000000000000a00000000');
    // 1.5 s: 500,000,000 ns rounds down to 29 × 2^24 = 486,539,264 ns (0x1d000000).
    expect(hex(tai64n(1500))).toBe('400000000000000b1d000000');
    // A date past 2^32 seconds of the label's low word still encodes (carry into the high word).
    expect(hex(tai64n(1_700_000_000_000)).slice(0, 16)).toBe(
      (0x400000000000000an + 1_700_000_000n).toString(16),
    );
  });

  it('orders timestamps bytewise and yields strict successors', () => {
    const a = tai64n(1_700_000_000_000);
    const b = tai64n(1_700_000_000_100);
    expect(tai64nAfter(b, a)).toBe(true);
    expect(tai64nAfter(a, b)).toBe(false);
    expect(tai64nAfter(a, a)).toBe(false);
    // Within one whitening step two timestamps are equal; the successor is strictly later.
    const same = tai64n(1_700_000_000_001);
    expect(tai64nAfter(same, a)).toBe(false);
    expect(tai64nAfter(tai64nSuccessor(a), a)).toBe(true);
    const carry = Uint8Array.from([0x40, 0, 0, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0xff]);
    expect(hex(tai64nSuccessor(carry))).toBe('400000000000000a00000100');
  });
});
