import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HANDSHAKE_INITIATION_SIZE, HANDSHAKE_RESPONSE_SIZE } from './constants.js';
import { createNobleBackend } from './crypto/noble.js';
import { ENDPOINT_A, ipv4Packet, makePair, send } from './test-support.js';
import { Tunn } from './tunn.js';

/**
 * Every datagram parser is fed random and mutated input: nothing may throw, every input is
 * either processed or dropped with a counted reason, and no state that matters changes.
 */
const c = createNobleBackend();

function capture(pair: ReturnType<typeof makePair>): {
  init: Uint8Array;
  response: Uint8Array;
  data: Uint8Array;
} {
  const init = pair.a.initiateHandshake(pair.now);
  if (init.type !== 'network') throw new Error('no initiation');
  const initCopy = Uint8Array.from(init.packet);
  const resp = pair.b.decapsulate(initCopy, ENDPOINT_A, new Uint8Array(200), pair.now);
  if (resp.type !== 'network') throw new Error('no response');
  const respCopy = Uint8Array.from(resp.packet);
  const ka = pair.a.decapsulate(respCopy, ENDPOINT_A, new Uint8Array(200), pair.now);
  if (ka.type !== 'network') throw new Error('no keepalive');
  pair.b.decapsulate(ka.packet, ENDPOINT_A, new Uint8Array(200), pair.now);
  const out = new Uint8Array(2000);
  const data = pair.a.encapsulate(ipv4Packet(120), out, pair.now);
  if (data.type !== 'network') throw new Error('no data');
  return { init: initCopy, response: respCopy, data: Uint8Array.from(data.packet) };
}

describe('WireGuard input fuzzing', () => {
  const pair = makePair(c);
  const samples = capture(pair);
  const out = new Uint8Array(70_000);
  const sumDrops = (t: Tunn): number => Object.values(t.stats.dropped).reduce((a, b) => a + b, 0);

  const mutated = fc
    .tuple(
      fc.constantFrom(samples.init, samples.response, samples.data),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.option(fc.nat(), { nil: undefined }),
    )
    .map(([base, flips, cut]) => {
      const m = Uint8Array.from(base);
      for (const [pos, x] of flips) m[pos % m.length]! ^= x;
      return cut === undefined ? m : m.subarray(0, cut % (m.length + 1));
    });
  const random = fc.uint8Array({ maxLength: 1600 });
  const framed = fc
    .tuple(
      fc.integer({ min: 1, max: 4 }),
      fc.constantFrom(HANDSHAKE_INITIATION_SIZE, HANDSHAKE_RESPONSE_SIZE, 64, 32, 48, 1000),
    )
    .chain(([type, len]) =>
      fc.uint8Array({ minLength: len, maxLength: len }).map((b) => ((b[0] = type), b.fill(0, 1, 4), b)),
    );

  it('never throws and counts every rejected input (≥ 10,000 inputs)', () => {
    let inputs = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, random, framed), (datagram) => {
        inputs++;
        const before = sumDrops(pair.b);
        const r = pair.b.decapsulate(datagram, ENDPOINT_A, out, pair.now);
        expect(['error', 'done', 'network', 'tunnel']).toContain(r.type);
        if (r.type === 'error') expect(sumDrops(pair.b)).toBe(before + 1);
        // Mutations of an authenticated message must never authenticate.
        expect(r.type).not.toBe('tunnel');
        for (let t = pair.b.pollTransmit(); t; t = pair.b.pollTransmit());
      }),
      { numRuns: 10_000 },
    );
    expect(inputs).toBeGreaterThanOrEqual(10_000);
    // The genuine session survives the storm.
    expect(send(pair, 'a', ipv4Packet(64, 5)).toB).toEqual([ipv4Packet(64, 5)]);
  });
});
