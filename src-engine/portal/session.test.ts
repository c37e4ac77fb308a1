/**
 * The phoenix-client driver against a scripted WebSocket server: the exact frames and upgrade
 * request it produces, and how it handles refusals and broken frames.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { LogFields, Logger } from './log.js';
import { PortalSession } from './session.js';

const PUBLIC_KEY = Buffer.alloc(32, 9).toString('base64');
const TOKEN = 'nonce0123.tokenid-abcdefgh.secret-part-that-must-never-be-logged-000000';
const UA = 'Debian/12 gui-client/0.1.0 (x86_64; 6.1.0)';

interface Upgrade {
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
}

type Responder = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

class ScriptedPortal {
  readonly server: Server;
  readonly wss = new WebSocketServer({ noServer: true });
  readonly upgrades: Upgrade[] = [];
  readonly frames: string[] = [];
  sockets: WebSocket[] = [];
  respond: Responder;
  onFrame: (ws: WebSocket, frame: { topic: string; event: string; payload: unknown; ref: unknown }) => void;

  constructor() {
    this.respond = (req, socket, head) => this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    this.onFrame = (ws, frame) => {
      // A minimal V1 portal: answer joins and heartbeats, push init after the join.
      if (frame.event === 'phx_join' || frame.event === 'heartbeat') {
        ws.send(
          JSON.stringify({
            topic: frame.topic,
            event: 'phx_reply',
            payload: { status: 'ok', response: {} },
            ref: frame.ref,
          }),
        );
      }
    };
    this.server = createServer((_req, res) => res.writeHead(404).end());
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrades.push({ url: req.url ?? '', headers: req.headers });
      this.respond(req, socket, head);
    });
  }

  accept(ws: WebSocket): void {
    this.sockets.push(ws);
    ws.on('message', (data) => {
      const text = data.toString();
      this.frames.push(text);
      this.onFrame(ws, JSON.parse(text));
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function problem(status: number, code: string, extra = ''): Responder {
  return (_req, socket) => {
    const body = JSON.stringify({ title: 'x', status, detail: 'refused', code });
    socket.end(
      `HTTP/1.1 ${status} Refused\r\nContent-Type: application/problem+json\r\nContent-Length: ${body.length}\r\n${extra}Connection: close\r\n\r\n${body}`,
    );
  };
}

function capturingLogger(lines: string[]): Logger {
  const log = (level: string) => (message: string, fields?: LogFields) =>
    lines.push(JSON.stringify({ level, message, ...fields }));
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

async function waitFor<T>(probe: () => T | undefined | false, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(configure?: (portal: ScriptedPortal) => void) {
  const portal = new ScriptedPortal();
  configure?.(portal);
  const url = await portal.listen();
  const logs: string[] = [];
  const session = new PortalSession({
    role: 'client',
    url,
    token: TOKEN,
    publicKey: PUBLIC_KEY,
    deviceId: 'laptop-1',
    name: 'laptop',
    userAgent: UA,
    logger: capturingLogger(logs),
    backoff: {
      initialIntervalMs: 20,
      maxIntervalMs: 50,
      initialPhaseIntervalMs: 20,
      initialPhaseMaxElapsedMs: 2_000,
    },
  });
  cleanups.push(async () => {
    await session.stop();
    await portal.close();
  });
  return { portal, session, logs };
}

describe('PortalSession on the phoenix client', () => {
  it('sends the upgrade and the V1 frames exactly as docs/protocol.md §3.1–3.2', async () => {
    const { portal, session, logs } = await setup();
    session.start();
    await waitFor(() => session.state.status === 'joined');
    session.send('request_authorization', {
      resource_id: '733e8d14-c18d-4931-af30-3639fa09c0c0',
      connected_gateway_ids: [],
    });
    await waitFor(() => portal.frames.length >= 2);
    const upgrade = portal.upgrades[0]!;
    expect(upgrade.url).toBe(
      `/client/v2/websocket?external_id=laptop-1&name=laptop&public_key=${encodeURIComponent(PUBLIC_KEY)}&vsn=1.0.0`,
    );
    expect(upgrade.headers['x-authorization']).toBe(`Bearer ${TOKEN}`);
    expect(upgrade.headers['user-agent']).toBe(UA);
    expect(portal.frames[0]).toBe('{"topic":"client","event":"phx_join","payload":null,"ref":0}');
    expect(JSON.parse(portal.frames[1]!)).toEqual({
      topic: 'client',
      event: 'request_authorization',
      payload: { resource_id: '733e8d14-c18d-4931-af30-3639fa09c0c0', connected_gateway_ids: [] },
      ref: 1,
    });
    expect(logs.join('\n')).not.toContain(TOKEN);
  });

  it('signs out on 401 invalid_token and never tries again', async () => {
    const { portal, session, logs } = await setup((p) => (p.respond = problem(401, 'invalid_token')));
    const signedOut: unknown[] = [];
    session.on('signed_out', (info) => signedOut.push(info));
    session.start();
    await waitFor(() => session.state.status === 'signed_out');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(portal.upgrades).toHaveLength(1);
    expect(signedOut).toEqual([
      { reason: 'invalid_token', detail: expect.stringContaining('invalid_token') },
    ]);
    expect(logs.join('\n')).not.toContain(TOKEN);
  });

  it('retries a 503 after Retry-After', async () => {
    let calls = 0;
    const { portal, session } = await setup((p) => {
      const accept = p.respond;
      p.respond = (req, socket, head) =>
        ++calls === 1
          ? problem(503, 'rate_limit', 'Retry-After: 1\r\n')(req, socket, head)
          : accept(req, socket, head);
    });
    session.start();
    await waitFor(() => session.state.status === 'reconnecting');
    expect(session.state).toMatchObject({
      status: 'reconnecting',
      delayMs: 1_000,
      lastError: { status: 503, code: 'rate_limit' },
    });
    await waitFor(() => session.state.status === 'joined', 3_000);
    expect(portal.upgrades).toHaveLength(2);
  });

  it('survives broken frames from the portal and reconnects after it closes the socket', async () => {
    const { portal, session, logs } = await setup();
    const messages: string[] = [];
    session.on('message', (message) => messages.push(message.event));
    session.start();
    await waitFor(() => session.state.status === 'joined');
    const ws = portal.sockets[0]!;
    ws.send('{not json');
    ws.send('{not json either');
    ws.send(JSON.stringify({ topic: 'client', event: 'phx_reply', payload: null, ref: 0 }));
    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    ws.send(JSON.stringify({ topic: 'client', event: 'resource_deleted', payload: 17, ref: null }));
    ws.send(JSON.stringify({ topic: 'client', event: 'beam_me_up', payload: {}, ref: null }));
    ws.send(
      JSON.stringify({
        topic: 'client',
        event: 'resource_deleted',
        payload: '733e8d14-c18d-4931-af30-3639fa09c0c0',
        ref: null,
      }),
    );
    await waitFor(() => messages.length === 1);
    expect(session.driverStats.decodeErrors).toBe(4);
    expect(session.stats).toMatchObject({ invalidMessages: 1, unknownEvents: 1 });
    expect(session.state.status).toBe('joined');
    // "error logged once": two invalid-JSON frames, one warning.
    expect(logs.filter((line) => line.includes('"warn"') && line.includes('invalid_json'))).toHaveLength(1);

    ws.close(1011, 'bye');
    await waitFor(() => session.state.status === 'reconnecting');
    await waitFor(() => session.state.status === 'joined');
    expect(portal.upgrades).toHaveLength(2);
    expect(portal.frames.at(-1)).toBe('{"topic":"client","event":"phx_join","payload":null,"ref":0}');
  });

  it('signs out when the portal pushes disconnect token_expired', async () => {
    const { portal, session } = await setup();
    session.start();
    await waitFor(() => session.state.status === 'joined');
    portal.sockets[0]!.send(
      JSON.stringify({
        topic: 'client',
        event: 'disconnect',
        payload: { reason: 'token_expired' },
        ref: null,
      }),
    );
    await waitFor(() => session.state.status === 'signed_out');
    expect(session.state).toMatchObject({ reason: 'token_expired' });
    await waitFor(() => portal.sockets[0]!.readyState === WebSocket.CLOSED);
  });

  it('validates its options with clear errors', () => {
    const base = {
      role: 'client' as const,
      url: 'ws://127.0.0.1:1',
      token: 't',
      publicKey: PUBLIC_KEY,
      deviceId: 'd',
      userAgent: UA,
    };
    expect(() => new PortalSession({ ...base, publicKey: 'abc' })).toThrow(/publicKey must be 32 bytes/);
    expect(() => new PortalSession({ ...base, url: 'ftp://x' })).toThrow(/ws\(s\):\/\/ or http\(s\):\/\//);
    expect(() => new PortalSession({ ...base, userAgent: 'curl/8.0' })).toThrow(/names no known component/);
    expect(() => new PortalSession({ ...base, userAgent: 'Debian/12 gateway/0.1.0 (x; y)' })).toThrow(
      /does not fit role/,
    );
    expect(() => new PortalSession({ ...base, token: '' })).toThrow(/token must not be empty/);
  });
});
