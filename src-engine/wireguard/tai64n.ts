import { TAI64N_SIZE } from './constants.js';

/** TAI64 label of the Unix epoch: 2^62 plus the 10 s TAI−UTC offset of 1970 (as WireGuard uses it). */
const TAI64_EPOCH_HI = 0x40000000;
const TAI64_EPOCH_LO = 10;
/**
 * Nanoseconds are rounded down to 2^24 ns (≈16.8 ms) so the timestamp does not leak a precise
 * clock to a passive observer who can decrypt nothing but sees handshake timing anyway.
 */
const NANO_WHITEN_MASK = ~(2 ** 24 - 1);

/** Writes the TAI64N timestamp of a wall-clock time (ms since the Unix epoch) into 12 bytes. */
export function tai64n(wallMs: number): Uint8Array {
  const out = new Uint8Array(TAI64N_SIZE);
  const seconds = Math.floor(wallMs / 1000);
  const nanos = (Math.floor((wallMs - seconds * 1000) * 1e6) & NANO_WHITEN_MASK) >>> 0;
  const lo = seconds + TAI64_EPOCH_LO;
  const view = new DataView(out.buffer);
  view.setUint32(0, TAI64_EPOCH_HI + Math.floor(lo / 0x1_0000_0000), false);
  view.setUint32(4, lo >>> 0, false);
  view.setUint32(8, nanos, false);
  return out;
}

/** True when timestamp `a` is strictly later than `b` (both big-endian, so bytewise order). */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TAI64N_SIZE; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  }
  return false;
}

/** The smallest timestamp strictly greater than `t` (next nanosecond), for strictly monotonic output. */
export function tai64nSuccessor(t: Uint8Array): Uint8Array {
  const out = Uint8Array.from(t);
  for (let i = TAI64N_SIZE - 1; i >= 0; i--) {
    out[i] = (out[i]! + 1) & 0xff;
    if (out[i] !== 0) break;
  }
  return out;
}
