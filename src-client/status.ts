/**
 * The headless client's status socket: a Unix socket (mode 0600: root only, as it shows what the
 * client does and can capture its inner traffic). By default it answers a connection with one
 * JSON line of the engine's status and closes; `npm run client -- status` reads it and prints it
 * for people (or as JSON with --json). A connection may instead start with a request line
 * (capture-protocol.ts): `capture` streams the tunnel's packets as pcap (`npm run client --
 * capture`, capture.ts).
 */
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { ClientStatus } from '../src-engine/client/client-runtime.js';
import { CaptureSession, type PacketTap } from '../src-engine/capture/packet-tap.js';
import {
  encodeCaptureTrailer,
  parseSocketRequest,
  REQUEST_COMPLETE_MS,
  REQUEST_MAX_LENGTH,
  REQUEST_WAIT_MS,
  type SocketRequest,
} from './capture-protocol.js';

export interface StatusServerOptions {
  /**
   * Adds a tap on the runtime's inner packets and returns what removes it (the runtime's
   * `addPacketTap`). Without it, capture requests get a JSON error.
   */
  readonly addPacketTap?: (tap: PacketTap) => () => void;
  /** Turns the Internet resource on or off (the runtime's `setInternetResourceEnabled`). */
  readonly setInternetResource?: (enabled: boolean) => void;
}

type Request = SocketRequest | { readonly error: string };

export function serveStatus(
  path: string,
  status: () => ClientStatus,
  options: StatusServerOptions = {},
): Server {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (existsSync(path)) rmSync(path); // a stale socket of a killed client
  // One capture at a time: each costs a copy of every packet on the datapath and up to 1 GiB on
  // the way out, and two people capturing at once are better told than silently slowed down.
  let capturing = false;

  const answerStatus = (socket: Socket): void => {
    try {
      socket.end(`${JSON.stringify(status())}\n`);
    } catch (error) {
      endWithError(socket, (error as Error).message);
    }
  };

  const startCapture = (socket: Socket, request: Extract<SocketRequest, { command: 'capture' }>): void => {
    const { addPacketTap } = options;
    if (!addPacketTap) return endWithError(socket, 'capture is not available in this client');
    if (capturing) {
      return endWithError(
        socket,
        'a capture is already running (one at a time); try again when it has ended',
      );
    }
    // The tap is added before the session writes its file header, so that a runtime refusing it
    // can still be answered with a JSON error rather than a pcap stream cut short.
    const forward: { tap?: PacketTap } = {};
    let remove: () => void;
    try {
      remove = addPacketTap((packet, direction, timestampMs) =>
        forward.tap?.(packet, direction, timestampMs),
      );
    } catch (error) {
      return endWithError(socket, `capture failed to start: ${(error as Error).message}`);
    }
    capturing = true;
    let corked = false;
    const session = new CaptureSession({
      seconds: request.seconds,
      maxBytes: request.maxBytes,
      sink: (chunk) => {
        if (!socket.writable) throw new Error('the capture socket closed');
        // One write per packet would be one syscall per packet on the datapath's thread: cork,
        // and let the records of this turn of the event loop go out in one writev.
        if (!corked) {
          corked = true;
          socket.cork();
          setImmediate(() => {
            corked = false;
            socket.uncork();
          });
        }
        socket.write(chunk);
      },
      // Bytes the reader has not taken yet: beyond the session's bound, packets are dropped.
      backlog: () => socket.writableLength,
    });
    forward.tap = session.tap;
    const stop = (): void => session.stop();
    // The reader closing its side (the capture command on Ctrl-C) or going away ends the capture.
    socket.on('end', stop);
    socket.on('close', stop);
    socket.resume();
    void session.done.then((summary) => {
      remove();
      capturing = false;
      socket.off('end', stop);
      socket.off('close', stop);
      if (!socket.writable) return;
      if (request.summary) socket.write(encodeCaptureTrailer(summary));
      socket.end();
    });
  };

  // allowHalfOpen: a reader may close its side once its request is sent (or to stop a capture)
  // and still get the rest of the answer.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    readRequest(socket, (request) => {
      if ('error' in request) endWithError(socket, request.error);
      else if (request.command === 'capture') startCapture(socket, request);
      else if (request.command === 'internet') {
        if (!options.setInternetResource)
          endWithError(socket, 'this client cannot switch the Internet resource');
        else {
          options.setInternetResource(request.enabled);
          answerStatus(socket);
        }
      } else answerStatus(socket);
      // Whatever the reader sends after its request is read and dropped, so that its end is seen.
      socket.resume();
    });
  });
  listenPrivately(server, path);
  return server;
}

function endWithError(socket: Socket, message: string): void {
  socket.end(`${JSON.stringify({ error: message })}\n`);
}

/**
 * Waits for the optional request line: none within REQUEST_WAIT_MS (or the reader closing its
 * side without one) means status, as before requests existed.
 */
function readRequest(socket: Socket, answer: (request: Request) => void): void {
  let text = '';
  let answered = false;
  const finish = (request: Request): void => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    answer(request);
  };
  let timer = setTimeout(
    () =>
      finish(text === '' ? { command: 'status' } : { error: 'bad request: no newline after the request' }),
    REQUEST_WAIT_MS,
  );
  const onData = (chunk: string): void => {
    const started = text === '';
    text += chunk;
    const newline = text.indexOf('\n');
    if (newline >= 0) finish(parseSocketRequest(text.slice(0, newline)));
    else if (text.length > REQUEST_MAX_LENGTH) finish({ error: 'bad request: line too long' });
    else if (started) {
      // A request has begun: give it time to complete rather than answer half of it with status.
      clearTimeout(timer);
      timer = setTimeout(
        () => finish({ error: 'bad request: no newline after the request' }),
        REQUEST_COMPLETE_MS,
      );
    }
  };
  const onEnd = (): void => finish(text.trim() === '' ? { command: 'status' } : parseSocketRequest(text));
  socket.setEncoding('utf8');
  socket.on('data', onData);
  socket.on('end', onEnd);
}

/**
 * Listens on `path` with the socket created 0600. chmod after listen alone would leave a moment
 * in which, under a lax umask, anyone could connect and keep that connection; the bind happens
 * inside listen(), so a umask around it closes that window. Worker threads cannot change the
 * umask; there the chmod is what applies.
 */
function listenPrivately(server: Server, path: string): void {
  let previous: number | undefined;
  try {
    previous = process.umask(0o177);
  } catch {
    previous = undefined;
  }
  try {
    server.listen(path, () => chmodSync(path, 0o600));
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
}

/** The error for a failed connect to the status socket, saying what to do about it. */
export function connectError(path: string, error: NodeJS.ErrnoException): Error {
  if (error.code === 'EACCES' || error.code === 'EPERM') {
    return new Error(`permission denied on ${path}: the status socket is root's only (run with sudo)`);
  }
  return new Error(`the client is not running (no status socket at ${path}): ${error.message}`);
}

export function readStatus(
  path: string,
  timeoutMs = 3_000,
  request: SocketRequest = { command: 'status' },
): Promise<ClientStatus> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    let connected = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from the client at ${path}`));
    }, timeoutMs);
    const settle = (): void => {
      clearTimeout(timer);
      let answer: unknown;
      try {
        answer = JSON.parse(text);
      } catch {
        reject(new Error(`unreadable status from ${path}`));
        return;
      }
      const { error } = answer as { error?: unknown };
      if (typeof error === 'string') reject(new Error(`the client answered: ${error}`));
      else resolve(answer as ClientStatus);
    };
    // Asking explicitly spares the server's wait for a request; a client from before requests
    // existed ignores the line and answers with its status all the same.
    socket.on('connect', () => {
      connected = true;
      socket.write(`${JSON.stringify(request)}\n`);
    });
    socket.on('data', (chunk) => (text += chunk.toString('utf8')));
    socket.on('error', (error) => {
      // An older client may close before reading our request line: its answer is still whole.
      if (connected && text.endsWith('\n')) return settle();
      clearTimeout(timer);
      reject(
        connected ? new Error(`lost the client at ${path}: ${error.message}`) : connectError(path, error),
      );
    });
    socket.on('end', settle);
  });
}

export function formatStatus(s: ClientStatus, now = Date.now()): string {
  const lines: string[] = [];
  const portal = s.portal.status === 'joined' ? 'connected' : s.portal.status;
  const who = s.signedInAs
    ? `${s.signedInAs.name}${s.signedInAs.email ? ` <${s.signedInAs.email}>` : ''}`
    : 'unknown';
  lines.push(`Signed in as: ${who}`);
  lines.push(`Portal:       ${portal}`);
  if (s.interface) lines.push(`Tunnel:       ${s.interface.ipv4}, ${s.interface.ipv6}`);
  lines.push('');
  lines.push(`Resources (${s.resources.length}):`);
  for (const r of s.resources) {
    const via = r.gatewayId ? ` via gateway ${r.gatewayId.slice(0, 8)}` : '';
    lines.push(
      `  ${r.name.padEnd(24)} ${r.type.padEnd(8)} ${r.address}${via}${r.siteOffline ? ' (site offline)' : ''}`,
    );
  }
  lines.push('');
  lines.push(`Connections (${s.connections.length}):`);
  for (const c of s.connections) {
    const path = c.path
      ? `${c.path.relayed ? 'relayed' : 'direct'} (${c.path.localKind} → ${c.path.remoteKind}, ${c.path.local} → ${c.path.remote})`
      : 'no path yet';
    const handshake =
      c.lastHandshakeAt !== undefined
        ? `${Math.max(0, Math.round((now - c.lastHandshakeAt) / 1000))} s ago`
        : 'never';
    lines.push(`  gateway ${c.id}: ${c.state}`);
    lines.push(`    path:           ${path}`);
    lines.push(`    rtt:            ${c.rttMs !== undefined ? `${c.rttMs.toFixed(1)} ms` : 'unknown'}`);
    lines.push(`    bytes:          sent ${c.txBytes}, received ${c.rxBytes}`);
    lines.push(`    last handshake: ${handshake}`);
    lines.push(`    resources:      ${c.resources.join(', ')}`);
  }
  if (s.relays.length > 0) {
    lines.push('');
    lines.push('Relays:');
    for (const r of s.relays)
      lines.push(`  ${r.id}: ${r.state}${r.relayed.length ? ` (${r.relayed.join(', ')})` : ''}`);
  }
  if (s.dns) {
    lines.push('');
    lines.push(
      `DNS:          ${s.dns.sentinels.join(', ') || 'no sentinel'} (answered here ${s.dns.localAnswers}, ` +
        `forwarded ${s.dns.forwarded}, failed ${s.dns.failures})`,
    );
    for (const n of s.dns.names) {
      const held = n.buffered > 0 ? `, ${n.buffered} packets held` : '';
      lines.push(`  ${n.domain}: ${n.state} via gateway ${n.gatewayId} (${n.proxyIps.join(', ')}${held})`);
    }
  }
  return `${lines.join('\n')}\n`;
}
