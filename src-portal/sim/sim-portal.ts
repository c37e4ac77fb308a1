/**
 * A deterministic in-memory portal for the simulation harness: the same signalling core and
 * message schemas as the dev portal, the same V1 frames (really encoded and decoded), but no
 * sockets, no database and no clock — time is virtual and advances only when the test says so.
 *
 * Participants (the portal links below, and whatever client/gateway cores a test adds) expose
 * `pollTimeout`/`handleTimeout`; `advanceTo` runs every due timer and frame delivery in time
 * order, ties broken by insertion order, so a seed replays exactly.
 */
import { createHash } from 'node:crypto';
import { isBase64Key32 } from '../../src-engine/portal/messages/common.js';
import { decodeFrame, encodeFrame, type Frame } from '../../src-engine/portal/frame.js';
import { type Logger, silentLogger } from '../../src-engine/portal/log.js';
import { type Catalog } from '../signalling/catalog.js';
import {
  type ConnectResult,
  type PortalDevice,
  PortalSignalling,
  type SessionInfo,
} from '../signalling/core.js';
import { type GrantStore, MemoryGrantStore } from '../signalling/grants.js';
import { parseUserAgent } from '../../src-engine/portal/user-agent.js';

/** Anything with timers that the simulation drives. */
export interface Participant {
  pollTimeout(): number | undefined;
  handleTimeout(now: number): void;
}

export interface SimPortalOptions {
  readonly catalog: Catalog;
  /** Virtual start time, unix milliseconds (default 2026-01-01T00:00:00Z). */
  readonly startTime?: number;
  /** Seed of every "random" value (PSK bases, refs). */
  readonly seed?: string;
  /** One-way delay of every frame between a link and the portal (default 0). */
  readonly latencyMs?: number;
  readonly authorizationTimeoutMs?: number;
  readonly logger?: Logger;
}

export type SimTokenInfo =
  | { readonly kind: 'client'; readonly actorId: string; readonly expiresAt: number }
  | { readonly kind: 'gateway'; readonly siteId: string };

interface TokenRecord {
  readonly id: string;
  readonly info: SimTokenInfo;
  revoked: boolean;
}

/** What a connecting link presents, as the query string and headers of a real upgrade. */
export interface SimConnectRequest {
  readonly role: 'client' | 'gateway';
  readonly token: string | undefined;
  readonly publicKey: string;
  /** `external_id`. */
  readonly externalId: string;
  readonly name?: string;
  readonly userAgent: string;
}

/** The portal's answer to a connect, mirroring the HTTP upgrade. */
export type SimConnectResult =
  | { readonly ok: true; readonly connection: SimConnection }
  | { readonly ok: false; readonly status: number; readonly code: string; readonly detail: string };

interface Timed {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

export class SimPortal {
  private down = false;
  readonly signalling: PortalSignalling;
  readonly grants: GrantStore;
  private clock: number;
  private seq = 0;
  private queue: Timed[] = [];
  private readonly participants = new Set<Participant>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly devices = new Map<string, PortalDevice>();
  private readonly connections = new Map<string, SimConnection>();
  private readonly seed: string;
  private readonly latencyMs: number;
  private nextDeviceIndex = 1;
  private nextTokenIndex = 1;
  private nextSessionIndex = 1;
  private nextRefIndex = 1;

  constructor(options: SimPortalOptions) {
    this.clock = options.startTime ?? Date.UTC(2026, 0, 1);
    this.seed = options.seed ?? 'sim';
    this.latencyMs = options.latencyMs ?? 0;
    this.grants = new MemoryGrantStore();
    this.signalling = new PortalSignalling({
      catalog: options.catalog,
      grants: this.grants,
      ingestKey: createHash('sha256').update(`ingest|${this.seed}`).digest(),
      newRef: () => `ref-${this.nextRefIndex++}`,
      ...(options.authorizationTimeoutMs !== undefined
        ? { authorizationTimeoutMs: options.authorizationTimeoutMs }
        : {}),
      logger: options.logger ?? silentLogger,
    });
  }

  /** Virtual time, unix milliseconds. */
  now(): number {
    return this.clock;
  }

  addParticipant(participant: Participant): void {
    this.participants.add(participant);
  }

  removeParticipant(participant: Participant): void {
    this.participants.delete(participant);
  }

  // -------------------------------------------------------------------------------------------
  // Tokens.

  /** A client token for the actor with `email`, valid for `ttlMs` (default 30 days). */
  mintClientToken(email: string, ttlMs = 30 * 24 * 3600 * 1000): string {
    const actor = this.signalling.catalog.actors.find((item) => item.email === email);
    if (!actor) throw new Error(`no actor with email ${email} in the catalog`);
    return this.addToken({
      kind: 'client',
      actorId: actor.id,
      expiresAt: Math.floor((this.clock + ttlMs) / 1000),
    });
  }

  mintGatewayToken(siteName: string): string {
    const site = this.signalling.catalog.sites.find((item) => item.name === siteName || item.id === siteName);
    if (!site) throw new Error(`no site ${siteName} in the catalog`);
    return this.addToken({ kind: 'gateway', siteId: site.id });
  }

  /** Revokes a token: its sessions get `disconnect token_expired`, its grants `reject_access`. */
  revokeToken(token: string): void {
    const record = this.tokens.get(token);
    if (!record || record.revoked) return;
    record.revoked = true;
    this.signalling.revokeTokens([record.id], this.clock);
    this.flush();
  }

  private addToken(info: SimTokenInfo): string {
    const index = this.nextTokenIndex++;
    const token = `sim-token-${createHash('sha256').update(`${this.seed}|token|${index}`).digest('hex').slice(0, 24)}`;
    this.tokens.set(token, { id: `token-${index}`, info, revoked: false });
    return token;
  }

  // -------------------------------------------------------------------------------------------
  // Connections.

  /** Authenticates as the real upgrade does (§3.1, §3.3) and opens a connection. */
  connect(request: SimConnectRequest): SimConnectResult {
    // A portal that is down answers as a proxy in front of it would: 503, retry later.
    if (this.down) return refuse(503, 'service_unavailable', 'the portal is down');
    const record = request.token === undefined ? undefined : this.tokens.get(request.token);
    if (request.token === undefined) return refuse(401, 'missing_token', 'no token');
    if (!record || record.revoked || record.info.kind !== request.role)
      return refuse(401, 'invalid_token', 'unknown token');
    if (record.info.kind === 'client' && record.info.expiresAt * 1000 <= this.clock) {
      return refuse(401, 'invalid_token', 'expired token');
    }
    const ua = parseUserAgent(request.userAgent);
    if (!ua) return refuse(400, 'invalid_connect_params', 'unrecognised User-Agent');
    if (!isBase64Key32(request.publicKey)) return refuse(400, 'invalid_connect_params', 'invalid public_key');
    if (request.externalId.length === 0) return refuse(400, 'invalid_connect_params', 'missing external_id');
    const owner = record.info.kind === 'client' ? record.info.actorId : record.info.siteId;
    const device = this.device(
      `${request.role}|${owner}|${request.externalId}`,
      request.name ?? request.externalId,
    );
    const info: SessionInfo =
      record.info.kind === 'client'
        ? {
            kind: 'client',
            device,
            actorId: record.info.actorId,
            tokenId: record.id,
            tokenExpiresAt: record.info.expiresAt,
            publicKey: request.publicKey,
            userAgent: ua,
          }
        : {
            kind: 'gateway',
            device,
            siteId: record.info.siteId,
            tokenId: record.id,
            publicKey: request.publicKey,
            userAgent: ua,
          };
    const id = `sim-session-${this.nextSessionIndex++}`;
    const result: ConnectResult = this.signalling.connect(id, info, this.clock);
    if (!result.ok) {
      this.flush();
      return { ok: false, status: result.status, code: result.code, detail: result.detail };
    }
    const connection = new SimConnection(this, id, device);
    this.connections.set(id, connection);
    this.flush();
    return { ok: true, connection };
  }

  /**
   * Drops every connection as a portal restart would (sockets close, in-flight frames are lost)
   * but keeps tokens, devices and grants, as the dev portal keeps them in SQLite.
   */
  restart(): void {
    this.queue = []; // everything in flight is connection traffic, lost with the sockets
    for (const connection of [...this.connections.values()])
      this.closeConnection(connection, 1012, 'service restart');
  }

  /**
   * Takes the portal down (every connection drops, new ones are refused with 503) or brings it
   * back, keeping its state as a restart does.
   */
  setDown(down: boolean): void {
    this.down = down;
    if (down) this.restart();
  }

  setCatalog(catalog: Catalog): void {
    this.signalling.setCatalog(catalog, this.clock);
    this.flush();
  }

  /** Device row of an (owner, external id) pair, created on first sight with sequential IPs. */
  private device(key: string, name: string): PortalDevice {
    const existing = this.devices.get(key);
    if (existing) return existing;
    const index = this.nextDeviceIndex++;
    const device: PortalDevice = {
      id: uuidFrom(`${this.seed}|device|${key}`),
      name,
      ipv4: `100.64.${(index >> 8) & 0xff}.${index & 0xff}`,
      ipv6: `fd00:2021:1111::${index.toString(16)}`,
      pskBase: createHash('sha256').update(`${this.seed}|psk|${key}`).digest(),
    };
    this.devices.set(key, device);
    return device;
  }

  // -------------------------------------------------------------------------------------------
  // Time.

  /** The earliest pending delivery or timer of the portal and all participants. */
  nextEventTime(): number | undefined {
    let next = this.queue[0]?.at;
    const consider = (at: number | undefined): void => {
      if (at !== undefined && (next === undefined || at < next)) next = at;
    };
    consider(this.signalling.pollTimeout());
    for (const participant of this.participants) consider(participant.pollTimeout());
    return next;
  }

  /** Runs everything due up to `time` (inclusive), in time order, then sets the clock to it. */
  advanceTo(time: number): void {
    if (time < this.clock) throw new RangeError(`cannot go back in time (${time} < ${this.clock})`);
    for (let guard = 0; guard < 1_000_000; guard += 1) {
      const next = this.nextEventTime();
      if (next === undefined || next > time) break;
      this.clock = Math.max(this.clock, next);
      this.runDue();
    }
    this.clock = time;
  }

  advanceBy(ms: number): void {
    this.advanceTo(this.clock + ms);
  }

  /** Advances until nothing is scheduled within `maxMs` (or that much virtual time passed). */
  runUntilIdle(maxMs = 20_000): void {
    const end = this.clock + maxMs;
    for (let guard = 0; guard < 1_000_000; guard += 1) {
      const next = this.nextEventTime();
      if (next === undefined || next > end) return;
      this.advanceTo(Math.max(next, this.clock));
    }
  }

  private runDue(): void {
    while (this.queue.length > 0 && this.queue[0]!.at <= this.clock) this.queue.shift()!.run();
    const coreDue = this.signalling.pollTimeout();
    if (coreDue !== undefined && coreDue <= this.clock) {
      this.signalling.handleTimeout(this.clock);
      this.flush();
    }
    for (const participant of [...this.participants]) {
      const due = participant.pollTimeout();
      if (due !== undefined && due <= this.clock) participant.handleTimeout(this.clock);
    }
  }

  /** @internal Schedules a delivery `run` after the link latency. */
  schedule(run: () => void): void {
    const item: Timed = { at: this.clock + this.latencyMs, seq: this.seq++, run };
    // Stable insertion keeps FIFO order among equal times.
    let index = this.queue.length;
    while (index > 0 && this.queue[index - 1]!.at > item.at) index -= 1;
    this.queue.splice(index, 0, item);
  }

  /** @internal A frame text from a link reaches the portal. */
  receive(connection: SimConnection, text: string): void {
    if (!this.connections.has(connection.sessionId)) return;
    const decoded = decodeFrame(text);
    if (!decoded.ok) return; // the real portal counts and drops; our links never send such frames
    this.signalling.handleFrame(connection.sessionId, decoded.frame, this.clock);
    this.flush();
  }

  /** @internal The link closed its side. */
  linkClosed(connection: SimConnection): void {
    if (!this.connections.delete(connection.sessionId)) return;
    this.signalling.disconnect(connection.sessionId, this.clock);
    this.flush();
  }

  /** Moves the core's outputs onto the wire (with latency). */
  private flush(): void {
    for (let output = this.signalling.pollOutput(); output; output = this.signalling.pollOutput()) {
      const connection = this.connections.get(output.session);
      if (!connection) continue;
      if (output.kind === 'frame') {
        const text = encodeFrame(output.frame);
        this.schedule(() => connection.deliver(text));
      } else {
        this.closeConnection(connection, output.code, output.reason);
      }
    }
  }

  private closeConnection(connection: SimConnection, code: number, reason: string): void {
    if (!this.connections.delete(connection.sessionId)) return;
    this.signalling.disconnect(connection.sessionId, this.clock);
    // The close follows the frames already on the wire.
    this.schedule(() => connection.deliverClose(code, reason));
    this.flush();
  }
}

/** One simulated WebSocket between a participant and the portal. */
export class SimConnection {
  private closedWith: { code: number; reason: string } | undefined;
  onFrame: ((text: string) => void) | undefined;
  onClose: ((code: number, reason: string) => void) | undefined;

  constructor(
    private readonly portal: SimPortal,
    readonly sessionId: string,
    readonly device: PortalDevice,
  ) {}

  get closed(): { code: number; reason: string } | undefined {
    return this.closedWith;
  }

  /** Sends a frame (a V1 object or its text) to the portal. */
  send(frame: Frame | string): void {
    if (this.closedWith) return;
    const text = typeof frame === 'string' ? frame : encodeFrame(frame);
    this.portal.schedule(() => this.portal.receive(this, text));
  }

  close(): void {
    if (this.closedWith) return;
    this.closedWith = { code: 1000, reason: 'closed by peer' };
    this.portal.linkClosed(this);
  }

  /** @internal */
  deliver(text: string): void {
    if (!this.closedWith) this.onFrame?.(text);
  }

  /** @internal */
  deliverClose(code: number, reason: string): void {
    if (this.closedWith) return;
    this.closedWith = { code, reason };
    this.onClose?.(code, reason);
  }
}

function refuse(status: number, code: string, detail: string): SimConnectResult {
  return { ok: false, status, code, detail };
}

function uuidFrom(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
