/**
 * The peer-to-peer control codec (events inside the tunnel as IPv6 packets with Next Header 255):
 * random bytes, random payloads behind a valid header, mutated valid events, and round trips.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIp, parseIpAddress } from '../../src-engine/packet/index.js';
import {
  buildAssignedIps,
  buildDomainStatus,
  buildGoodbye,
  decodeP2pControl,
  encodeP2pControl,
  isP2pControl,
  isP2pControlError,
  isValidDomainName,
  type NatStatus,
} from '../../src-engine/p2p-control/codec.js';
import { byteMutationArb, applyMutations, sameBytes, type ByteMutation } from '../lib/bytes.js';
import type { FuzzTarget } from '../target.js';

const labelArb = fc.stringMatching(/^[a-z0-9_-]{1,63}$/);
const domainArb = fc
  .array(labelArb, { minLength: 1, maxLength: 8 })
  .map((labels) => labels.join('.'))
  .filter((name) => name.length <= 253);
const ipsArb = fc.oneof(
  fc.array(fc.ipV4(), { minLength: 4, maxLength: 4 }),
  fc.array(fc.ipV6(), { minLength: 4, maxLength: 4 }),
  fc
    .tuple(
      fc.array(fc.ipV4(), { minLength: 4, maxLength: 4 }),
      fc.array(fc.ipV6(), { minLength: 4, maxLength: 4 }),
    )
    .map(([a, b]) => [...a, ...b]),
);
const canonical = (ip: string): string => formatIp(parseIpAddress(ip)!);

type Event =
  | {
      readonly kind: 'assigned_ips';
      readonly resource: string;
      readonly domain: string;
      readonly proxyIps: string[];
    }
  | {
      readonly kind: 'domain_status';
      readonly resource: string;
      readonly domain: string;
      readonly status: NatStatus;
    }
  | { readonly kind: 'goodbye' };

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  fc.record({
    kind: fc.constant('assigned_ips' as const),
    resource: fc.uuid(),
    domain: domainArb,
    proxyIps: ipsArb,
  }),
  fc.record({
    kind: fc.constant('domain_status' as const),
    resource: fc.uuid(),
    domain: domainArb,
    status: fc.constantFrom<NatStatus>('Active', 'Inactive'),
  }),
  fc.constant({ kind: 'goodbye' as const }),
);

function build(e: Event): Uint8Array {
  const packet =
    e.kind === 'assigned_ips'
      ? buildAssignedIps(e)
      : e.kind === 'domain_status'
        ? buildDomainStatus(e)
        : buildGoodbye();
  if (isP2pControlError(packet))
    throw new Error(`a valid event did not encode: ${packet.error} ${packet.detail}`);
  return packet;
}

type Case =
  | { readonly kind: 'random'; readonly bytes: Uint8Array }
  | { readonly kind: 'payload'; readonly code: number; readonly payload: Uint8Array }
  | { readonly kind: 'event'; readonly event: Event; readonly mutations: readonly ByteMutation[] };

const payloadArb = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc.json().map((text) => Buffer.from(text, 'utf8')),
  fc
    .record({
      resource: fc.anything(),
      domain: fc.anything(),
      proxy_ips: fc.anything(),
      status: fc.anything(),
    })
    .map((value) => Buffer.from(JSON.stringify(value) ?? '', 'utf8')),
);

const caseArb: fc.Arbitrary<Case> = fc.oneof(
  fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 1400 }) }),
  fc.record({
    kind: fc.constant('payload' as const),
    code: fc.integer({ min: 0, max: 255 }),
    payload: payloadArb,
  }),
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('event' as const),
      event: eventArb,
      mutations: fc.array(byteMutationArb, { maxLength: 6 }),
    }),
  },
);

/** Decodes untrusted bytes: never throws; what is accepted keeps the codec's rules. */
function decodeAny(bytes: Uint8Array): ReturnType<typeof decodeP2pControl> {
  isP2pControl(bytes);
  const result = decodeP2pControl(bytes);
  assert.equal(typeof result, 'object');
  if (isP2pControlError(result)) return result;
  if (result.kind === 'assigned_ips' || result.kind === 'domain_status') {
    assert.ok(isValidDomainName(result.domain), `accepted domain ${JSON.stringify(result.domain)}`);
    assert.match(result.resource, /^[0-9a-f-]{36}$/);
  }
  if (result.kind === 'assigned_ips') {
    assert.ok(result.proxyIps.length === 4 || result.proxyIps.length === 8, 'not 4 or 8 proxy addresses');
    for (const ip of result.proxyIps) assert.notEqual(parseIpAddress(ip), null);
  }
  return result;
}

export const p2pControlTarget: FuzzTarget = {
  name: 'p2p-control',
  invariants: [
    'random bytes, random payloads (bytes, JSON, wrong field types) behind a valid header and mutated events: decodeP2pControl never throws, and what it accepts has a valid domain, a UUID and 4 or 8 addresses',
    'AssignedIps, DomainStatus and Goodbye round-trip (canonical addresses, lowercase UUID) and re-encode to the same bytes',
  ],
  batchRuns: 300,
  ciRuns: 1500,
  create: () => ({
    property: fc.property(caseArb, (c) => {
      if (c.kind === 'random') {
        decodeAny(c.bytes);
        return;
      }
      if (c.kind === 'payload') {
        const packet = encodeP2pControl(c.code, c.payload);
        if (!isP2pControlError(packet)) decodeAny(packet);
        return;
      }
      const bytes = build(c.event);
      assert.ok(bytes.length <= 1280);
      const decoded = decodeAny(bytes);
      const e = c.event;
      const expected =
        e.kind === 'assigned_ips'
          ? { ...e, resource: e.resource.toLowerCase(), proxyIps: e.proxyIps.map(canonical) }
          : e.kind === 'domain_status'
            ? { ...e, resource: e.resource.toLowerCase() }
            : e;
      assert.deepEqual(decoded, expected);
      assert.ok(sameBytes(build(decoded as Event), bytes), 're-encoding changed the bytes');
      decodeAny(applyMutations(bytes, c.mutations));
    }),
  }),
};
