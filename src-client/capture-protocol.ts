/**
 * The status socket's request line and its capture stream, shared by the server (status.ts, in
 * the running client) and the `capture` command (capture.ts).
 *
 * A connection may start with one JSON request line within REQUEST_WAIT_MS:
 *
 *   {"command":"status"}                                  one JSON status line, then close
 *   {"command":"capture","seconds":N,"maxBytes":B}        the pcap stream, then close
 *
 * No request at all gets the status too, so whatever read the socket before (a script with
 * `socat`, an older `status` command) works unchanged. An error is one JSON line `{"error":…}`,
 * which can never be mistaken for a pcap stream (its first byte is `{`, the magic's is 0xd4).
 *
 * A capture request may add `"summary":true`: after the last record the server then sends the
 * 16 bytes of CAPTURE_TRAILER_MARKER and one JSON line of the session's summary (packets, bytes,
 * dropped, reason). The marker cannot be a record header (its captured length would pass the
 * snaplen), so a reader that walks the records finds it; the `capture` command strips it before
 * the file. Opt-in, because a plain `socat … > f.pcap` must get a clean pcap file.
 */
import type { CaptureSummary } from '../src-engine/capture/packet-tap.js';
import { PCAP_FILE_HEADER_LENGTH, PCAP_RECORD_HEADER_LENGTH } from '../src-engine/capture/pcap-writer.js';

export const CAPTURE_MIN_SECONDS = 1;
export const CAPTURE_MAX_SECONDS = 3_600;
export const CAPTURE_DEFAULT_MAX_BYTES = 100 * 1024 * 1024;
export const CAPTURE_MAX_BYTES = 1024 * 1024 * 1024;
/** The smallest maxBytes: room for the file header and nothing more is still a valid file. */
export const CAPTURE_MIN_BYTES = PCAP_FILE_HEADER_LENGTH;

/** How long the server waits for a request line before it answers with the status. */
export const REQUEST_WAIT_MS = 100;
/** Once a request has started, how long it may take to reach its newline. */
export const REQUEST_COMPLETE_MS = 1_000;
/** Longest request line: the real ones are under 100 bytes; this bounds what a peer can make us hold. */
export const REQUEST_MAX_LENGTH = 1_024;

export const CAPTURE_TRAILER_MARKER: Uint8Array = new Uint8Array(PCAP_RECORD_HEADER_LENGTH).fill(0xff);

export type SocketRequest =
  | { readonly command: 'status' }
  /** Turns the Internet resource on or off, live; answered with the status after the change. */
  | { readonly command: 'internet'; readonly enabled: boolean }
  | {
      readonly command: 'capture';
      readonly seconds: number;
      readonly maxBytes: number;
      readonly summary: boolean;
    };

/** Why `seconds` / `maxBytes` are out of bounds, or undefined when they are fine. */
export function captureLimitsError(seconds: number, maxBytes: number): string | undefined {
  if (!Number.isInteger(seconds) || seconds < CAPTURE_MIN_SECONDS || seconds > CAPTURE_MAX_SECONDS) {
    return `seconds must be a whole number from ${CAPTURE_MIN_SECONDS} to ${CAPTURE_MAX_SECONDS} (got ${seconds})`;
  }
  if (!Number.isInteger(maxBytes) || maxBytes < CAPTURE_MIN_BYTES || maxBytes > CAPTURE_MAX_BYTES) {
    return `maxBytes must be a whole number from ${CAPTURE_MIN_BYTES} to ${CAPTURE_MAX_BYTES} (1 GiB) (got ${maxBytes})`;
  }
  return undefined;
}

/** Reads one request line (without its newline); never throws. */
export function parseSocketRequest(line: string): SocketRequest | { readonly error: string } {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { error: 'bad request: not a JSON line' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { error: 'bad request: expected a JSON object' };
  }
  const request = json as Record<string, unknown>;
  if (request.command === 'status') return { command: 'status' };
  if (request.command === 'internet') {
    if (typeof request.enabled !== 'boolean')
      return { error: 'bad request: internet needs "enabled": true or false' };
    return { command: 'internet', enabled: request.enabled };
  }
  if (request.command !== 'capture') {
    return {
      error: `bad request: unknown command ${JSON.stringify(request.command)} (status, internet or capture)`,
    };
  }
  const seconds = request.seconds;
  const maxBytes = request.maxBytes ?? CAPTURE_DEFAULT_MAX_BYTES;
  if (typeof seconds !== 'number' || typeof maxBytes !== 'number') {
    return { error: 'bad request: capture needs "seconds" (and optionally "maxBytes") as numbers' };
  }
  const bad = captureLimitsError(seconds, maxBytes);
  if (bad) return { error: `bad request: ${bad}` };
  return { command: 'capture', seconds, maxBytes, summary: request.summary === true };
}

export function encodeCaptureTrailer(summary: CaptureSummary): Uint8Array {
  const json = new TextEncoder().encode(`${JSON.stringify(summary)}\n`);
  const bytes = new Uint8Array(CAPTURE_TRAILER_MARKER.length + json.length);
  bytes.set(CAPTURE_TRAILER_MARKER);
  bytes.set(json, CAPTURE_TRAILER_MARKER.length);
  return bytes;
}
