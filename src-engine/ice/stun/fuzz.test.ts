// The decoder and the demux take untrusted datagrams: random and mutated input must never throw,
// and whatever decodes must be internally consistent.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shortTermKey } from './credentials.js';
import { classifyDatagram } from './demux.js';
import { decodeMessage, encodeMessage, verifyIntegrity } from './message.js';
import { messageInit } from './test-arbitraries.js';

const key = shortTermKey('fuzz');

function mutate(base: Uint8Array, flips: [number, number][], cut: number | undefined): Uint8Array {
  const m = Uint8Array.from(base);
  for (const [pos, x] of flips) m[pos % m.length]! ^= x;
  return cut === undefined ? m : m.subarray(0, cut % (m.length + 1));
}

const valid = fc
  .tuple(messageInit, fc.boolean(), fc.boolean())
  .map(([init, integrity, fingerprint]) =>
    encodeMessage(init, { integrity: integrity ? { key, algorithm: 'both' } : undefined, fingerprint }),
  );

const mutated = fc
  .tuple(
    valid,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
    fc.option(fc.nat(), { nil: undefined }),
  )
  .map(([base, flips, cut]) => mutate(base, flips, cut));

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

describe('STUN decoder fuzzing', () => {
  it('never throws on random, framed or mutated input (≥ 10,000 inputs)', () => {
    let decodedCount = 0;
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), randomBody, mutated), (bytes) => {
        classifyDatagram(bytes);
        const result = decodeMessage(bytes);
        if (result.ok) {
          decodedCount++;
          const msg = result.message;
          expect(msg.transactionId.length).toBe(12);
          expect(msg.raw).toBe(bytes);
          // Integrity checks on hostile input do not throw either.
          expect(['ok', 'missing', 'mismatch']).toContain(verifyIntegrity(msg, key));
          for (const code of msg.unknownRequired) expect(code).toBeLessThan(0x8000);
        } else {
          expect(typeof result.error.kind).toBe('string');
        }
      }),
      { numRuns: 10_000 },
    );
    expect(decodedCount).toBeGreaterThan(0);
  });

  it('a mutation of a protected message never verifies under MESSAGE-INTEGRITY(-SHA256)', () => {
    fc.assert(
      fc.property(
        messageInit,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }),
        (init, flips) => {
          const bytes = encodeMessage(init, { integrity: { key, algorithm: 'sha256' } });
          const changed = mutate(bytes, flips, undefined);
          if (Buffer.from(changed).equals(Buffer.from(bytes))) return;
          const result = decodeMessage(changed);
          if (result.ok) expect(verifyIntegrity(result.message, key)).not.toBe('ok');
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
