/**
 * WireGuard datagrams: random bytes, datagrams with a valid type and size but random contents,
 * and mutations of a real initiation, response, cookie-less data message. Every input is
 * processed or dropped with exactly one counted reason; no mutation authenticates; a handshake
 * whose initiation or response was mutated never yields a session.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HANDSHAKE_INITIATION_SIZE, HANDSHAKE_RESPONSE_SIZE } from '../../src-engine/wireguard/constants.js';
import { defaultBackend } from '../../src-engine/wireguard/crypto/select.js';
import { ENDPOINT_A, ipv4Packet, makePair, type Pair } from '../../src-engine/wireguard/test-support.js';
import type { Tunn } from '../../src-engine/wireguard/tunn.js';
import {
  applyMutations,
  byteMutationArb,
  fieldMutationArb,
  sameBytes,
  type ByteMutation,
} from '../lib/bytes.js';
import type { FuzzTarget } from '../target.js';

const RESULT_TYPES = new Set(['error', 'done', 'network', 'tunnel']);

interface Samples {
  readonly init: Uint8Array;
  readonly response: Uint8Array;
  readonly data: Uint8Array;
}

function expectNetwork(r: { type: string; packet?: Uint8Array }, what: string): Uint8Array {
  if (r.type !== 'network' || r.packet === undefined) throw new Error(`no ${what} (${r.type})`);
  return Uint8Array.from(r.packet);
}

/** A completed handshake between a fresh pair: the datagrams that crossed the wire. */
function capture(pair: Pair): Samples {
  const scratch = new Uint8Array(200);
  const init = expectNetwork(pair.a.initiateHandshake(pair.now), 'initiation');
  const response = expectNetwork(pair.b.decapsulate(init, ENDPOINT_A, scratch, pair.now), 'response');
  const keepalive = expectNetwork(pair.a.decapsulate(response, ENDPOINT_A, scratch, pair.now), 'keepalive');
  pair.b.decapsulate(keepalive, ENDPOINT_A, scratch, pair.now);
  const data = expectNetwork(pair.a.encapsulate(ipv4Packet(120), new Uint8Array(2000), pair.now), 'data');
  // Delivered once: an unchanged copy (a no-op mutation) is then a replay and must be dropped.
  if (pair.b.decapsulate(data, ENDPOINT_A, new Uint8Array(2000), pair.now).type !== 'tunnel')
    throw new Error('the captured data message did not open');
  return { init, response, data };
}

/**
 * Whether `bad` differs from `good` only in mac2 (the last 16 bytes): WireGuard checks mac2 only
 * under load (it then carries the cookie), so such a message is legitimately accepted.
 */
function onlyMac2Differs(good: Uint8Array, bad: Uint8Array): boolean {
  return bad.length === good.length && sameBytes(bad.subarray(0, -16), good.subarray(0, -16));
}

const sumDrops = (t: Tunn): number => Object.values(t.stats.dropped).reduce((a, b) => a + b, 0);

type Case =
  | { readonly kind: 'storm'; readonly datagram: Uint8Array }
  | {
      readonly kind: 'handshake';
      readonly which: 'init' | 'response';
      readonly mutations: readonly ByteMutation[];
    };

const wgFields = fieldMutationArb([0, 1, 2, 3, 4, 8], [0, 4, 6, 8]);

export const wireguardTarget: FuzzTarget = {
  name: 'wireguard',
  invariants: [
    'random, framed and mutated datagrams: decapsulate never throws; an error result is counted as exactly one drop reason',
    'no mutation of a real initiation, response or data message is accepted as tunnel data',
    'the genuine session still carries data after the storm',
    'a handshake whose initiation or response was mutated (outside mac2, which is only checked under load) never yields a session on the receiving side',
  ],
  batchRuns: 300,
  ciRuns: 1000,
  create: () => {
    const crypto = defaultBackend();
    const pair = makePair(crypto);
    const samples = capture(pair);
    const out = new Uint8Array(70_000);
    const mutation = fc.oneof(byteMutationArb, wgFields);
    const mutated = fc
      .tuple(
        fc.constantFrom(samples.init, samples.response, samples.data),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
      )
      .map(([base, mutations]) => applyMutations(base, mutations));
    const framed = fc
      .tuple(
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(HANDSHAKE_INITIATION_SIZE, HANDSHAKE_RESPONSE_SIZE, 64, 32, 48, 1000),
      )
      .chain(([type, len]) =>
        fc.uint8Array({ minLength: len, maxLength: len }).map((b) => ((b[0] = type), b.fill(0, 1, 4), b)),
      );
    const caseArb: fc.Arbitrary<Case> = fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          kind: fc.constant('storm' as const),
          datagram: fc.oneof(mutated, fc.uint8Array({ maxLength: 1600 }), framed),
        }),
      },
      fc.record({
        kind: fc.constant('handshake' as const),
        which: fc.constantFrom('init' as const, 'response' as const),
        mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }),
      }),
    );

    const storm = (datagram: Uint8Array): void => {
      const before = sumDrops(pair.b);
      const r = pair.b.decapsulate(datagram, ENDPOINT_A, out, pair.now);
      assert.ok(RESULT_TYPES.has(r.type), `unexpected result ${r.type}`);
      if (r.type === 'error') assert.equal(sumDrops(pair.b), before + 1, 'an error without one counted drop');
      assert.notEqual(r.type, 'tunnel', 'a mutated or random datagram authenticated as tunnel data');
      for (let t = pair.b.pollTransmit(); t; t = pair.b.pollTransmit());
      // The genuine session survives.
      const packet = ipv4Packet(64, 5);
      const sealed = pair.a.encapsulate(packet, new Uint8Array(2000), pair.now);
      if (sealed.type !== 'network') throw new Error('the genuine session cannot send any more');
      const opened = pair.b.decapsulate(Uint8Array.from(sealed.packet), ENDPOINT_A, out, pair.now);
      assert.equal(opened.type, 'tunnel', 'the genuine session no longer carries data');
    };

    const handshake = (which: 'init' | 'response', mutations: readonly ByteMutation[]): void => {
      const fresh = makePair(crypto);
      const scratch = new Uint8Array(200);
      const init = expectNetwork(fresh.a.initiateHandshake(fresh.now), 'initiation');
      if (which === 'init') {
        const bad = applyMutations(init, mutations);
        if (onlyMac2Differs(init, bad)) return;
        const r = fresh.b.decapsulate(bad, ENDPOINT_A, scratch, fresh.now);
        assert.ok(RESULT_TYPES.has(r.type));
        assert.equal(fresh.b.stats.handshakesCompleted, 0, 'a mutated initiation completed a handshake');
        assert.equal(fresh.b.hasSession(fresh.now), false, 'a mutated initiation yielded a session');
        return;
      }
      const response = expectNetwork(fresh.b.decapsulate(init, ENDPOINT_A, scratch, fresh.now), 'response');
      const bad = applyMutations(response, mutations);
      if (onlyMac2Differs(response, bad)) return;
      const r = fresh.a.decapsulate(bad, ENDPOINT_A, scratch, fresh.now);
      assert.ok(RESULT_TYPES.has(r.type));
      assert.equal(fresh.a.hasSession(fresh.now), false, 'a mutated response yielded a session');
      assert.equal(fresh.a.stats.handshakesCompleted, 0, 'a mutated response completed a handshake');
    };

    return {
      property: fc.property(caseArb, (c) => {
        if (c.kind === 'storm') storm(c.datagram);
        else handshake(c.which, c.mutations);
      }),
    };
  },
};
