/**
 * TURN ChannelData messages (RFC 8656 §12.4): a 2-byte channel number, a 2-byte payload length
 * and the payload, 4 bytes of overhead per relayed packet instead of a 36-byte Send indication.
 */
import { readU16, writeU16 } from '../../packet/bytes.js';
import { CHANNEL_DATA_HEADER_LENGTH, MAX_CHANNEL_NUMBER, MIN_CHANNEL_NUMBER } from '../constants.js';

export type ChannelDataError = 'too_short' | 'bad_channel' | 'bad_length';

export type ChannelDataResult =
  | { readonly ok: true; readonly channel: number; readonly payload: Uint8Array }
  | { readonly ok: false; readonly error: ChannelDataError };

export function isValidChannelNumber(channel: number): boolean {
  return Number.isInteger(channel) && channel >= MIN_CHANNEL_NUMBER && channel <= MAX_CHANNEL_NUMBER;
}

/**
 * Decodes a ChannelData datagram; `payload` is a view into `bytes`. Over UDP the sender need not
 * pad (RFC 8656 §12.5), but a datagram may still carry padding up to the next multiple of 4,
 * which is ignored; more trailing bytes than that, or a length past the end, is an error.
 * Numbers outside 0x4000–0x4FFF are refused: 0x5000–0x7FFF are reserved (§12).
 */
export function decodeChannelData(bytes: Uint8Array): ChannelDataResult {
  if (bytes.length < CHANNEL_DATA_HEADER_LENGTH) return { ok: false, error: 'too_short' };
  const channel = readU16(bytes, 0);
  if (!isValidChannelNumber(channel)) return { ok: false, error: 'bad_channel' };
  const length = readU16(bytes, 2);
  const available = bytes.length - CHANNEL_DATA_HEADER_LENGTH;
  if (length > available || available > ((length + 3) & ~3)) return { ok: false, error: 'bad_length' };
  return {
    ok: true,
    channel,
    payload: bytes.subarray(CHANNEL_DATA_HEADER_LENGTH, CHANNEL_DATA_HEADER_LENGTH + length),
  };
}

/** Writes a ChannelData header at `offset` (for callers that leave 4 bytes of headroom). */
export function writeChannelDataHeader(
  buffer: Uint8Array,
  offset: number,
  channel: number,
  length: number,
): void {
  if (!isValidChannelNumber(channel)) throw new RangeError(`invalid channel number: ${channel}`);
  if (!Number.isInteger(length) || length < 0 || length > 0xffff) {
    throw new RangeError(`ChannelData payload too large: ${length}`);
  }
  writeU16(buffer, offset, channel);
  writeU16(buffer, offset + 2, length);
}

/** A new unpadded ChannelData message (over UDP padding is not needed, RFC 8656 §12.5). */
export function encodeChannelData(channel: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHANNEL_DATA_HEADER_LENGTH + payload.length);
  writeChannelDataHeader(out, 0, channel, payload.length);
  out.set(payload, CHANNEL_DATA_HEADER_LENGTH);
  return out;
}
