/**
 * Generic mutations of byte strings: bit flips, overwritten, inserted and deleted bytes,
 * truncation and trailing junk. Targets combine them with the valid messages of their protocol.
 */
import fc from 'fast-check';

export type ByteMutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly value: number }
  /** A big-endian 16-bit word at an absolute offset (a length or port field), when in bounds. */
  | { readonly op: 'set16'; readonly at: number; readonly value: number }
  | { readonly op: 'insert'; readonly at: number; readonly value: number }
  | { readonly op: 'delete'; readonly at: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'append'; readonly junk: Uint8Array };

const byte = fc.integer({ min: 0, max: 255 });

export const byteMutationArb: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: byte }) },
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), value: byte }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('append' as const), junk: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
);

/** Applies `mutations` to a copy of `bytes` (the input is never changed). */
export function applyMutations(bytes: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  let out = Uint8Array.from(bytes);
  for (const m of mutations) {
    switch (m.op) {
      case 'flip':
        if (out.length > 0) out[m.at % out.length]! ^= 1 << m.bit;
        break;
      case 'set':
        if (out.length > 0) out[m.at % out.length] = m.value;
        break;
      case 'set16':
        if (m.at + 1 < out.length) {
          out[m.at] = m.value >> 8;
          out[m.at + 1] = m.value & 0xff;
        }
        break;
      case 'insert': {
        const at = m.at % (out.length + 1);
        out = Uint8Array.from([...out.subarray(0, at), m.value, ...out.subarray(at)]);
        break;
      }
      case 'delete':
        if (out.length > 0) {
          const at = m.at % out.length;
          out = Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + 1)]);
        }
        break;
      case 'truncate':
        out = out.slice(0, m.at % (out.length + 1));
        break;
      case 'append':
        out = Uint8Array.from([...out, ...m.junk]);
        break;
    }
  }
  return out;
}

/** Writes of bytes and 16-bit words at the offsets of a protocol's fields. */
export function fieldMutationArb(
  bytes: readonly number[],
  words: readonly number[],
): fc.Arbitrary<ByteMutation> {
  return fc.oneof(
    fc.record({ op: fc.constant('set' as const), at: fc.constantFrom(...bytes), value: byte }),
    fc.record({
      op: fc.constant('set16' as const),
      at: fc.constantFrom(...words),
      value: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 64 })),
    }),
  );
}

/** `base` with 1 to `max` mutations (a copy; shrinks towards fewer and simpler mutations). */
export function mutatedArb(base: fc.Arbitrary<Uint8Array>, max = 4): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(base, fc.array(byteMutationArb, { minLength: 1, maxLength: max }))
    .map(([bytes, mutations]) => applyMutations(bytes, mutations));
}

/** Whether two byte strings are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

/** Fails the property with `message` when `ms` exceeds `limit`: catches runaway loops only. */
export function timed<T>(limitMs: number, what: string, run: () => T): T {
  const start = performance.now();
  const result = run();
  const took = performance.now() - start;
  if (took > limitMs) throw new Error(`${what} took ${took.toFixed(1)} ms (limit ${limitMs} ms)`);
  return result;
}
