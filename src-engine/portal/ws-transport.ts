/**
 * The WebSocket transport handed to the `phoenix` client on Node. Browsers' WebSocket cannot set
 * headers; `ws` can, so the token travels in `X-Authorization: Bearer` (docs/protocol.md §3.1) and
 * never in the URL. It also reads the HTTP answer of a refused upgrade (status, problem+json
 * `code`, `Retry-After`), which the fatal-vs-retry rules of §3.3 need.
 *
 * The class exposes the subset of the browser WebSocket API the phoenix client uses. Callbacks
 * into the phoenix client run inside try/catch: a throw there is reported, not a process crash.
 *
 * With a socket mark (Linux; `socketMark` below or `setPortalSocketMark`), the TCP connection
 * comes from a socket marked before its SYN (src-engine/platform/fwmark.ts), so that with the
 * Internet resource on it still leaves through the physical network, not the tunnel.
 */
import type { ClientRequestArgs, IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import WebSocket from 'ws';
import { connectMarkedTcp, type HostLookup } from '../platform/fwmark.js';
import { CONNECT_TIMEOUT_MS, HARD_MAX_FRAME_BYTES } from './constants.js';

export interface UpgradeRejection {
  readonly status: number;
  readonly code?: string;
  readonly detail?: string;
  readonly retryAfter?: string;
}

export interface TransportHooks {
  readonly headers: Readonly<Record<string, string>>;
  readonly handshakeTimeoutMs?: number;
  /** The server answered the upgrade with a non-101 status. */
  readonly onUpgradeRejected: (rejection: UpgradeRejection) => void;
  /** A phoenix callback threw while handling a transport event. */
  readonly onCallbackError: (error: unknown) => void;
  /**
   * SO_MARK for the TCP socket (Linux, needs CAP_NET_ADMIN); default: the process-wide one of
   * setPortalSocketMark (none unless set). null: no mark even if a process-wide one is set.
   */
  readonly socketMark?: number | null;
  /** Name resolution for the portal's host when the socket is marked (default: dns.lookup). */
  readonly lookup?: HostLookup;
}

let defaultMark: { readonly mark: number; readonly lookup?: HostLookup } | undefined;

/**
 * Marks the TCP sockets of every portal WebSocket opened from now on in this process (each
 * reconnect opens a new one), unless its hooks say otherwise; undefined turns it off. For runtimes
 * whose session (src-engine/portal/session.ts) builds the hooks itself.
 */
export function setPortalSocketMark(
  mark: number | undefined,
  options: { readonly lookup?: HostLookup } = {},
): void {
  defaultMark = mark === undefined ? undefined : { mark, ...options };
}

type CreateConnection = (
  options: ClientRequestArgs & ConnectionOptions,
  oncreate: (err: Error | null, socket?: Duplex) => void,
) => undefined;

/**
 * ws's `createConnection` for a marked socket. ws hands it the request options (host without
 * brackets, port) and, without it, would call net.connect or tls.connect. The socket is made
 * asynchronously (name resolution, then connect from a marked fd) and handed to http's
 * ClientRequest through the `oncreate` callback, which it accepts when nothing is returned. A
 * request aborted meanwhile destroys the socket when it arrives.
 */
export function markedCreateConnection(
  secure: boolean,
  mark: number,
  options: { readonly lookup?: HostLookup; readonly timeoutMs?: number } = {},
): CreateConnection {
  return (request, oncreate) => {
    const host = request.host ?? request.hostname ?? 'localhost';
    const port = Number(request.port ?? (secure ? 443 : 80));
    connectMarkedTcp({
      host,
      port,
      mark,
      ...(options.lookup ? { lookup: options.lookup } : {}),
      ...(options.timeoutMs !== undefined ? { attemptTimeoutMs: options.timeoutMs } : {}),
    }).then(
      (tcp) => {
        if (!secure) {
          oncreate(null, tcp);
          return;
        }
        // What ws's own tlsConnect does, over the connected marked socket.
        const servername = request.servername || request.servername === '' ? request.servername : host;
        try {
          oncreate(
            null,
            tlsConnect({
              ...request,
              path: undefined,
              socket: tcp,
              servername: isIP(servername) ? '' : servername,
            }),
          );
        } catch (error) {
          tcp.destroy();
          oncreate(error instanceof Error ? error : new Error(String(error)));
        }
      },
      (error: unknown) => oncreate(error instanceof Error ? error : new Error(String(error))),
    );
    return undefined;
  };
}

/** What the phoenix client expects of a transport instance. */
export interface PhoenixTransport {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  timeout: number;
  readonly skipHeartbeat: boolean;
  onopen: ((event?: unknown) => void) | null;
  onerror: ((event?: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type PhoenixTransportClass = new (url: string, protocols?: string | string[]) => PhoenixTransport;

const MAX_PROBLEM_BODY = 16 * 1024;
const PROBLEM_BODY_TIMEOUT_MS = 2_000;

export function createNodeTransport(hooks: TransportHooks): PhoenixTransportClass {
  return class NodeWebSocketTransport implements PhoenixTransport {
    binaryType = 'arraybuffer';
    timeout = 0;
    /** Heartbeats are driven by the session core, not by the phoenix client (see session-core). */
    readonly skipHeartbeat = true;
    onopen: ((event?: unknown) => void) | null = null;
    onerror: ((event?: unknown) => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
    private readonly ws: WebSocket;

    constructor(url: string) {
      const timeout = hooks.handshakeTimeoutMs ?? CONNECT_TIMEOUT_MS;
      const mark = hooks.socketMark === undefined ? defaultMark?.mark : (hooks.socketMark ?? undefined);
      const lookup = hooks.lookup ?? defaultMark?.lookup;
      this.ws = new WebSocket(url, {
        headers: { ...hooks.headers },
        handshakeTimeout: timeout,
        maxPayload: HARD_MAX_FRAME_BYTES,
        perMessageDeflate: false,
        followRedirects: false,
        ...(mark !== undefined
          ? {
              createConnection: markedCreateConnection(/^(wss|https):/i.test(url), mark, {
                timeoutMs: timeout,
                ...(lookup ? { lookup } : {}),
              }) as never,
            }
          : {}),
      });
      this.ws.on('open', () => this.guard(() => this.onopen?.()));
      this.ws.on('message', (data: WebSocket.RawData, isBinary: boolean) =>
        this.guard(() => this.onmessage?.({ data: isBinary ? data : rawToString(data) })),
      );
      this.ws.on('error', (error: Error) => this.guard(() => this.onerror?.(error)));
      this.ws.on('close', (code: number, reason: Buffer) =>
        this.guard(() => this.onclose?.({ code, reason: reason.toString('utf8'), wasClean: code === 1000 })),
      );
      this.ws.on('unexpected-response', (_request, response: IncomingMessage) => this.rejected(response));
    }

    get readyState(): number {
      return this.ws.readyState;
    }

    get bufferedAmount(): number {
      return this.ws.bufferedAmount;
    }

    send(data: string): void {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
    }

    close(code?: number, reason?: string): void {
      if (this.ws.readyState === WebSocket.CLOSED) return;
      if (this.ws.readyState === WebSocket.CONNECTING) {
        this.ws.terminate();
        return;
      }
      try {
        this.ws.close(code ?? 1000, reason ?? '');
      } catch {
        this.ws.terminate();
      }
    }

    private guard(callback: () => void): void {
      try {
        callback();
      } catch (error) {
        hooks.onCallbackError(error);
      }
    }

    private rejected(response: IncomingMessage): void {
      const chunks: Buffer[] = [];
      let size = 0;
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        const retryAfter = headerValue(response.headers['retry-after']);
        const problem = parseProblem(Buffer.concat(chunks).toString('utf8'));
        const rejection: UpgradeRejection = {
          status: response.statusCode ?? 0,
          ...(problem.code !== undefined ? { code: problem.code } : {}),
          ...(problem.detail !== undefined ? { detail: problem.detail } : {}),
          ...(retryAfter !== undefined ? { retryAfter } : {}),
        };
        this.guard(() => hooks.onUpgradeRejected(rejection));
        response.destroy();
        // Emits 'error' and 'close' on the WebSocket, which ends the attempt.
        this.ws.terminate();
      };
      const timer = setTimeout(finish, PROBLEM_BODY_TIMEOUT_MS);
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_PROBLEM_BODY) chunks.push(chunk);
        else finish();
      });
      response.on('end', finish);
      response.on('error', finish);
      response.on('close', finish);
    }
  };
}

function rawToString(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `code` and `detail` of an RFC 9457 problem+json body; anything else yields nothing. */
export function parseProblem(body: string): { code?: string; detail?: string } {
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value !== 'object' || value === null) return {};
    const record = value as Record<string, unknown>;
    const out: { code?: string; detail?: string } = {};
    if (typeof record.code === 'string' && record.code.length <= 128) out.code = record.code;
    if (typeof record.detail === 'string') out.detail = record.detail.slice(0, 512);
    return out;
  } catch {
    return {};
  }
}
