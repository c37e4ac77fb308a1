/**
 * The dev portal: one Node HTTP server for the sign-in pages, `/healthz` and the two Phoenix
 * WebSocket endpoints of portal API v2 (`/client/v2/websocket`, `/gateway/v2/websocket`),
 * around the engine's sans-IO signalling core. State that must survive restarts lives in SQLite.
 *
 * Every frame is validated at the boundary: oversize, binary, non-JSON and malformed frames are
 * counted and dropped (answered with an error reply when they carry a topic and ref); the socket
 * and every other session stay up.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import {
  CLIENT_SOCKET_PATH,
  DEFAULT_MAX_FRAME_BYTES,
  GATEWAY_SOCKET_PATH,
  HARD_MAX_FRAME_BYTES,
  PHOENIX_V1_VSN,
  PORTAL_IDLE_TIMEOUT_MS,
} from '../src-engine/portal/constants.js';
import {
  decodeFrame,
  describeFrameError,
  encodeFrame,
  replyFrame,
  type FrameDecodeError,
} from '../src-engine/portal/frame.js';
import type { Logger } from '../src-engine/portal/log.js';
import { isBase64Key32 } from '../src-engine/portal/messages/common.js';
import { PortalSignalling, type SessionInfo } from './signalling/core.js';
import { derivedUuid } from './signalling/views.js';
import { parseUserAgent } from '../src-engine/portal/user-agent.js';
import { ConfigError, loadConfig, type PortalConfig } from './config.js';
import { createJsonLogger } from './log.js';
import { ConnectLimiter, type BackoffOptions, type ConnectLimitOptions } from './rate-limit.js';
import { SignInHandler } from './sign-in.js';
import { DeviceLimitError, PortalStore } from './store.js';
import { extractToken, hashToken, sameHash } from './tokens.js';

export interface DevPortalOptions {
  readonly configFile: string;
  /** TCP port (0 = any free port). Default 8080. */
  readonly port?: number;
  /** Listen address. Default 127.0.0.1. */
  readonly host?: string;
  /** Directory of the SQLite database. Default `<config dir>/portal-data`. */
  readonly dataDir?: string;
  readonly logger?: Logger;
  /** Reload the config when the file changes (default true). */
  readonly watchConfig?: boolean;
  /** How often to look for tokens revoked by another process (default 1 s). */
  readonly revocationPollMs?: number;
  /** Close sockets that sent nothing for this long (default 37 s, as the real portal). */
  readonly idleTimeoutMs?: number;
  /** Frames larger than this are dropped and counted (default 256 KiB). */
  readonly maxFrameBytes?: number;
  readonly authorizationTimeoutMs?: number;
  readonly signInLimits?: {
    readonly ip?: { readonly limit: number; readonly windowMs: number };
    readonly email?: { readonly limit: number; readonly windowMs: number };
    readonly account?: Partial<BackoffOptions>;
  };
  /** Limits of the WebSocket upgrade per (IP, token) and per IP (README "Abuse limits"). */
  readonly upgradeLimits?: ConnectLimitOptions;
}

type FrameDropReason = FrameDecodeError['kind'];

interface Connection {
  readonly session: string;
  readonly role: 'client' | 'gateway';
  readonly deviceId: string;
  readonly tokenId: string;
  ws: WebSocket | undefined;
  /** Frames produced before the upgrade completed. */
  readonly early: string[];
  lastSeen: number;
  readonly loggedDrops: Set<string>;
}

/** How long a peer has to answer the portal's close frame before its socket is cut. */
const CLOSE_GRACE_MS = 2_000;

const PROBLEM_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export class DevPortal {
  readonly configFile: string;
  readonly dataDir: string;
  private config: PortalConfig;
  private readonly log: Logger;
  private readonly store: PortalStore;
  private readonly signalling: PortalSignalling;
  private readonly signIn: SignInHandler;
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly connections = new Map<string, Connection>();
  private readonly upgradeLimits: ConnectLimiter;
  private readonly maxFrameBytes: number;
  private readonly idleTimeoutMs: number;
  private sessionCounter = 0;
  private coreTimer: NodeJS.Timeout | undefined;
  private readonly intervals: NodeJS.Timeout[] = [];
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  readonly frameDrops = new Map<FrameDropReason, number>();
  /** Frames that arrived on a socket the portal was already closing. */
  closingFrameDrops = 0;

  private constructor(options: DevPortalOptions, config: PortalConfig) {
    this.configFile = resolve(options.configFile);
    this.config = config;
    this.log = options.logger ?? createJsonLogger();
    this.dataDir = resolve(options.dataDir ?? join(dirname(this.configFile), 'portal-data'));
    this.store = new PortalStore(join(this.dataDir, 'portal.sqlite3'), { logger: this.log });
    this.upgradeLimits = new ConnectLimiter(options.upgradeLimits);
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.idleTimeoutMs = options.idleTimeoutMs ?? PORTAL_IDLE_TIMEOUT_MS;
    this.signalling = new PortalSignalling({
      catalog: config.catalog,
      grants: this.store,
      ingestKey: randomBytes(32),
      newRef: () => randomBytes(18).toString('base64url'),
      // Tokens revoked by the CLI (another process) or while the portal was down never keep or
      // regain a grant, whether or not their client is connected.
      isTokenValid: (tokenId, now) => this.store.invalidTokens([tokenId], now).length === 0,
      ...(options.authorizationTimeoutMs !== undefined
        ? { authorizationTimeoutMs: options.authorizationTimeoutMs }
        : {}),
      logger: this.log,
    });
    this.signIn = new SignInHandler({
      config: () => this.config,
      store: this.store,
      logger: this.log,
      ...(options.signInLimits?.ip !== undefined ? { ipLimit: options.signInLimits.ip } : {}),
      ...(options.signInLimits?.email !== undefined ? { emailLimit: options.signInLimits.email } : {}),
      ...(options.signInLimits?.account !== undefined
        ? { accountBackoff: options.signInLimits.account }
        : {}),
      // OIDC redirect URIs: the configured public URL, else the address the portal listens on.
      baseUrl: () => this.config.publicUrl ?? this.url,
    });
    this.server = createServer((req, res) => void this.onRequest(req, res));
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        this.onUpgrade(req, socket, head);
      } catch (error) {
        if (error instanceof DeviceLimitError) {
          this.log.warn('device limit reached; connection refused', {
            ip: (socket as Socket).remoteAddress,
            kind: error.kind,
            owner: error.ownerId,
            limit: error.limit,
          });
          this.problem(socket, 402, 'limits_exceeded', error.message);
          return;
        }
        this.log.error('websocket upgrade failed', { path: (req.url ?? '').split('?')[0], error });
        this.problem(socket, 500, 'unhandled_connect_error', 'the portal could not handle the connection');
      }
    });
    this.server.on('clientError', (_error, socket: Duplex) => socket.destroy());
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: HARD_MAX_FRAME_BYTES,
      perMessageDeflate: false,
    });
  }

  /** Loads the config, opens the database and listens. */
  static async start(options: DevPortalOptions): Promise<DevPortal> {
    const config = loadConfig(options.configFile);
    const portal = new DevPortal(options, config);
    await portal.listen(options.port ?? 8080, options.host ?? '127.0.0.1');
    portal.intervals.push(setInterval(() => portal.pollRevocations(), options.revocationPollMs ?? 1_000));
    portal.intervals.push(
      setInterval(() => portal.closeIdle(), Math.max(250, Math.min(5_000, portal.idleTimeoutMs / 4))),
    );
    if (options.watchConfig ?? true) portal.watchConfig();
    portal.log.info('dev portal listening', {
      url: portal.url,
      account: config.catalog.account.slug,
      sign_in: `${portal.url}/${config.catalog.account.slug}?as=gui-client`,
      data_dir: portal.dataDir,
      ...(config.identityProviders.length > 0
        ? {
            oidc_redirect_uris: config.identityProviders.map(
              (provider) => `${config.publicUrl ?? portal.url}/auth/oidc/${provider.id}/callback`,
            ),
          }
        : {}),
    });
    return portal;
  }

  private listen(port: number, host: string): Promise<void> {
    return new Promise((resolveListen, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolveListen();
      });
    });
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  get currentConfig(): PortalConfig {
    return this.config;
  }

  // -------------------------------------------------------------------------------------------
  // Administration (also used by the CLI and tests).

  /** Mints a client token for a configured user (headless mode; no nonce). */
  mintClientToken(email: string, ttlSeconds?: number): { token: string; id: string; expiresAt: number } {
    return mintClientTokenFor(this.config, this.store, email, ttlSeconds, 'api');
  }

  /** Revokes tokens now: live sessions get `disconnect token_expired`, gateways `reject_access`. */
  revokeTokens(filter: { readonly email?: string; readonly tokenId?: string }): string[] {
    const actorId =
      filter.email !== undefined
        ? this.config.users.find((user) => user.email === filter.email!.toLowerCase())?.id
        : undefined;
    if (filter.email !== undefined && actorId === undefined)
      throw new Error(`no user ${filter.email} in the config`);
    const ids = this.store.revokeTokens({
      ...(filter.tokenId !== undefined ? { tokenId: filter.tokenId } : {}),
      ...(actorId !== undefined ? { actorId } : {}),
    });
    this.store.changedElsewhere(); // our own write; nothing else to pick up
    if (ids.length > 0) {
      this.log.info('tokens revoked', { token_ids: ids });
      this.signalling.revokeTokens(ids, Date.now());
      this.flush();
    }
    return ids;
  }

  /** Re-reads the config file; on error keeps the current config and returns the error. */
  reload(): ConfigError | undefined {
    let next: PortalConfig;
    try {
      next = loadConfig(this.configFile);
    } catch (error) {
      const configError =
        error instanceof ConfigError ? error : new ConfigError(this.configFile, [String(error)]);
      this.log.error('config reload failed; keeping the previous config', { problems: configError.problems });
      return configError;
    }
    if (next.catalog.account.slug !== this.config.catalog.account.slug) {
      this.log.warn('account slug changes take effect after a restart; keeping the old sign-in path');
    }
    const removedGatewayTokens = this.config.gatewayTokens
      .filter((old) => !next.gatewayTokens.some((entry) => entry.sha256 === old.sha256))
      .map((entry) => entry.id);
    const removedUsers = this.config.users.filter((old) => !next.users.some((user) => user.id === old.id));
    const revoked = removedUsers.flatMap((user) => this.store.revokeTokens({ actorId: user.id }));
    this.store.changedElsewhere();
    this.config = next;
    const now = Date.now();
    this.signalling.revokeTokens([...removedGatewayTokens, ...revoked], now);
    this.signalling.setCatalog(next.catalog, now);
    this.flush();
    this.log.info('config reloaded', {
      resources: next.catalog.resources.length,
      policies: next.catalog.policies.length,
      users: next.users.length,
      gateway_tokens_removed: removedGatewayTokens.length,
    });
    return undefined;
  }

  /** Counters for `/healthz` and tests. */
  health(): Record<string, unknown> {
    let clients = 0;
    let gateways = 0;
    for (const connection of this.connections.values()) {
      if (!this.signalling.isJoined(connection.session)) continue;
      if (connection.role === 'client') clients += 1;
      else gateways += 1;
    }
    return {
      status: 'ok',
      account: this.config.catalog.account.slug,
      connections: this.connections.size,
      joined: { clients, gateways },
      frames_dropped: { ...Object.fromEntries(this.frameDrops), socket_closing: this.closingFrameDrops },
      messages_refused: Object.fromEntries(this.signalling.drops),
      sign_in: this.signIn.stats,
    };
  }

  /** Graceful shutdown: stop accepting, close every socket with 1001, close the database. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.log.info('dev portal shutting down', { connections: this.connections.size });
    for (const interval of this.intervals) clearInterval(interval);
    clearTimeout(this.coreTimer);
    clearTimeout(this.reloadTimer);
    this.watcher?.close();
    const closed = new Promise<void>((done) => this.server.close(() => done()));
    const sockets = [...this.connections.values()].flatMap((connection) =>
      connection.ws ? [connection.ws] : [],
    );
    for (const ws of sockets) ws.close(1001, 'portal shutting down');
    await Promise.race([
      Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((done) =>
              ws.readyState === WebSocket.CLOSED ? done() : ws.once('close', () => done()),
            ),
        ),
      ),
      new Promise((done) => setTimeout(done, 2_000).unref()),
    ]);
    for (const ws of sockets) if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    for (const connection of [...this.connections.values()]) this.dropConnection(connection);
    this.server.closeAllConnections();
    await closed;
    this.wss.close();
    this.store.close();
    this.log.info('dev portal stopped');
  }

  // -------------------------------------------------------------------------------------------
  // HTTP.

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://portal.invalid');
      if (url.pathname === '/healthz') {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { Allow: 'GET, HEAD' }).end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
        res.end(JSON.stringify(this.health()));
        return;
      }
      if (await this.signIn.handle(req, res, url)) return;
      res.writeHead(404, {
        'Content-Type': 'text/plain; charset=utf-8',
        'X-Content-Type-Options': 'nosniff',
      });
      res.end('not found\n');
    } catch (error) {
      this.log.error('request failed', { path: (req.url ?? '').split('?')[0], error });
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    }
  }

  // -------------------------------------------------------------------------------------------
  // WebSocket upgrade: authentication and connect parameters (§3.1, §3.3).

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    const ip = (socket as Socket).remoteAddress ?? 'unknown';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://portal.invalid');
    } catch {
      this.problem(socket, 400, 'invalid_connect_params', 'malformed request target');
      return;
    }
    const role =
      url.pathname === `${CLIENT_SOCKET_PATH}/websocket`
        ? 'client'
        : url.pathname === `${GATEWAY_SOCKET_PATH}/websocket`
          ? 'gateway'
          : undefined;
    if (role === undefined) {
      this.problem(socket, 404, 'not_found', 'no WebSocket endpoint at this path');
      return;
    }
    const now = Date.now();
    const token = extractToken(req.headers['x-authorization'], url.searchParams.get('token'));
    // Budgets per (IP, credential) and per IP, failures costing more (README "Abuse limits");
    // keyed by a digest of the token, which is never kept or logged.
    const credential = token === undefined ? undefined : hashToken(token);
    const limited = this.upgradeLimits.check(ip, credential, now);
    if (!limited.allowed) {
      this.log.debug('websocket upgrade rate limited', { ip, role });
      // 503 rather than 429, as the real portal: older clients treat 429 as fatal (§3.3).
      this.problem(socket, 503, 'rate_limit', 'too many failed connection attempts', limited.retryAfterMs);
      return;
    }
    const vsn = url.searchParams.get('vsn');
    if (vsn !== null && vsn !== PHOENIX_V1_VSN) {
      this.problem(
        socket,
        400,
        'invalid_connect_params',
        `only the Phoenix V1 JSON serializer (vsn=${PHOENIX_V1_VSN}) is supported`,
      );
      return;
    }
    if (token === undefined) {
      this.upgradeLimits.failed(ip, credential, now);
      this.problem(socket, 401, 'missing_token', 'send the token as "X-Authorization: Bearer <token>"');
      return;
    }
    const userAgent = req.headers['user-agent'] ?? '';
    const ua = parseUserAgent(userAgent);
    const expectedComponents =
      role === 'gateway'
        ? ['gateway']
        : ['connlib', 'headless-client', 'gui-client', 'apple-client', 'android-client'];
    if (!ua || !expectedComponents.includes(ua.component)) {
      this.problem(
        socket,
        400,
        'invalid_connect_params',
        `User-Agent must name a ${role} component with its version`,
      );
      return;
    }
    const publicKey = url.searchParams.get('public_key') ?? '';
    const externalId = url.searchParams.get('external_id') ?? '';
    const name = url.searchParams.get('name');
    if (!isBase64Key32(publicKey)) {
      this.problem(
        socket,
        400,
        'invalid_connect_params',
        'public_key must be 32 bytes in standard base64 (44 characters)',
      );
      return;
    }
    if (!/^[\x21-\x7e]{1,255}$/.test(externalId)) {
      this.problem(socket, 400, 'invalid_connect_params', 'external_id must be 1-255 printable characters');
      return;
    }
    if (name !== null && (name.length === 0 || name.length > 255)) {
      this.problem(socket, 400, 'invalid_connect_params', 'name must be 1-255 characters');
      return;
    }

    let info: SessionInfo;
    if (role === 'client') {
      const check = this.store.verifyClientToken(token, now);
      const user = check.ok
        ? this.config.users.find((candidate) => candidate.id === check.token.actorId)
        : undefined;
      if (!check.ok || !user) {
        this.upgradeLimits.failed(ip, credential, now);
        this.log.warn('client connection refused', { ip, reason: check.ok ? 'user removed' : check.reason });
        this.problem(socket, 401, 'invalid_token', 'the token is invalid, expired or revoked');
        return;
      }
      this.upgradeLimits.succeeded(ip, credential, now);
      const device = this.store.upsertDevice(
        {
          kind: 'client',
          ownerId: user.id,
          externalId,
          name: name ?? `client-${externalId.slice(0, 8)}`,
          publicKey,
          userAgent,
          newId: randomUUID,
          maxDevices: this.config.limits.devicesPerUser,
        },
        now,
      );
      info = {
        kind: 'client',
        device: {
          id: device.id,
          name: device.name,
          ipv4: device.ipv4,
          ipv6: device.ipv6,
          pskBase: device.pskBase,
        },
        actorId: user.id,
        tokenId: check.token.id,
        tokenExpiresAt: check.token.expiresAt,
        publicKey,
        userAgent: ua,
        deviceSerial: url.searchParams.get('device_serial'),
        deviceUuid: url.searchParams.get('device_uuid'),
        identifierForVendor: url.searchParams.get('identifier_for_vendor'),
        firebaseInstallationId: url.searchParams.get('firebase_installation_id'),
        // What Firezone's portal sends the gateway as the `subject` of an authorization.
        remoteIp: ip,
        userAgentString: userAgent,
        authProviderId: derivedUuid(`auth_provider|${authProviderOf(check.token.source)}`),
      };
    } else {
      const hash = hashToken(token);
      const entry = this.config.gatewayTokens.find((candidate) => sameHash(candidate.sha256, hash));
      if (!entry) {
        this.upgradeLimits.failed(ip, credential, now);
        this.log.warn('gateway connection refused', { ip, reason: 'unknown token' });
        this.problem(socket, 401, 'invalid_token', 'the gateway token is not configured');
        return;
      }
      this.upgradeLimits.succeeded(ip, credential, now);
      const device = this.store.upsertDevice(
        {
          kind: 'gateway',
          ownerId: entry.siteId,
          externalId,
          name: name ?? `gateway-${externalId.slice(0, 8)}`,
          publicKey,
          userAgent,
          newId: randomUUID,
          maxDevices: this.config.limits.gatewaysPerSite,
        },
        now,
      );
      info = {
        kind: 'gateway',
        device: {
          id: device.id,
          name: device.name,
          ipv4: device.ipv4,
          ipv6: device.ipv6,
          pskBase: device.pskBase,
        },
        siteId: entry.siteId,
        tokenId: entry.id,
        publicKey,
        userAgent: ua,
      };
    }

    const session = `s${++this.sessionCounter}`;
    const result = this.signalling.connect(session, info, now);
    if (!result.ok) {
      this.flush();
      this.problem(socket, result.status, result.code, result.detail);
      return;
    }
    const connection: Connection = {
      session,
      role,
      deviceId: info.device.id,
      tokenId: info.tokenId,
      ws: undefined,
      early: [],
      lastSeen: now,
      loggedDrops: new Set(),
    };
    this.connections.set(session, connection);
    socket.once('error', () => {
      if (!connection.ws) this.dropConnection(connection);
    });
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(connection, ws));
    this.flush();
  }

  private onConnection(connection: Connection, ws: WebSocket): void {
    if (!this.connections.has(connection.session)) {
      ws.terminate();
      return;
    }
    connection.ws = ws;
    this.log.info(`${connection.role} connected`, {
      session: connection.session,
      device: connection.deviceId,
    });
    for (const text of connection.early.splice(0)) ws.send(text);
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) =>
      this.onFrame(connection, data, isBinary),
    );
    ws.on('close', (code: number) => {
      this.log.info(`${connection.role} disconnected`, {
        session: connection.session,
        device: connection.deviceId,
        code,
      });
      this.dropConnection(connection);
    });
    ws.on('error', (error: Error) => {
      this.log.debug('websocket error', { session: connection.session, error });
    });
  }

  private onFrame(connection: Connection, data: WebSocket.RawData, isBinary: boolean): void {
    // A socket the portal is closing (revoked, expired, replaced) is served nothing more, even if
    // the peer ignores the close frame.
    if (connection.ws?.readyState !== WebSocket.OPEN) {
      this.closingFrameDrops += 1;
      return;
    }
    try {
      connection.lastSeen = Date.now();
      const bytes = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      const decoded = decodeFrame(bytes, { maxBytes: this.maxFrameBytes }, isBinary);
      if (!decoded.ok) {
        this.dropFrame(connection, decoded.error);
        return;
      }
      this.signalling.handleFrame(connection.session, decoded.frame, Date.now());
      this.flush();
    } catch (error) {
      // A bug must cost this frame, not the process.
      this.log.error('frame handling failed', { session: connection.session, error });
    }
  }

  private dropFrame(connection: Connection, error: FrameDecodeError): void {
    this.frameDrops.set(error.kind, (this.frameDrops.get(error.kind) ?? 0) + 1);
    const fields = {
      session: connection.session,
      device: connection.deviceId,
      reason: error.kind,
      detail: describeFrameError(error),
    };
    if (connection.loggedDrops.has(error.kind)) {
      this.log.debug('frame dropped', { ...fields, repeated: true });
    } else {
      connection.loggedDrops.add(error.kind);
      this.log.warn('frame dropped', fields);
    }
    if (error.kind === 'invalid_frame' && error.topic !== undefined && error.ref !== undefined) {
      this.sendText(
        connection,
        encodeFrame(replyFrame(error.topic, error.ref, 'error', { reason: 'invalid_frame' })),
      );
    }
  }

  private dropConnection(connection: Connection): void {
    if (!this.connections.delete(connection.session)) return;
    this.signalling.disconnect(connection.session, Date.now());
    this.flush();
  }

  // -------------------------------------------------------------------------------------------
  // The signalling core's outputs and timers.

  private flush(): void {
    for (let output = this.signalling.pollOutput(); output; output = this.signalling.pollOutput()) {
      const connection = this.connections.get(output.session);
      if (!connection) continue;
      if (output.kind === 'frame') {
        this.sendText(connection, encodeFrame(output.frame));
      } else if (connection.ws) {
        const ws = connection.ws;
        ws.close(output.code, output.reason.slice(0, 120));
        // A peer that does not answer the close frame loses its socket anyway, soon.
        setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
      } else {
        this.dropConnection(connection);
      }
    }
    clearTimeout(this.coreTimer);
    this.coreTimer = undefined;
    const at = this.signalling.pollTimeout();
    if (at !== undefined && !this.stopping) {
      // setTimeout cannot wait longer than ~24.8 days; wake up and re-check instead.
      const delay = Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1);
      this.coreTimer = setTimeout(() => {
        this.coreTimer = undefined;
        this.signalling.handleTimeout(Date.now());
        this.flush();
      }, delay);
    }
  }

  private sendText(connection: Connection, text: string): void {
    if (!connection.ws) {
      connection.early.push(text);
      return;
    }
    if (connection.ws.readyState === WebSocket.OPEN) connection.ws.send(text);
  }

  private pollRevocations(): void {
    try {
      if (!this.store.changedElsewhere()) return;
      // Connected clients' tokens and every token that holds a grant: a client offline when its
      // token is revoked must still lose its grants on the gateway.
      const clientTokens = [
        ...new Set([
          ...[...this.connections.values()].filter((c) => c.role === 'client').map((c) => c.tokenId),
          ...[...this.store.all()].map((grant) => grant.tokenId),
        ]),
      ];
      const invalid = this.store.invalidTokens(clientTokens);
      if (invalid.length === 0) return;
      this.log.info('tokens revoked by another process', { token_ids: invalid });
      this.signalling.revokeTokens(invalid, Date.now());
      this.flush();
    } catch (error) {
      this.log.error('revocation check failed', { error });
    }
  }

  private closeIdle(): void {
    const cutoff = Date.now() - this.idleTimeoutMs;
    for (const connection of this.connections.values()) {
      if (connection.ws && connection.lastSeen < cutoff) {
        this.log.info('closing idle connection', {
          session: connection.session,
          device: connection.deviceId,
        });
        connection.ws.close(1000, 'idle timeout');
      }
    }
  }

  private watchConfig(): void {
    try {
      const file = basename(this.configFile);
      this.watcher = watch(dirname(this.configFile), (_event, changed) => {
        if (changed !== null && changed.toString() !== file) return;
        clearTimeout(this.reloadTimer);
        this.reloadTimer = setTimeout(() => this.reload(), 200);
      });
      this.watcher.on('error', (error) =>
        this.log.warn('config watcher failed; use SIGHUP to reload', { error }),
      );
    } catch (error) {
      this.log.warn('cannot watch the config file; use SIGHUP to reload', { error });
    }
  }

  /** Refuses an upgrade with an RFC 9457 problem+json body (§3.3). */
  private problem(socket: Duplex, status: number, code: string, detail: string, retryAfterMs?: number): void {
    const body = JSON.stringify({ title: PROBLEM_TITLES[status] ?? 'Error', status, detail, code });
    const headers = [
      `HTTP/1.1 ${status} ${PROBLEM_TITLES[status] ?? 'Error'}`,
      'Content-Type: application/problem+json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
      ...(retryAfterMs !== undefined ? [`Retry-After: ${Math.max(1, Math.ceil(retryAfterMs / 1000))}`] : []),
    ];
    if (socket.writable) socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
    else socket.destroy();
  }
}

/** Mints a client token for a configured user (shared by the CLI and the running portal). */
/**
 * The identity provider a token came from, by its `source`: `oidc:<provider id>` for an OIDC
 * sign-in, the portal's own email/password provider for everything else.
 */
export function authProviderOf(source: string): string {
  // Browser sign-ins record `sign-in:<as>[:oidc:<id>]` (sign-in.ts).
  const oidc = /(?:^|:)oidc:([^:]+)/.exec(source);
  return oidc ? `oidc:${oidc[1]}` : 'email';
}

export function mintClientTokenFor(
  config: PortalConfig,
  store: PortalStore,
  email: string,
  ttlSeconds: number | undefined,
  source: string,
): { token: string; id: string; expiresAt: number } {
  const user = config.users.find((candidate) => candidate.email === email.trim().toLowerCase());
  if (!user) throw new Error(`no user with email ${email} in ${config.file}`);
  const ttl = ttlSeconds ?? config.clientTokenTtlSeconds;
  if (!(Number.isInteger(ttl) && ttl > 0)) throw new RangeError('ttl must be a positive number of seconds');
  const now = Date.now();
  const minted = store.createClientToken(user.id, '', ttl, source, now);
  return { token: minted.token, id: minted.id, expiresAt: Math.floor(now / 1000) + ttl };
}

/** Prints nothing secret: the id of a gateway token entry as the portal logs it. */
export function gatewayTokenId(token: string): string {
  return `gw-${createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 16)}`;
}
