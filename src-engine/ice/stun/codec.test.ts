// Properties and edge cases of the STUN codec beyond the RFC 5769 vectors.
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { writeU16 } from '../../packet/bytes.js';
import {
  ATTR_FINGERPRINT,
  ATTR_SOFTWARE,
  METHOD_ALLOCATE,
  METHOD_BINDING,
  METHOD_CHANNEL_BIND,
  METHOD_DATA,
} from '../constants.js';
import { attributeName, type StunAttribute } from './attributes.js';
import { crc32 } from './crc32.js';
import { longTermKey, shortTermKey } from './credentials.js';
import { classifyDatagram } from './demux.js';
import { describeStunError } from './errors.js';
import { messageType, splitMessageType, transactionKey } from './header.js';
import {
  decodeMessage,
  encodeMessage,
  getAttribute,
  getAttributes,
  integrityOf,
  looksLikeStun,
  verifyIntegrity,
  type StunMessage,
} from './message.js';
import { messageInit, stunClass } from './test-arbitraries.js';

const TID = Uint8Array.from({ length: 12 }, (_, i) => i + 1);

function decoded(bytes: Uint8Array): StunMessage {
  const result = decodeMessage(bytes);
  if (!result.ok) throw new Error(`decode failed: ${describeStunError(result.error)}`);
  return result.message;
}

/** Normalises attributes for comparison: views become plain arrays. */
function plain(attrs: readonly StunAttribute[]): unknown[] {
  return attrs.map((a) => JSON.parse(JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))));
}

describe('message type', () => {
  it('interleaves the class bits as RFC 8489 §5 figure 3 shows', () => {
    expect(messageType(METHOD_BINDING, 'request')).toBe(0x0001);
    expect(messageType(METHOD_BINDING, 'success')).toBe(0x0101);
    expect(messageType(METHOD_BINDING, 'error')).toBe(0x0111);
    expect(messageType(METHOD_DATA, 'indication')).toBe(0x0017);
    expect(messageType(METHOD_ALLOCATE, 'error')).toBe(0x0113);
    expect(messageType(METHOD_CHANNEL_BIND, 'success')).toBe(0x0109);
    expect(() => messageType(0x1000, 'request')).toThrow(RangeError);
  });

  it('splits every method and class back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfff }), stunClass, (method, cls) => {
        expect(splitMessageType(messageType(method, cls))).toEqual({ method, cls });
      }),
    );
  });
});

describe('encode/decode round trip', () => {
  it('keeps method, class, transaction ID and every attribute', () => {
    fc.assert(
      fc.property(messageInit, fc.boolean(), (init, fingerprint) => {
        const bytes = encodeMessage(init, { fingerprint });
        expect(bytes.length % 4).toBe(0);
        expect(looksLikeStun(bytes)).toBe(true);
        // RFC 7983 §7 reserves first bytes 0–3 for STUN: methods up to 0xff (all defined ones).
        if (init.method <= 0xff) expect(classifyDatagram(bytes)).toBe('stun');
        const msg = decoded(bytes);
        expect(msg.method).toBe(init.method);
        expect(msg.class).toBe(init.class);
        expect(Array.from(msg.transactionId)).toEqual(Array.from(init.transactionId));
        const expected = fingerprint
          ? [...init.attributes, { type: 'FINGERPRINT', crc: (msg.attributes.at(-1) as { crc: number }).crc }]
          : init.attributes;
        expect(plain(msg.attributes)).toEqual(plain(expected as StunAttribute[]));
        expect(msg.hasFingerprint).toBe(fingerprint);
      }),
      { numRuns: 500 },
    );
  });

  it('verifies integrity with the right key only, for each algorithm', () => {
    fc.assert(
      fc.property(
        messageInit,
        fc.constantFrom('sha1', 'sha256', 'both' as const),
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        fc.boolean(),
        (init, algorithm, key, fingerprint) => {
          const msg = decoded(encodeMessage(init, { integrity: { key, algorithm }, fingerprint }));
          expect(integrityOf(msg)).toBe(algorithm);
          expect(verifyIntegrity(msg, key)).toBe('ok');
          expect(verifyIntegrity(msg, Uint8Array.of(...key, 1))).toBe('mismatch');
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6)', () => {
  const key = shortTermKey('secret');
  const init = {
    method: METHOD_BINDING,
    class: 'request' as const,
    transactionId: TID,
    attributes: [{ type: 'USERNAME', value: 'a:b' } as const],
  };

  it('is an HMAC-SHA256 over the message with the length covering it', () => {
    const bytes = encodeMessage(init, { integrity: { key, algorithm: 'sha256' } });
    const header = bytes.slice(0, 20);
    const body = bytes.subarray(20, bytes.length - 36);
    const expected = createHmac('sha256', key).update(header).update(body).digest();
    expect(Buffer.from(bytes.subarray(bytes.length - 32)).equals(expected)).toBe(true);
  });

  it('is checked instead of MESSAGE-INTEGRITY when both are present', () => {
    const bytes = encodeMessage(init, { integrity: { key, algorithm: 'both' } });
    // Flip a bit of the SHA-256 value only: MESSAGE-INTEGRITY, which comes before it, stays
    // valid, yet the message must fail.
    const copy = Uint8Array.from(bytes);
    copy[copy.length - 1]! ^= 1;
    expect(verifyIntegrity(decoded(copy), key)).toBe('mismatch');
    expect(verifyIntegrity(decoded(bytes), key)).toBe('ok');
  });

  it('accepts a truncated value of at least 16 bytes and refuses other lengths', () => {
    const full = encodeMessage(init, { integrity: { key, algorithm: 'sha256' } });
    const truncated = full.slice(0, full.length - 16);
    writeU16(truncated, 2, truncated.length - 20);
    writeU16(truncated, truncated.length - 18, 16);
    // The HMAC was computed with a length field covering 32 bytes: recompute for 16.
    const header = truncated.slice(0, 20);
    const mac = createHmac('sha256', key)
      .update(header)
      .update(truncated.subarray(20, truncated.length - 20))
      .digest();
    truncated.set(mac.subarray(0, 16), truncated.length - 16);
    expect(verifyIntegrity(decoded(truncated), key)).toBe('ok');

    const odd = Uint8Array.from(full);
    writeU16(odd, odd.length - 34, 18);
    expect(decodeMessage(odd)).toMatchObject({ ok: false, error: { kind: 'malformed_attribute' } });
  });

  it('treats a SHA-1-only answer to a SHA-256 request as missing (no downgrade)', () => {
    const sha1Only = decoded(encodeMessage(init, { integrity: { key, algorithm: 'sha1' } }));
    expect(verifyIntegrity(sha1Only, key, 'sha256')).toBe('missing');
    expect(verifyIntegrity(sha1Only, key, 'both')).toBe('ok');
    expect(verifyIntegrity(decoded(encodeMessage(init)), key)).toBe('missing');
  });
});

describe('strict decoding', () => {
  const base = encodeMessage({
    method: METHOD_BINDING,
    class: 'success',
    transactionId: TID,
    attributes: [
      { type: 'XOR-MAPPED-ADDRESS', address: { address: '10.1.2.3', port: 4000 } },
      { type: 'SOFTWARE', value: 'x' },
    ],
  });

  it('reports each structural error', () => {
    expect(decodeMessage(base.subarray(0, 19))).toEqual({ ok: false, error: { kind: 'too_short' } });
    const topBits = Uint8Array.from(base);
    topBits[0] = 0x40;
    expect(decodeMessage(topBits)).toEqual({ ok: false, error: { kind: 'not_stun' } });
    const cookie = Uint8Array.from(base);
    cookie[4] = 0;
    expect(decodeMessage(cookie)).toEqual({ ok: false, error: { kind: 'not_stun' } });
    const odd = Uint8Array.from(base);
    writeU16(odd, 2, 13);
    expect(decodeMessage(odd)).toEqual({ ok: false, error: { kind: 'not_stun' } });
    expect(decodeMessage(Uint8Array.of(...base, 0, 0, 0, 0))).toEqual({
      ok: false,
      error: { kind: 'length_mismatch', declared: base.length - 20, actual: base.length - 16 },
    });
    const long = Uint8Array.from(base);
    writeU16(long, 22, 100);
    expect(decodeMessage(long)).toEqual({
      ok: false,
      error: { kind: 'truncated_attribute', attribute: 0x20 },
    });
  });

  it('refuses malformed values of known attributes', () => {
    const cases: [number, number[]][] = [
      [0x0020, [0, 3, 0, 1, 1, 2, 3, 4]], // family 3
      [0x0020, [0, 1, 0, 1, 1, 2, 3]], // IPv4 with 3 address bytes
      [0x0001, [0, 2, 0, 1, 1, 2, 3, 4]], // IPv6 family with IPv4 length
      [0x0009, [0, 0, 2, 0]], // error class 2
      [0x0009, [0, 0, 4, 100]], // error number 100
      [0x000d, [0, 0, 1]], // LIFETIME of 3 bytes
      [0x0025, [1]], // USE-CANDIDATE with a value
      [0x8029, [1, 2, 3, 4]], // ICE-CONTROLLED of 4 bytes
      [0x0006, [0xff, 0xfe]], // USERNAME not UTF-8
      [0x000a, [0, 1, 2]], // UNKNOWN-ATTRIBUTES of odd length
      [0x8000, [3, 0, 0, 0]], // ADDITIONAL-ADDRESS-FAMILY 3
      [0x0008, [1, 2, 3, 4]], // MESSAGE-INTEGRITY of 4 bytes
    ];
    for (const [code, value] of cases) {
      const bytes = encodeMessage({
        method: METHOD_BINDING,
        class: 'request',
        transactionId: TID,
        attributes: [{ type: 'unknown', code, value: Uint8Array.from(value) }],
      });
      expect(decodeMessage(bytes), attributeName(code)).toEqual({
        ok: false,
        error: { kind: 'malformed_attribute', attribute: code },
      });
    }
  });

  it('ignores attributes after MESSAGE-INTEGRITY except MESSAGE-INTEGRITY-SHA256 and FINGERPRINT', () => {
    const key = shortTermKey('k');
    const signed = encodeMessage(
      { method: METHOD_BINDING, class: 'request', transactionId: TID, attributes: [] },
      { integrity: { key } },
    );
    // Append SOFTWARE after MESSAGE-INTEGRITY and fix the header length.
    const extra = Uint8Array.of(...signed, 0x80, 0x22, 0, 4, 0x61, 0x62, 0x63, 0x64);
    writeU16(extra, 2, extra.length - 20);
    const msg = decoded(extra);
    expect(getAttribute(msg, 'SOFTWARE')).toBeUndefined();
    expect(msg.attributes.map((a) => a.type)).toEqual(['MESSAGE-INTEGRITY']);
    // The HMAC was computed with the shorter length field, which verification recreates.
    expect(verifyIntegrity(msg, key)).toBe('ok');
  });

  it('requires FINGERPRINT to be last', () => {
    const withFp = encodeMessage(
      { method: METHOD_BINDING, class: 'request', transactionId: TID, attributes: [] },
      { fingerprint: true },
    );
    const after = Uint8Array.of(...withFp, ATTR_SOFTWARE >> 8, ATTR_SOFTWARE & 0xff, 0, 0);
    writeU16(after, 2, after.length - 20);
    expect(decodeMessage(after)).toEqual({ ok: false, error: { kind: 'fingerprint_not_last' } });
    expect(ATTR_FINGERPRINT).toBe(0x8028);
  });

  it('keeps unknown attributes and lists the comprehension-required ones', () => {
    const msg = decoded(
      encodeMessage({
        method: METHOD_BINDING,
        class: 'request',
        transactionId: TID,
        attributes: [
          { type: 'unknown', code: 0x7f01, value: Uint8Array.of(1, 2, 3) },
          { type: 'unknown', code: 0xc001, value: Uint8Array.of(9) },
          { type: 'unknown', code: 0x0033, value: new Uint8Array(0) },
        ],
      }),
    );
    expect(msg.unknownRequired).toEqual([0x7f01, 0x0033]);
    expect(getAttributes(msg, 'unknown').map((a) => [a.code, Array.from(a.value)])).toEqual([
      [0x7f01, [1, 2, 3]],
      [0xc001, [9]],
      [0x0033, []],
    ]);
  });

  it('tolerates any padding bytes', () => {
    const bytes = encodeMessage(
      {
        method: METHOD_BINDING,
        class: 'request',
        transactionId: TID,
        attributes: [{ type: 'USERNAME', value: 'abcde' }],
      },
      { paddingByte: 0xff },
    );
    expect(getAttribute(decoded(bytes), 'USERNAME')?.value).toBe('abcde');
  });
});

describe('keys and checksums', () => {
  it('long-term key is MD5(username:realm:password)', () => {
    expect(Buffer.from(longTermKey('user', 'firezone', 'pass')).toString('hex')).toBe(
      // printf 'user:firezone:pass' | md5sum
      '770ec2ee67cd3e39bcb050cb481dceb8',
    );
  });

  it('CRC-32 of "123456789" is the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('transaction keys are the hex of the ID', () => {
    expect(transactionKey(TID)).toBe('0102030405060708090a0b0c');
  });
});

describe('demultiplexing (RFC 7983 §7)', () => {
  it('classifies by first byte and, for STUN, the magic cookie', () => {
    const stun = encodeMessage({
      method: METHOD_BINDING,
      class: 'request',
      transactionId: TID,
      attributes: [],
    });
    expect(classifyDatagram(stun)).toBe('stun');
    expect(classifyDatagram(Uint8Array.of(0x40, 0x00, 0x00, 0x00))).toBe('channel_data');
    expect(classifyDatagram(Uint8Array.of(0x4f, 0xff, 0x00, 0x00))).toBe('channel_data');
    expect(classifyDatagram(Uint8Array.of(0x50, 0x00, 0x00, 0x00))).toBe('unknown');
    expect(classifyDatagram(Uint8Array.of(1, 0, 0, 0, ...new Uint8Array(144)))).toBe('wireguard');
    expect(classifyDatagram(Uint8Array.of(4, 0, 0, 0, ...new Uint8Array(28)))).toBe('wireguard');
    expect(classifyDatagram(Uint8Array.of(5, 0, 0, 0))).toBe('unknown');
    expect(classifyDatagram(new Uint8Array(0))).toBe('unknown');
  });
});
