/**
 * `PortalSession`: the engine's connection to the portal, a thin driver around
 * `PortalSessionCore` (all decisions) and the `phoenix` npm client (socket, framing, refs, join).
 *
 * One phoenix `Socket` per connection attempt: whatever the phoenix client would do on its own
 * (reconnect timers, rejoins, heartbeats) is switched off or made irrelevant, because the core
 * owns the policy of docs/protocol.md §3.3. The token goes only into the `X-Authorization` header and
 * the logger is wrapped so that it cannot print the token even by mistake.
 */
import { Socket, type Channel } from 'phoenix';
import { type BackoffOptions, parseRetryAfter } from './backoff.js';
import { CLIENT_SOCKET_PATH, GATEWAY_SOCKET_PATH, JOIN_TIMEOUT_MS, PHOENIX_V1_VSN } from './constants.js';
import { externalIdFor } from './credentials.js';
import { describeFrameError, PHX_REPLY } from './frame.js';
import { type Logger, redactingLogger, silentLogger } from './log.js';
import { isBase64Key32 } from './messages/common.js';
import { V1Codec, type PhoenixMessage } from './phoenix-codec.js';
import {
  describeError,
  PortalSessionCore,
  type EgressEventOf,
  type EgressPayloadOf,
  type IngressMessageOf,
  type PortalRole,
  type SessionAction,
  type SessionState,
  type SessionStats,
  type SignedOutReason,
} from './session-core.js';
import { buildUserAgent, parseUserAgent, type UserAgentParts } from './user-agent.js';
import { createNodeTransport, type UpgradeRejection } from './ws-transport.js';

export interface DeviceInfo {
  readonly device_serial?: string;
  readonly device_uuid?: string;
  readonly identifier_for_vendor?: string;
  readonly firebase_installation_id?: string;
}

export interface PortalSessionOptions<R extends PortalRole> {
  readonly role: R;
  /** Portal API base URL: `ws(s)://host[:port][/prefix]` or `http(s)://…` (mapped to ws/wss). */
  readonly url: string;
  /** Client or gateway token. Sent only as `X-Authorization: Bearer`; never logged. */
  readonly token: string;
  /** Standard base64 of the device's X25519 public key (44 characters). */
  readonly publicKey: string;
  /** Stable device id; a UUID is sent as hex sha256 (docs/protocol.md §3.1 `external_id`). */
  readonly deviceId: string;
  /** Device name (default: none, the portal picks one). */
  readonly name?: string;
  readonly deviceInfo?: DeviceInfo;
  /** `<OS>/<ver> <component>/<ver> (<arch>; <kernel>)` or its parts. */
  readonly userAgent: string | UserAgentParts;
  readonly backoff?: BackoffOptions;
  readonly snownetCapabilities?: { readonly iceless: boolean };
  readonly logger?: Logger;
  readonly maxFrameBytes?: number;
  readonly heartbeatIntervalMs?: number;
  readonly joinTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** Uniform [0, 1) for jitter (default Math.random). */
  readonly random?: () => number;
  /** Monotonic milliseconds (default performance.now). */
  readonly clock?: () => number;
}

export interface DriverStats {
  /** Inbound frames dropped before reaching the core (bad JSON, oversize, malformed reply…). */
  decodeErrors: number;
  /** Exceptions thrown by phoenix callbacks and contained by the transport. */
  callbackErrors: number;
}

/** Events of a session, with their listener arguments. */
export interface PortalSessionEventMap<R extends PortalRole> {
  state: [state: SessionState];
  joined: [];
  message: [message: IngressMessageOf<R>];
  signed_out: [info: { reason: SignedOutReason; detail: string }];
}

type Listener<A extends unknown[]> = (...args: A) => void;

interface Attempt {
  readonly id: number;
  readonly socket: Socket;
  readonly codec: V1Codec;
  channel: Channel | undefined;
  opened: boolean;
  rejection: UpgradeRejection | undefined;
  lastError: string | undefined;
  closed: boolean;
  /** Events of our pushes awaiting a reply, by the phoenix client's ref. */
  readonly pushes: Map<string, string>;
}

const MAX_TRACKED_PUSHES = 1024;
/** Tokens travel in an HTTP header: visible ASCII only. */
const TOKEN_CHARS = /^[\x21-\x7e]{1,4096}$/;

export class PortalSession<R extends PortalRole = PortalRole> {
  readonly role: R;
  private readonly core: PortalSessionCore<R>;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly endpoint: string;
  private readonly userAgent: string;
  private readonly options: PortalSessionOptions<R>;
  private token: string;
  private readonly retiredTokens: string[] = [];
  private publicKey: string;
  private attempt: Attempt | undefined;
  private attemptCounter = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Map<keyof PortalSessionEventMap<R>, Set<Listener<never[]>>>();
  private readonly loggedOnce = new Set<string>();
  private readonly closing = new Set<Promise<void>>();
  readonly driverStats: DriverStats = { decodeErrors: 0, callbackErrors: 0 };

  constructor(options: PortalSessionOptions<R>) {
    validateOptions(options);
    this.options = options;
    this.role = options.role;
    this.token = options.token;
    this.publicKey = options.publicKey;
    this.clock = options.clock ?? (() => performance.now());
    this.log = redactingLogger(options.logger ?? silentLogger, () => [this.token, ...this.retiredTokens]);
    this.endpoint = endpointFor(options.url, options.role);
    this.userAgent =
      typeof options.userAgent === 'string' ? options.userAgent : buildUserAgent(options.userAgent);
    this.core = new PortalSessionCore<R>({
      role: options.role,
      ...(options.backoff !== undefined ? { backoff: options.backoff } : {}),
      ...(options.snownetCapabilities !== undefined
        ? { snownetCapabilities: options.snownetCapabilities }
        : {}),
      ...(options.heartbeatIntervalMs !== undefined
        ? { heartbeatIntervalMs: options.heartbeatIntervalMs }
        : {}),
      ...(options.joinTimeoutMs !== undefined ? { joinTimeoutMs: options.joinTimeoutMs } : {}),
      ...(options.random !== undefined ? { random: options.random } : {}),
    });
  }

  get state(): SessionState {
    return this.core.state;
  }

  get stats(): Readonly<SessionStats> {
    return this.core.stats;
  }

  /** Connects and keeps the session joined until stopped, signed out or failed. */
  start(): void {
    this.core.start(this.clock());
    this.pump();
  }

  /** Leaves the channel, closes the socket and stops reconnecting. */
  async stop(): Promise<void> {
    this.core.stop(this.clock());
    this.pump();
    clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all([...this.closing]);
  }

  /**
   * Sends a message (validated against its schema; a mismatch throws `PortalMessageError`).
   * Before the join reply it is queued; returns false when the session is not connected.
   */
  send<E extends EgressEventOf<R>>(event: E, payload: EgressPayloadOf<R, E>): boolean {
    const sent = this.core.send(event, payload);
    this.pump();
    return sent;
  }

  /** A new token after signing in again; call `start()` if the session had signed out. */
  setToken(token: string): void {
    if (!TOKEN_CHARS.test(token)) throw new RangeError('token must be printable ASCII without spaces');
    if (token !== this.token) this.retiredTokens.push(this.token);
    this.token = token;
  }

  /**
   * The device's key changed (roaming reset, §3.3): reconnect at once with the new `public_key`,
   * so the portal treats it as a new session and derives new per-pair secrets.
   */
  setPublicKey(publicKey: string): void {
    if (!isBase64Key32(publicKey))
      throw new RangeError('publicKey must be 32 bytes in standard base64 (44 characters)');
    if (publicKey === this.publicKey) return;
    this.publicKey = publicKey;
    this.core.reconnectNow(this.clock());
    this.pump();
  }

  /**
   * The network changed (another address, another interface): the socket may be bound to an
   * address that is gone and would take heartbeats (40 s) to notice. Reconnect now.
   */
  reconnect(): void {
    this.core.reconnectNow(this.clock());
    this.pump();
  }

  on<E extends keyof PortalSessionEventMap<R>>(
    event: E,
    listener: Listener<PortalSessionEventMap<R>[E]>,
  ): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as unknown as Listener<never[]>);
    return this;
  }

  off<E extends keyof PortalSessionEventMap<R>>(
    event: E,
    listener: Listener<PortalSessionEventMap<R>[E]>,
  ): this {
    this.listeners.get(event)?.delete(listener as unknown as Listener<never[]>);
    return this;
  }

  // -------------------------------------------------------------------------------------------

  private emit<E extends keyof PortalSessionEventMap<R>>(
    event: E,
    ...args: PortalSessionEventMap<R>[E]
  ): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        (listener as unknown as Listener<PortalSessionEventMap<R>[E]>)(...args);
      } catch (error) {
        this.log.error('portal session listener threw', { event, error });
      }
    }
  }

  /** Runs the core's outputs: actions, then events, then the next wake-up. */
  private pump(): void {
    for (let action = this.core.pollAction(); action; action = this.core.pollAction()) this.perform(action);
    for (let event = this.core.pollEvent(); event; event = this.core.pollEvent()) {
      switch (event.type) {
        case 'state':
          this.logState(event.state);
          this.emit('state', event.state);
          if (event.state.status === 'signed_out') {
            this.emit('signed_out', { reason: event.state.reason, detail: event.state.detail });
          }
          break;
        case 'joined':
          this.emit('joined');
          break;
        case 'message':
          this.log.debug('portal message', { event: event.message.event });
          this.emit('message', event.message);
          break;
        case 'warning':
          this.log.warn('portal message partly skipped', { event: event.event, detail: event.text });
          break;
        case 'invalid_message':
          this.logOnce(`invalid:${event.error.event}`, 'portal message rejected by its schema', {
            event: event.error.event,
            error: event.error.message,
          });
          break;
        case 'unknown_event':
          this.logOnce(`unknown:${event.event}`, 'unknown portal event ignored', { event: event.event });
          break;
        case 'ignored_event':
          this.log.debug('portal event ignored', { event: event.event, reason: event.reason });
          break;
        case 'push_failed':
          this.log.warn('portal refused a message', { event: event.event, reason: event.reason });
          break;
        case 'channel_error':
          this.log.warn('portal reported a channel error (phx_error)');
          break;
        case 'dropped_outbound':
          this.log.info('queued portal messages dropped', { count: event.count, reason: event.reason });
          break;
      }
    }
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const at = this.core.pollTimeout();
    if (at === undefined) return;
    const delay = Math.max(0, at - this.clock());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.core.handleTimeout(this.clock());
      this.pump();
    }, delay);
  }

  private perform(action: SessionAction): void {
    switch (action.kind) {
      case 'connect':
        this.connect();
        return;
      case 'join':
        this.join(action.topic);
        return;
      case 'push': {
        const attempt = this.attempt;
        if (!attempt || !attempt.socket.isConnected()) return;
        const ref = attempt.socket.makeRef();
        attempt.pushes.set(ref, action.event);
        if (attempt.pushes.size > MAX_TRACKED_PUSHES) {
          const oldest = attempt.pushes.keys().next().value;
          if (oldest !== undefined) attempt.pushes.delete(oldest);
        }
        attempt.socket.push({
          topic: this.core.topic,
          event: action.event,
          payload: action.payload,
          ref,
          join_ref: null, // V1 frames carry no join_ref (§3.2)
        });
        return;
      }
      case 'heartbeat': {
        const attempt = this.attempt;
        attempt?.socket.ping(() => {
          if (this.attempt !== attempt) return;
          this.core.handleHeartbeatReply(this.clock());
          this.pump();
        });
        return;
      }
      case 'close':
        this.dispose(action.reason);
        return;
    }
  }

  private connect(): void {
    this.dispose('replaced by a new attempt');
    const id = ++this.attemptCounter;
    const codec = new V1Codec({
      ...(this.options.maxFrameBytes !== undefined ? { maxFrameBytes: this.options.maxFrameBytes } : {}),
      onDecodeError: (error) => {
        this.driverStats.decodeErrors += 1;
        const detail =
          'kind' in error && error.kind === 'invalid_reply'
            ? error.detail
            : describeFrameError(error as never);
        this.logOnce(`decode:${error.kind}`, 'portal frame dropped', { reason: error.kind, detail });
      },
    });
    const transport = createNodeTransport({
      headers: { 'X-Authorization': `Bearer ${this.token}`, 'User-Agent': this.userAgent },
      handshakeTimeoutMs: this.options.connectTimeoutMs ?? undefined,
      onUpgradeRejected: (rejection) => {
        if (this.attempt?.id === id) this.attempt.rejection = rejection;
      },
      onCallbackError: (error) => {
        this.driverStats.callbackErrors += 1;
        this.log.error('error while handling a portal socket event', { error });
      },
    });
    const params: Record<string, string> = { external_id: externalIdFor(this.options.deviceId) };
    if (this.options.name !== undefined) params.name = this.options.name;
    for (const key of [
      'device_serial',
      'device_uuid',
      'identifier_for_vendor',
      'firebase_installation_id',
    ] as const) {
      const value = this.options.deviceInfo?.[key];
      if (this.role === 'client' && value !== undefined) params[key] = value;
    }
    params.public_key = this.publicKey;
    const socket = new Socket(this.endpoint, {
      transport: transport as never,
      encode: codec.encode as never,
      decode: codec.decode as never,
      params,
      vsn: PHOENIX_V1_VSN,
      // The core drives heartbeats and reconnects; keep the phoenix client's own ones inert.
      heartbeatIntervalMs: 2 ** 30,
      reconnectAfterMs: () => 2 ** 30,
      rejoinAfterMs: () => 2 ** 30,
      timeout: (this.options.joinTimeoutMs ?? JOIN_TIMEOUT_MS) + 1_000,
    });
    const attempt: Attempt = {
      id,
      socket,
      codec,
      channel: undefined,
      opened: false,
      rejection: undefined,
      lastError: undefined,
      closed: false,
      pushes: new Map(),
    };
    this.attempt = attempt;
    socket.onOpen(() => {
      if (this.attempt !== attempt) return;
      attempt.opened = true;
      this.core.handleSocketOpened(this.clock());
      this.pump();
    });
    socket.onError((error) => {
      if (this.attempt !== attempt) return;
      attempt.lastError = describeTransportError(error);
    });
    socket.onClose((event) => {
      if (this.attempt !== attempt || attempt.closed) return;
      attempt.closed = true;
      this.onAttemptClosed(attempt, event);
    });
    socket.onMessage((message) => {
      if (this.attempt !== attempt) return;
      this.onMessage(attempt, message as PhoenixMessage);
    });
    this.log.info('connecting to the portal', { url: this.endpoint, attempt: id });
    try {
      socket.connect();
    } catch (error) {
      // The transport refused synchronously (e.g. a header it cannot send): a failed attempt.
      this.log.error('cannot open the portal socket', { error });
      queueMicrotask(() => {
        if (this.attempt !== attempt || attempt.closed) return;
        attempt.closed = true;
        attempt.lastError = describeTransportError(error);
        this.onAttemptClosed(attempt, {});
      });
    }
  }

  private onAttemptClosed(attempt: Attempt, event: { code?: number; reason?: string }): void {
    const now = this.clock();
    if (!attempt.opened) {
      const rejection = attempt.rejection;
      if (rejection) {
        const retryAfterMs = parseRetryAfter(rejection.retryAfter, Date.now());
        this.core.handleConnectFailed(
          {
            kind: 'http',
            status: rejection.status,
            ...(rejection.code !== undefined ? { code: rejection.code } : {}),
            ...(rejection.detail !== undefined ? { detail: rejection.detail } : {}),
            ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
          },
          now,
        );
      } else {
        this.core.handleConnectFailed(
          { kind: 'network', message: attempt.lastError ?? 'connection failed' },
          now,
        );
      }
    } else {
      const reason = `websocket closed (code ${event.code ?? 'unknown'}${event.reason ? `, ${event.reason}` : ''})`;
      this.core.handleSocketClosed(reason, now);
    }
    this.pump();
  }

  private onMessage(attempt: Attempt, message: PhoenixMessage): void {
    if (message.topic !== this.core.topic) return; // heartbeat replies are matched by phoenix's ping
    const now = this.clock();
    if (message.event === PHX_REPLY) {
      const event = message.ref !== null ? attempt.pushes.get(message.ref) : undefined;
      if (event !== undefined && message.ref !== null) {
        attempt.pushes.delete(message.ref);
        const reply = message.payload as { status: string; response?: unknown };
        this.core.handlePushReply(event, reply.status, reply.response);
        this.pump();
      }
      return; // the join reply is delivered through the join push
    }
    this.core.handleMessage(message.event, message.payload, now);
    this.pump();
  }

  private join(topic: string): void {
    const attempt = this.attempt;
    if (!attempt) return;
    if (attempt.channel) {
      attempt.channel.leave();
      attempt.socket.remove(attempt.channel);
    }
    // The join payload is `null` for clients and gateways (§3.2); a function keeps it null.
    const channel = attempt.socket.channel(topic, (() => null) as unknown as object);
    attempt.channel = channel;
    channel
      .join((this.options.joinTimeoutMs ?? JOIN_TIMEOUT_MS) + 1_000)
      .receive('ok', (response?: unknown) => {
        if (this.attempt !== attempt || attempt.channel !== channel) return;
        this.core.handleJoinReply('ok', response, this.clock());
        this.pump();
      })
      .receive('error', (response?: unknown) => {
        if (this.attempt !== attempt || attempt.channel !== channel) return;
        this.core.handleJoinReply('error', response, this.clock());
        this.pump();
      });
  }

  /** Ends the current attempt (idempotent). */
  private dispose(reason: string): void {
    const attempt = this.attempt;
    if (!attempt) return;
    this.attempt = undefined;
    attempt.closed = true;
    this.log.debug('closing portal connection', { reason, attempt: attempt.id });
    const done = new Promise<void>((resolve) => {
      attempt.socket.disconnect(() => resolve(), 1000, reason.slice(0, 120));
    });
    if (attempt.channel) {
      // After the disconnect the channel cannot push any more, so leaving it only resets its join
      // and rejoin timers (no phx_leave, no timer left behind to keep the process alive).
      attempt.channel.leave();
      attempt.socket.remove(attempt.channel);
    }
    this.closing.add(done);
    void done.then(() => this.closing.delete(done));
  }

  private logState(state: SessionState): void {
    switch (state.status) {
      case 'reconnecting':
        this.log.warn('portal connection lost; reconnecting', {
          attempt: state.attempt,
          delayMs: state.delayMs,
          error: describeError(state.lastError),
        });
        return;
      case 'signed_out':
        this.log.warn('signed out by the portal', { reason: state.reason, detail: state.detail });
        return;
      case 'failed':
        this.log.error('portal session failed', { error: describeError(state.error) });
        return;
      case 'joined':
        this.log.info('joined the portal channel', { topic: this.core.topic });
        return;
      default:
        this.log.debug('portal session state', { status: state.status });
    }
  }

  /** First occurrence at warn, repeats at debug: one bad peer must not flood the log. */
  private logOnce(key: string, message: string, fields: Record<string, unknown>): void {
    if (this.loggedOnce.has(key)) {
      this.log.debug(message, { ...fields, repeated: true });
      return;
    }
    if (this.loggedOnce.size < 1024) this.loggedOnce.add(key);
    this.log.warn(message, fields);
  }
}

function describeTransportError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error)
    return String((error as { message: unknown }).message);
  return String(error);
}

/** `ws(s)://host/prefix` + the role's path; the phoenix client appends `/websocket`. */
export function endpointFor(url: string, role: PortalRole): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`portal url "${url}" is not a valid URL`);
  }
  const protocol = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' }[parsed.protocol];
  if (protocol === undefined)
    throw new RangeError(`portal url must be ws(s):// or http(s)://, got "${parsed.protocol}"`);
  if (parsed.search !== '' || parsed.hash !== '')
    throw new RangeError('portal url must not carry a query or fragment');
  if (parsed.username !== '' || parsed.password !== '')
    throw new RangeError('portal url must not carry credentials');
  const prefix = parsed.pathname.replace(/\/+$/, '');
  return `${protocol}//${parsed.host}${prefix}${role === 'client' ? CLIENT_SOCKET_PATH : GATEWAY_SOCKET_PATH}`;
}

function validateOptions<R extends PortalRole>(options: PortalSessionOptions<R>): void {
  if (options.role !== 'client' && options.role !== 'gateway')
    throw new RangeError(`role must be "client" or "gateway"`);
  if (typeof options.token !== 'string' || options.token.trim().length === 0)
    throw new RangeError('token must not be empty');
  if (!TOKEN_CHARS.test(options.token)) throw new RangeError('token must be printable ASCII without spaces');
  if (!isBase64Key32(options.publicKey)) {
    throw new RangeError('publicKey must be 32 bytes in standard base64 (44 characters)');
  }
  if (!/^[\x21-\x7e]{1,255}$/.test(options.deviceId)) {
    throw new RangeError('deviceId must be 1-255 printable ASCII characters without spaces');
  }
  if (options.name !== undefined && (options.name.length === 0 || options.name.length > 255)) {
    throw new RangeError('name must be 1-255 characters');
  }
  const ua = typeof options.userAgent === 'string' ? options.userAgent : buildUserAgent(options.userAgent);
  if (!/^[\x20-\x7e]{1,512}$/.test(ua)) throw new RangeError('userAgent must be printable ASCII');
  const parsed = parseUserAgent(ua);
  if (!parsed)
    throw new RangeError(`userAgent "${ua}" names no known component with a version (docs/protocol.md §3.1)`);
  const expected =
    options.role === 'gateway'
      ? ['gateway']
      : ['connlib', 'headless-client', 'gui-client', 'apple-client', 'android-client'];
  if (!expected.includes(parsed.component)) {
    throw new RangeError(`userAgent component "${parsed.component}" does not fit role "${options.role}"`);
  }
}
