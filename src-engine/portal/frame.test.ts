import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, replyFrame } from './frame.js';

describe('V1 frames (docs/protocol.md §3.2)', () => {
  it('encodes objects with numeric refs in the documented key order', () => {
    expect(encodeFrame({ topic: 'client', event: 'phx_join', payload: null, ref: 0 })).toBe(
      '{"topic":"client","event":"phx_join","payload":null,"ref":0}',
    );
    expect(encodeFrame(replyFrame('client', 0, 'ok', {}))).toBe(
      '{"topic":"client","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":0}',
    );
  });

  it('decodes frames, ignoring join_ref and reading a missing ref as a push', () => {
    expect(decodeFrame('{"topic":"client","event":"init","payload":{},"join_ref":"3"}')).toEqual({
      ok: true,
      frame: { topic: 'client', event: 'init', payload: {}, ref: null },
    });
    expect(
      decodeFrame(Buffer.from('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"7"}')),
    ).toMatchObject({
      ok: true,
      frame: { ref: '7' },
    });
  });

  it('classifies what it cannot decode', () => {
    expect(decodeFrame('x'.repeat(11), { maxBytes: 10 })).toEqual({
      ok: false,
      error: { kind: 'too_large', bytes: 11, limit: 10 },
    });
    expect(decodeFrame('{oops')).toMatchObject({ ok: false, error: { kind: 'invalid_json' } });
    expect(decodeFrame('[null,"1","client","phx_join",{}]')).toMatchObject({
      ok: false,
      error: { kind: 'invalid_frame' },
    });
    expect(decodeFrame('abc', {}, true)).toEqual({ ok: false, error: { kind: 'binary' } });
  });

  it('salvages topic and ref of a malformed frame so it can be answered', () => {
    expect(decodeFrame('{"topic":"client","event":42,"payload":{},"ref":5}')).toEqual({
      ok: false,
      error: {
        kind: 'invalid_frame',
        detail: expect.stringContaining('field "event"'),
        topic: 'client',
        ref: 5,
      },
    });
  });
});
