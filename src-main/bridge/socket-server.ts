// The page's end of IPC: a WebSocket per page, admitted only with the per-run secret (offered as
// a subprotocol) from an allowed Origin. Each message goes through the router's `dispatch` —
// the same sender check, validation and `IpcResult` replies as Electron's ipcMain — and main's
// pushes go to every admitted page.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { SenderInfo } from '../../src-shared/ipc.js';
import type { Logger } from '../logging/logger.js';
import { dispatch, type RouterOptions } from '../ipc/router.js';
import { secretMatches } from './secret.js';
import {
  BRIDGE_PROTOCOL,
  SECRET_PROTOCOL_PREFIX,
  SOCKET_PATH,
  parseClientMessage,
  type OsRequest,
  type ServerMessage,
} from './wire.js';

/** Far above any real message (settings, a favourite); a page cannot make main buffer more. */
const MAX_MESSAGE_BYTES = 1024 * 1024;

export interface SocketServerOptions {
  readonly secret: string;
  /** Page origins allowed to connect (the bridge's own, and forwarded ones). */
  readonly allowedOrigins: ReadonlySet<string>;
  /** The URL the router sees as the sender of every admitted page's messages. */
  readonly sender: SenderInfo;
  readonly router: Omit<RouterOptions, 'transport'>;
  readonly logger: Logger;
}

export type Refusal = 'path' | 'origin' | 'secret';

function offeredProtocols(req: IncomingMessage): string[] {
  return (req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

/** Why a WebSocket handshake is refused, or null when it may connect. Never includes the secret. */
export function checkHandshake(
  req: IncomingMessage,
  o: Pick<SocketServerOptions, 'secret' | 'allowedOrigins'>,
): Refusal | null {
  const pathname = new URL(req.url ?? '/', 'http://bridge.invalid').pathname;
  if (pathname !== SOCKET_PATH) return 'path';
  const origin = req.headers.origin;
  if (!origin || !o.allowedOrigins.has(origin)) return 'origin';
  const protocols = offeredProtocols(req);
  const offered = protocols.find((p) => p.startsWith(SECRET_PROTOCOL_PREFIX));
  if (!protocols.includes(BRIDGE_PROTOCOL)) return 'secret';
  if (!secretMatches(o.secret, offered?.slice(SECRET_PROTOCOL_PREFIX.length))) return 'secret';
  return null;
}

const REFUSAL_STATUS: Record<Refusal, string> = {
  path: '404 Not Found',
  origin: '403 Forbidden',
  secret: '401 Unauthorized',
};

export class BridgeSocketServer {
  readonly #o: SocketServerOptions;
  readonly #wss: WebSocketServer;
  readonly #pages = new Set<WebSocket>();
  /** Refused handshakes, by reason (tests and the log). */
  readonly refusals: Refusal[] = [];

  constructor(o: SocketServerOptions) {
    this.#o = o;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_MESSAGE_BYTES,
      // The secret must not be echoed back: answer with the plain protocol name only.
      handleProtocols: (protocols) => (protocols.has(BRIDGE_PROTOCOL) ? BRIDGE_PROTOCOL : false),
    });
  }

  get pageCount(): number {
    return this.#pages.size;
  }

  /** The HTTP server's `upgrade` listener. */
  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const refusal = checkHandshake(req, this.#o);
    if (refusal) {
      this.refusals.push(refusal);
      const origin = (req.headers.origin ?? 'none').slice(0, 100);
      this.#o.logger.warn(`bridge: WebSocket refused (${refusal}) from origin ${origin}`);
      socket.end(`HTTP/1.1 ${REFUSAL_STATUS[refusal]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#admit(ws));
  };

  #admit(ws: WebSocket): void {
    this.#pages.add(ws);
    this.#o.logger.info(`bridge: a page connected (${this.#pages.size} open)`);
    ws.on('message', (data: RawData, isBinary: boolean) => void this.#onMessage(ws, data, isBinary));
    ws.on('close', () => {
      this.#pages.delete(ws);
      this.#o.logger.info(`bridge: a page disconnected (${this.#pages.size} open)`);
    });
    ws.on('error', (e) => this.#o.logger.warn(`bridge: page socket: ${e.message}`));
  }

  async #onMessage(ws: WebSocket, data: RawData, isBinary: boolean): Promise<void> {
    const text = isBinary ? null : Buffer.isBuffer(data) ? data.toString('utf8') : null;
    const msg = text === null ? null : parseClientMessage(text);
    if (!msg) {
      this.#o.logger.warn('bridge: dropped a malformed message from the page');
      return;
    }
    const [group = '', key = ''] = msg.channel.split(':');
    const result = await dispatch(this.#o.router, group, key, msg.arg, this.#o.sender);
    if (msg.t === 'invoke') {
      this.#send(ws, { t: 'reply', id: msg.id, result });
    } else if (!result.ok && result.error.code === 'internal') {
      this.#o.logger.warn(`${msg.channel}: ${result.error.message}`);
    }
  }

  #send(ws: WebSocket, msg: ServerMessage): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  #broadcast(msg: ServerMessage): void {
    if (this.#pages.size === 0) return;
    const text = JSON.stringify(msg);
    for (const ws of this.#pages) if (ws.readyState === WebSocket.OPEN) ws.send(text);
  }

  /** Main's push to every window. */
  push = (channel: string, payload: unknown): void => this.#broadcast({ t: 'push', channel, payload });

  /** A desktop request (open a URL, the clipboard) for the pages. */
  toPages = (request: OsRequest): void => this.#broadcast({ t: 'os', ...request });

  /** Drops every page; resolves once their sockets have closed (and logged so). */
  async close(): Promise<void> {
    const closed = [...this.#pages].map(
      (ws) =>
        new Promise<void>((resolve) =>
          ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve()),
        ),
    );
    for (const ws of this.#pages) ws.terminate();
    await Promise.all(closed);
    this.#wss.close();
  }
}
