/**
 * The headless client's status socket: a Unix socket (mode 0600) that answers every connection
 * with one JSON line of the engine's status and closes. `npm run client -- status` reads it and
 * prints it for people (or as JSON with --json).
 */
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import type { ClientStatus } from '../src-engine/client/client-runtime.js';

export function serveStatus(path: string, status: () => ClientStatus): Server {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (existsSync(path)) rmSync(path); // a stale socket of a killed client
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    try {
      socket.end(`${JSON.stringify(status())}\n`);
    } catch (error) {
      socket.end(`${JSON.stringify({ error: (error as Error).message })}\n`);
    }
  });
  server.listen(path, () => chmodSync(path, 0o600));
  return server;
}

export function readStatus(path: string, timeoutMs = 3_000): Promise<ClientStatus> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from the client at ${path}`));
    }, timeoutMs);
    socket.on('data', (chunk) => (text += chunk.toString('utf8')));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`the client is not running (no status socket at ${path}): ${error.message}`));
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text) as ClientStatus);
      } catch {
        reject(new Error(`unreadable status from ${path}`));
      }
    });
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
  return `${lines.join('\n')}\n`;
}
