/**
 * Big-endian ("network byte order", RFC 791 Appendix B) field access on a Uint8Array. Reading
 * bytes directly is as fast as a DataView in V8 and needs no view object per packet.
 * Callers check bounds first (an out-of-range byte reads as 0).
 */
export function readU16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

export function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

export function writeU16(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 8;
  buf[at + 1] = value;
}

export function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = value >>> 16;
  buf[at + 2] = value >>> 8;
  buf[at + 3] = value;
}

/** True when `value` is an integer in [0, max]. */
export function isUint(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}
