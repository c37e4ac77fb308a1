// The development bridge: main's logic (composeApp: controller, router, settings, logs) and an
// engine, without Electron, with the React renderer served to a browser on loopback. The page's
// `window.fz` talks to the router over a WebSocket admitted by a per-run secret; what Electron
// would hand to the OS goes to the page and to the terminal. See src-main/README.md.

import { chmod, mkdir, mkdtemp, readFile, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Settings } from '../../src-shared/domain.js';
import type { AppController } from '../app/app-controller.js';
import { composeApp, type ComposedApp } from '../app/compose.js';
import { MemoryTokenStore, type TokenStore } from '../auth/token-store.js';
import type { EngineKind } from '../engine/create-engine-host.js';
import type { EngineHost } from '../engine/engine-host.js';
import { FakeEngineHost } from '../engine/fake-engine-host.js';
import { managedConfigPath } from '../settings/managed-config.js';
import { BridgePlatform } from './bridge-platform.js';
import { BridgeUpdater } from './bridge-updater.js';
import { bundleBridgeClient } from './client-bundle.js';
import { createHttpHandler } from './http-handler.js';
import { bridgeCsp, bridgeHeaders, rewriteIndexHtml } from './page-security.js';
import { REPO_ROOT, ensureRendererBuild } from './renderer-build.js';
import { generateSecret } from './secret.js';
import { BridgeSocketServer } from './socket-server.js';

export interface BridgeOptions {
  /**
   * The engine host main drives (tests: a `FakeEngineHost`), or a factory given the profile
   * directory (the CLI: `(dir) => createEngineHost({ userDataDir: dir })`).
   */
  readonly engine: EngineHost | ((userDataDir: string) => { host: EngineHost; kind: EngineKind });
  /** Shown in About; by default `simulated` for a `FakeEngineHost`, else `worker`. */
  readonly engineKind?: EngineKind;
  /** Loopback only: 127.0.0.1 (default), ::1 or localhost. */
  readonly host?: string;
  /** 0 (default): a free port. */
  readonly port?: number;
  /** Also serve the same HTTP + WebSocket endpoints on this Unix socket (mode 0600). */
  readonly unixSocket?: string;
  /** Page origins besides the bridge's own that may connect (a forwarded port: `http://127.0.0.1:8090`). */
  readonly allowedOrigins?: readonly string[];
  /** Default: a new directory in the run's temporary directory. */
  readonly userDataDir?: string;
  /** Default: the platform's managed configuration file, as in the app. */
  readonly managedConfigFile?: string;
  /** Default: a memory-only store (the bridge never writes tokens to files). */
  readonly tokens?: TokenStore;
  /** Settings written to the profile before start (a dev portal's URLs, the account). */
  readonly settings?: Partial<Settings>;
  /** A built renderer (index.html + assets); default: built by Vite into dist/bridge/ when missing. */
  readonly rendererDir?: string;
  /** Lines for the person at the terminal (ready, URLs to open, saved files). Default: none. */
  readonly print?: (line: string) => void;
  /** Echo main's log to stderr. */
  readonly echoLogs?: boolean;
  /** Keep the run directory (saved files, the default profile) after `close()`. */
  readonly keepRunDir?: boolean;
  readonly optimisticTimeoutMs?: number;
  readonly engineResponseTimeoutMs?: number;
  /** The app asked to quit (the bridge is already closing). */
  readonly onQuit?: () => void;
}

export interface Bridge {
  /** The page's address with the secret: `http://127.0.0.1:<port>/#secret=<secret>`. */
  readonly url: string;
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  readonly port: number;
  readonly secret: string;
  readonly controller: AppController;
  readonly engine: EngineHost;
  readonly composed: ComposedApp;
  readonly platform: BridgePlatform;
  readonly sockets: BridgeSocketServer;
  readonly userDataDir: string;
  /** Where save dialogs put files (log exports, captures). */
  readonly saveDir: string;
  readonly runDir: string;
  /** What `POST /os/open-url` does: hands a URL with our scheme to main (`handleDeepLink`). */
  openUrl(url: string): Promise<void>;
  /** Stops main (controller shutdown, as Electron's before-quit), the engine and the servers. */
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

function originOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function normalizeOrigin(origin: string): string {
  const u = new URL(origin);
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin === 'null') {
    throw new Error(`not an http(s) origin: ${origin}`);
  }
  return u.origin;
}

function listen(server: Server, target: { port: number; host: string } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if ('path' in target) server.listen(target.path, done);
    else server.listen(target.port, target.host, done);
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function appVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
    version?: string;
  };
  return pkg.version ?? '0.0.0';
}

/** A stale socket file from a crashed run would make listen fail; anything else is left alone. */
async function removeStaleSocket(file: string): Promise<void> {
  const info = await stat(file).catch(() => null);
  if (!info) return;
  if (!info.isSocket()) throw new Error(`${file} exists and is not a socket`);
  await unlink(file);
}

export async function startBridge(o: BridgeOptions): Promise<Bridge> {
  const host = o.host ?? '127.0.0.1';
  if (!LOOPBACK_HOSTS.has(host)) {
    throw new Error(`the bridge listens on loopback only (127.0.0.1, ::1, localhost), not ${host}`);
  }
  const print = o.print ?? (() => {});
  const secret = generateSecret();
  const runDir = await mkdtemp(path.join(tmpdir(), 'fz-bridge-'));
  const saveDir = path.join(runDir, 'saved');
  const userDataDir = path.resolve(o.userDataDir ?? path.join(runDir, 'user-data'));
  await mkdir(saveDir, { recursive: true });
  await mkdir(userDataDir, { recursive: true });
  const clientScriptFile = path.join(runDir, 'bridge-client.js');
  let rendererDir: string;
  let indexTemplate: string;
  try {
    [rendererDir] = await Promise.all([
      o.rendererDir ? Promise.resolve(path.resolve(o.rendererDir)) : ensureRendererBuild(print),
      bundleBridgeClient(clientScriptFile),
    ]);
    indexTemplate = await readFile(path.join(rendererDir, 'index.html'), 'utf8');
  } catch (e) {
    await rm(runDir, { recursive: true, force: true });
    throw e;
  }

  // The origin is known once the port is: listen first, serve once everything is wired.
  let handler: RequestListener | null = null;
  let upgrade: BridgeSocketServer['handleUpgrade'] | null = null;
  const servers: Server[] = [];
  const makeServer = () => {
    const server = createServer((req, res) => {
      if (handler) handler(req, res);
      else res.writeHead(503).end();
    });
    server.on('upgrade', (req, socket, head) => {
      if (upgrade) upgrade(req, socket, head);
      else socket.destroy();
    });
    servers.push(server);
    return server;
  };
  let composed: ComposedApp | null = null;
  let sockets: BridgeSocketServer | null = null;
  /** No page may reach main any more: before main shuts down, so nothing logs after its last flush. */
  const stopServing = async () => {
    await sockets?.close();
    await Promise.all(servers.map(closeServer));
  };
  const removeRunDir = async () => {
    if (!o.keepRunDir) {
      await rm(runDir, { recursive: true, force: true });
      return;
    }
    // Kept for what the person saved; an empty one goes.
    await rm(clientScriptFile, { force: true });
    for (const dir of [saveDir, runDir]) await rmdir(dir).catch(() => {});
  };

  try {
    const tcp = makeServer();
    await listen(tcp, { port: o.port ?? 0, host });
    const port = (tcp.address() as AddressInfo).port;
    const origin = originOf(host, port);
    const allowedOrigins = new Set([origin, ...(o.allowedOrigins ?? []).map(normalizeOrigin)]);
    const sender = { url: `${origin}/index.html` };

    let closing: Promise<void> | null = null;
    let close: () => Promise<void> = async () => {};
    const platform = new BridgePlatform({
      saveDir,
      print,
      toPage: (request) => sockets?.toPages(request),
      onQuit: () => {
        void close().finally(() => o.onQuit?.());
      },
    });
    const made = typeof o.engine === 'function' ? o.engine(userDataDir) : null;
    const engine = made?.host ?? (o.engine as EngineHost);
    const engineKind =
      o.engineKind ?? made?.kind ?? (engine instanceof FakeEngineHost ? 'simulated' : 'worker');
    const app = await composeApp({
      userDataDir,
      managedConfigFile: o.managedConfigFile ?? managedConfigPath(process.platform),
      os: process.platform,
      platform,
      engine,
      // Tokens live in memory for the run: the bridge has no OS keychain to protect a file.
      tokens: o.tokens ?? new MemoryTokenStore('memory (development bridge)'),
      createUpdater: () => new BridgeUpdater(),
      push: (channel, payload) => sockets?.push(channel, payload),
      // Every admitted page speaks as the bridge's own page; this is the router's sender check.
      isTrustedSender: (s) => s.url === sender.url,
      info: {
        version: await appVersion(),
        electron: null,
        chrome: null,
        node: process.versions.node,
        platform: process.platform,
        arch: process.arch,
        engine: engineKind,
      },
      echoLogs: o.echoLogs,
      optimisticTimeoutMs: o.optimisticTimeoutMs,
      engineResponseTimeoutMs: o.engineResponseTimeoutMs,
    });
    composed = app;
    close = () => {
      closing ??= (async () => {
        try {
          await stopServing();
          await app.controller.shutdown();
        } finally {
          await removeRunDir();
        }
      })();
      return closing;
    };
    if (o.settings && Object.keys(o.settings).length > 0) {
      const r = await app.settings.update(o.settings);
      if (!r.ok) throw new Error(`the bridge's settings were refused: ${JSON.stringify(r)}`);
    }
    sockets = new BridgeSocketServer({
      secret,
      allowedOrigins,
      sender,
      router: app.router,
      logger: app.logger,
    });
    const csp = bridgeCsp([...allowedOrigins]);
    const openUrl = async (url: string) => {
      await app.controller.handleDeepLink(url);
    };
    handler = createHttpHandler({
      rendererDir,
      clientScriptFile,
      indexHtml: rewriteIndexHtml(indexTemplate, csp),
      headers: bridgeHeaders(csp),
      secret,
      logger: app.logger,
      openUrl: (url) => {
        openUrl(url).catch((e: Error) => app.logger.warn(`bridge: deep link failed: ${e.message}`));
      },
    });
    upgrade = sockets.handleUpgrade;

    await app.controller.init();
    if (o.unixSocket) {
      const file = path.resolve(o.unixSocket);
      await removeStaleSocket(file);
      const unix = makeServer();
      await listen(unix, { path: file });
      // Only this user may talk to it; the secret is still required.
      await chmod(file, 0o600);
    }

    return {
      url: `${origin}/#secret=${secret}`,
      origin,
      port,
      secret,
      controller: app.controller,
      engine,
      composed: app,
      platform,
      sockets,
      userDataDir,
      saveDir,
      runDir,
      openUrl,
      close: () => close(),
    };
  } catch (e) {
    await stopServing();
    if (composed) await composed.controller.shutdown().catch(() => {});
    await removeRunDir();
    throw e;
  }
}
