// The development bridge on loopback, with a stand-in renderer directory and the fake engine:
// who may connect (secret, Origin), what reaches the router, the OS stand-in, the static files.

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { IpcResult } from '../../src-shared/ipc.js';
import { DEEP_LINK_SCHEME } from '../../src-shared/ipc.js';
import { MemoryTokenStore } from '../auth/token-store.js';
import { FakeEngineHost } from '../engine/fake-engine-host.js';
import { CONTENT_SECURITY_POLICY } from '../security/app-origin.js';
import { TEST_SESSION, eventually } from '../testing/test-app.js';
import { startBridge, type Bridge, type BridgeOptions } from './bridge.js';
import { BRIDGE_PROTOCOL, SECRET_PROTOCOL_PREFIX, type ServerMessage } from './wire.js';

const INDEX = `<!doctype html>
<html lang="en">
  <head>
    <meta
      http-equiv="Content-Security-Policy"
      content="${CONTENT_SECURITY_POLICY}"
    />
    <script type="module" crossorigin src="./assets/app.js"></script>
  </head>
  <body><div id="root"></div></body>
</html>
`;

let root: string;
let rendererDir: string;
const bridges: Bridge[] = [];
const sockets: WebSocket[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fz-bridge-test-'));
  rendererDir = path.join(root, 'renderer');
  await mkdir(path.join(rendererDir, 'assets'), { recursive: true });
  await writeFile(path.join(rendererDir, 'index.html'), INDEX);
  await writeFile(path.join(rendererDir, 'assets', 'app.js'), 'console.log("app");\n');
  await writeFile(path.join(rendererDir, 'assets', 'notes.txt'), 'not a served type\n');
  // Next to the served directory: must never be reachable.
  await writeFile(path.join(root, 'outside.js'), 'secret outside the renderer\n');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(bridges.splice(0).map((b) => b.close()));
});

async function start(o: Partial<BridgeOptions> = {}): Promise<Bridge> {
  const b = await startBridge({
    engine: new FakeEngineHost({
      timings: { startMs: 5, portalMs: 10, tunnelMs: 10, flowMs: 10, tickMs: 50, retryMs: 30 },
    }),
    rendererDir,
    managedConfigFile: path.join(root, 'no-managed-config.json'),
    ...o,
  });
  bridges.push(b);
  return b;
}

type Outcome = { ok: true; ws: WebSocket; messages: ServerMessage[] } | { ok: false; status: number };

/** Opens the page's socket as a browser would; the handshake's HTTP status when refused. */
function connect(
  b: Bridge,
  o: { secret?: string | null; origin?: string | null; path?: string; socketPath?: string } = {},
): Promise<Outcome> {
  const secret = o.secret === undefined ? b.secret : o.secret;
  const protocols =
    secret === null ? [BRIDGE_PROTOCOL] : [BRIDGE_PROTOCOL, `${SECRET_PROTOCOL_PREFIX}${secret}`];
  const headers: Record<string, string> = {};
  const origin = o.origin === undefined ? b.origin : o.origin;
  if (origin !== null) headers.Origin = origin;
  const url = o.socketPath
    ? `ws+unix:${o.socketPath}:${o.path ?? '/bridge/ws'}`
    : `ws://127.0.0.1:${b.port}${o.path ?? '/bridge/ws'}`;
  const ws = new WebSocket(url, protocols, { headers });
  sockets.push(ws);
  const messages: ServerMessage[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data)) as ServerMessage));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ok: true, ws, messages }));
    ws.once('unexpected-response', (_req, res) => resolve({ ok: false, status: res.statusCode ?? 0 }));
    ws.once('error', reject);
  });
}

async function connected(b: Bridge, o: Parameters<typeof connect>[1] = {}) {
  const r = await connect(b, o);
  if (!r.ok) throw new Error(`refused with ${r.status}`);
  return r;
}

let nextId = 1;
async function invoke(
  c: { ws: WebSocket; messages: ServerMessage[] },
  channel: string,
  arg: unknown = null,
): Promise<IpcResult<unknown>> {
  const id = nextId++;
  c.ws.send(JSON.stringify({ t: 'invoke', id, channel, arg }));
  const reply = await eventually(() => c.messages.find((m) => m.t === 'reply' && m.id === id), 5000);
  return (reply as Extract<ServerMessage, { t: 'reply' }>).result;
}

interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(
  b: Bridge,
  pathname: string,
  o: { method?: string; headers?: Record<string, string>; body?: string; socketPath?: string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...(o.socketPath ? { socketPath: o.socketPath } : { host: '127.0.0.1', port: b.port }),
        path: pathname,
        method: o.method ?? 'GET',
        headers: o.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

function callbackFor(openedUrl: string): string {
  const q = new URLSearchParams({
    account_name: 'Acme Inc',
    account_slug: 'acme',
    actor_name: 'Jane Doe',
    fragment: 'SFMyNTY.g2gDbQAAACQ-bridge-fragment',
    identity_provider_identifier: 'idp',
    state: new URL(openedUrl).searchParams.get('state')!,
  });
  return `${DEEP_LINK_SCHEME}://handle_client_sign_in_callback?${q}`;
}

describe('the page socket', () => {
  it('needs the secret: none or a wrong one is refused, the right one gets the snapshot', async () => {
    const b = await start();
    expect(b.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.url).toBe(`${b.origin}/#secret=${b.secret}`);
    expect(await connect(b, { secret: null })).toEqual({ ok: false, status: 401 });
    expect(await connect(b, { secret: 'A'.repeat(43) })).toEqual({ ok: false, status: 401 });
    expect(await connect(b, { secret: b.secret.slice(0, -1) })).toEqual({ ok: false, status: 401 });
    expect(b.sockets.refusals).toEqual(['secret', 'secret', 'secret']);
    // The refusals are logged, the secret is not.
    const log = b.composed.logger.recent().map((e) => e.message);
    expect(log.filter((m) => m.includes('WebSocket refused (secret)'))).toHaveLength(3);
    expect(log.join('\n')).not.toContain(b.secret);

    const page = await connected(b);
    expect(page.ws.protocol).toBe(BRIDGE_PROTOCOL);
    const snap = await invoke(page, 'app:getSnapshot');
    expect(snap.ok).toBe(true);
    expect(snap.ok && (snap.value as { info: { engine: string } }).info.engine).toBe('simulated');
    expect(snap.ok && (snap.value as { update: unknown }).update).toEqual({
      kind: 'disabled',
      reason: 'development bridge',
    });
  });

  it('refuses a foreign or missing Origin even with the secret, and other paths', async () => {
    const b = await start();
    expect(await connect(b, { origin: 'http://evil.test' })).toEqual({ ok: false, status: 403 });
    expect(await connect(b, { origin: `http://localhost:${b.port}` })).toEqual({ ok: false, status: 403 });
    expect(await connect(b, { origin: null })).toEqual({ ok: false, status: 403 });
    expect(await connect(b, { path: '/ws' })).toEqual({ ok: false, status: 404 });
    expect(b.sockets.pageCount).toBe(0);
  });

  it('admits a forwarded origin given in allowedOrigins, and allows it in the CSP', async () => {
    const b = await start({ allowedOrigins: ['http://127.0.0.1:8090/'] });
    const page = await connected(b, { origin: 'http://127.0.0.1:8090' });
    expect((await invoke(page, 'app:getSnapshot')).ok).toBe(true);
    const res = await http(b, '/');
    expect(res.headers['content-security-policy']).toContain(
      `connect-src ws://127.0.0.1:${b.port} ws://127.0.0.1:8090;`,
    );
  });

  it("answers invalid calls with the router's errors and survives garbage", async () => {
    const b = await start();
    const page = await connected(b);
    const bad = await invoke(page, 'auth:signIn', { accountSlug: 42 });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error.code).toBe('invalid-argument');
    const unknown = await invoke(page, 'app:selfDestruct');
    expect(!unknown.ok && unknown.error.code).toBe('unknown-call');
    page.ws.send('{not json');
    page.ws.send(JSON.stringify({ t: 'invoke', id: -1, channel: '__proto__:x' }));
    page.ws.send(Buffer.from([1, 2, 3]));
    expect((await invoke(page, 'app:getSnapshot')).ok).toBe(true);
    expect(b.composed.logger.recent().filter((e) => e.message.includes('malformed message'))).toHaveLength(3);
  });

  it("pushes main's changes to every page", async () => {
    const b = await start();
    const [one, two] = [await connected(b), await connected(b)];
    const r = await invoke(one, 'settings:update', { theme: 'dark' });
    expect(r.ok).toBe(true);
    for (const page of [one, two]) {
      await eventually(() =>
        page.messages.find(
          (m) =>
            m.t === 'push' &&
            m.channel === 'settings:state' &&
            (m.payload as { values: { theme: string } }).values.theme === 'dark',
        ),
      );
    }
  });

  it('connects the tunnel for a stored session; the app asking to open a page reaches the page', async () => {
    const tokens = new MemoryTokenStore();
    await tokens.save(TEST_SESSION);
    const b = await start({ tokens, settings: { connectOnStart: false } });
    const page = await connected(b);
    expect((await invoke(page, 'tunnel:connect')).ok).toBe(true);
    await eventually(
      () =>
        page.messages.find(
          (m) => m.t === 'push' && m.channel === 'resources:list' && (m.payload as []).length > 0,
        ),
      5000,
    );
    await eventually(() => b.controller.snapshot().tunnel.state === 'connected', 5000);
    // Sign out, then start a sign-in: the portal page goes to the connected page and the log.
    expect((await invoke(page, 'auth:signOut')).ok).toBe(true);
    expect((await invoke(page, 'auth:signIn', { accountSlug: 'acme' })).ok).toBe(true);
    const opened = b.platform.lastOpened!;
    expect(opened).toMatch(/^https:\/\/app\.fzdesktop\.dev\/acme\?as=gui-client&nonce=/);
    await eventually(() =>
      page.messages.find((m) => m.t === 'os' && m.op === 'open-url' && m.url === opened),
    );
  });
});

describe('POST /os/open-url', () => {
  it('needs the secret and no browser Origin; with it the link signs the app in', async () => {
    const b = await start();
    const page = await connected(b);
    expect((await invoke(page, 'auth:signIn', { accountSlug: 'acme' })).ok).toBe(true);
    const link = callbackFor(b.platform.lastOpened!);

    const none = await http(b, '/os/open-url', { method: 'POST', body: link });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const wrong = await http(b, '/os/open-url', {
      method: 'POST',
      body: link,
      headers: { Authorization: `Bearer ${'x'.repeat(43)}` },
    });
    expect(wrong.status).toBe(401);
    const fromPage = await http(b, '/os/open-url', {
      method: 'POST',
      body: link,
      headers: { Authorization: `Bearer ${b.secret}`, Origin: b.origin },
    });
    expect(fromPage.status).toBe(403);
    const huge = await http(b, '/os/open-url', {
      method: 'POST',
      body: `${link}&pad=${'a'.repeat(9000)}`,
      headers: { Authorization: `Bearer ${b.secret}` },
    });
    expect(huge.status).toBe(413);
    expect((await http(b, '/os/open-url')).status).toBe(405);
    expect(b.controller.auth.kind).toBe('signing-in');

    const ok = await http(b, '/os/open-url', {
      method: 'POST',
      body: link,
      headers: { Authorization: `Bearer ${b.secret}`, 'Content-Type': 'text/plain' },
    });
    expect(ok.status).toBe(202);
    await eventually(() => b.controller.auth.kind === 'signed-in', 5000);
    await eventually(() =>
      page.messages.find(
        (m) =>
          m.t === 'push' &&
          m.channel === 'auth:state' &&
          (m.payload as { kind: string }).kind === 'signed-in',
      ),
    );
    expect(
      b.composed.logger
        .recent()
        .map((e) => e.message)
        .join('\n'),
    ).not.toContain('bridge-fragment');
  });
});

describe('static files', () => {
  it('serves index.html with the bridge CSP (header and meta) and the client script', async () => {
    const b = await start();
    const res = await http(b, '/');
    expect(res.status).toBe(200);
    const csp = CONTENT_SECURITY_POLICY.replace("connect-src 'none'", `connect-src ws://127.0.0.1:${b.port}`);
    expect(res.headers['content-security-policy']).toBe(csp);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.body).toContain(`content="${csp}"`);
    expect(res.body).not.toContain("connect-src 'none'");
    expect(res.body).toMatch(/<script src="\.\/bridge-client\.js"><\/script>\s*<\/head>/);
    expect(res.body).not.toContain(b.secret);

    const client = await http(b, '/bridge-client.js');
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(client.body).toContain(BRIDGE_PROTOCOL);
    const asset = await http(b, '/assets/app.js');
    expect(asset.status).toBe(200);
    expect(asset.body).toBe('console.log("app");\n');
    expect(asset.headers['content-security-policy']).toBe(csp);
  });

  it('serves nothing outside the build directory or of unknown types', async () => {
    const b = await start();
    for (const p of [
      '/../outside.js',
      '/..%2foutside.js',
      '/assets/..%2f..%2foutside.js',
      '/%2e%2e/outside.js',
      '/assets%5c..%5c..%5coutside.js',
      '/assets/notes.txt',
      '/nope.js',
      '/bridge/ws',
    ]) {
      const res = await http(b, p);
      expect([p, res.status]).toEqual([p, 404]);
      expect(res.body).not.toContain('secret outside');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    expect((await http(b, '/', { method: 'POST' })).status).toBe(405);
  });
});

describe('listening', () => {
  it('fails to start without a built renderer, leaving nothing behind', async () => {
    await expect(start({ rendererDir: path.join(root, 'missing') })).rejects.toThrow(/ENOENT/);
  });

  it('refuses non-loopback hosts', async () => {
    await expect(start({ host: '0.0.0.0' })).rejects.toThrow(/loopback only/);
    await expect(start({ host: '192.168.1.10' })).rejects.toThrow(/loopback only/);
  });

  it('serves the same endpoints on a Unix socket, and close() stops the engine and both servers', async () => {
    const socketPath = path.join(root, 'bridge.sock');
    const b = await start({ unixSocket: socketPath });
    expect((await http(b, '/', { socketPath })).status).toBe(200);
    const page = await connected(b, { socketPath });
    expect((await invoke(page, 'app:getSnapshot')).ok).toBe(true);
    expect(await connect(b, { socketPath, secret: null })).toEqual({ ok: false, status: 401 });
    const closedPage = new Promise((resolve) => page.ws.once('close', resolve));
    let stopped = false;
    const stop = b.engine.stop.bind(b.engine);
    b.engine.stop = async () => {
      stopped = true;
      await stop();
    };
    await b.close();
    bridges.splice(bridges.indexOf(b), 1);
    expect(stopped).toBe(true);
    await closedPage;
    await expect(http(b, '/')).rejects.toThrow(/ECONNREFUSED/);
    await expect(http(b, '/', { socketPath })).rejects.toThrow(/ENOENT|ECONNREFUSED/);
    // The run's directory (default profile, logs) is gone, and nothing wrote into it afterwards.
    await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(b.runDir)).toBe(false);
  });

  it('save dialogs answer with a file in the run directory, never outside it', async () => {
    const b = await start();
    expect(await b.platform.chooseSavePath('fz-logs-1.zip', 'log-export')).toBe(
      path.join(b.saveDir, 'fz-logs-1.zip'),
    );
    expect(await b.platform.chooseSavePath('../../etc/evil.pcap', 'packet-capture')).toBe(
      path.join(b.saveDir, 'evil.pcap'),
    );
    expect(b.saveDir.startsWith(b.runDir)).toBe(true);
  });

  it('app:quit closes the bridge', async () => {
    let quit = false;
    const b = await start({ onQuit: () => (quit = true) });
    const page = await connected(b);
    page.ws.send(JSON.stringify({ t: 'send', channel: 'app:quit', arg: null }));
    await eventually(() => quit, 5000);
    expect(b.platform.quitRequested).toBe(true);
    await expect(http(b, '/')).rejects.toThrow(/ECONNREFUSED/);
  });
});
