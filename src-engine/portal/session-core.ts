/**
 * The portal session as a sans-IO state machine (docs/protocol.md §3.3): it decides when to connect,
 * join, heartbeat, reconnect or give up, and validates every message, but never touches a socket
 * or a clock. A driver feeds it what happened (`handle*`, with the time) and polls what to do
 * (`pollAction`), what to report (`pollEvent`) and when to wake it (`pollTimeout`).
 *
 * States:
 *   idle ──start──▶ connecting ──join ok──▶ joined
 *                     ▲   │ failure              │ close / phx_close / heartbeats lost
 *                     │   ▼                      ▼
 *                   reconnecting (backoff, Retry-After) ◀┘
 *   401 invalid/missing token, `disconnect token_expired` ─▶ signed_out (no more attempts)
 *   join error, other 401, budget spent ─▶ failed;  stop() ─▶ stopped
 */
import { Backoff, type BackoffOptions } from './backoff.js';
import {
  CLIENT_TOPIC,
  GATEWAY_TOPIC,
  HEARTBEAT_INTERVAL_MS,
  JOIN_TIMEOUT_MS,
  MAX_OUTSTANDING_HEARTBEATS,
} from './constants.js';
import { PHX_CLOSE, PHX_ERROR, PHX_REPLY } from './frame.js';
import {
  CLIENT_EGRESS,
  CLIENT_INGRESS,
  GATEWAY_EGRESS,
  GATEWAY_INGRESS,
  parseMessage,
  validateOutgoing,
  type PortalMessageError,
  type ClientEgressEvent,
  type ClientIngressMessage,
  type EventMap,
  type GatewayEgressEvent,
  type GatewayIngressMessage,
  type MessageDirection,
  type PayloadInput,
} from './messages/parse.js';
import type { clientEgress } from './messages/client.js';
import type { gatewayEgress } from './messages/gateway.js';

export type PortalRole = 'client' | 'gateway';

export type IngressMessageOf<R extends PortalRole> = R extends 'client'
  ? ClientIngressMessage
  : GatewayIngressMessage;
export type EgressEventOf<R extends PortalRole> = R extends 'client' ? ClientEgressEvent : GatewayEgressEvent;
export type EgressMapOf<R extends PortalRole> = R extends 'client'
  ? typeof clientEgress
  : typeof gatewayEgress;
export type EgressPayloadOf<R extends PortalRole, E extends EgressEventOf<R>> = PayloadInput<
  EgressMapOf<R>,
  E & keyof EgressMapOf<R>
>;

/** Why a connection attempt or a connection ended. */
export type SessionError =
  | { readonly kind: 'http'; readonly status: number; readonly code?: string; readonly detail?: string }
  | { readonly kind: 'network'; readonly message: string }
  | { readonly kind: 'join_timeout' }
  | { readonly kind: 'join_error'; readonly reason: string }
  | { readonly kind: 'closed'; readonly reason: string }
  | { readonly kind: 'heartbeat_timeout' }
  | { readonly kind: 'budget_exhausted'; readonly last: SessionError };

export type SignedOutReason = 'invalid_token' | 'token_expired';

export type SessionState =
  | { readonly status: 'idle' }
  | { readonly status: 'connecting'; readonly phase: 'socket' | 'join'; readonly attempt: number }
  | { readonly status: 'joined'; readonly since: number }
  | {
      readonly status: 'reconnecting';
      readonly attempt: number;
      readonly delayMs: number;
      readonly retryAt: number;
      readonly lastError: SessionError;
    }
  | { readonly status: 'signed_out'; readonly reason: SignedOutReason; readonly detail: string }
  | { readonly status: 'failed'; readonly error: SessionError }
  | { readonly status: 'stopped' };

export type SessionStatus = SessionState['status'];

/** What the driver must do. */
export type SessionAction =
  | { readonly kind: 'connect'; readonly attempt: number }
  | { readonly kind: 'join'; readonly topic: string }
  | { readonly kind: 'push'; readonly event: string; readonly payload: unknown }
  | { readonly kind: 'heartbeat' }
  | { readonly kind: 'close'; readonly reason: string };

/** What the core reports. */
export type SessionEvent<R extends PortalRole> =
  | { readonly type: 'state'; readonly state: SessionState }
  | { readonly type: 'joined' }
  | { readonly type: 'message'; readonly message: IngressMessageOf<R> }
  | { readonly type: 'warning'; readonly event: string; readonly text: string }
  | { readonly type: 'invalid_message'; readonly error: PortalMessageError; readonly first: boolean }
  | { readonly type: 'unknown_event'; readonly event: string; readonly first: boolean }
  | { readonly type: 'ignored_event'; readonly event: string; readonly reason: string }
  | { readonly type: 'push_failed'; readonly event: string; readonly reason: string }
  | { readonly type: 'channel_error' }
  | { readonly type: 'dropped_outbound'; readonly count: number; readonly reason: string };

/** A failed connection attempt, as the driver observed it. */
export type ConnectFailure =
  | {
      readonly kind: 'http';
      readonly status: number;
      /** `code` of the RFC 9457 problem+json body, when there was one. */
      readonly code?: string;
      readonly detail?: string;
      /** Milliseconds from `Retry-After`, already converted by the driver. */
      readonly retryAfterMs?: number;
    }
  | { readonly kind: 'network'; readonly message: string };

export interface SessionStats {
  connects: number;
  joins: number;
  reconnectsScheduled: number;
  messages: number;
  invalidMessages: number;
  unknownEvents: number;
  ignoredEvents: number;
  droppedOutbound: number;
  heartbeatsSent: number;
  heartbeatsTimedOut: number;
}

export interface SessionCoreOptions {
  readonly role: PortalRole;
  readonly backoff?: BackoffOptions;
  /** Sent after every join (docs/protocol.md §3.3: "immediately sends set_snownet_capabilities"). */
  readonly snownetCapabilities?: { readonly iceless: boolean };
  readonly heartbeatIntervalMs?: number;
  readonly joinTimeoutMs?: number;
  /** Uniform [0, 1) source for jitter. */
  readonly random?: () => number;
}

interface QueuedPush {
  readonly event: string;
  readonly payload: unknown;
  readonly key: string;
}

type Direction = MessageDirection<EventMap>;

export class PortalSessionCore<R extends PortalRole = PortalRole> {
  readonly role: R;
  readonly topic: string;
  readonly stats: SessionStats = {
    connects: 0,
    joins: 0,
    reconnectsScheduled: 0,
    messages: 0,
    invalidMessages: 0,
    unknownEvents: 0,
    ignoredEvents: 0,
    droppedOutbound: 0,
    heartbeatsSent: 0,
    heartbeatsTimedOut: 0,
  };

  private currentState: SessionState = { status: 'idle' };
  private readonly backoff: Backoff;
  private readonly ingress: Direction;
  private readonly egress: Direction;
  private readonly heartbeatIntervalMs: number;
  private readonly joinTimeoutMs: number;
  private readonly capabilities: { readonly iceless: boolean } | undefined;
  private readonly actions: SessionAction[] = [];
  private readonly events: SessionEvent<R>[] = [];
  private queue: QueuedPush[] = [];
  private attempt = 0;
  private joinDeadline: number | undefined;
  private nextHeartbeatAt: number | undefined;
  private outstandingHeartbeats = 0;
  private readonly seenUnknownEvents = new Set<string>();
  private readonly seenInvalidEvents = new Set<string>();

  constructor(options: SessionCoreOptions & { readonly role: R }) {
    this.role = options.role;
    this.topic = options.role === 'client' ? CLIENT_TOPIC : GATEWAY_TOPIC;
    this.backoff = new Backoff(options.backoff, options.random ?? Math.random);
    this.ingress = (options.role === 'client' ? CLIENT_INGRESS : GATEWAY_INGRESS) as unknown as Direction;
    this.egress = (options.role === 'client' ? CLIENT_EGRESS : GATEWAY_EGRESS) as unknown as Direction;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
    this.joinTimeoutMs = options.joinTimeoutMs ?? JOIN_TIMEOUT_MS;
    this.capabilities = options.snownetCapabilities;
  }

  get state(): SessionState {
    return this.currentState;
  }

  // -------------------------------------------------------------------------------------------
  // Commands from the host.

  /** Starts (or restarts after a sign-out with a new token, a failure, or stop). */
  start(_now: number): void {
    const status = this.currentState.status;
    if (status === 'connecting' || status === 'joined' || status === 'reconnecting') return;
    this.backoff.restart(); // a fresh start is not part of an earlier outage
    this.beginConnect();
  }

  /** Stops for good; the driver closes the socket. */
  stop(_now: number): void {
    if (this.currentState.status === 'stopped') return;
    const live = this.isLive();
    this.dropQueue('session stopped');
    this.clearConnectionTimers();
    this.setState({ status: 'stopped' });
    if (live) this.actions.push({ kind: 'close', reason: 'stopped' });
  }

  /**
   * Reconnects at once, e.g. after the device's key changed (§3.3 "session reset"): the new
   * connection carries the new `public_key` and the portal re-sends `init`.
   */
  reconnectNow(_now: number): void {
    const status = this.currentState.status;
    if (status !== 'connecting' && status !== 'joined' && status !== 'reconnecting') return;
    if (this.isLive()) this.actions.push({ kind: 'close', reason: 'reset' });
    this.dropQueue('session reset');
    this.clearConnectionTimers();
    this.beginConnect();
  }

  /**
   * Queues a message for the portal. Throws `PortalMessageError` when the payload does not match
   * the event's schema. Returns false (message dropped) when the session is not connected or
   * connecting: the caller keeps what it must resend (e.g. ICE candidates, §5.4).
   */
  send<E extends EgressEventOf<R>>(event: E, payload: EgressPayloadOf<R, E>): boolean {
    const validated = validateOutgoing(this.egress, event, payload);
    const status = this.currentState.status;
    if (status !== 'connecting' && status !== 'joined') {
      this.stats.droppedOutbound += 1;
      return false;
    }
    if (status === 'joined') {
      this.actions.push({ kind: 'push', event, payload: validated });
      return true;
    }
    // Not joined yet: never pipeline before the join reply (§3.3); drop exact duplicates.
    const key = `${event}\u0000${JSON.stringify(validated)}`;
    if (!this.queue.some((queued) => queued.key === key)) this.queue.push({ event, payload: validated, key });
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // What the driver observed.

  /** The WebSocket is open: join the topic. */
  handleSocketOpened(now: number): void {
    if (this.currentState.status !== 'connecting' || this.currentState.phase !== 'socket') return;
    this.setState({ status: 'connecting', phase: 'join', attempt: this.attempt });
    this.joinDeadline = now + this.joinTimeoutMs;
    this.outstandingHeartbeats = 0;
    this.nextHeartbeatAt = now + this.heartbeatIntervalMs;
    this.actions.push({ kind: 'join', topic: this.topic });
  }

  handleJoinReply(status: 'ok' | 'error', response: unknown, now: number): void {
    if (this.currentState.status !== 'connecting' || this.currentState.phase !== 'join') return;
    this.joinDeadline = undefined;
    if (status === 'error') {
      const reason = describeReason(response);
      if (reason === 'unmatched topic') {
        // The server lost our channel (e.g. it restarted the channel process): join again.
        this.joinDeadline = now + this.joinTimeoutMs;
        this.actions.push({ kind: 'join', topic: this.topic });
        return;
      }
      this.fail({ kind: 'join_error', reason });
      return;
    }
    this.stats.joins += 1;
    this.backoff.succeeded();
    this.setState({ status: 'joined', since: now });
    this.events.push({ type: 'joined' });
    if (this.capabilities !== undefined) {
      this.actions.push({
        kind: 'push',
        event: 'set_snownet_capabilities',
        payload: { ...this.capabilities },
      });
    }
    for (const queued of this.queue) {
      if (queued.event === 'set_snownet_capabilities' && this.capabilities !== undefined) continue;
      this.actions.push({ kind: 'push', event: queued.event, payload: queued.payload });
    }
    this.queue = [];
  }

  /** The attempt failed before the socket opened (HTTP status on upgrade, or network). */
  handleConnectFailed(failure: ConnectFailure, now: number): void {
    if (this.currentState.status !== 'connecting') return;
    if (failure.kind === 'http' && failure.status === 401) {
      const error: SessionError = { kind: 'http', status: 401, ...optionalFields(failure) };
      if (failure.code === 'invalid_token' || failure.code === 'missing_token') {
        this.signOut('invalid_token', `portal rejected the token (${failure.code})`);
      } else {
        this.fail(error);
      }
      return;
    }
    const error: SessionError =
      failure.kind === 'http'
        ? { kind: 'http', status: failure.status, ...optionalFields(failure) }
        : { kind: 'network', message: failure.message };
    this.scheduleReconnect(error, now, failure.kind === 'http' ? failure.retryAfterMs : undefined);
  }

  /** The socket closed or errored after it had opened. */
  handleSocketClosed(reason: string, now: number): void {
    const status = this.currentState.status;
    if (status !== 'connecting' && status !== 'joined') return;
    if (status === 'connecting' && this.currentState.phase === 'socket') {
      this.handleConnectFailed({ kind: 'network', message: reason }, now);
      return;
    }
    this.scheduleReconnect({ kind: 'closed', reason }, now, undefined);
  }

  handleHeartbeatReply(_now: number): void {
    this.outstandingHeartbeats = 0;
  }

  /** The reply to one of our pushes (other than join). Errors are reported, never fatal. */
  handlePushReply(event: string, status: string, response: unknown): void {
    if (status !== 'ok') this.events.push({ type: 'push_failed', event, reason: describeReason(response) });
  }

  /** A message on our topic (replies to pushes go to `handlePushReply`). */
  handleMessage(event: string, payload: unknown, now: number): void {
    const status = this.currentState.status;
    if (status !== 'joined' && !(status === 'connecting' && this.currentState.phase === 'join')) return;
    if (event === PHX_REPLY) return;
    if (event === PHX_ERROR) {
      // The portal compensates for abnormal channel exits itself; connlib only logs (§3.3).
      this.events.push({ type: 'channel_error' });
      return;
    }
    if (event === PHX_CLOSE) {
      this.scheduleReconnect({ kind: 'closed', reason: 'phx_close' }, now, undefined);
      return;
    }
    const outcome = parseMessage(this.ingress, event, payload);
    switch (outcome.kind) {
      case 'unknown_event': {
        this.stats.unknownEvents += 1;
        const first = !this.seenUnknownEvents.has(event);
        this.seenUnknownEvents.add(event);
        this.events.push({ type: 'unknown_event', event, first });
        return;
      }
      case 'ignored':
        this.stats.ignoredEvents += 1;
        this.events.push({ type: 'ignored_event', event, reason: outcome.reason });
        return;
      case 'invalid': {
        this.stats.invalidMessages += 1;
        const first = !this.seenInvalidEvents.has(event);
        this.seenInvalidEvents.add(event);
        this.events.push({ type: 'invalid_message', error: outcome.error, first });
        return;
      }
      case 'message': {
        this.stats.messages += 1;
        for (const text of outcome.warnings) this.events.push({ type: 'warning', event, text });
        const message = outcome.message as unknown as IngressMessageOf<R>;
        if (message.event === 'disconnect') {
          const reason = (message.payload as { reason: string }).reason;
          if (reason === 'token_expired') {
            this.signOut('token_expired', 'the portal ended the session: token expired or revoked');
            return;
          }
          // Other reasons (e.g. certificate_revoked) are not ours to act on; the portal closes us.
          this.events.push({ type: 'warning', event, text: `disconnect with unhandled reason "${reason}"` });
        }
        this.events.push({ type: 'message', message });
        return;
      }
    }
  }

  handleTimeout(now: number): void {
    const state = this.currentState;
    if (state.status === 'reconnecting' && now >= state.retryAt) {
      this.beginConnect();
      return;
    }
    if (
      state.status === 'connecting' &&
      state.phase === 'join' &&
      this.joinDeadline !== undefined &&
      now >= this.joinDeadline
    ) {
      this.scheduleReconnect({ kind: 'join_timeout' }, now, undefined);
      return;
    }
    if (
      (state.status === 'joined' || (state.status === 'connecting' && state.phase === 'join')) &&
      this.nextHeartbeatAt !== undefined &&
      now >= this.nextHeartbeatAt
    ) {
      if (this.outstandingHeartbeats >= MAX_OUTSTANDING_HEARTBEATS) {
        this.stats.heartbeatsTimedOut += 1;
        this.scheduleReconnect({ kind: 'heartbeat_timeout' }, now, undefined);
        return;
      }
      this.outstandingHeartbeats += 1;
      this.stats.heartbeatsSent += 1;
      this.nextHeartbeatAt = now + this.heartbeatIntervalMs;
      this.actions.push({ kind: 'heartbeat' });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Outputs.

  pollAction(): SessionAction | undefined {
    return this.actions.shift();
  }

  pollEvent(): SessionEvent<R> | undefined {
    return this.events.shift();
  }

  /** The earliest time `handleTimeout` must be called, or undefined. */
  pollTimeout(): number | undefined {
    const state = this.currentState;
    if (state.status === 'reconnecting') return state.retryAt;
    let next: number | undefined;
    if (state.status === 'connecting' && state.phase === 'join') next = this.joinDeadline;
    if (
      (state.status === 'joined' || (state.status === 'connecting' && state.phase === 'join')) &&
      this.nextHeartbeatAt !== undefined
    ) {
      next = next === undefined ? this.nextHeartbeatAt : Math.min(next, this.nextHeartbeatAt);
    }
    return next;
  }

  // -------------------------------------------------------------------------------------------

  private isLive(): boolean {
    const status = this.currentState.status;
    return status === 'connecting' || status === 'joined';
  }

  private beginConnect(): void {
    this.attempt += 1;
    this.stats.connects += 1;
    this.clearConnectionTimers();
    this.setState({ status: 'connecting', phase: 'socket', attempt: this.attempt });
    this.actions.push({ kind: 'connect', attempt: this.attempt });
  }

  private scheduleReconnect(error: SessionError, now: number, retryAfterMs: number | undefined): void {
    // Closing is idempotent for the driver, also for an attempt whose socket never opened.
    if (this.isLive()) this.actions.push({ kind: 'close', reason: describeError(error) });
    this.dropQueue('connection lost');
    this.clearConnectionTimers();
    const decision = this.backoff.next(now, retryAfterMs);
    if (decision === undefined) {
      this.fail({ kind: 'budget_exhausted', last: error });
      return;
    }
    this.stats.reconnectsScheduled += 1;
    this.setState({
      status: 'reconnecting',
      attempt: decision.attempt,
      delayMs: decision.delayMs,
      retryAt: now + decision.delayMs,
      lastError: error,
    });
  }

  private signOut(reason: SignedOutReason, detail: string): void {
    if (this.isLive()) this.actions.push({ kind: 'close', reason: `signed out: ${reason}` });
    this.dropQueue('signed out');
    this.clearConnectionTimers();
    this.setState({ status: 'signed_out', reason, detail });
  }

  private fail(error: SessionError): void {
    if (this.isLive()) this.actions.push({ kind: 'close', reason: describeError(error) });
    this.dropQueue('session failed');
    this.clearConnectionTimers();
    this.setState({ status: 'failed', error });
  }

  private dropQueue(reason: string): void {
    if (this.queue.length === 0) return;
    this.stats.droppedOutbound += this.queue.length;
    this.events.push({ type: 'dropped_outbound', count: this.queue.length, reason });
    this.queue = [];
  }

  private clearConnectionTimers(): void {
    this.joinDeadline = undefined;
    this.nextHeartbeatAt = undefined;
    this.outstandingHeartbeats = 0;
  }

  private setState(state: SessionState): void {
    this.currentState = state;
    this.events.push({ type: 'state', state });
  }
}

function optionalFields(failure: { code?: string; detail?: string }): { code?: string; detail?: string } {
  const out: { code?: string; detail?: string } = {};
  if (failure.code !== undefined) out.code = failure.code;
  if (failure.detail !== undefined) out.detail = failure.detail;
  return out;
}

/** `reason` of a `{reason: ...}` reply payload, or a compact description of whatever it is. */
export function describeReason(response: unknown): string {
  if (
    typeof response === 'object' &&
    response !== null &&
    typeof (response as { reason?: unknown }).reason === 'string'
  ) {
    return (response as { reason: string }).reason;
  }
  if (typeof response === 'string') return response;
  return 'unspecified';
}

export function describeError(error: SessionError): string {
  switch (error.kind) {
    case 'http':
      return `HTTP ${error.status}${error.code !== undefined ? ` (${error.code})` : ''}`;
    case 'network':
      return `network error: ${error.message}`;
    case 'join_timeout':
      return 'join not answered in time';
    case 'join_error':
      return `join refused: ${error.reason}`;
    case 'closed':
      return `connection closed: ${error.reason}`;
    case 'heartbeat_timeout':
      return 'heartbeats not answered';
    case 'budget_exhausted':
      return `gave up reconnecting (last: ${describeError(error.last)})`;
  }
}
