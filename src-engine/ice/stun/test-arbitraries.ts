/** fast-check generators of STUN values, shared by the codec's property and fuzz tests. */
import fc from 'fast-check';
import { formatIpv4, formatIpv6 } from '../../packet/address.js';
import { MAX_METHOD } from '../constants.js';
import type { TransportAddress } from '../transport-address.js';
import type { StunAttribute } from './attributes.js';
import type { StunClass } from './header.js';
import type { StunMessageInit } from './message.js';

export const transportAddress: fc.Arbitrary<TransportAddress> = fc.record({
  address: fc.oneof(
    fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIpv4(b)),
    fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIpv6(b)),
  ),
  port: fc.integer({ min: 0, max: 0xffff }),
});

const text = (maxBytes: number): fc.Arbitrary<string> =>
  fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => Buffer.byteLength(s, 'utf8') <= maxBytes);

// Types the codec knows are excluded so "unknown" stays unknown after a round trip.
const unknownCode = fc
  .integer({ min: 0, max: 0xffff })
  .filter((c) => ![...Array(0x2b).keys()].includes(c) && !(c >= 0x8000 && c <= 0x802c));

export const attribute: fc.Arbitrary<StunAttribute> = fc.oneof(
  fc.record({
    type: fc.constantFrom('MAPPED-ADDRESS', 'XOR-MAPPED-ADDRESS', 'XOR-PEER-ADDRESS', 'XOR-RELAYED-ADDRESS'),
    address: transportAddress,
  }),
  fc.record({ type: fc.constantFrom('USERNAME', 'REALM', 'NONCE', 'SOFTWARE'), value: text(400) }),
  fc.record({
    type: fc.constant('ERROR-CODE'),
    code: fc.integer({ min: 300, max: 699 }),
    reason: text(200),
  }),
  fc.record({ type: fc.constant('LIFETIME'), seconds: fc.nat({ max: 0xffffffff }) }),
  fc.record({ type: fc.constant('REQUESTED-TRANSPORT'), protocol: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ type: fc.constant('CHANNEL-NUMBER'), channel: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ type: fc.constant('DATA'), data: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({
    type: fc.constantFrom('ADDITIONAL-ADDRESS-FAMILY', 'REQUESTED-ADDRESS-FAMILY'),
    family: fc.constantFrom('ipv4', 'ipv6'),
  }),
  fc.record({ type: fc.constant('PRIORITY'), priority: fc.nat({ max: 0xffffffff }) }),
  fc.record({ type: fc.constant('USE-CANDIDATE') }),
  fc.record({
    type: fc.constantFrom('ICE-CONTROLLED', 'ICE-CONTROLLING'),
    tieBreaker: fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }),
  }),
  fc.record({
    type: fc.constant('UNKNOWN-ATTRIBUTES'),
    types: fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 6 }),
  }),
  fc.record({ type: fc.constant('unknown'), code: unknownCode, value: fc.uint8Array({ maxLength: 64 }) }),
) as fc.Arbitrary<StunAttribute>;

export const stunClass: fc.Arbitrary<StunClass> = fc.constantFrom(
  'request',
  'indication',
  'success',
  'error',
);

export const messageInit: fc.Arbitrary<StunMessageInit> = fc.record({
  method: fc.integer({ min: 0, max: MAX_METHOD }),
  class: stunClass,
  transactionId: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  attributes: fc.array(attribute, { maxLength: 8 }),
});
