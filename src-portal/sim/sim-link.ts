/**
 * `SimPortalLink`: the engine's `PortalSessionCore` wired to a `SimPortal` instead of a phoenix
 * socket — the same state machine, schemas and V1 frames as production, in virtual time. A
 * simulated client or gateway core talks to the portal through it and polls its events.
 */
import { externalIdFor } from '../../src-engine/portal/credentials.js';
import {
  decodeFrame,
  encodeFrame,
  HEARTBEAT,
  PHX_JOIN,
  PHX_REPLY,
  replyPayloadSchema,
} from '../../src-engine/portal/frame.js';
import { PHOENIX_TOPIC } from '../../src-engine/portal/constants.js';
import type { BackoffOptions } from '../../src-engine/portal/backoff.js';
import {
  PortalSessionCore,
  type EgressEventOf,
  type EgressPayloadOf,
  type PortalRole,
  type SessionEvent,
  type SessionState,
} from '../../src-engine/portal/session-core.js';
import type { Participant, SimConnection, SimPortal } from './sim-portal.js';

export interface SimPortalLinkOptions<R extends PortalRole> {
  readonly role: R;
  readonly token: string;
  readonly publicKey: string;
  readonly deviceId: string;
  readonly name?: string;
  readonly userAgent: string;
  readonly backoff?: BackoffOptions;
  readonly snownetCapabilities?: { readonly iceless: boolean };
  /** Jitter source; defaults to a fixed 0.5 so runs are reproducible. */
  readonly random?: () => number;
}

export class SimPortalLink<R extends PortalRole = PortalRole> implements Participant {
  readonly core: PortalSessionCore<R>;
  private connection: SimConnection | undefined;
  private nextRef = 0;
  private readonly pending = new Map<number, 'join' | 'heartbeat' | string>();
  private readonly events: SessionEvent<R>[] = [];
  private token: string;
  private publicKey: string;

  constructor(
    private readonly portal: SimPortal,
    private readonly options: SimPortalLinkOptions<R>,
  ) {
    this.token = options.token;
    this.publicKey = options.publicKey;
    this.core = new PortalSessionCore<R>({
      role: options.role,
      random: options.random ?? (() => 0.5),
      ...(options.backoff !== undefined ? { backoff: options.backoff } : {}),
      ...(options.snownetCapabilities !== undefined
        ? { snownetCapabilities: options.snownetCapabilities }
        : {}),
    });
    portal.addParticipant(this);
  }

  get state(): SessionState {
    return this.core.state;
  }

  /** The portal-side device of the current connection (tunnel IPs, id), once connected. */
  get device(): SimConnection['device'] | undefined {
    return this.connection?.device;
  }

  start(): void {
    this.core.start(this.portal.now());
    this.pump();
  }

  stop(): void {
    this.core.stop(this.portal.now());
    this.pump();
  }

  send<E extends EgressEventOf<R>>(event: E, payload: EgressPayloadOf<R, E>): boolean {
    const sent = this.core.send(event, payload);
    this.pump();
    return sent;
  }

  setToken(token: string): void {
    this.token = token;
  }

  setPublicKey(publicKey: string): void {
    this.publicKey = publicKey;
    this.core.reconnectNow(this.portal.now());
    this.pump();
  }

  /** Whether events wait to be polled (a simulated host drains them at once). */
  get hasEvents(): boolean {
    return this.events.length > 0;
  }

  /** Events of the session (state, joined, messages, warnings…) in order. */
  pollEvent(): SessionEvent<R> | undefined {
    return this.events.shift();
  }

  /** Drains and returns every pending event. */
  drainEvents(): SessionEvent<R>[] {
    return this.events.splice(0);
  }

  pollTimeout(): number | undefined {
    return this.core.pollTimeout();
  }

  handleTimeout(now: number): void {
    this.core.handleTimeout(now);
    this.pump();
  }

  private pump(): void {
    for (let action = this.core.pollAction(); action; action = this.core.pollAction()) {
      switch (action.kind) {
        case 'connect':
          this.connect();
          break;
        case 'join':
          this.sendFrame(action.topic, PHX_JOIN, null, 'join');
          break;
        case 'push':
          this.sendFrame(this.core.topic, action.event, action.payload, action.event);
          break;
        case 'heartbeat':
          this.sendFrame(PHOENIX_TOPIC, HEARTBEAT, {}, 'heartbeat');
          break;
        case 'close':
          this.closeConnection();
          break;
      }
    }
    for (let event = this.core.pollEvent(); event; event = this.core.pollEvent()) this.events.push(event);
  }

  private connect(): void {
    this.closeConnection();
    const result = this.portal.connect({
      role: this.options.role,
      token: this.token,
      publicKey: this.publicKey,
      externalId: externalIdFor(this.options.deviceId),
      ...(this.options.name !== undefined ? { name: this.options.name } : {}),
      userAgent: this.options.userAgent,
    });
    const now = this.portal.now();
    if (!result.ok) {
      this.core.handleConnectFailed(
        { kind: 'http', status: result.status, code: result.code, detail: result.detail },
        now,
      );
      this.pump();
      return;
    }
    const connection = result.connection;
    this.connection = connection;
    this.nextRef = 0;
    this.pending.clear();
    connection.onFrame = (text) => this.receive(connection, text);
    connection.onClose = (code, reason) => {
      if (this.connection !== connection) return;
      this.connection = undefined;
      this.core.handleSocketClosed(`closed by portal (${code}, ${reason})`, this.portal.now());
      this.pump();
    };
    this.core.handleSocketOpened(now);
    this.pump();
  }

  private closeConnection(): void {
    const connection = this.connection;
    this.connection = undefined;
    connection?.close();
  }

  private sendFrame(topic: string, event: string, payload: unknown, purpose: string): void {
    if (!this.connection) return;
    const ref = this.nextRef++;
    this.pending.set(ref, purpose);
    this.connection.send(encodeFrame({ topic, event, payload, ref }));
  }

  private receive(connection: SimConnection, text: string): void {
    if (this.connection !== connection) return;
    const decoded = decodeFrame(text);
    if (!decoded.ok) return;
    const { frame } = decoded;
    const now = this.portal.now();
    if (frame.event === PHX_REPLY && typeof frame.ref === 'number' && this.pending.has(frame.ref)) {
      const purpose = this.pending.get(frame.ref)!;
      this.pending.delete(frame.ref);
      const reply = replyPayloadSchema.safeParse(frame.payload);
      if (!reply.success) return;
      if (purpose === 'join')
        this.core.handleJoinReply(reply.data.status === 'ok' ? 'ok' : 'error', reply.data.response, now);
      else if (purpose === 'heartbeat') this.core.handleHeartbeatReply(now);
      else this.core.handlePushReply(purpose, reply.data.status, reply.data.response);
    } else if (frame.topic === this.core.topic) {
      this.core.handleMessage(frame.event, frame.payload, now);
    }
    this.pump();
  }
}
