/**
 * The wire protocol between the unprivileged app and the privileged TUN helper (src-helper/),
 * the same on every platform: over one stream connection (a Unix socket on Linux and macOS, a
 * named pipe on Windows) that the app keeps open for its whole session, each side sends frames
 * of a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
 *
 *   app → helper   { id, type: 'open' }                              one device per connection
 *                  { id, type: 'apply', device, config }             addresses, MTU, routes, DNS
 *                  { id, type: 'close', device }                     undo everything, drop the device
 *   helper → app   { id, ok: true, result } | { id, ok: false, error: { code, message } }
 *
 * The `open` response names the device and, on Linux and macOS, carries the device's fd
 * (SCM_RIGHTS, attached to the frame's first byte; `result.fd: true`). On Windows, where a
 * wintun adapter has no fd, it names a packet pipe instead (`result.packetPipe`).
 *
 * Everything that arrives at the helper is untrusted: these schemas and ./rules.ts are its
 * boundary. Frames above MAX_FRAME_BYTES are refused before they are read in full.
 */
import { z } from 'zod';
import { checkApplyConfig } from './rules.js';

/** Default socket of the Linux helper (directory 0750 root:fz-tunnel, socket 0660). */
export const DEFAULT_LINUX_SOCKET = '/run/fz-tun-helper/helper.sock';
/** Default socket of the macOS launchd helper. */
export const DEFAULT_DARWIN_SOCKET = '/var/run/fz-tun-helper/helper.sock';
/** Default named pipe of the Windows service. */
export const DEFAULT_WINDOWS_PIPE = '\\\\.\\pipe\\fz-tun-helper';
/** The group whose members may use the helper (besides root). */
export const DEFAULT_HELPER_GROUP = 'fz-tunnel';

/** Hard limit of one frame's JSON (a config with 10,000 routes is ≈ 300 KB). */
export const MAX_FRAME_BYTES = 512 * 1024;
export const FRAME_HEADER_BYTES = 4;
export const MAX_ROUTES = 10_000;
export const MAX_DNS_SERVERS = 8;

export const REQUEST_TYPES = ['open', 'apply', 'close'] as const;
export type RequestType = (typeof REQUEST_TYPES)[number];

/** Why the helper refused or failed; the client maps them to TunProviderError codes. */
export type HelperErrorCode =
  | 'permission-denied' // the caller is neither root nor in the helper's group
  | 'bad-request' // malformed frame, JSON or fields; unknown request type
  | 'frame-too-large'
  | 'refused' // well-formed, but outside the rules (ranges, another device, a second device)
  | 'rate-limited' // too many requests or connections from one uid
  | 'failed'; // the system refused (ip/resolvectl failed, no /dev/net/tun, ...)

const id = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** Interface names the helper hands out: `tun-fz<n>` (Linux), `utun<n>` (macOS), `fz-tun<n>` (Windows). */
const deviceName = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'not an interface name');

export const applyConfigSchema = z
  .object({
    /** Interface addresses with prefix, e.g. 100.64.0.2/32 and fd00:2021:1111::2/128. */
    addresses: z.array(z.string().max(64)).min(1).max(4),
    mtu: z.number().int(),
    /** Routes into the device (any CIDR; only ever via the session's own device). */
    routes: z.array(z.string().max(64)).max(MAX_ROUTES),
    /** null: leave the system's DNS alone. */
    dns: z
      .object({
        servers: z.array(z.string().max(64)).max(MAX_DNS_SERVERS),
        searchDomain: z.string().max(253).nullable(),
      })
      .strict()
      .nullable(),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const problem of checkApplyConfig(config)) ctx.addIssue({ code: 'custom', message: problem });
  });
export type ApplyConfig = z.infer<typeof applyConfigSchema>;

export const requestSchema = z.discriminatedUnion('type', [
  z.object({ id, type: z.literal('open') }).strict(),
  z.object({ id, type: z.literal('apply'), device: deviceName, config: applyConfigSchema }).strict(),
  z.object({ id, type: z.literal('close'), device: deviceName }).strict(),
]);
export type HelperRequest = z.infer<typeof requestSchema>;

export const openResultSchema = z
  .object({
    device: deviceName,
    mtu: z.number().int(),
    /** Linux/macOS: the device's fd came with this frame. */
    fd: z.boolean().optional(),
    /** Windows: the pipe that carries the device's packets. */
    packetPipe: z.string().max(256).optional(),
  })
  .strict();
export type OpenResult = z.infer<typeof openResultSchema>;

export const responseSchema = z.union([
  z.object({ id: id.nullable(), ok: z.literal(true), result: z.unknown().optional() }).strict(),
  z
    .object({
      id: id.nullable(),
      ok: z.literal(false),
      error: z.object({ code: z.string().max(64), message: z.string().max(4096) }).strict(),
    })
    .strict(),
]);
export type HelperResponse = z.infer<typeof responseSchema>;

/** A refusal or failure with a code the other side understands. */
export class HelperError extends Error {
  constructor(
    readonly code: HelperErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'HelperError';
  }
}

/**
 * Parses a frame's payload into a request, or throws a HelperError('bad-request') that says what
 * is wrong (unknown type, missing or extra fields, addresses outside the rules, ...). The id, if
 * one can be read, is returned with the error so the response can name it.
 */
export function parseRequest(payload: Uint8Array): HelperRequest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw new HelperError('bad-request', 'the frame is not UTF-8 JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new HelperError('bad-request', 'a request is a JSON object');
  const type = (json as { type?: unknown }).type;
  if (typeof type !== 'string' || !(REQUEST_TYPES as readonly string[]).includes(type))
    throw new HelperError(
      'bad-request',
      `unknown request type ${JSON.stringify(type)?.slice(0, 40) ?? 'undefined'} (expected ${REQUEST_TYPES.join(', ')})`,
    );
  const parsed = requestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || 'request'}: ${i.message}`)
      .join('; ');
    // Well-formed requests that break the address/route/DNS rules are refusals, not garbage.
    const code = parsed.error.issues.some((i) => i.code === 'custom') ? 'refused' : 'bad-request';
    throw new HelperError(code, `invalid ${type} request: ${issues}`);
  }
  return parsed.data;
}

/** The request id of a payload that failed to parse, when it has a usable one. */
export function requestIdOf(payload: Uint8Array): number | null {
  try {
    const value = (JSON.parse(new TextDecoder().decode(payload)) as { id?: unknown }).id;
    return id.safeParse(value).success ? (value as number) : null;
  } catch {
    return null;
  }
}

/** Length-prefixed frame of a JSON value. Throws when it would exceed MAX_FRAME_BYTES. */
export function encodeFrame(value: unknown): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(value));
  if (body.length > MAX_FRAME_BYTES)
    throw new Error(`frame of ${body.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  const frame = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Splits a byte stream into frame payloads. A length above the limit is reported at once (from
 * the header alone), after which the stream cannot be resynchronised: the caller closes it.
 */
export class FrameDecoder {
  private buffer = new Uint8Array(0);
  private broken = false;

  constructor(private readonly maxBytes = MAX_FRAME_BYTES) {}

  /** Adds bytes; returns the complete payloads, or throws HelperError('frame-too-large'). */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.broken) return [];
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    const frames: Uint8Array[] = [];
    let at = 0;
    while (joined.length - at >= FRAME_HEADER_BYTES) {
      const length = new DataView(joined.buffer, joined.byteOffset + at).getUint32(0);
      if (length > this.maxBytes) {
        this.broken = true;
        this.buffer = new Uint8Array(0);
        throw new HelperError(
          'frame-too-large',
          `frame of ${length} bytes exceeds the limit of ${this.maxBytes}`,
        );
      }
      if (joined.length - at - FRAME_HEADER_BYTES < length) break;
      frames.push(joined.slice(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length));
      at += FRAME_HEADER_BYTES + length;
    }
    this.buffer = joined.slice(at);
    return frames;
  }

  /** Bytes of an unfinished frame still waiting. */
  get pending(): number {
    return this.buffer.length;
  }
}
