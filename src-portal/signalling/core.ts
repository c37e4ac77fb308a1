/**
 * The portal's signalling logic as a sans-IO core (docs/protocol.md §3.10, §4, §5.4): sessions join
 * their topic, receive `init`, ask for authorizations; the core picks a gateway, derives the
 * per-pair secrets, relays ICE candidates in the order both ends need, expires and revokes.
 *
 * It reads no clock and owns no socket: the host passes decoded V1 frames and the time (unix
 * milliseconds), and polls frames to send, sockets to close and the next deadline. The dev portal
 * drives it with WebSockets and SQLite; the simulation harness with in-memory queues and a
 * virtual clock. Authentication (tokens, device rows, addresses) happens before `connect`.
 */
import {
  AUTHORIZATION_CREATION_TIMEOUT_MS,
  CLIENT_TOPIC,
  GATEWAY_RELAY_CREDENTIALS_EXPIRE_AT,
  GATEWAY_TOPIC,
  PHOENIX_TOPIC,
} from '../../src-engine/portal/constants.js';
import {
  derivePresharedKey,
  deriveIceCredentials,
  type PairIceCredentials,
} from '../../src-engine/portal/credentials.js';
import {
  HEARTBEAT,
  PHX_JOIN,
  PHX_LEAVE,
  pushFrame,
  replyFrame,
  type Frame,
} from '../../src-engine/portal/frame.js';
import { type Logger, silentLogger } from '../../src-engine/portal/log.js';
import {
  CLIENT_EGRESS,
  GATEWAY_EGRESS,
  parseMessage,
  type ClientEgressMessage,
  type EventMap,
  type GatewayEgressMessage,
  type MessageDirection,
} from '../../src-engine/portal/messages/parse.js';
import { isGatewayCompatible, type ParsedUserAgent } from '../../src-engine/portal/user-agent.js';
import { CatalogIndex, resourceIdentityChanged, type Catalog, type CatalogResource } from './catalog.js';
import { type Grant, type GrantStore, MemoryGrantStore } from './grants.js';
import {
  clientInterfaceView,
  clientResourceView,
  derivedUuid,
  FLOW_LOGS_DISABLED,
  gatewayResourceView,
  mintIngestToken,
  relayViews,
} from './views.js';

export interface PortalDevice {
  readonly id: string;
  readonly name: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** 32 random bytes, stored per device, input of the PSK derivation. */
  readonly pskBase: Uint8Array;
}

export interface ClientSessionInfo {
  readonly kind: 'client';
  readonly device: PortalDevice;
  readonly actorId: string;
  readonly tokenId: string;
  /** Unix seconds. */
  readonly tokenExpiresAt: number;
  readonly publicKey: string;
  readonly userAgent: ParsedUserAgent;
  readonly deviceSerial?: string | null;
  readonly deviceUuid?: string | null;
  readonly identifierForVendor?: string | null;
  readonly firebaseInstallationId?: string | null;
  /** The address the session connected from, for the authorization's `subject`. */
  readonly remoteIp?: string | null;
  /** The User-Agent header as sent. */
  readonly userAgentString?: string | null;
  /** The identity provider the token was obtained through (a UUID). */
  readonly authProviderId?: string | null;
}

export interface GatewaySessionInfo {
  readonly kind: 'gateway';
  readonly device: PortalDevice;
  readonly siteId: string;
  readonly tokenId: string;
  readonly publicKey: string;
  readonly userAgent: ParsedUserAgent;
}

export type SessionInfo = ClientSessionInfo | GatewaySessionInfo;

export type ConnectResult =
  | { readonly ok: true; readonly replaced?: string }
  | { readonly ok: false; readonly status: number; readonly code: string; readonly detail: string };

export type SignallingOutput =
  | { readonly kind: 'frame'; readonly session: string; readonly frame: Frame }
  | { readonly kind: 'close'; readonly session: string; readonly code: number; readonly reason: string };

/** Counters of everything dropped or refused, by reason; exported on /healthz and in tests. */
export type DropReason =
  | 'unjoined_topic'
  | 'unknown_event'
  | 'invalid_payload'
  | 'unknown_resource'
  | 'resource_not_allowed'
  | 'device_pool_unsupported'
  | 'client_to_client_unsupported'
  | 'candidates_without_authorization'
  | 'candidates_peer_offline'
  | 'held_candidates_overflow'
  | 'invalid_ref'
  | 'stale_ack'
  | 'reply_without_ref';

export interface SignallingOptions {
  readonly catalog: Catalog;
  readonly grants?: GrantStore;
  /** HMAC key of flow-log ingest tokens (any key; nobody verifies them here). */
  readonly ingestKey: Uint8Array;
  /** A fresh opaque `ref` for `create_authorization` (random in the dev portal, counted in the sim). */
  readonly newRef: () => string;
  readonly authorizationTimeoutMs?: number;
  /** How long a gateway that let an authorization time out is avoided when others are online. */
  readonly suspectGatewayMs?: number;
  readonly logger?: Logger;
  /** Relays handed to each device (default 2, as the real portal). */
  readonly relaysPerDevice?: number;
  /**
   * Whether a token is still valid (not revoked, not expired) at `now` (unix ms). The dev portal
   * asks its database, so that tokens revoked by another process, or while the portal was down,
   * never keep or regain a grant. Tokens revoked through `revokeTokens` are known without it.
   */
  readonly isTokenValid?: (tokenId: string, now: number) => boolean;
}

/** What a `ref` was issued for, to tell a late acknowledgement from a forged one. */
interface IssuedRef {
  readonly gatewayId: string;
  readonly clientId: string;
  readonly resourceId: string;
}

interface Session {
  readonly id: string;
  readonly info: SessionInfo;
  readonly topic: string;
  joined: boolean;
  iceless: boolean;
  /** What this client was last told, to push diffs (resource id → JSON of its view). */
  sentResources: Map<string, string>;
  sentRelays: Map<string, string>;
  sentInterface: string;
  /** Drop reasons already logged for this session (each is logged once, then counted). */
  readonly logged: Set<string>;
  expiryPushed: boolean;
}

interface PendingAuthorization {
  ref: string;
  readonly clientSession: string;
  readonly clientId: string;
  readonly actorId: string;
  readonly tokenId: string;
  readonly resourceId: string;
  readonly policyId: string;
  gatewaySession: string;
  gatewayId: string;
  readonly preferred: readonly string[];
  readonly tried: Set<string>;
  deadline: number;
  /** Gateway candidates that arrived before `authorization_created` reached the client. */
  readonly held: { event: 'ice_candidates' | 'invalidate_ice_candidates'; candidates: string[] }[];
  psk: string;
  ice: PairIceCredentials;
  readonly expiresAt: number;
}

const MAX_HELD_BATCHES = 64;
const MAX_ISSUED_REFS = 10_000;
const MAX_REVOKED_REMEMBERED = 100_000;
const MAX_WITHDRAWN_PER_GATEWAY = 10_000;

export class PortalSignalling {
  private index: CatalogIndex;
  private readonly grants: GrantStore;
  private readonly log: Logger;
  private readonly sessions = new Map<string, Session>();
  /** device id → session id, for the live session of each device. */
  private readonly byDevice = new Map<string, string>();
  private readonly pending = new Map<string, PendingAuthorization>();
  private readonly suspects = new Map<string, number>();
  /** Recently issued refs, to tell a late acknowledgement from a forged one. */
  private readonly issuedRefs = new Map<string, IssuedRef>();
  /** Tokens revoked through `revokeTokens` during this process's life (bounded). */
  private readonly revokedTokens = new Set<string>();
  /**
   * Grants withdrawn while their gateway was offline: gateway id → "client|resource". The gateway
   * gets `reject_access` for each when it returns, besides their absence from its `init`, because
   * a gateway process that only lost its socket still holds them.
   */
  private readonly withdrawn = new Map<string, Set<string>>();
  private readonly outputs: SignallingOutput[] = [];
  private readonly timeoutMs: number;
  /** When access was last evaluated against the policies' ends (unix ms). */
  private accessEvaluatedAt = -Infinity;
  private readonly suspectMs: number;
  private readonly relaysPerDevice: number;
  readonly drops = new Map<DropReason, number>();

  constructor(private readonly options: SignallingOptions) {
    this.index = new CatalogIndex(options.catalog);
    this.grants = options.grants ?? new MemoryGrantStore();
    this.log = options.logger ?? silentLogger;
    this.timeoutMs = options.authorizationTimeoutMs ?? AUTHORIZATION_CREATION_TIMEOUT_MS;
    this.suspectMs = options.suspectGatewayMs ?? 60_000;
    this.relaysPerDevice = options.relaysPerDevice ?? 2;
  }

  get catalog(): Catalog {
    return this.index.catalog;
  }

  // ===========================================================================================
  // Connections.

  /**
   * A socket authenticated as `info` opened. Gateways may have one live connection (a second is
   * refused with 409, §4.1); a client device's new connection replaces its old one.
   */
  connect(sessionId: string, info: SessionInfo, now: number): ConnectResult {
    if (this.sessions.has(sessionId)) throw new Error(`session ${sessionId} already connected`);
    if (info.kind === 'gateway' && !this.index.sites.has(info.siteId)) {
      return {
        ok: false,
        status: 403,
        code: 'unauthenticated',
        detail: 'the gateway token belongs to no site',
      };
    }
    if (info.kind === 'client' && !this.index.actors.has(info.actorId)) {
      return { ok: false, status: 401, code: 'invalid_token', detail: 'the token belongs to no user' };
    }
    if (info.kind === 'client' && info.tokenExpiresAt * 1000 <= now) {
      return { ok: false, status: 401, code: 'invalid_token', detail: 'the token has expired' };
    }
    const existing = this.byDevice.get(info.device.id);
    let replaced: string | undefined;
    if (existing !== undefined) {
      if (info.kind === 'gateway') {
        return {
          ok: false,
          status: 409,
          code: 'gateway_already_connected',
          detail: 'this gateway is already connected',
        };
      }
      replaced = existing;
      this.log.warn('client device connected again; closing its older connection', {
        device: info.device.id,
      });
      this.outputs.push({
        kind: 'close',
        session: existing,
        code: 4000,
        reason: 'replaced by a newer connection',
      });
      this.disconnect(existing, now);
    }
    this.sessions.set(sessionId, {
      id: sessionId,
      info,
      topic: info.kind === 'client' ? CLIENT_TOPIC : GATEWAY_TOPIC,
      joined: false,
      iceless: false,
      sentResources: new Map(),
      sentRelays: new Map(),
      sentInterface: '',
      logged: new Set(),
      expiryPushed: false,
    });
    this.byDevice.set(info.device.id, sessionId);
    return replaced !== undefined ? { ok: true, replaced } : { ok: true };
  }

  /** The socket of `sessionId` is gone. */
  disconnect(sessionId: string, now: number): void {
    const session = this.sessions.get(sessionId);
    if (!session) return;
    this.sessions.delete(sessionId);
    if (this.byDevice.get(session.info.device.id) === sessionId) this.byDevice.delete(session.info.device.id);
    this.leave(session, now);
  }

  /** Live session ids, for the host (health, tests). */
  sessionIds(): string[] {
    return [...this.sessions.keys()];
  }

  isJoined(sessionId: string): boolean {
    return this.sessions.get(sessionId)?.joined ?? false;
  }

  // ===========================================================================================
  // Frames.

  handleFrame(sessionId: string, frame: Frame, now: number): void {
    const session = this.sessions.get(sessionId);
    if (!session) return;
    if (frame.topic === PHOENIX_TOPIC) {
      if (frame.event === HEARTBEAT) this.reply(session, frame, 'ok', {});
      else this.refuse(session, frame, 'unjoined_topic', 'unmatched topic');
      return;
    }
    if (frame.topic !== session.topic) {
      this.refuse(session, frame, 'unjoined_topic', 'unmatched topic');
      return;
    }
    if (frame.event === PHX_JOIN) {
      this.reply(session, frame, 'ok', {});
      // A repeated join restarts the channel, as Phoenix does: the peer gets a fresh init.
      session.joined = true;
      session.sentResources = new Map();
      session.sentRelays = new Map();
      this.sendInit(session, now);
      return;
    }
    if (!session.joined) {
      this.refuse(session, frame, 'unjoined_topic', 'unmatched topic');
      return;
    }
    if (frame.event === PHX_LEAVE) {
      this.reply(session, frame, 'ok', {});
      session.joined = false;
      this.leave(session, now);
      return;
    }
    const direction = (session.info.kind === 'client'
      ? CLIENT_EGRESS
      : GATEWAY_EGRESS) as unknown as MessageDirection<EventMap>;
    const outcome = parseMessage(direction, frame.event, frame.payload);
    switch (outcome.kind) {
      case 'unknown_event':
      case 'ignored':
        this.refuse(session, frame, 'unknown_event', 'unknown_message', frame.event);
        return;
      case 'invalid':
        this.refuse(session, frame, 'invalid_payload', 'invalid_payload', outcome.error.message);
        return;
      case 'message':
        if (session.info.kind === 'client') {
          this.handleClientMessage(
            session,
            session.info,
            outcome.message as unknown as ClientEgressMessage,
            now,
          );
        } else {
          this.handleGatewayMessage(
            session,
            session.info,
            outcome.message as unknown as GatewayEgressMessage,
            frame,
            now,
          );
        }
        return;
    }
  }

  // ===========================================================================================
  // Time.

  handleTimeout(now: number): void {
    for (const pending of [...this.pending.values()]) {
      if (pending.deadline <= now) {
        this.log.warn('gateway did not acknowledge an authorization in time', {
          gateway: pending.gatewayId,
          client: pending.clientId,
          resource: pending.resourceId,
        });
        this.suspects.set(pending.gatewayId, now + this.suspectMs);
        this.retryElsewhere(pending, now);
      }
    }
    for (const session of [...this.sessions.values()]) {
      if (session.info.kind === 'client' && session.info.tokenExpiresAt * 1000 <= now) {
        this.endSession(session, 'token expired', now);
      }
    }
    for (const grant of [...this.grants.all()]) {
      if (grant.expiresAt * 1000 <= now)
        this.grants.delete(grant.gatewayId, grant.clientId, grant.resourceId);
    }
    for (const [gateway, until] of this.suspects) if (until <= now) this.suspects.delete(gateway);
    // A policy ended: access changes without a config change.
    const policyEnd = this.index.nextPolicyEnd(this.accessEvaluatedAt);
    if (policyEnd !== undefined && policyEnd <= now) this.reconcileAccess(this.index, now);
  }

  pollTimeout(): number | undefined {
    let next: number | undefined;
    const consider = (at: number): void => {
      if (next === undefined || at < next) next = at;
    };
    for (const pending of this.pending.values()) consider(pending.deadline);
    for (const session of this.sessions.values()) {
      if (session.info.kind === 'client') consider(session.info.tokenExpiresAt * 1000);
    }
    for (const grant of this.grants.all()) consider(grant.expiresAt * 1000);
    const policyEnd = this.index.nextPolicyEnd(this.accessEvaluatedAt);
    if (policyEnd !== undefined) consider(policyEnd);
    return next;
  }

  pollOutput(): SignallingOutput | undefined {
    return this.outputs.shift();
  }

  // ===========================================================================================
  // Administrative changes.

  /**
   * Ends every session authenticated with one of `tokenIds` (`disconnect token_expired`) and tells
   * gateways to drop the authorizations those tokens obtained (`reject_access`), as deleting a
   * token does in the real portal.
   */
  revokeTokens(tokenIds: Iterable<string>, now: number): void {
    const revoked = new Set(tokenIds);
    if (revoked.size === 0) return;
    for (const id of revoked) this.revokedTokens.add(id);
    while (this.revokedTokens.size > MAX_REVOKED_REMEMBERED) {
      this.revokedTokens.delete(this.revokedTokens.values().next().value!);
    }
    for (const session of [...this.sessions.values()]) {
      if (revoked.has(session.info.tokenId)) this.endSession(session, 'token revoked', now);
    }
    for (const grant of [...this.grants.all()]) {
      if (!revoked.has(grant.tokenId)) continue;
      // An expired grant is already gone on the gateway (it enforces expiry itself).
      if (grant.expiresAt * 1000 <= now)
        this.grants.delete(grant.gatewayId, grant.clientId, grant.resourceId);
      else this.rejectGrant(grant);
    }
  }

  /**
   * The configuration changed: push resource and relay diffs to clients (deletes first, §3.10),
   * interface changes as `config_changed`, and revoke authorizations the new policies or resource
   * definitions no longer allow (`reject_access`), or update gateways' filters (`resource_updated`).
   */
  setCatalog(catalog: Catalog, now: number): void {
    const before = this.index;
    this.index = new CatalogIndex(catalog);

    // Sessions whose identity vanished from the config.
    for (const session of [...this.sessions.values()]) {
      const info = session.info;
      if (info.kind === 'gateway' && !this.index.sites.has(info.siteId))
        this.endSession(session, 'site removed', now);
      if (info.kind === 'client' && !this.index.actors.has(info.actorId))
        this.endSession(session, 'user removed', now);
    }
    this.reconcileAccess(before, now);
  }

  /**
   * Brings grants, pending authorizations and what clients were told in line with the catalog at
   * `now`: revokes what the policies or resource definitions no longer allow (`reject_access`),
   * updates gateways' filters (`resource_updated`) and pushes diffs to clients.
   */
  private reconcileAccess(before: CatalogIndex, now: number): void {
    this.accessEvaluatedAt = now;
    const updatedForGateway = new Map<string, Set<string>>();
    for (const grant of [...this.grants.all()]) {
      if (grant.expiresAt * 1000 <= now) {
        this.grants.delete(grant.gatewayId, grant.clientId, grant.resourceId);
        continue;
      }
      const old = before.resources.get(grant.resourceId);
      const current = this.index.resources.get(grant.resourceId);
      const allowed =
        current !== undefined && this.index.policyFor(grant.actorId, grant.resourceId, now) !== undefined;
      if (!allowed || !old || !current || resourceIdentityChanged(old, current)) {
        this.rejectGrant(grant);
        continue;
      }
      if (JSON.stringify(gatewayResourceView(old)) !== JSON.stringify(gatewayResourceView(current))) {
        const set = updatedForGateway.get(grant.gatewayId) ?? new Set<string>();
        set.add(grant.resourceId);
        updatedForGateway.set(grant.gatewayId, set);
      }
    }
    for (const [gatewayId, resourceIds] of updatedForGateway) {
      const session = this.liveSession(gatewayId);
      if (!session) continue;
      for (const resourceId of resourceIds) {
        const resource = this.index.resources.get(resourceId)!;
        this.push(session, 'resource_updated', gatewayResourceView(resource));
      }
    }

    // Pending authorizations for resources that are gone or no longer allowed.
    for (const pending of [...this.pending.values()]) {
      const client = this.sessions.get(pending.clientSession);
      if (!client || client.info.kind !== 'client') continue;
      if (this.index.policyFor(client.info.actorId, pending.resourceId, now) === undefined) {
        this.pending.delete(pending.ref);
      }
    }

    // Diffs for joined sessions.
    for (const session of this.sessions.values()) {
      if (!session.joined) continue;
      if (session.info.kind === 'client') this.pushClientDiff(session, session.info, now);
      else this.pushRelayDiff(session, this.relaysFor(session));
    }
  }

  // ===========================================================================================
  // Client messages (§3.5).

  private handleClientMessage(
    session: Session,
    info: ClientSessionInfo,
    message: ClientEgressMessage,
    now: number,
  ): void {
    switch (message.event) {
      case 'request_authorization': {
        const { resource_id, connected_gateway_ids, ipv4, ipv6 } = message.payload;
        this.requestAuthorization(session, info, resource_id, connected_gateway_ids, ipv4 ?? ipv6, now);
        return;
      }
      case 'new_gateway_ice_candidates':
      case 'invalidate_gateway_ice_candidates': {
        const event =
          message.event === 'new_gateway_ice_candidates' ? 'ice_candidates' : 'invalidate_ice_candidates';
        this.forwardToGateway(session, info, message.payload.gateway_id, event, message.payload.candidates);
        return;
      }
      case 'broadcast_ice_candidates':
      case 'broadcast_invalidated_ice_candidates': {
        const event =
          message.event === 'broadcast_ice_candidates' ? 'ice_candidates' : 'invalidate_ice_candidates';
        for (const gatewayId of message.payload.gateway_ids) {
          this.forwardToGateway(session, info, gatewayId, event, message.payload.candidates);
        }
        return;
      }
      case 'new_client_ice_candidates':
      case 'invalidate_client_ice_candidates':
        // No client-to-client pair can exist: the dev portal has no device pools (§8).
        this.drop(session, 'client_to_client_unsupported', { event: message.event });
        return;
      case 'resolve_device_pool_domain':
        this.push(session, 'device_pool_domain_resolution_failed', {
          resource_id: message.payload.resource_id,
          domain: message.payload.domain,
          reason: 'not_found',
        });
        return;
      case 'no_relays':
        this.push(session, 'relays_presence', { disconnected_ids: [], connected: this.relaysFor(session) });
        return;
      case 'set_snownet_capabilities':
        session.iceless = message.payload.iceless;
        return;
    }
  }

  // ===========================================================================================
  // Gateway messages (§4.3).

  private handleGatewayMessage(
    session: Session,
    info: GatewaySessionInfo,
    message: GatewayEgressMessage,
    frame: Frame,
    now: number,
  ): void {
    switch (message.event) {
      case 'authorization_created': {
        const ref = message.payload.ref;
        const pending = this.pending.get(ref);
        if (!pending || pending.gatewaySession !== session.id) {
          const issued = this.issuedRefs.get(ref);
          if (issued?.gatewayId === info.device.id) {
            // Ours, but superseded, timed out or cancelled meanwhile. The gateway now holds an
            // authorization nobody tracks: take it back, unless the same pair is granted or
            // being granted on this gateway by a newer request (which the reject would undo).
            this.drop(session, 'stale_ack', {});
            this.reply(session, frame, 'ok', {});
            this.issuedRefs.delete(ref);
            if (!this.pairGrantedOrPending(issued)) {
              this.push(session, 'reject_access', {
                client_id: issued.clientId,
                resource_id: issued.resourceId,
              });
            }
          } else {
            this.drop(session, 'invalid_ref', {});
            this.reply(session, frame, 'error', { reason: 'invalid_ref' });
          }
          return;
        }
        this.reply(session, frame, 'ok', {});
        this.complete(pending, info, now);
        return;
      }
      case 'broadcast_ice_candidates':
      case 'broadcast_invalidated_ice_candidates': {
        const event =
          message.event === 'broadcast_ice_candidates' ? 'ice_candidates' : 'invalidate_ice_candidates';
        for (const clientId of message.payload.client_ids) {
          this.forwardToClient(session, info, clientId, event, message.payload.candidates);
        }
        return;
      }
      case 'no_relays':
        this.push(session, 'relays_presence', { disconnected_ids: [], connected: this.relaysFor(session) });
        return;
      case 'set_snownet_capabilities':
        session.iceless = message.payload.iceless;
        return;
    }
  }

  // ===========================================================================================
  // Authorization (§3.10 steps 2–5).

  private requestAuthorization(
    session: Session,
    info: ClientSessionInfo,
    resourceId: string,
    preferred: readonly string[],
    devicePoolAddress: string | undefined,
    now: number,
  ): void {
    if (!this.tokenValid(info.tokenId, now)) {
      this.endSession(session, 'token no longer valid', now);
      return;
    }
    const resource = this.index.resources.get(resourceId);
    const policy = resource ? this.index.policyFor(info.actorId, resourceId, now) : undefined;
    if (!resource || policy === undefined) {
      // Same answer for "no such resource" and "not yours", so ids cannot be probed (§3.4).
      this.drop(session, resource ? 'resource_not_allowed' : 'unknown_resource', { resource: resourceId });
      this.push(session, 'authorization_creation_failed', { resource_id: resourceId, reason: 'not_found' });
      return;
    }
    if (devicePoolAddress !== undefined) {
      this.drop(session, 'device_pool_unsupported', { resource: resourceId });
      this.push(session, 'authorization_creation_failed', { resource_id: resourceId, reason: 'not_found' });
      return;
    }
    // A newer request for the same resource supersedes the older one (§3.10 step 5).
    for (const pending of [...this.pending.values()]) {
      if (pending.clientSession === session.id && pending.resourceId === resourceId)
        this.pending.delete(pending.ref);
    }
    const online = this.gatewaysOfSite(resource.siteId);
    if (online.length === 0) {
      this.push(session, 'authorization_creation_failed', { resource_id: resourceId, reason: 'offline' });
      return;
    }
    const compatible = online.filter((gateway) =>
      isGatewayCompatible(info.userAgent.version, (gateway.info as GatewaySessionInfo).userAgent.version),
    );
    if (compatible.length === 0) {
      this.push(session, 'authorization_creation_failed', {
        resource_id: resourceId,
        reason: 'version_mismatch',
      });
      return;
    }
    const gateway = this.pickGateway(compatible, preferred, new Set(), now);
    if (!gateway) {
      this.push(session, 'authorization_creation_failed', { resource_id: resourceId, reason: 'offline' });
      return;
    }
    const pending: PendingAuthorization = {
      ref: '',
      clientSession: session.id,
      clientId: info.device.id,
      actorId: info.actorId,
      tokenId: info.tokenId,
      resourceId,
      policyId: policy.policyId,
      gatewaySession: gateway.id,
      gatewayId: gateway.info.device.id,
      preferred,
      tried: new Set(),
      deadline: 0,
      held: [],
      psk: '',
      ice: { initiator: { username: '', password: '' }, receiver: { username: '', password: '' } },
      // Never past the token's end nor the policy's (Infinity for a policy without one).
      expiresAt: Math.min(info.tokenExpiresAt, policy.expiresAt),
    };
    this.sendCreateAuthorization(pending, gateway, resource, now);
  }

  private sendCreateAuthorization(
    pending: PendingAuthorization,
    gateway: Session,
    resource: CatalogResource,
    now: number,
  ): void {
    const client = this.sessions.get(pending.clientSession)!;
    const clientInfo = client.info as ClientSessionInfo;
    const gatewayInfo = gateway.info as GatewaySessionInfo;
    const clientPeer = {
      id: clientInfo.device.id,
      publicKey: clientInfo.publicKey,
      pskBase: clientInfo.device.pskBase,
    };
    const gatewayPeer = {
      id: gatewayInfo.device.id,
      publicKey: gatewayInfo.publicKey,
      pskBase: gatewayInfo.device.pskBase,
    };
    pending.ref = this.options.newRef();
    this.issuedRefs.set(pending.ref, {
      gatewayId: gatewayInfo.device.id,
      clientId: pending.clientId,
      resourceId: pending.resourceId,
    });
    if (this.issuedRefs.size > MAX_ISSUED_REFS) {
      const oldest = this.issuedRefs.keys().next().value;
      if (oldest !== undefined) this.issuedRefs.delete(oldest);
    }
    pending.gatewaySession = gateway.id;
    pending.gatewayId = gatewayInfo.device.id;
    pending.deadline = now + this.timeoutMs;
    pending.tried.add(gatewayInfo.device.id);
    pending.psk = derivePresharedKey(clientPeer, gatewayPeer);
    pending.ice = deriveIceCredentials(clientPeer, gatewayPeer);
    this.pending.set(pending.ref, pending);
    const actor = this.index.actors.get(clientInfo.actorId)!;
    const useIceless = this.index.catalog.account.iceless && client.iceless && gateway.iceless;
    this.push(gateway, 'create_authorization', {
      ref: pending.ref,
      resource: gatewayResourceView(resource),
      client: {
        id: clientInfo.device.id,
        public_key: clientInfo.publicKey,
        preshared_key: pending.psk,
        ipv4: clientInfo.device.ipv4,
        ipv6: clientInfo.device.ipv6,
        version: clientInfo.userAgent.versionString,
        device_serial: clientInfo.deviceSerial ?? null,
        device_os_name: clientInfo.userAgent.os,
        device_os_version: clientInfo.userAgent.osVersion,
        device_uuid: clientInfo.deviceUuid ?? null,
        firebase_installation_id: clientInfo.firebaseInstallationId ?? null,
        identifier_for_vendor: clientInfo.identifierForVendor ?? null,
      },
      client_ice_credentials: pending.ice.initiator,
      gateway_ice_credentials: pending.ice.receiver,
      expires_at: pending.expiresAt,
      use_iceless: useIceless,
      subject: subjectView(actor, clientInfo),
      flow_logs_ingest_token: this.ingestToken(pending, resource, 'responder', now),
    });
  }

  /** The gateway acknowledged: tell the client, then release the candidates held for it. */
  private complete(pending: PendingAuthorization, gatewayInfo: GatewaySessionInfo, now: number): void {
    this.pending.delete(pending.ref);
    const client = this.sessions.get(pending.clientSession);
    const resource = this.index.resources.get(pending.resourceId);
    const grant: Grant = {
      id: derivedUuid(`grant|${pending.ref}`),
      gatewayId: pending.gatewayId,
      clientId: pending.clientId,
      resourceId: pending.resourceId,
      actorId: pending.actorId,
      tokenId: pending.tokenId,
      policyId: pending.policyId,
      expiresAt: pending.expiresAt,
    };
    if (!resource || !client || !client.joined || !this.grantValid(grant, now)) {
      // The gateway has just installed it: never leave it there untracked.
      const gateway = this.sessions.get(pending.gatewaySession);
      if (gateway) {
        this.push(gateway, 'reject_access', { client_id: grant.clientId, resource_id: grant.resourceId });
      }
      return;
    }
    this.grants.upsert(grant);
    const gateway = this.sessions.get(pending.gatewaySession)!;
    this.push(client, 'authorization_created', {
      resource_id: pending.resourceId,
      gateway_id: gatewayInfo.device.id,
      gateway_public_key: gatewayInfo.publicKey,
      gateway_ipv4: gatewayInfo.device.ipv4,
      gateway_ipv6: gatewayInfo.device.ipv6,
      site_id: resource.siteId,
      preshared_key: pending.psk,
      client_ice_credentials: pending.ice.initiator,
      gateway_ice_credentials: pending.ice.receiver,
      use_iceless: this.index.catalog.account.iceless && client.iceless && gateway.iceless,
      flow_logs_ingest_token: this.ingestToken(pending, resource, 'initiator', now),
    });
    for (const batch of pending.held) {
      this.push(client, batch.event, { gateway_id: gatewayInfo.device.id, candidates: batch.candidates });
    }
  }

  /** The chosen gateway timed out or went away: try another of the site, else `offline`. */
  private retryElsewhere(pending: PendingAuthorization, now: number): void {
    this.pending.delete(pending.ref);
    const client = this.sessions.get(pending.clientSession);
    if (!client || client.info.kind !== 'client') return;
    const resource = this.index.resources.get(pending.resourceId);
    if (!resource) return;
    const clientInfo = client.info;
    const candidates = this.gatewaysOfSite(resource.siteId).filter((gateway) =>
      isGatewayCompatible(
        clientInfo.userAgent.version,
        (gateway.info as GatewaySessionInfo).userAgent.version,
      ),
    );
    const next = this.pickGateway(candidates, pending.preferred, pending.tried, now);
    if (!next) {
      this.push(client, 'authorization_creation_failed', {
        resource_id: pending.resourceId,
        reason: 'offline',
      });
      return;
    }
    this.log.info('authorization moved to another gateway', {
      from: pending.gatewayId,
      to: next.info.device.id,
    });
    pending.held.length = 0;
    this.sendCreateAuthorization(pending, next, resource, now);
  }

  /**
   * Least-loaded gateway: restricted to the client's `connected_gateway_ids` when one of them
   * qualifies (reuses a tunnel, §5.12); gateways that recently timed out are avoided when others
   * exist; load = clients with authorizations + pending ones; ties by newest version, then id.
   */
  private pickGateway(
    candidates: readonly Session[],
    preferred: readonly string[],
    exclude: ReadonlySet<string>,
    now: number,
  ): Session | undefined {
    let pool = candidates.filter((gateway) => !exclude.has(gateway.info.device.id));
    const healthy = pool.filter((gateway) => (this.suspects.get(gateway.info.device.id) ?? 0) <= now);
    if (healthy.length > 0) pool = healthy;
    const preferredPool = pool.filter((gateway) => preferred.includes(gateway.info.device.id));
    if (preferredPool.length > 0) pool = preferredPool;
    if (pool.length === 0) return undefined;
    const load = this.gatewayLoad();
    return [...pool].sort((a, b) => {
      const byLoad = (load.get(a.info.device.id) ?? 0) - (load.get(b.info.device.id) ?? 0);
      if (byLoad !== 0) return byLoad;
      const va = (a.info as GatewaySessionInfo).userAgent.version;
      const vb = (b.info as GatewaySessionInfo).userAgent.version;
      const byVersion = vb.major - va.major || vb.minor - va.minor || vb.patch - va.patch;
      if (byVersion !== 0) return byVersion;
      return a.info.device.id.localeCompare(b.info.device.id);
    })[0];
  }

  private gatewayLoad(): Map<string, number> {
    const clients = new Map<string, Set<string>>();
    const add = (gatewayId: string, clientId: string): void => {
      const set = clients.get(gatewayId) ?? new Set<string>();
      set.add(clientId);
      clients.set(gatewayId, set);
    };
    for (const grant of this.grants.all()) add(grant.gatewayId, grant.clientId);
    for (const pending of this.pending.values()) add(pending.gatewayId, pending.clientId);
    return new Map([...clients].map(([gateway, set]) => [gateway, set.size]));
  }

  private gatewaysOfSite(siteId: string): Session[] {
    return [...this.sessions.values()].filter(
      (session) => session.joined && session.info.kind === 'gateway' && session.info.siteId === siteId,
    );
  }

  // ===========================================================================================
  // Candidate relay (§3.10 step 6, §5.4, §9.11).

  private forwardToGateway(
    session: Session,
    info: ClientSessionInfo,
    gatewayId: string,
    event: 'ice_candidates' | 'invalidate_ice_candidates',
    candidates: string[],
  ): void {
    const gateway = this.liveSession(gatewayId);
    if (!gateway || gateway.info.kind !== 'gateway') {
      this.drop(session, 'candidates_peer_offline', { gateway: gatewayId });
      return;
    }
    // The gateway must know the connection first: it has a grant, or `create_authorization`
    // already went out on its socket, ahead of these candidates.
    if (!this.pairKnown(gatewayId, info.device.id)) {
      this.drop(session, 'candidates_without_authorization', { gateway: gatewayId });
      return;
    }
    this.push(gateway, event, { client_id: info.device.id, candidates });
  }

  private forwardToClient(
    session: Session,
    info: GatewaySessionInfo,
    clientId: string,
    event: 'ice_candidates' | 'invalidate_ice_candidates',
    candidates: string[],
  ): void {
    const client = this.liveSession(clientId);
    if (!client || !client.joined) {
      this.drop(session, 'candidates_peer_offline', { client: clientId });
      return;
    }
    if (this.hasGrant(info.device.id, clientId)) {
      this.push(client, event, { gateway_id: info.device.id, candidates });
      return;
    }
    // The client must hear `authorization_created` before the gateway's first candidates:
    // hold them until the acknowledgement.
    const pending = [...this.pending.values()].find(
      (item) => item.gatewayId === info.device.id && item.clientId === clientId,
    );
    if (!pending) {
      this.drop(session, 'candidates_without_authorization', { client: clientId });
      return;
    }
    if (pending.held.length >= MAX_HELD_BATCHES) {
      this.drop(session, 'held_candidates_overflow', { client: clientId });
      return;
    }
    pending.held.push({ event, candidates });
  }

  private pairKnown(gatewayId: string, clientId: string): boolean {
    if (this.hasGrant(gatewayId, clientId)) return true;
    for (const pending of this.pending.values()) {
      if (pending.gatewayId === gatewayId && pending.clientId === clientId) return true;
    }
    return false;
  }

  private hasGrant(gatewayId: string, clientId: string): boolean {
    for (const grant of this.grants.all()) {
      if (grant.gatewayId === gatewayId && grant.clientId === clientId) return true;
    }
    return false;
  }

  // ===========================================================================================
  // Init and diffs.

  private sendInit(session: Session, now: number): void {
    if (session.info.kind === 'client') {
      const info = session.info;
      const resources = this.clientResourceViews(info, now);
      const relays = this.relaysFor(session);
      const iface = clientInterfaceView(info.device.ipv4, info.device.ipv6, this.index.catalog.dns);
      session.sentResources = new Map(resources.map((view) => [view.id as string, JSON.stringify(view)]));
      session.sentRelays = groupRelays(relays);
      session.sentInterface = JSON.stringify(iface);
      const actor = this.index.actors.get(info.actorId);
      this.push(session, 'init', {
        interface: iface,
        resources,
        relays,
        authorizations: [],
        flow_logs: FLOW_LOGS_DISABLED,
        // An extension of ours, ignored by Firezone's clients: the headless client shows it.
        ...(actor ? { actor: { name: actor.name, email: actor.email } } : {}),
      });
      return;
    }
    const info = session.info;
    const relays = this.relaysFor(session);
    session.sentRelays = groupRelays(relays);
    // Only grants that still stand: a token revoked elsewhere or while the portal was down, or a
    // config changed across a restart, must not hand a gateway its authorizations back.
    const rejected: Grant[] = [];
    const valid: Grant[] = [];
    for (const grant of [...this.grants.all()]) {
      if (grant.gatewayId !== info.device.id) continue;
      if (this.grantValid(grant, now)) valid.push(grant);
      else if (grant.expiresAt * 1000 <= now)
        this.grants.delete(grant.gatewayId, grant.clientId, grant.resourceId);
      else rejected.push(grant);
    }
    const authorizations = valid.map((grant) => ({
      client_id: grant.clientId,
      resource_id: grant.resourceId,
      expires_at: grant.expiresAt,
    }));
    this.push(session, 'init', {
      interface: { ipv4: info.device.ipv4, ipv6: info.device.ipv6 },
      config: { ipv4_masquerade_enabled: true, ipv6_masquerade_enabled: true },
      relays,
      account_slug: this.index.catalog.account.slug,
      authorizations,
      flow_logs: FLOW_LOGS_DISABLED,
    });
    // What it may still hold from before: withdrawn while it was away, or invalid now.
    const withdrawn = this.withdrawn.get(info.device.id) ?? new Set<string>();
    this.withdrawn.delete(info.device.id);
    for (const grant of rejected) {
      this.grants.delete(grant.gatewayId, grant.clientId, grant.resourceId);
      withdrawn.add(`${grant.clientId}|${grant.resourceId}`);
    }
    for (const pair of withdrawn) {
      const [clientId, resourceId] = pair.split('|') as [string, string];
      this.push(session, 'reject_access', { client_id: clientId, resource_id: resourceId });
    }
  }

  private clientResourceViews(info: ClientSessionInfo, now: number): Record<string, unknown>[] {
    return this.index.resourcesFor(info.actorId, now).flatMap((resource) => {
      const site = this.index.sites.get(resource.siteId);
      return site ? [clientResourceView(resource, site)] : [];
    });
  }

  private pushClientDiff(session: Session, info: ClientSessionInfo, now: number): void {
    const views = this.clientResourceViews(info, now);
    const next = new Map(views.map((view) => [view.id as string, JSON.stringify(view)]));
    const siteOf = (json: string): string => JSON.stringify((JSON.parse(json) as { sites: unknown }).sites);
    // Deletes first: older clients cannot move a resource between sites (§3.10 step 1).
    for (const [id, json] of session.sentResources) {
      const now = next.get(id);
      if (now === undefined || siteOf(now) !== siteOf(json)) this.push(session, 'resource_deleted', id);
    }
    for (const view of views) {
      const id = view.id as string;
      const previous = session.sentResources.get(id);
      const json = next.get(id)!;
      if (previous === undefined || previous !== json)
        this.push(session, 'resource_created_or_updated', view);
    }
    session.sentResources = next;
    const iface = clientInterfaceView(info.device.ipv4, info.device.ipv6, this.index.catalog.dns);
    const ifaceJson = JSON.stringify(iface);
    if (ifaceJson !== session.sentInterface) {
      session.sentInterface = ifaceJson;
      this.push(session, 'config_changed', { interface: iface });
    }
    this.pushRelayDiff(session, this.relaysFor(session));
  }

  private pushRelayDiff(session: Session, relays: Record<string, unknown>[]): void {
    const next = groupRelays(relays);
    const disconnected = [...session.sentRelays.keys()].filter(
      (id) => next.get(id) !== session.sentRelays.get(id),
    );
    const connected = relays.filter(
      (relay) => session.sentRelays.get(relay.id as string) !== next.get(relay.id as string),
    );
    session.sentRelays = next;
    if (disconnected.length === 0 && connected.length === 0) return;
    this.push(session, 'relays_presence', { disconnected_ids: disconnected, connected });
  }

  private relaysFor(session: Session): Record<string, unknown>[] {
    const expiresAt =
      session.info.kind === 'client' ? session.info.tokenExpiresAt : GATEWAY_RELAY_CREDENTIALS_EXPIRE_AT;
    return relayViews(this.index.catalog.relays, session.info.device.id, expiresAt, this.relaysPerDevice);
  }

  // ===========================================================================================
  // Helpers.

  private ingestToken(
    pending: PendingAuthorization,
    resource: CatalogResource,
    role: 'initiator' | 'responder',
    now: number,
  ): string {
    const client = this.sessions.get(pending.clientSession);
    const info = client?.info as ClientSessionInfo | undefined;
    const actor = info ? this.index.actors.get(info.actorId) : undefined;
    const iat = Math.floor(now / 1000);
    return mintIngestToken(
      {
        account_id: this.index.catalog.account.id,
        iat,
        exp: pending.expiresAt,
        uploads_enabled: false,
        role,
        initiator_device_id: pending.clientId,
        responder_device_id: pending.gatewayId,
        policy_authorization_id: derivedUuid(`grant|${pending.ref}`),
        policy_id: pending.policyId,
        resource_id: resource.id,
        resource_name: resource.name,
        initiator_actor_id: actor?.id ?? '',
        initiator_actor_name: actor?.name ?? '',
        authorized_at: new Date(now).toISOString(),
        authorization_expires_at: new Date(pending.expiresAt * 1000).toISOString(),
        resource_address: resource.type === 'internet' ? null : resource.address,
        initiator_actor_email: actor?.email ?? null,
        initiator_client_version: info?.userAgent.versionString ?? null,
        initiator_device_os_name: info?.userAgent.os ?? null,
        initiator_device_os_version: info?.userAgent.osVersion ?? null,
      },
      this.options.ingestKey,
    );
  }

  private rejectGrant(grant: Grant): void {
    this.grants.delete(grant.gatewayId, grant.clientId, grant.resourceId);
    const gateway = this.liveSession(grant.gatewayId);
    if (gateway && gateway.joined) {
      this.push(gateway, 'reject_access', { client_id: grant.clientId, resource_id: grant.resourceId });
      return;
    }
    const withdrawn = this.withdrawn.get(grant.gatewayId) ?? new Set<string>();
    // Bounded: past the cap, the gateway still loses the grant through its next `init`.
    if (withdrawn.size < MAX_WITHDRAWN_PER_GATEWAY) withdrawn.add(`${grant.clientId}|${grant.resourceId}`);
    this.withdrawn.set(grant.gatewayId, withdrawn);
  }

  private tokenValid(tokenId: string, now: number): boolean {
    if (this.revokedTokens.has(tokenId)) return false;
    return this.options.isTokenValid?.(tokenId, now) ?? true;
  }

  /** Whether a grant may still stand: unexpired, its token valid, its policy still granting. */
  private grantValid(grant: Grant, now: number): boolean {
    return (
      grant.expiresAt * 1000 > now &&
      this.index.resources.has(grant.resourceId) &&
      this.index.policyFor(grant.actorId, grant.resourceId, now) !== undefined &&
      this.tokenValid(grant.tokenId, now)
    );
  }

  private pairGrantedOrPending(pair: IssuedRef): boolean {
    for (const grant of this.grants.all()) {
      if (
        grant.gatewayId === pair.gatewayId &&
        grant.clientId === pair.clientId &&
        grant.resourceId === pair.resourceId
      )
        return true;
    }
    for (const pending of this.pending.values()) {
      if (
        pending.gatewayId === pair.gatewayId &&
        pending.clientId === pair.clientId &&
        pending.resourceId === pair.resourceId
      )
        return true;
    }
    return false;
  }

  /**
   * `disconnect token_expired`, then the socket is closed (§3.10 step 8). The session ends in the
   * core at once: a peer that ignores the close frame is not served another frame, and its
   * pending authorizations are cancelled.
   */
  private endSession(session: Session, why: string, now: number): void {
    if (session.expiryPushed) return;
    session.expiryPushed = true;
    this.log.info('ending session', { session: session.id, device: session.info.device.id, reason: why });
    this.outputs.push({
      kind: 'frame',
      session: session.id,
      frame: pushFrame(session.topic, 'disconnect', { reason: 'token_expired' }),
    });
    this.outputs.push({ kind: 'close', session: session.id, code: 1000, reason: why });
    this.disconnect(session.id, now);
  }

  private leave(session: Session, now: number): void {
    // Authorizations waiting on this gateway move elsewhere at once; a client's are cancelled.
    for (const pending of [...this.pending.values()]) {
      if (pending.clientSession === session.id) this.pending.delete(pending.ref);
      else if (pending.gatewaySession === session.id) this.retryElsewhere(pending, now);
    }
  }

  private liveSession(deviceId: string): Session | undefined {
    const id = this.byDevice.get(deviceId);
    return id === undefined ? undefined : this.sessions.get(id);
  }

  private push(session: Session, event: string, payload: unknown): void {
    this.outputs.push({
      kind: 'frame',
      session: session.id,
      frame: pushFrame(session.topic, event, payload),
    });
  }

  private reply(session: Session, frame: Frame, status: 'ok' | 'error', response: unknown): void {
    if (frame.ref === null) return;
    this.outputs.push({
      kind: 'frame',
      session: session.id,
      frame: replyFrame(frame.topic, frame.ref, status, response),
    });
  }

  /** An error reply when the frame has a ref; counted, and logged once per reason and session. */
  private refuse(
    session: Session,
    frame: Frame,
    reason: DropReason,
    replyReason: string,
    detail?: string,
  ): void {
    this.drop(session, reason, {
      event: frame.event,
      topic: frame.topic,
      ...(detail !== undefined ? { detail } : {}),
    });
    if (frame.ref === null) {
      this.count('reply_without_ref');
      return;
    }
    this.reply(
      session,
      frame,
      'error',
      detail !== undefined && reason === 'invalid_payload'
        ? { reason: replyReason, detail }
        : { reason: replyReason },
    );
  }

  private drop(session: Session, reason: DropReason, fields: Record<string, unknown>): void {
    this.count(reason);
    const fieldsOut = { session: session.id, device: session.info.device.id, reason, ...fields };
    if (session.logged.has(reason)) {
      this.log.debug('portal message refused', { ...fieldsOut, repeated: true });
      return;
    }
    session.logged.add(reason);
    this.log.warn('portal message refused', fieldsOut);
  }

  private count(reason: DropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }
}

/**
 * The `subject` of `create_authorization`: who asked, from where, with what, as Firezone's portal
 * sends it (its `Authentication.Subject.to_map`). The dev portal has no IP geolocation: the
 * location fields are present and null.
 */
function subjectView(
  actor: { readonly id: string; readonly name: string; readonly email: string },
  info: ClientSessionInfo,
): Record<string, unknown> {
  return {
    actor_id: actor.id,
    actor_name: actor.name,
    actor_email: actor.email,
    actor_type: 'account_user',
    auth_provider_id: info.authProviderId ?? null,
    ip: info.remoteIp ? info.remoteIp.replace(/^::ffff:/, '') : null,
    ip_region: null,
    ip_city: null,
    ip_lat: null,
    ip_lon: null,
    user_agent: info.userAgentString ?? null,
  };
}

/** relay id → JSON of all its address objects (a relay is "changed" if any of them changed). */
function groupRelays(relays: readonly Record<string, unknown>[]): Map<string, string> {
  const byId = new Map<string, Record<string, unknown>[]>();
  for (const relay of relays) {
    const list = byId.get(relay.id as string) ?? [];
    list.push(relay);
    byId.set(relay.id as string, list);
  }
  return new Map([...byId].map(([id, list]) => [id, JSON.stringify(list)]));
}
