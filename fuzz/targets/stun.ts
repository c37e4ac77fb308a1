/**
 * STUN and TURN framing: the STUN codec (random datagrams, a valid header over random attribute
 * bytes, mutated valid messages, encode/decode round trips), MESSAGE-INTEGRITY(-SHA256) and
 * FINGERPRINT, the datagram demultiplexer, and ChannelData.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { shortTermKey } from '../../src-engine/ice/stun/credentials.js';
import { classifyDatagram } from '../../src-engine/ice/stun/demux.js';
import {
  decodeMessage,
  encodeMessage,
  verifyIntegrity,
  type StunMessageInit,
} from '../../src-engine/ice/stun/message.js';
import { messageInit } from '../../src-engine/ice/stun/test-arbitraries.js';
import { decodeChannelData, encodeChannelData } from '../../src-engine/ice/turn/channel-data.js';
import { applyMutations, byteMutationArb, sameBytes, type ByteMutation } from '../lib/bytes.js';
import type { FuzzTarget } from '../target.js';

const KEY = shortTermKey('fuzz');
const OTHER_KEY = shortTermKey('not-the-key');
const KINDS = new Set(['stun', 'channel_data', 'wireguard', 'unknown']);
const INTEGRITY = new Set(['ok', 'missing', 'mismatch']);

type Protection = 'none' | 'sha1' | 'sha256' | 'both';

/** A valid header with random attribute bytes: gets past the header checks into the TLV loop. */
const randomBody = fc
  .tuple(fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 300 }))
  .map(([tid, body]) => {
    const length = body.length & ~3;
    const out = new Uint8Array(20 + length);
    out.set([0x01, 0x01, length >> 8, length & 0xff, 0x21, 0x12, 0xa4, 0x42], 0);
    out.set(tid, 8);
    out.set(body.subarray(0, length), 20);
    return out;
  });

const protection = fc.constantFrom<Protection>('none', 'sha1', 'sha256', 'both');

type Case =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | {
      readonly kind: 'message';
      readonly init: StunMessageInit;
      readonly protection: Protection;
      readonly fingerprint: boolean;
      readonly mutations: readonly ByteMutation[];
    }
  | {
      readonly kind: 'channel';
      readonly channel: number;
      readonly payload: Uint8Array;
      readonly mutations: readonly ByteMutation[];
    };

const caseArb: fc.Arbitrary<Case> = fc.oneof(
  fc.record({
    kind: fc.constant('bytes' as const),
    bytes: fc.oneof(fc.uint8Array({ maxLength: 600 }), randomBody),
  }),
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('message' as const),
      init: messageInit,
      protection,
      fingerprint: fc.boolean(),
      mutations: fc.array(byteMutationArb, { maxLength: 4 }),
    }),
  },
  fc.record({
    kind: fc.constant('channel' as const),
    channel: fc.oneof(fc.integer({ min: 0x4000, max: 0x4fff }), fc.integer({ min: 0, max: 0xffff })),
    payload: fc.uint8Array({ maxLength: 300 }),
    mutations: fc.array(byteMutationArb, { maxLength: 3 }),
  }),
);

/** Decodes untrusted bytes: no throw, and a decoded message is consistent. */
function decodeAny(bytes: Uint8Array): ReturnType<typeof decodeMessage> {
  assert.ok(KINDS.has(classifyDatagram(bytes)));
  const result = decodeMessage(bytes);
  if (!result.ok) {
    assert.equal(typeof result.error.kind, 'string');
    return result;
  }
  const msg = result.message;
  assert.equal(msg.transactionId.length, 12);
  assert.equal(msg.raw, bytes);
  assert.ok(INTEGRITY.has(verifyIntegrity(msg, KEY)));
  for (const code of msg.unknownRequired) assert.ok(code < 0x8000, `unknown required ${code}`);
  // RFC 7983 gives STUN the first bytes 0-3 only (methods up to 0x3FF); higher methods are valid
  // STUN but outside the demultiplexing range.
  if (bytes[0]! <= 3)
    assert.equal(classifyDatagram(bytes), 'stun', 'a STUN message is not classified as STUN');
  return result;
}

function checkMessage(c: Extract<Case, { kind: 'message' }>): void {
  const bytes = encodeMessage(c.init, {
    integrity: c.protection === 'none' ? undefined : { key: KEY, algorithm: c.protection },
    fingerprint: c.fingerprint,
  });
  // Round trip of the unmutated message, and its protection.
  const decoded = decodeAny(bytes);
  assert.ok(
    decoded.ok,
    `an encoded message does not decode: ${JSON.stringify(!decoded.ok && decoded.error)}`,
  );
  const msg = decoded.message;
  assert.equal(msg.method, c.init.method);
  assert.equal(msg.class, c.init.class);
  assert.ok(sameBytes(msg.transactionId, c.init.transactionId));
  assert.equal(msg.hasFingerprint, c.fingerprint);
  if (c.protection === 'none') {
    assert.equal(verifyIntegrity(msg, KEY), 'missing');
  } else {
    assert.equal(verifyIntegrity(msg, KEY), 'ok');
    assert.equal(verifyIntegrity(msg, OTHER_KEY), 'mismatch');
  }
  // Mutations: still no throw; a changed protected message never verifies; a changed message with
  // a FINGERPRINT that still decodes kept its CRC valid.
  if (c.mutations.length === 0) return;
  const changed = applyMutations(bytes, c.mutations);
  const result = decodeAny(changed);
  if (!result.ok || sameBytes(changed, bytes)) return;
  if (c.protection !== 'none' && result.message.integrityOffset !== undefined) {
    // Appended bytes after the integrity attribute are not covered: only the covered part counts.
    const covered = changed.subarray(0, result.message.integrityOffset);
    if (!sameBytes(covered, bytes.subarray(0, covered.length)) || covered.length !== msg.integrityOffset) {
      assert.notEqual(verifyIntegrity(result.message, KEY), 'ok', 'a mutated message verified');
    }
  }
}

function checkChannel(c: Extract<Case, { kind: 'channel' }>): void {
  const valid = c.channel >= 0x4000 && c.channel <= 0x4fff;
  // The encoder refuses invalid numbers (a caller bug): such datagrams are written by hand.
  const bytes = valid
    ? encodeChannelData(c.channel, c.payload)
    : Uint8Array.from([
        c.channel >> 8,
        c.channel & 0xff,
        c.payload.length >> 8,
        c.payload.length & 0xff,
        ...c.payload,
      ]);
  const decoded = decodeChannelData(bytes);
  if (valid) {
    assert.ok(decoded.ok, 'a valid ChannelData message was refused');
    if (decoded.ok) {
      assert.equal(decoded.channel, c.channel);
      assert.ok(sameBytes(decoded.payload, c.payload));
    }
  } else {
    assert.ok(!decoded.ok, `channel ${c.channel} outside 0x4000-0x4FFF was accepted`);
  }
  const changed = applyMutations(bytes, c.mutations);
  const result = decodeChannelData(changed);
  assert.ok(KINDS.has(classifyDatagram(changed)));
  if (result.ok) {
    assert.ok(result.channel >= 0x4000 && result.channel <= 0x4fff);
    assert.ok(4 + result.payload.length <= changed.length);
    assert.ok(changed.length - 4 - result.payload.length < 4, 'more than 3 bytes of padding accepted');
  }
}

export const stunTarget: FuzzTarget = {
  name: 'stun',
  invariants: [
    'random datagrams, valid headers over random attributes and mutated messages: decodeMessage and classifyDatagram never throw; what decodes is consistent and (first byte 0-3) classified as STUN',
    'encoded messages (any attributes, MESSAGE-INTEGRITY, -SHA256, both, FINGERPRINT) decode to the same method, class and transaction id and verify with the key, not with another',
    'a mutation of the part of a message covered by MESSAGE-INTEGRITY never verifies',
    'ChannelData round-trips for channels 0x4000-0x4FFF, refuses the others, and accepts mutated datagrams only within its length and padding rules',
  ],
  batchRuns: 300,
  ciRuns: 1500,
  create: () => ({
    property: fc.property(caseArb, (c) => {
      if (c.kind === 'bytes') decodeAny(c.bytes);
      else if (c.kind === 'message') checkMessage(c);
      else checkChannel(c);
    }),
  }),
};
