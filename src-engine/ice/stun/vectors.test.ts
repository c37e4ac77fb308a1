// RFC 5769 test vectors: decoding, integrity and fingerprint checks, and byte-exact re-encoding.
import { describe, expect, it } from 'vitest';
import { METHOD_BINDING } from '../constants.js';
import { longTermKey, saslprep, shortTermKey } from './credentials.js';
import { decodeMessage, encodeMessage, getAttribute, verifyIntegrity, type StunMessage } from './message.js';

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

// RFC 5769 §2.1
const SAMPLE_REQUEST = hex(`
  00010058 2112a442 b7e7a701 bc34d686 fa87dfae
  80220010 5354554e 20746573 7420636c 69656e74
  00240004 6e0001ff
  80290008 932ff9b1 51263b36
  00060009 6576746a 3a683676 59202020
  00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
  80280004 e57a3bcf`);
// RFC 5769 §2.2
const SAMPLE_IPV4_RESPONSE = hex(`
  0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  80280004 c07d4c96`);
// RFC 5769 §2.3
const SAMPLE_IPV6_RESPONSE = hex(`
  01010048 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
  00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
  80280004 c8fb0b4c`);
// RFC 5769 §2.4
const SAMPLE_LONG_TERM_REQUEST = hex(`
  00010060 2112a442 78ad3433 c6ad72c0 29da412e
  00060012 e3839ee3 8388e383 aae38383 e382afe3 82b90000
  0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341
  0014000b 6578616d 706c652e 6f726700
  00080014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666`);

const PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';
const TID = hex('b7e7a701bc34d686fa87dfae');

function decoded(bytes: Uint8Array): StunMessage {
  const result = decodeMessage(bytes);
  if (!result.ok) throw new Error(`decode failed: ${result.error.kind}`);
  return result.message;
}

describe('RFC 5769 test vectors', () => {
  it('§2.1 sample request: decodes, verifies, and re-encodes byte for byte', () => {
    const msg = decoded(SAMPLE_REQUEST);
    expect(msg.method).toBe(METHOD_BINDING);
    expect(msg.class).toBe('request');
    expect(msg.hasFingerprint).toBe(true);
    expect(getAttribute(msg, 'SOFTWARE')?.value).toBe('STUN test client');
    expect(getAttribute(msg, 'PRIORITY')?.priority).toBe(0x6e0001ff);
    expect(getAttribute(msg, 'ICE-CONTROLLED')?.tieBreaker).toBe(0x932ff9b151263b36n);
    expect(getAttribute(msg, 'USERNAME')?.value).toBe('evtj:h6vY');
    expect(verifyIntegrity(msg, shortTermKey(PASSWORD))).toBe('ok');
    expect(verifyIntegrity(msg, shortTermKey('wrong'))).toBe('mismatch');

    const encoded = encodeMessage(
      {
        method: METHOD_BINDING,
        class: 'request',
        transactionId: TID,
        attributes: [
          { type: 'SOFTWARE', value: 'STUN test client' },
          { type: 'PRIORITY', priority: 0x6e0001ff },
          { type: 'ICE-CONTROLLED', tieBreaker: 0x932ff9b151263b36n },
          { type: 'USERNAME', value: 'evtj:h6vY' },
        ],
      },
      { integrity: { key: shortTermKey(PASSWORD) }, fingerprint: true, paddingByte: 0x20 },
    );
    expect(Buffer.from(encoded).toString('hex')).toBe(Buffer.from(SAMPLE_REQUEST).toString('hex'));
  });

  it('§2.2 sample IPv4 response', () => {
    const msg = decoded(SAMPLE_IPV4_RESPONSE);
    expect(msg.class).toBe('success');
    expect(getAttribute(msg, 'XOR-MAPPED-ADDRESS')?.address).toEqual({ address: '192.0.2.1', port: 32853 });
    expect(verifyIntegrity(msg, shortTermKey(PASSWORD))).toBe('ok');
    const encoded = encodeMessage(
      {
        method: METHOD_BINDING,
        class: 'success',
        transactionId: TID,
        attributes: [
          { type: 'SOFTWARE', value: 'test vector' },
          { type: 'XOR-MAPPED-ADDRESS', address: { address: '192.0.2.1', port: 32853 } },
        ],
      },
      { integrity: { key: shortTermKey(PASSWORD) }, fingerprint: true, paddingByte: 0x20 },
    );
    expect(Buffer.from(encoded).toString('hex')).toBe(Buffer.from(SAMPLE_IPV4_RESPONSE).toString('hex'));
  });

  it('§2.3 sample IPv6 response', () => {
    const msg = decoded(SAMPLE_IPV6_RESPONSE);
    const address = { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 };
    expect(getAttribute(msg, 'XOR-MAPPED-ADDRESS')?.address).toEqual(address);
    expect(verifyIntegrity(msg, shortTermKey(PASSWORD))).toBe('ok');
    const encoded = encodeMessage(
      {
        method: METHOD_BINDING,
        class: 'success',
        transactionId: TID,
        attributes: [
          { type: 'SOFTWARE', value: 'test vector' },
          { type: 'XOR-MAPPED-ADDRESS', address },
        ],
      },
      { integrity: { key: shortTermKey(PASSWORD) }, fingerprint: true, paddingByte: 0x20 },
    );
    expect(Buffer.from(encoded).toString('hex')).toBe(Buffer.from(SAMPLE_IPV6_RESPONSE).toString('hex'));
  });

  it('§2.4 long-term authentication: SASLprep-ed password, MD5 key, no fingerprint', () => {
    const username = '\u30de\u30c8\u30ea\u30c3\u30af\u30b9';
    const password = 'The\u00adM\u00aatr\u2168';
    expect(saslprep(password)).toBe('TheMatrIX');
    const msg = decoded(SAMPLE_LONG_TERM_REQUEST);
    expect(msg.hasFingerprint).toBe(false);
    expect(getAttribute(msg, 'USERNAME')?.value).toBe(username);
    expect(getAttribute(msg, 'NONCE')?.value).toBe('f//499k954d6OL34oL9FSTvy64sA');
    expect(getAttribute(msg, 'REALM')?.value).toBe('example.org');
    const key = longTermKey(username, 'example.org', password);
    expect(verifyIntegrity(msg, key)).toBe('ok');
    expect(verifyIntegrity(msg, longTermKey(username, 'example.org', 'TheMatrix'))).toBe('mismatch');
    const encoded = encodeMessage(
      {
        method: METHOD_BINDING,
        class: 'request',
        transactionId: hex('78ad3433c6ad72c029da412e'),
        attributes: [
          { type: 'USERNAME', value: username },
          { type: 'NONCE', value: 'f//499k954d6OL34oL9FSTvy64sA' },
          { type: 'REALM', value: 'example.org' },
        ],
      },
      { integrity: { key } },
    );
    expect(Buffer.from(encoded).toString('hex')).toBe(Buffer.from(SAMPLE_LONG_TERM_REQUEST).toString('hex'));
  });

  it('decodes Node Buffers (as node:dgram delivers them) without changing them', () => {
    for (const vector of [
      SAMPLE_REQUEST,
      SAMPLE_IPV4_RESPONSE,
      SAMPLE_IPV6_RESPONSE,
      SAMPLE_LONG_TERM_REQUEST,
    ]) {
      const buffer = Buffer.from(vector);
      const msg = decoded(buffer);
      expect(verifyIntegrity(msg, shortTermKey(PASSWORD))).not.toBe('missing');
      expect(buffer.equals(vector)).toBe(true);
    }
  });

  it('rejects every vector with one bit of its fingerprint flipped', () => {
    for (const vector of [SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE, SAMPLE_IPV6_RESPONSE]) {
      const copy = Uint8Array.from(vector);
      copy[copy.length - 1]! ^= 1;
      expect(decodeMessage(copy)).toEqual({ ok: false, error: { kind: 'fingerprint_mismatch' } });
    }
  });

  it('MESSAGE-INTEGRITY catches a changed attribute that still decodes', () => {
    // FINGERPRINT needs no key, so a forger can always fix it; only MESSAGE-INTEGRITY protects.
    const msg = decoded(SAMPLE_LONG_TERM_REQUEST);
    const copy = Uint8Array.from(msg.raw);
    copy[24]! ^= 0x01; // first byte of the USERNAME value
    const tampered = decodeMessage(copy);
    expect(tampered.ok).toBe(true);
    if (tampered.ok) {
      const key = longTermKey('\u30de\u30c8\u30ea\u30c3\u30af\u30b9', 'example.org', 'TheMatrIX');
      expect(verifyIntegrity(tampered.message, key)).toBe('mismatch');
    }
  });
});
