// ChannelData framing (RFC 8656 §12.4, §12.5).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_CHANNEL_NUMBER, MIN_CHANNEL_NUMBER } from '../constants.js';
import { decodeChannelData, encodeChannelData, writeChannelDataHeader } from './channel-data.js';

describe('ChannelData', () => {
  it('round-trips every valid channel and payload, without padding', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: MIN_CHANNEL_NUMBER, max: MAX_CHANNEL_NUMBER }),
        fc.uint8Array({ maxLength: 1400 }),
        (channel, payload) => {
          const bytes = encodeChannelData(channel, payload);
          expect(bytes.length).toBe(4 + payload.length);
          const decoded = decodeChannelData(bytes);
          expect(decoded).toEqual({ ok: true, channel, payload });
        },
      ),
    );
  });

  it('ignores padding up to the next multiple of 4 and nothing more', () => {
    const padded = Uint8Array.of(0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0);
    expect(decodeChannelData(padded)).toEqual({
      ok: true,
      channel: 0x4000,
      payload: Uint8Array.of(1, 2, 3, 4, 5),
    });
    expect(decodeChannelData(Uint8Array.of(...padded, 0))).toEqual({ ok: false, error: 'bad_length' });
    expect(decodeChannelData(Uint8Array.of(0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4, 0))).toEqual({
      ok: false,
      error: 'bad_length',
    });
    expect(decodeChannelData(Uint8Array.of(0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4))).toEqual({
      ok: false,
      error: 'bad_length',
    });
  });

  it('refuses reserved and non-channel numbers and short input', () => {
    expect(decodeChannelData(Uint8Array.of(0x50, 0x00, 0x00, 0x00))).toEqual({
      ok: false,
      error: 'bad_channel',
    });
    expect(decodeChannelData(Uint8Array.of(0x3f, 0xff, 0x00, 0x00))).toEqual({
      ok: false,
      error: 'bad_channel',
    });
    expect(decodeChannelData(Uint8Array.of(0x40, 0x00, 0x00))).toEqual({ ok: false, error: 'too_short' });
    expect(() => writeChannelDataHeader(new Uint8Array(4), 0, 0x5000, 0)).toThrow(RangeError);
    expect(() => encodeChannelData(0x4000, new Uint8Array(0x10000))).toThrow(RangeError);
  });

  it('never throws on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const r = decodeChannelData(bytes);
        if (r.ok) expect(r.payload.length).toBeLessThanOrEqual(bytes.length - 4);
      }),
      { numRuns: 2_000 },
    );
  });
});
