/**
 * The `encode`/`decode` pair the `phoenix` client is given so that it speaks V1 JSON object
 * frames exactly as docs/protocol.md §3.2 describes: numeric refs counted per connection from 0 (the
 * join is 0), no `join_ref` on the wire.
 *
 * The phoenix client keeps string refs and one counter per Socket; this codec translates between
 * them. One codec serves one connection (the driver creates a Socket per attempt).
 *
 * Decoding validates every frame before the phoenix client sees it: its internals destructure
 * reply payloads and would throw on a malformed one. Bad frames are reported, never delivered.
 */
import { decodeFrame, encodeFrame, PHX_REPLY, replyPayloadSchema, type FrameDecodeError } from './frame.js';

/** A message as the phoenix client hands it to `encode` and expects it from `decode`. */
export interface PhoenixMessage {
  join_ref: string | null;
  ref: string | null;
  topic: string;
  event: string;
  payload: unknown;
}

export interface V1CodecOptions {
  readonly maxFrameBytes?: number;
  /** Called for each inbound frame that could not be delivered. */
  readonly onDecodeError: (error: FrameDecodeError | { kind: 'invalid_reply'; detail: string }) => void;
}

/** Refs awaiting a reply beyond this many are forgotten oldest-first (a reply can no longer match). */
const MAX_PENDING_REFS = 4096;

export class V1Codec {
  private nextWireRef = 0;
  /** wire ref → the phoenix client's ref, for refs still awaiting a reply. */
  private readonly pending = new Map<number, string>();

  constructor(private readonly options: V1CodecOptions) {}

  readonly encode = (message: PhoenixMessage, callback: (encoded: string) => void): void => {
    let ref: number | null = null;
    if (message.ref !== null && message.ref !== undefined) {
      ref = this.nextWireRef;
      this.nextWireRef += 1;
      this.pending.set(ref, message.ref);
      if (this.pending.size > MAX_PENDING_REFS) {
        const oldest = this.pending.keys().next().value;
        if (oldest !== undefined) this.pending.delete(oldest);
      }
    }
    callback(
      encodeFrame({ topic: message.topic, event: message.event, payload: message.payload ?? null, ref }),
    );
  };

  readonly decode = (raw: unknown, callback: (message: PhoenixMessage) => void): void => {
    const isText = typeof raw === 'string';
    const result = isText
      ? decodeFrame(raw, { maxBytes: this.options.maxFrameBytes })
      : decodeFrame(new Uint8Array(0), {}, true);
    if (!result.ok) {
      this.options.onDecodeError(result.error);
      return;
    }
    const { frame } = result;
    if (frame.event === PHX_REPLY && !replyPayloadSchema.safeParse(frame.payload).success) {
      this.options.onDecodeError({
        kind: 'invalid_reply',
        detail: 'phx_reply payload must be {"status", "response"}',
      });
      return;
    }
    callback({
      join_ref: null,
      ref: this.clientRef(frame.ref, frame.event),
      topic: frame.topic,
      event: frame.event,
      payload: frame.payload,
    });
  };

  private clientRef(ref: number | string | null, event: string): string | null {
    if (ref === null) return null;
    if (typeof ref === 'number') {
      const mine = this.pending.get(ref);
      if (mine !== undefined) {
        if (event === PHX_REPLY) this.pending.delete(ref);
        return mine;
      }
    }
    // A ref we never sent: keep it distinct from every phoenix ref so it cannot match a push.
    return `wire:${String(ref)}`;
  }
}
