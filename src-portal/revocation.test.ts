/**
 * Revocation through the real dev portal (HTTP + WebSocket + SQLite): a token revoked by another
 * process while its client is offline, and a revoked peer that ignores the close frame.
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { PortalRole } from '../src-engine/portal/session-core.js';
import { PortalStore } from './store.js';
import {
  CLIENT_UA,
  configYaml,
  GATEWAY_TOKEN,
  newPublicKey,
  openSession,
  removeDir,
  startPortal,
  tempDir,
  waitFor,
  type TestPortal,
  type TestSession,
} from './test-support.js';

const secrets = new Set<string>([GATEWAY_TOKEN]);
const allLogs: string[][] = [];
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => {
  const text = allLogs.map((lines) => lines.join('')).join('');
  for (const secret of secrets) expect(text.includes(secret), 'a log line contains a secret').toBe(false);
});

async function portalFor(): Promise<TestPortal> {
  const dir = tempDir();
  const started = await startPortal(dir, { config: await configYaml() });
  allLogs.push(started.logs);
  cleanups.push(() => removeDir(dir));
  cleanups.push(() => started.portal.stop());
  return started;
}

function session<R extends PortalRole>(portal: TestPortal, role: R, token: string): TestSession<R> {
  secrets.add(token);
  const opened = openSession(portal.portal.url, role, token);
  allLogs.push(opened.logs);
  cleanups.push(() => opened.session.stop());
  opened.session.start();
  return opened;
}

/**
 * A WebSocket client that does the upgrade and sends masked text frames by hand, and never
 * answers a close frame: what a misbehaving or malicious peer does.
 */
async function rawClient(
  portal: TestPortal,
  token: string,
): Promise<{ socket: Socket; send(frame: unknown): void; received: () => string; closed: Promise<void> }> {
  const { port } = new URL(portal.portal.url);
  const socket = connect(Number(port), '127.0.0.1');
  cleanups.push(() => void socket.destroy());
  let buffer = '';
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('data', (chunk: Buffer) => (buffer += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  const key = randomBytes(16).toString('base64');
  const query = `external_id=raw-peer&public_key=${encodeURIComponent(newPublicKey())}`;
  socket.write(
    `GET /client/v2/websocket?${query} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      `X-Authorization: Bearer ${token}\r\nUser-Agent: ${CLIENT_UA}\r\n\r\n`,
  );
  await waitFor(() => buffer.includes('\r\n\r\n'));
  expect(buffer.startsWith('HTTP/1.1 101')).toBe(true);
  const send = (frame: unknown): void => {
    if (socket.destroyed) return;
    const payload = Buffer.from(JSON.stringify(frame));
    const mask = randomBytes(4);
    const header =
      payload.length < 126
        ? Buffer.from([0x81, 0x80 | payload.length])
        : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
    const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
    socket.write(Buffer.concat([header, mask, masked]));
  };
  return { socket, send, received: () => buffer, closed };
}

describe('dev portal: revocation', () => {
  it("withdraws an offline client's grants when another process revokes its token", async () => {
    const portal = await portalFor();
    const gateway = session(portal, 'gateway', GATEWAY_TOKEN);
    const minted = portal.portal.mintClientToken('alice@acme.test');
    const alice = session(portal, 'client', minted.token);
    await gateway.next('init');
    const init = await alice.next('init');
    const lan = init.payload.resources.find((resource) => resource.name === 'LAN')!;
    alice.session.send('request_authorization', { resource_id: lan.id });
    const create = await gateway.next('create_authorization');
    gateway.session.send('authorization_created', { ref: create.payload.ref });
    await alice.next('authorization_created');
    await alice.session.stop();
    await waitFor(() => portal.portal.health().connections === 1, 5_000, 'alice offline');

    // The CLI, another process on the same database.
    const other = new PortalStore(join(portal.portal.dataDir, 'portal.sqlite3'));
    expect(other.revokeTokens({ tokenId: minted.id })).toEqual([minted.id]);
    other.close();
    expect((await gateway.next('reject_access')).payload).toEqual({
      client_id: create.payload.client.id,
      resource_id: lan.id,
    });
  });

  it('serves a revoked peer that ignores the close frame nothing more, and cuts its socket', async () => {
    const portal = await portalFor();
    const gateway = session(portal, 'gateway', GATEWAY_TOKEN);
    await gateway.next('init');
    const token = portal.portal.mintClientToken('alice@acme.test').token;
    secrets.add(token);
    const peer = await rawClient(portal, token);
    peer.send({ topic: 'client', event: 'phx_join', payload: null, ref: 0 });
    await waitFor(() => peer.received().includes('"init"'));
    const lan = /"id":"([0-9a-f-]{36})","type":"cidr"/.exec(peer.received())![1]!;

    expect(portal.portal.revokeTokens({ email: 'alice@acme.test' })).toHaveLength(1);
    await waitFor(() => peer.received().includes('token_expired'));
    const started = Date.now();
    // It keeps asking, and joining again, as if nothing happened.
    const pesters = setInterval(() => {
      peer.send({ topic: 'client', event: 'request_authorization', payload: { resource_id: lan }, ref: 5 });
      peer.send({ topic: 'client', event: 'phx_join', payload: null, ref: 6 });
    }, 50);
    await peer.closed;
    clearInterval(pesters);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(gateway.messages.filter((m) => m.event === 'create_authorization')).toEqual([]);
    expect(peer.received().split('"event":"init"').length - 1).toBe(1);
  });
});
