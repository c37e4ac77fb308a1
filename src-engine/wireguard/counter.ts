/**
 * 64-bit little-endian transport counters as JS numbers. A session is rejected after 180 s, so
 * an honest peer's counter stays far below 2^53; a larger value can only come from a broken or
 * hostile peer and is refused, which keeps all counter arithmetic exact without bigint on the
 * data path.
 */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/** Reads the counter at `offset`; returns -1 when it exceeds MAX_COUNTER. */
export function readCounter(buf: Uint8Array, offset: number): number {
  const lo =
    (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0;
  const hi =
    (buf[offset + 4]! | (buf[offset + 5]! << 8) | (buf[offset + 6]! << 16) | (buf[offset + 7]! << 24)) >>> 0;
  if (hi > 0x1fffff) return -1;
  return hi * 0x1_0000_0000 + lo;
}

export function writeCounter(buf: Uint8Array, offset: number, counter: number): void {
  const lo = counter >>> 0;
  const hi = Math.floor(counter / 0x1_0000_0000) >>> 0;
  buf[offset] = lo & 0xff;
  buf[offset + 1] = (lo >>> 8) & 0xff;
  buf[offset + 2] = (lo >>> 16) & 0xff;
  buf[offset + 3] = lo >>> 24;
  buf[offset + 4] = hi & 0xff;
  buf[offset + 5] = (hi >>> 8) & 0xff;
  buf[offset + 6] = (hi >>> 16) & 0xff;
  buf[offset + 7] = hi >>> 24;
}

export function readU32(buf: Uint8Array, offset: number): number {
  return (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0;
}

export function writeU32(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value & 0xff;
  buf[offset + 1] = (value >>> 8) & 0xff;
  buf[offset + 2] = (value >>> 16) & 0xff;
  buf[offset + 3] = value >>> 24;
}
