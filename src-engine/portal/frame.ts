/**
 * Phoenix V1 JSON object frames (docs/protocol.md §3.2): every WebSocket text message is one JSON
 * object `{"topic", "event", "payload", "ref"}`. Refs are JSON numbers on our side; a server may
 * also send strings, and may add `join_ref`, which we ignore.
 *
 * Decoding never throws: untrusted bytes come in, a frame or a classified error comes out, so
 * both the portal and the session can answer or count a bad frame and keep the connection.
 */
import { z } from 'zod';
import { DEFAULT_MAX_FRAME_BYTES } from './constants.js';

export type FrameRef = number | string | null;

export interface Frame {
  readonly topic: string;
  readonly event: string;
  readonly payload: unknown;
  readonly ref: FrameRef;
}

/** Phoenix's control events. */
export const PHX_JOIN = 'phx_join';
export const PHX_LEAVE = 'phx_leave';
export const PHX_REPLY = 'phx_reply';
export const PHX_ERROR = 'phx_error';
export const PHX_CLOSE = 'phx_close';
export const HEARTBEAT = 'heartbeat';

const refSchema = z.union([z.number().int().nonnegative(), z.string().max(64), z.null()]);

const frameSchema = z.object({
  topic: z.string().min(1).max(255),
  event: z.string().min(1).max(255),
  payload: z.unknown(),
  // V1 frames always carry `ref`; a missing one is read as a server push (`null`).
  ref: refSchema.optional(),
});

/** The payload of every `phx_reply`. */
export const replyPayloadSchema = z.object({
  status: z.string(),
  response: z.unknown().optional(),
});
export type ReplyPayload = z.infer<typeof replyPayloadSchema>;

export type FrameDecodeError =
  | { readonly kind: 'too_large'; readonly bytes: number; readonly limit: number }
  | { readonly kind: 'binary' }
  | { readonly kind: 'invalid_json'; readonly detail: string }
  | {
      readonly kind: 'invalid_frame';
      readonly detail: string;
      /** Present when the broken frame still told us enough to reply to it. */
      readonly topic?: string;
      readonly ref?: number | string;
    };

export type FrameDecodeResult =
  { readonly ok: true; readonly frame: Frame } | { readonly ok: false; readonly error: FrameDecodeError };

export interface DecodeOptions {
  /** Frames longer than this many bytes are rejected without being parsed. */
  readonly maxBytes?: number;
}

/** Describes a decode error in one line, for logs and error replies. */
export function describeFrameError(error: FrameDecodeError): string {
  switch (error.kind) {
    case 'too_large':
      return `frame of ${error.bytes} bytes exceeds the limit of ${error.limit} bytes`;
    case 'binary':
      return 'binary frames are not part of the V1 JSON protocol';
    case 'invalid_json':
      return `frame is not valid JSON: ${error.detail}`;
    case 'invalid_frame':
      return `frame is not a Phoenix V1 object: ${error.detail}`;
  }
}

/**
 * Decodes one text frame. `data` may be a string or the UTF-8 bytes of one (as `ws` delivers
 * them). `isBinary` frames are refused: the V1 serializer only speaks text.
 */
export function decodeFrame(
  data: string | Uint8Array,
  options: DecodeOptions = {},
  isBinary = false,
): FrameDecodeResult {
  if (isBinary) return { ok: false, error: { kind: 'binary' } };
  const limit = options.maxBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const bytes = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.byteLength;
  if (bytes > limit) return { ok: false, error: { kind: 'too_large', bytes, limit } };
  const text =
    typeof data === 'string'
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    return {
      ok: false,
      error: { kind: 'invalid_json', detail: cause instanceof Error ? cause.message : String(cause) },
    };
  }
  const parsed = frameSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `field "${issue.path.join('.')}": ` : '';
    const detail = `${where}${issue?.message ?? 'invalid'}`;
    const salvage = salvageAddress(value);
    return { ok: false, error: { kind: 'invalid_frame', detail, ...salvage } };
  }
  const { topic, event, payload, ref } = parsed.data;
  return { ok: true, frame: { topic, event, payload, ref: ref ?? null } };
}

/** Topic and ref of a frame that failed validation, when they themselves are well-formed. */
function salvageAddress(value: unknown): { topic?: string; ref?: number | string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const record = value as Record<string, unknown>;
  const out: { topic?: string; ref?: number | string } = {};
  if (typeof record.topic === 'string' && record.topic.length > 0 && record.topic.length <= 255) {
    out.topic = record.topic;
  }
  const ref = refSchema.safeParse(record.ref);
  if (ref.success && ref.data !== null) out.ref = ref.data;
  return out;
}

/** Encodes a frame with the key order of docs/protocol.md §3.2. */
export function encodeFrame(frame: Frame): string {
  return JSON.stringify({ topic: frame.topic, event: frame.event, payload: frame.payload, ref: frame.ref });
}

/** A `phx_reply` frame answering `ref` on `topic`. */
export function replyFrame(topic: string, ref: FrameRef, status: 'ok' | 'error', response: unknown): Frame {
  return { topic, event: PHX_REPLY, ref, payload: { status, response } };
}

/** A server push (`ref: null`). */
export function pushFrame(topic: string, event: string, payload: unknown): Frame {
  return { topic, event, payload, ref: null };
}
