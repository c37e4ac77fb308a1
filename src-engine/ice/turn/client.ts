/**
 * A TURN client for one relay as a sans-IO state machine (RFC 8656 over UDP, with Firezone's
 * choices from docs/protocol.md §5.3): it never touches a socket or a clock. The driver hands it
 * datagrams from the relay (`handleInput`) and the time (`handleTimeout`), and polls what to send
 * (`pollTransmit`), what happened (`pollEvent`) and when to wake it (`pollTimeout`).
 *
 *   binding ──Binding ok──▶ allocating ──Allocate ok──▶ allocated ──free()──▶ freed
 *      │ no answer             │ 401 twice, error,         │ refresh fails, keepalive lost,
 *      ▼                       ▼ timeout                   ▼ credentials expire
 *    failed ◀──────────────────┘                          lost     (437 ⇒ lost, then allocating)
 *
 * 1. Binding to every address of the relay; the first answer picks the one we use and gives
 *    the server-reflexive candidate (and the host candidate when the driver knows the local
 *    address the answer arrived on).
 * 2. Allocate (REQUESTED-TRANSPORT UDP, optionally ADDITIONAL-ADDRESS-FAMILY IPv6): the relay
 *    answers 401 with REALM and NONCE, we retry with the long-term credential; a 401 after that
 *    means the credentials are wrong. 438 makes us retry with the new nonce, 437 clears the old
 *    allocation on the 5-tuple and allocates again.
 * 3. While allocated: Binding every 25 s, Refresh at half the lifetime, permissions refreshed
 *    before their 300 s run out, channels at 5 of their 10 minutes.
 *
 * Every datagram is validated: unknown transaction IDs, answers from the wrong address, missing or
 * bad MESSAGE-INTEGRITY where it is due, ChannelData for channels we never bound, Data
 * indications from peers without a permission — all dropped and counted in `drops`; nothing
 * thrown. Requests retransmit with the TURN profile of constants.ts (fail after 8 s).
 */
import {
  BINDING_KEEPALIVE_INTERVAL_MS,
  DEFAULT_ALLOCATION_LIFETIME_S,
  ERROR_ADDRESS_FAMILY_NOT_SUPPORTED,
  ERROR_ALLOCATION_MISMATCH,
  ERROR_BAD_REQUEST,
  ERROR_STALE_NONCE,
  ERROR_UNAUTHENTICATED,
  ERROR_UNKNOWN_ATTRIBUTE,
  ALLOCATION_MISMATCH_RETRY_MS,
  MAX_ALLOCATION_MISMATCHES,
  MAX_STALE_NONCE_RETRIES,
  METHOD_ALLOCATE,
  METHOD_BINDING,
  METHOD_CHANNEL_BIND,
  METHOD_CREATE_PERMISSION,
  METHOD_DATA,
  METHOD_REFRESH,
  METHOD_SEND,
  SOFTWARE,
  TRANSPORT_UDP,
  TURN_RC,
  TURN_RM,
  TURN_RTO_INITIAL_MS,
} from '../constants.js';
import type { StunAttribute } from '../stun/attributes.js';
import { longTermKey } from '../stun/credentials.js';
import { classifyDatagram } from '../stun/demux.js';
import { cryptoRandom, newTransactionId, type RandomSource } from '../stun/header.js';
import {
  decodeMessage,
  encodeMessage,
  errorCodeOf,
  getAttribute,
  getAttributes,
  verifyIntegrity,
  type StunMessage,
} from '../stun/message.js';
import { TransactionTable, type RetransmitConfig } from '../stun/transaction.js';
import {
  canonicalTransportAddress,
  sameTransportAddress,
  type TransportAddress,
} from '../transport-address.js';
import { decodeChannelData, encodeChannelData } from './channel-data.js';
import { ChannelTable } from './channels.js';
import type { TurnDropReason, TurnEvent, TurnFailure, TurnInput, TurnRequestKind } from './events.js';
import { PermissionTable } from './permissions.js';

export const TURN_RETRANSMIT: RetransmitConfig = Object.freeze({
  initialRtoMs: TURN_RTO_INITIAL_MS,
  maxTransmissions: TURN_RC,
  finalWaitMultiplier: TURN_RM,
});

export interface TurnCredentials {
  readonly username: string;
  readonly password: string;
  /**
   * When the credentials stop working, on the same clock as `now` (the driver converts the
   * portal's unix `expires_at`). Nothing authenticated is sent after it.
   */
  readonly expiresAt?: number;
}

export interface TurnClientOptions {
  /** The relay's addresses (one per family at most); Binding goes to all, the first to answer wins. */
  readonly servers: readonly TransportAddress[];
  readonly credentials: TurnCredentials;
  /** Ask for an IPv6 relayed address besides the IPv4 one (RFC 8656 §7.1, ADDITIONAL-ADDRESS-FAMILY). */
  readonly dualStack?: boolean;
  /** LIFETIME to ask for, in seconds (default: none, the relay picks; RFC 8656 §7.2 default 600). */
  readonly lifetimeSeconds?: number;
  /** SOFTWARE sent in Allocate (default `fz-desktop`). */
  readonly software?: string;
  /** Retransmission schedule (default TURN_RETRANSMIT: RTO 1 s, fail after 8 s). */
  readonly retransmit?: RetransmitConfig;
  /** Source of transaction IDs (default node:crypto). */
  readonly random?: RandomSource;
}

export type TurnState = 'binding' | 'allocating' | 'allocated' | 'failed' | 'lost' | 'freed';

export interface TurnTransmit {
  readonly to: TransportAddress;
  readonly payload: Uint8Array;
}

export interface TurnStats {
  /** Successful Allocates (more than one after 437 recoveries). */
  allocations: number;
  refreshes: number;
  /** Requests re-sent with a new nonce after 438. */
  staleNonceRetries: number;
  keepalives: number;
  /** 437 answers received (RFC 8656 §7.2: an allocation already exists on, or is gone from, our 5-tuple). */
  allocationMismatches: number;
}

type Request =
  | { readonly kind: 'binding'; readonly to: TransportAddress; readonly keepalive: boolean }
  | {
      readonly kind: 'allocate';
      readonly to: TransportAddress;
      readonly dualStack: boolean;
      readonly staleRetries: number;
      /** How many 437s this allocation attempt has met already. */
      readonly mismatches: number;
    }
  | {
      readonly kind: 'refresh';
      readonly to: TransportAddress;
      readonly lifetime: number;
      readonly staleRetries: number;
      /**
       * Set on a Refresh(0) that clears a leftover allocation after a 437: the `mismatches` count
       * the next Allocate carries.
       */
      readonly clearing: number | undefined;
    }
  | {
      readonly kind: 'permission';
      readonly to: TransportAddress;
      readonly ip: string;
      readonly staleRetries: number;
    }
  | {
      readonly kind: 'channel_bind';
      readonly to: TransportAddress;
      readonly peer: TransportAddress;
      readonly channel: number;
      readonly staleRetries: number;
    };

/** A request as sent: whether it carried the long-term credential decides how answers are checked. */
type Sent = Request & { readonly authenticated: boolean };

const METHOD_OF: Record<Request['kind'], number> = {
  binding: METHOD_BINDING,
  allocate: METHOD_ALLOCATE,
  refresh: METHOD_REFRESH,
  permission: METHOD_CREATE_PERMISSION,
  channel_bind: METHOD_CHANNEL_BIND,
};

/** Error responses that come without MESSAGE-INTEGRITY even to an authenticated request (RFC 8489 §9.2.4). */
const UNPROTECTED_ERRORS = new Set([
  ERROR_BAD_REQUEST,
  ERROR_UNAUTHENTICATED,
  ERROR_UNKNOWN_ATTRIBUTE,
  ERROR_STALE_NONCE,
]);

const HANDLED: TurnInput = Object.freeze({ type: 'handled' });
const NOT_TURN: TurnInput = Object.freeze({ type: 'not_turn' });

export class TurnClient {
  readonly drops = new Map<TurnDropReason, number>();
  readonly stats: TurnStats = {
    allocations: 0,
    refreshes: 0,
    staleNonceRetries: 0,
    keepalives: 0,
    allocationMismatches: 0,
  };

  private stateValue: TurnState = 'binding';
  private readonly servers: readonly TransportAddress[];
  private server: TransportAddress | undefined;
  private readonly transactions: TransactionTable<Sent>;
  private readonly events: TurnEvent[] = [];
  private readonly random: RandomSource;
  private readonly permissions = new PermissionTable();
  private readonly channels = new ChannelTable();

  private realm: string | undefined;
  private nonce: string | undefined;
  private key: Uint8Array | undefined;
  private mapped: TransportAddress | undefined;
  private relayedValue: readonly TransportAddress[] = [];
  private lifetimeMs = DEFAULT_ALLOCATION_LIFETIME_S * 1000;
  private allocationExpiresAt = Number.POSITIVE_INFINITY;
  private refreshAt = Number.POSITIVE_INFINITY;
  private keepaliveAt = Number.POSITIVE_INFINITY;
  private refreshPending = false;
  private keepalivePending = false;
  private rtt: number | undefined;
  /** A delayed Allocate after repeated 437s (see allocateAfterMismatch). */
  private allocateAt = Number.POSITIVE_INFINITY;
  private allocateMismatches = 0;

  constructor(
    private readonly options: TurnClientOptions,
    now: number,
  ) {
    const servers: TransportAddress[] = [];
    for (const s of options.servers) {
      const canonical = canonicalTransportAddress(s.address, s.port);
      if (canonical === undefined) throw new RangeError(`invalid relay address: ${s.address}:${s.port}`);
      servers.push(canonical);
    }
    if (servers.length === 0) throw new RangeError('a TURN client needs at least one relay address');
    this.servers = servers;
    this.random = options.random ?? cryptoRandom;
    this.transactions = new TransactionTable(options.retransmit ?? TURN_RETRANSMIT);
    if (this.credentialsExpired(now)) {
      this.fail({ kind: 'credentials_expired' });
      return;
    }
    for (const to of servers) this.send({ kind: 'binding', to, keepalive: false }, now);
  }

  // -------------------------------------------------------------------------------------------
  // Read-only view

  get state(): TurnState {
    return this.stateValue;
  }
  /** The relay address in use (after the first Binding answer). */
  get activeServer(): TransportAddress | undefined {
    return this.server;
  }
  /** Our server-reflexive address as last seen by the relay. */
  get srflx(): TransportAddress | undefined {
    return this.mapped;
  }
  /** Relayed addresses of the current allocation (empty when there is none). */
  get relayed(): readonly TransportAddress[] {
    return this.relayedValue;
  }
  /** Round-trip time of the last request answered without retransmission. */
  get rttMs(): number | undefined {
    return this.rtt;
  }
  /** Whether `from` is one of this relay's addresses (for the driver's demultiplexing). */
  serves(from: TransportAddress): boolean {
    return this.servers.some((s) => sameTransportAddress(s, from));
  }
  /** The bound channel number for a peer, if its ChannelBind succeeded and has not lapsed. */
  channelFor(peer: TransportAddress, now: number): number | undefined {
    const entry = this.channels.get(peer);
    return entry && this.channels.isBound(entry, now) ? entry.channel : undefined;
  }
  hasPermission(ip: string, now: number): boolean {
    return this.permissions.isInstalled(ip, now);
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  /**
   * Asks for a permission for `peer`'s IP and keeps it refreshed (RFC 8656 §9). Before the
   * allocation exists the wish is kept and acted on once it does.
   */
  createPermission(peer: TransportAddress, now: number): void {
    if (this.isTerminal()) return;
    const canonical = canonicalTransportAddress(peer.address, peer.port);
    if (canonical === undefined) throw new RangeError(`invalid peer address: ${peer.address}:${peer.port}`);
    this.permissions.want(canonical.address);
    this.handleTimeout(now);
  }

  /** Stops refreshing the permission for `ip`; the relay drops it when it runs out. */
  removePermission(ip: string): void {
    this.permissions.remove(ip);
  }

  /**
   * Binds a channel to `peer` (which also installs the permission for its IP, RFC 8656 §11.2)
   * and keeps it refreshed. Returns the number chosen, or undefined when none is free.
   */
  bindChannel(peer: TransportAddress, now: number): number | undefined {
    if (this.isTerminal()) return undefined;
    const canonical = canonicalTransportAddress(peer.address, peer.port);
    if (canonical === undefined) throw new RangeError(`invalid peer address: ${peer.address}:${peer.port}`);
    const entry = this.channels.want(canonical, now);
    if (entry === undefined) return undefined;
    // Data on a channel also needs the peer's permission, which lasts 5 minutes against the
    // channel's 10 (RFC 8656 §12): keep it refreshed on its own schedule.
    this.permissions.want(canonical.address);
    this.handleTimeout(now);
    return entry.channel;
  }

  /** Stops using and refreshing the channel to `peer`; its number stays reserved for 15 minutes. */
  unbindChannel(peer: TransportAddress): void {
    this.channels.remove(peer);
  }

  /**
   * Wraps data for `peer`: ChannelData on its bound channel, else a Send indication if its
   * permission is installed. Undefined (and counted) when neither exists yet.
   */
  encapsulate(peer: TransportAddress, payload: Uint8Array, now: number): TurnTransmit | undefined {
    if (this.stateValue !== 'allocated' || this.server === undefined) return this.dropOut('not_allocated');
    const entry = this.channels.get(peer);
    if (entry && this.channels.isBound(entry, now)) {
      if (payload.length > 0xffff) return this.dropOut('send_too_large');
      return { to: this.server, payload: encodeChannelData(entry.channel, payload) };
    }
    return this.sendIndication(peer, payload, now);
  }

  /** Wraps data for `peer` in a Send indication (RFC 8656 §10), if its permission is installed. */
  sendIndication(peer: TransportAddress, payload: Uint8Array, now: number): TurnTransmit | undefined {
    if (this.stateValue !== 'allocated' || this.server === undefined) return this.dropOut('not_allocated');
    if (!this.permissions.isInstalled(peer.address, now)) return this.dropOut('send_no_permission');
    if (payload.length > 0xffff - 64) return this.dropOut('send_too_large');
    const bytes = encodeMessage({
      method: METHOD_SEND,
      class: 'indication',
      transactionId: newTransactionId(this.random),
      attributes: [
        { type: 'XOR-PEER-ADDRESS', address: peer },
        { type: 'DATA', data: payload },
      ],
    });
    return { to: this.server, payload: bytes };
  }

  /**
   * Releases the allocation (Refresh with LIFETIME 0, RFC 8656 §8) and stops everything else.
   * The client ends in `freed` and only consumes the answer to that request.
   */
  free(now: number): void {
    if (this.stateValue === 'freed') return;
    const hadAllocation = this.stateValue === 'allocated' || this.stateValue === 'allocating';
    this.transactions.clear();
    this.stateValue = 'freed';
    this.resetAllocation();
    this.permissions.clear();
    this.channels.clear();
    if (hadAllocation && this.server && this.key && !this.credentialsExpired(now)) {
      this.send({ kind: 'refresh', to: this.server, lifetime: 0, staleRetries: 0, clearing: undefined }, now);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Input

  /**
   * One datagram received from `from`; `local` is the address it arrived on, when the driver
   * knows it. Never throws.
   */
  handleInput(bytes: Uint8Array, from: TransportAddress, now: number, local?: TransportAddress): TurnInput {
    if (!this.serves(from)) return NOT_TURN;
    switch (classifyDatagram(bytes)) {
      case 'stun': {
        const decoded = decodeMessage(bytes);
        if (!decoded.ok) return this.drop('malformed_stun');
        return this.handleStun(decoded.message, from, now, local);
      }
      case 'channel_data':
        return this.handleChannelData(bytes, now);
      default:
        return NOT_TURN;
    }
  }

  private handleChannelData(bytes: Uint8Array, now: number): TurnInput {
    const decoded = decodeChannelData(bytes);
    if (!decoded.ok) return this.drop('malformed_channel_data');
    if (this.stateValue !== 'allocated') return this.drop('not_allocated');
    const entry = this.channels.byChannel(decoded.channel);
    // The relay may use a channel as soon as it has bound it, before our success arrives.
    if (entry === undefined || !(entry.pending || this.channels.isBound(entry, now))) {
      return this.drop('unbound_channel');
    }
    return { type: 'data', peer: entry.peer, payload: decoded.payload, channel: decoded.channel };
  }

  private handleStun(
    msg: StunMessage,
    from: TransportAddress,
    now: number,
    local?: TransportAddress,
  ): TurnInput {
    if (msg.class === 'request') return this.drop('unexpected_message');
    if (msg.class === 'indication') {
      return msg.method === METHOD_DATA
        ? this.handleDataIndication(msg, now)
        : this.drop('unexpected_message');
    }
    const request = this.transactions.peek(msg.transactionId);
    if (request === undefined) return this.drop('unknown_transaction');
    if (!sameTransportAddress(request.to, from)) return this.drop('wrong_source');
    if (METHOD_OF[request.kind] !== msg.method) return this.drop('method_mismatch');
    if (request.kind !== 'binding' && !this.integrityAcceptable(request, msg)) {
      return this.drop('bad_integrity');
    }
    if (msg.class === 'success' && msg.unknownRequired.length > 0) {
      // RFC 8489 §7.3.3: such a success response fails the transaction.
      this.transactions.complete(msg.transactionId, now);
      this.requestFailed(request, { kind: 'unknown_attributes', types: msg.unknownRequired }, now);
      return HANDLED;
    }
    if (msg.class === 'success' && !this.successWellFormed(request, msg)) {
      return this.drop('malformed_response');
    }
    const done = this.transactions.complete(msg.transactionId, now);
    if (done?.rttMs !== undefined) this.rtt = done.rttMs;
    if (msg.class === 'success') this.onSuccess(request, msg, now, local);
    else this.onError(request, msg, now);
    return HANDLED;
  }

  /**
   * Responses to authenticated requests must carry valid integrity (RFC 8489 §9.2.5), except the
   * errors a relay sends before or instead of checking it (400, 401, 420, 438). A bad value is a
   * forgery even on those.
   */
  private integrityAcceptable(request: Sent, msg: StunMessage): boolean {
    if (!request.authenticated) return true;
    const check = verifyIntegrity(msg, this.key!, 'sha1');
    if (check === 'ok') return true;
    if (check === 'mismatch') return false;
    const code = msg.class === 'error' ? errorCodeOf(msg)?.code : undefined;
    return code !== undefined && UNPROTECTED_ERRORS.has(code);
  }

  private successWellFormed(request: Request, msg: StunMessage): boolean {
    switch (request.kind) {
      case 'binding':
        return mappedAddressOf(msg) !== undefined;
      case 'allocate':
        return getAttributes(msg, 'XOR-RELAYED-ADDRESS').length > 0;
      default:
        return true;
    }
  }

  private handleDataIndication(msg: StunMessage, now: number): TurnInput {
    const peer = getAttribute(msg, 'XOR-PEER-ADDRESS')?.address;
    const data = getAttribute(msg, 'DATA')?.data;
    if (peer === undefined || data === undefined) return this.drop('malformed_stun');
    if (this.stateValue !== 'allocated') return this.drop('not_allocated');
    // RFC 8656 §10.2: the relay only forwards from permitted peers; a Data indication from any
    // other is forged or stale.
    if (!this.permissions.isKnown(peer.address, now)) return this.drop('no_permission');
    return { type: 'data', peer, payload: data, channel: undefined };
  }

  // -------------------------------------------------------------------------------------------
  // Responses

  private onSuccess(request: Request, msg: StunMessage, now: number, local?: TransportAddress): void {
    switch (request.kind) {
      case 'binding':
        return this.onBindingSuccess(request, msg, now, local);
      case 'allocate':
        return this.onAllocateSuccess(msg, now);
      case 'refresh':
        if (request.clearing !== undefined) return this.allocateAfterMismatch(request.clearing, now);
        if (request.lifetime === 0) return;
        this.refreshPending = false;
        this.stats.refreshes++;
        this.setLifetime(getAttribute(msg, 'LIFETIME')?.seconds, now);
        this.events.push({ type: 'refreshed', lifetimeSeconds: this.lifetimeMs / 1000 });
        return;
      case 'permission': {
        const entry = this.permissions.get(request.ip);
        if (entry === undefined) return; // removed meanwhile
        const first = entry.installedUntil === 0;
        this.permissions.installed(request.ip, entry.sentAt);
        if (first) this.events.push({ type: 'permission_created', ip: request.ip });
        return;
      }
      case 'channel_bind': {
        const entry = this.channels.get(request.peer);
        if (entry === undefined || entry.channel !== request.channel) return;
        const first = entry.boundUntil === 0;
        this.channels.bound(entry);
        // RFC 8656 §11.2: a successful ChannelBind installs or refreshes the peer's permission.
        this.permissions.installed(request.peer.address, entry.sentAt);
        if (first) this.events.push({ type: 'channel_bound', peer: entry.peer, channel: entry.channel });
        return;
      }
    }
  }

  private onBindingSuccess(
    request: Extract<Request, { kind: 'binding' }>,
    msg: StunMessage,
    now: number,
    local?: TransportAddress,
  ): void {
    const address = mappedAddressOf(msg)!;
    if (request.keepalive) {
      this.keepalivePending = false;
      this.stats.keepalives++;
    } else if (this.stateValue === 'binding') {
      // First answer: this address of the relay is the one we use (docs/protocol.md §5.3).
      this.server = request.to;
      this.transactions.cancelWhere((r) => r.kind === 'binding');
      if (local) this.events.push({ type: 'host_candidate', address: local });
      this.allocate(now, 0);
    }
    if (!sameTransportAddress(this.mapped, address) && this.server !== undefined) {
      this.mapped = address;
      this.events.push({ type: 'srflx_candidate', address, base: local, server: this.server });
    }
  }

  private onAllocateSuccess(msg: StunMessage, now: number): void {
    this.stateValue = 'allocated';
    this.stats.allocations++;
    this.relayedValue = getAttributes(msg, 'XOR-RELAYED-ADDRESS').map((a) => a.address);
    this.setLifetime(getAttribute(msg, 'LIFETIME')?.seconds, now);
    this.keepaliveAt = now + BINDING_KEEPALIVE_INTERVAL_MS;
    const mapped = getAttribute(msg, 'XOR-MAPPED-ADDRESS')?.address;
    if (mapped && !sameTransportAddress(mapped, this.mapped) && this.server) {
      this.mapped = mapped;
      this.events.push({ type: 'srflx_candidate', address: mapped, base: undefined, server: this.server });
    }
    this.events.push({
      type: 'relay_candidates',
      addresses: this.relayedValue,
      lifetimeSeconds: this.lifetimeMs / 1000,
    });
    // Permissions and channels asked for before the allocation existed are due now.
    this.serviceTables(now);
  }

  private setLifetime(seconds: number | undefined, now: number): void {
    this.lifetimeMs = (seconds ?? DEFAULT_ALLOCATION_LIFETIME_S) * 1000;
    this.allocationExpiresAt = now + this.lifetimeMs;
    // RFC 8656 §8 leaves the timing to the client; half the lifetime, as Firezone does.
    this.refreshAt = now + this.lifetimeMs / 2;
  }

  private onError(request: Sent, msg: StunMessage, now: number): void {
    const error = errorCodeOf(msg) ?? { code: 0, reason: 'no ERROR-CODE' };
    if (request.kind === 'binding') {
      return this.requestFailed(request, { kind: 'error_response', request: 'binding', ...error }, now);
    }
    if (error.code === ERROR_UNAUTHENTICATED) {
      if (!request.authenticated) {
        // RFC 8489 §9.2.5: the challenge — learn REALM and NONCE, retry with credentials. (Not
        // only for Allocate: after a 437 to our first Allocate, the Refresh that clears the old
        // allocation is the first request to meet the challenge.)
        const realm = getAttribute(msg, 'REALM')?.value;
        const nonce = getAttribute(msg, 'NONCE')?.value;
        if (realm === undefined || nonce === undefined) {
          return this.requestFailed(request, { kind: 'bad_challenge' }, now);
        }
        this.setChallenge(realm, nonce);
        return this.resend(request, now);
      }
      return this.requestFailed(request, { kind: 'unauthorized', ...error }, now);
    }
    if (error.code === ERROR_STALE_NONCE) {
      const nonce = getAttribute(msg, 'NONCE')?.value;
      if (nonce === undefined || request.staleRetries >= MAX_STALE_NONCE_RETRIES) {
        return this.requestFailed(request, { kind: 'stale_nonce_loop' }, now);
      }
      const realm = getAttribute(msg, 'REALM')?.value ?? this.realm;
      if (realm === undefined) return this.requestFailed(request, { kind: 'bad_challenge' }, now);
      this.setChallenge(realm, nonce);
      this.stats.staleNonceRetries++;
      return this.resend({ ...request, staleRetries: request.staleRetries + 1 }, now);
    }
    if (error.code === ERROR_ALLOCATION_MISMATCH) {
      this.stats.allocationMismatches++;
      return this.requestFailed(request, { kind: 'allocation_mismatch' }, now);
    }
    if (
      error.code === ERROR_ADDRESS_FAMILY_NOT_SUPPORTED &&
      request.kind === 'allocate' &&
      request.dualStack
    ) {
      // The relay has no IPv6 relaying: take the IPv4 allocation alone (RFC 8656 §7.2).
      return this.resend({ ...request, dualStack: false }, now);
    }
    this.requestFailed(request, { kind: 'error_response', request: requestKind(request), ...error }, now);
  }

  /** What an authenticated request needs, once a 401 has given us REALM and NONCE. */
  private credential(): { key: Uint8Array; realm: string; nonce: string } | undefined {
    const { key, realm, nonce } = this;
    return key && realm !== undefined && nonce !== undefined ? { key, realm, nonce } : undefined;
  }

  /** Takes REALM and NONCE from a 401 or 438. */
  private setChallenge(realm: string, nonce: string): void {
    if (realm !== this.realm || this.key === undefined) {
      this.key = longTermKey(this.options.credentials.username, realm, this.options.credentials.password);
    }
    this.realm = realm;
    this.nonce = nonce;
  }

  /** A request failed: by timeout, an error response, or a response we cannot use. */
  private requestFailed(request: Request, reason: TurnFailure, now: number): void {
    switch (request.kind) {
      case 'binding':
        if (request.keepalive) return this.lose(reason, now);
        // Another address of the relay may still answer.
        if (this.stateValue === 'binding' && !this.transactions.some((r) => r.kind === 'binding')) {
          this.fail(reason);
        }
        return;
      case 'allocate':
        if (
          reason.kind === 'allocation_mismatch' &&
          request.mismatches < MAX_ALLOCATION_MISMATCHES &&
          this.server
        ) {
          // RFC 8656 §7.2: a 437 to Allocate means an allocation already exists on this 5-tuple
          // (ours, from before a restart or a lost answer). Delete it, then allocate afresh.
          return this.send(
            {
              kind: 'refresh',
              to: this.server,
              lifetime: 0,
              staleRetries: 0,
              clearing: request.mismatches + 1,
            },
            now,
          );
        }
        return this.fail(reason);
      case 'refresh':
        if (request.clearing !== undefined) return this.allocateAfterMismatch(request.clearing, now);
        if (request.lifetime === 0) return;
        this.refreshPending = false;
        return this.lose(reason, now);
      case 'permission':
        if (reason.kind === 'allocation_mismatch') return this.lose(reason, now);
        if (this.permissions.get(request.ip)) {
          this.permissions.remove(request.ip);
          this.events.push({ type: 'permission_failed', ip: request.ip, reason });
        }
        return;
      case 'channel_bind': {
        if (reason.kind === 'allocation_mismatch') return this.lose(reason, now);
        const entry = this.channels.get(request.peer);
        if (entry && entry.channel === request.channel) {
          this.channels.remove(request.peer);
          this.events.push({
            type: 'channel_bind_failed',
            peer: request.peer,
            channel: request.channel,
            reason,
          });
        }
        return;
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Timers

  handleTimeout(now: number): void {
    if (this.isTerminal()) {
      this.transactions.handleTimeout(now);
      while (this.transactions.pollFailed());
      return;
    }
    if (this.credentialsExpired(now)) {
      const reason: TurnFailure = { kind: 'credentials_expired' };
      if (this.stateValue === 'allocated') this.lose(reason, now, false);
      else this.fail(reason);
      return;
    }
    this.transactions.handleTimeout(now);
    for (let f = this.transactions.pollFailed(); f; f = this.transactions.pollFailed()) {
      this.requestFailed(f.context, { kind: 'timeout', request: requestKind(f.context) }, now);
      if (this.isTerminal()) return;
    }
    if (this.stateValue === 'allocating' && now >= this.allocateAt) {
      this.allocateAt = Number.POSITIVE_INFINITY;
      this.allocate(now, this.allocateMismatches);
    }
    if (this.stateValue !== 'allocated' || this.server === undefined) return;
    if (now >= this.allocationExpiresAt) return this.lose({ kind: 'timeout', request: 'refresh' }, now);
    if (now >= this.keepaliveAt && !this.keepalivePending) {
      this.keepalivePending = true;
      this.keepaliveAt = now + BINDING_KEEPALIVE_INTERVAL_MS;
      this.send({ kind: 'binding', to: this.server, keepalive: true }, now);
    }
    if (now >= this.refreshAt && !this.refreshPending) {
      this.refreshPending = true;
      const lifetime = this.options.lifetimeSeconds ?? DEFAULT_ALLOCATION_LIFETIME_S;
      this.send({ kind: 'refresh', to: this.server, lifetime, staleRetries: 0, clearing: undefined }, now);
    }
    this.serviceTables(now);
  }

  /** Sends the CreatePermission and ChannelBind requests that are due. */
  private serviceTables(now: number): void {
    if (this.stateValue !== 'allocated' || this.server === undefined) return;
    for (const entry of this.permissions.due(now)) {
      this.permissions.sent(entry, now);
      this.send({ kind: 'permission', to: this.server, ip: entry.ip, staleRetries: 0 }, now);
    }
    for (const entry of this.channels.due(now)) {
      this.channels.sent(entry, now);
      this.send(
        { kind: 'channel_bind', to: this.server, peer: entry.peer, channel: entry.channel, staleRetries: 0 },
        now,
      );
    }
  }

  /**
   * Asks the relay now whether our allocation still exists (a Refresh), instead of at half its
   * lifetime: a relay that restarted has forgotten it, and its 437 answer makes us allocate again
   * at once. The node calls this when a connection fails, since a lost allocation is one reason.
   */
  checkAllocation(now: number): void {
    if (this.stateValue !== 'allocated' || this.refreshPending) return;
    this.refreshAt = Math.min(this.refreshAt, now);
  }

  pollTimeout(): number | undefined {
    let next = this.transactions.pollTimeout();
    const consider = (t: number | undefined): void => {
      if (t !== undefined && Number.isFinite(t) && (next === undefined || t < next)) next = t;
    };
    if (this.isTerminal()) return next;
    consider(this.options.credentials.expiresAt);
    if (this.stateValue === 'allocating') consider(this.allocateAt);
    if (this.stateValue === 'allocated') {
      if (!this.keepalivePending) consider(this.keepaliveAt);
      if (!this.refreshPending) consider(this.refreshAt);
      consider(this.allocationExpiresAt);
      // Tables only wake us when allocated; entries due "now" (-Infinity) are sent at once.
      const p = this.permissions.nextTimeout();
      const c = this.channels.nextTimeout();
      consider(p === Number.NEGATIVE_INFINITY ? 0 : p);
      consider(c === Number.NEGATIVE_INFINITY ? 0 : c);
    }
    return next;
  }

  pollTransmit(): TurnTransmit | undefined {
    return this.transactions.pollTransmit();
  }

  pollEvent(): TurnEvent | undefined {
    return this.events.shift();
  }

  // -------------------------------------------------------------------------------------------
  // Sending requests

  private allocate(now: number, mismatches: number): void {
    if (this.server === undefined) return;
    this.stateValue = 'allocating';
    this.send(
      {
        kind: 'allocate',
        to: this.server,
        // RFC 8656 §7.1: without REQUESTED-ADDRESS-FAMILY the relayed address is IPv4 whatever
        // family we reach the relay over, so the additional one is always IPv6.
        dualStack: this.options.dualStack === true,
        staleRetries: 0,
        mismatches,
      },
      now,
    );
  }

  /**
   * The Allocate after clearing a leftover allocation. The first goes at once; if that meets 437
   * too, the relay has not let go of the 5-tuple yet (coturn closes a deallocated session on its
   * next one-second tick), so later ones wait a little.
   */
  private allocateAfterMismatch(mismatches: number, now: number): void {
    this.stateValue = 'allocating';
    if (mismatches <= 1) return this.allocate(now, mismatches);
    this.allocateAt = now + ALLOCATION_MISMATCH_RETRY_MS * (mismatches - 1);
    this.allocateMismatches = mismatches;
  }

  /** Sends `request` again (new transaction ID) with the current nonce. */
  private resend(request: Request, now: number): void {
    this.send(request, now);
  }

  private send(request: Request, now: number): void {
    const attributes: StunAttribute[] = [];
    switch (request.kind) {
      case 'binding':
        break;
      case 'allocate':
        attributes.push({ type: 'REQUESTED-TRANSPORT', protocol: TRANSPORT_UDP });
        if (request.dualStack) attributes.push({ type: 'ADDITIONAL-ADDRESS-FAMILY', family: 'ipv6' });
        if (this.options.lifetimeSeconds !== undefined) {
          attributes.push({ type: 'LIFETIME', seconds: this.options.lifetimeSeconds });
        }
        attributes.push({ type: 'SOFTWARE', value: this.options.software ?? SOFTWARE });
        break;
      case 'refresh':
        attributes.push({ type: 'LIFETIME', seconds: request.lifetime });
        break;
      case 'permission':
        attributes.push({ type: 'XOR-PEER-ADDRESS', address: { address: request.ip, port: 0 } });
        break;
      case 'channel_bind':
        attributes.push({ type: 'CHANNEL-NUMBER', channel: request.channel });
        attributes.push({ type: 'XOR-PEER-ADDRESS', address: request.peer });
        break;
    }
    // Everything but Binding carries the credential once the relay has challenged us (RFC 8489
    // §9.2.3): the first Allocate goes without, to learn REALM and NONCE from the 401.
    const credential = request.kind === 'binding' ? undefined : this.credential();
    if (credential) {
      attributes.push(
        { type: 'USERNAME', value: this.options.credentials.username },
        { type: 'REALM', value: credential.realm },
        { type: 'NONCE', value: credential.nonce },
      );
    }
    const transactionId = newTransactionId(this.random);
    const payload = encodeMessage(
      { method: METHOD_OF[request.kind], class: 'request', transactionId, attributes },
      { integrity: credential ? { key: credential.key, algorithm: 'sha1' } : undefined, fingerprint: true },
    );
    const authenticate = credential !== undefined;
    this.transactions.start(
      transactionId,
      payload,
      request.to,
      { ...request, authenticated: authenticate },
      now,
    );
  }

  // -------------------------------------------------------------------------------------------
  // Endings

  private fail(reason: TurnFailure): void {
    this.transactions.clear();
    this.stateValue = 'failed';
    this.resetAllocation();
    this.events.push({ type: 'allocation_failed', reason });
  }

  /**
   * The allocation is gone. After 437 the relay simply forgot it (restart, expiry): allocate
   * again on the same 5-tuple. Anything else ends the client.
   */
  private lose(reason: TurnFailure, now: number, reallocate = reason.kind === 'allocation_mismatch'): void {
    const had = this.stateValue === 'allocated';
    this.transactions.clear();
    this.resetAllocation();
    this.permissions.reset();
    this.channels.reset();
    if (had) this.events.push({ type: 'allocation_lost', reason });
    if (reallocate && !this.credentialsExpired(now)) {
      this.allocate(now, 1);
    } else {
      this.stateValue = 'lost';
      if (!had) this.events.push({ type: 'allocation_failed', reason });
    }
  }

  private resetAllocation(): void {
    this.relayedValue = [];
    this.allocateAt = Number.POSITIVE_INFINITY;
    this.allocationExpiresAt = Number.POSITIVE_INFINITY;
    this.refreshAt = Number.POSITIVE_INFINITY;
    this.keepaliveAt = Number.POSITIVE_INFINITY;
    this.refreshPending = false;
    this.keepalivePending = false;
  }

  private isTerminal(): boolean {
    return this.stateValue === 'failed' || this.stateValue === 'lost' || this.stateValue === 'freed';
  }

  private credentialsExpired(now: number): boolean {
    const at = this.options.credentials.expiresAt;
    return at !== undefined && now >= at;
  }

  private drop(reason: TurnDropReason): TurnInput {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    return { type: 'dropped', reason };
  }

  private dropOut(reason: TurnDropReason): undefined {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    return undefined;
  }
}

function mappedAddressOf(msg: StunMessage): TransportAddress | undefined {
  return getAttribute(msg, 'XOR-MAPPED-ADDRESS')?.address ?? getAttribute(msg, 'MAPPED-ADDRESS')?.address;
}

function requestKind(request: Request): TurnRequestKind {
  if (request.kind === 'refresh' && request.lifetime === 0) return 'deallocate';
  return request.kind;
}
