/**
 * A TURN relay (RFC 8656 over UDP, with RFC 8489 long-term credentials) as a sans-IO model for the
 * deterministic simulation. It behaves like coturn with `use-auth-secret` towards our TurnClient:
 *
 * - **Binding** requests are answered with XOR-MAPPED-ADDRESS: the source it saw (behind a NAT,
 *   the mapped address). No credentials needed.
 * - **Credentials** (RFC 8489 §9.2.4 order: 401 without MESSAGE-INTEGRITY, 400 without
 *   USERNAME/REALM/NONCE, 401 for an invalid or expired username or a wrong HMAC, 438 for a nonce
 *   that is stale or not ours). `username = "<expiry unix s>:<anything>"`; the password is
 *   coturn's TURN REST one, base64(HMAC-SHA1(secret, username)), or Firezone's relay's,
 *   base64-no-pad(SHA-256("<expiry>:<secret>:<salt>")), salt being what follows the first ':'.
 *   Nonces are stateless: issue time and an HMAC over it and the 5-tuple with a key that
 *   `restart()` replaces, so a rebooted relay answers old nonces with 438.
 * - **Allocate** (§7.2): REQUESTED-TRANSPORT must be UDP (400 without, 442 otherwise); IPv4 by
 *   default, REQUESTED-ADDRESS-FAMILY for IPv6 alone (440 if the relay has no address of that
 *   family), ADDITIONAL-ADDRESS-FAMILY IPv6 for a dual allocation (without an IPv6 address the
 *   IPv4 one is granted with ADDRESS-ERROR-CODE 440); both together are 400. Lifetime
 *   max(default, min(asked, max)). A second Allocate on a 5-tuple with an allocation gets 437 —
 *   before authentication when it carries no credentials (as coturn does, so a restarted client
 *   learns at once), signed otherwise — unless it is a retransmission of the Allocate that
 *   created it, which gets the stored answer again.
 * - **Refresh** (§8): LIFETIME 0 deletes, else min(asked or default, max). **CreatePermission**
 *   (§9): one or more XOR-PEER-ADDRESS, per IP, 300 s. **ChannelBind** (§11): 0x4000–0x4FFF,
 *   a channel stays with its peer and a peer with its channel while bound (else 400), 600 s, and
 *   installs the peer's permission. Peers of a family the allocation has no relayed address for
 *   get 443. Requests on a 5-tuple without allocation get 437, with another username 441.
 * - **Data**: a Send indication or ChannelData from the client goes out as UDP from the relayed
 *   address of the peer's family (Send needs a permission; ChannelData a bound channel, RFC 8656
 *   §12.5). UDP from a peer to a relayed address needs a permission for its IP and reaches the
 *   client as ChannelData when a channel is bound to that exact address, else as a Data
 *   indication. Relayed data refreshes nothing.
 * - **Timers**: allocations, permissions and channels expire on the virtual clock; expiry is also
 *   checked whenever one is used, so results do not depend on when `handleTimeout` runs.
 *
 * Untrusted input never throws: what cannot be used is dropped and counted in `drops` by reason.
 * Not modelled: TCP/TLS/DTLS, EVEN-PORT and RESERVATION-TOKEN (420), RFC 8489 password
 * algorithms and USERHASH, quotas, ICMP, REQUESTED-ADDRESS-FAMILY in Refresh (ignored), response
 * caching beyond the Allocate retransmission.
 */
import { createHash, createHmac } from 'node:crypto';
import {
  ATTR_ADDRESS_ERROR_CODE,
  ATTR_DONT_FRAGMENT,
  CHANNEL_LIFETIME_MS,
  DEFAULT_ALLOCATION_LIFETIME_S,
  ERROR_ADDRESS_FAMILY_NOT_SUPPORTED,
  ERROR_ALLOCATION_MISMATCH,
  ERROR_BAD_REQUEST,
  ERROR_INSUFFICIENT_CAPACITY,
  ERROR_PEER_ADDRESS_FAMILY_MISMATCH,
  ERROR_STALE_NONCE,
  ERROR_UNAUTHENTICATED,
  ERROR_UNKNOWN_ATTRIBUTE,
  ERROR_UNSUPPORTED_TRANSPORT_PROTOCOL,
  ERROR_WRONG_CREDENTIALS,
  FAMILY_IPV4,
  FAMILY_IPV6,
  FIREZONE_REALM,
  METHOD_ALLOCATE,
  METHOD_BINDING,
  METHOD_CHANNEL_BIND,
  METHOD_CREATE_PERMISSION,
  METHOD_DATA,
  METHOD_REFRESH,
  METHOD_SEND,
  PERMISSION_LIFETIME_MS,
  TRANSPORT_UDP,
} from '../src-engine/ice/constants.js';
import type { StunAttribute } from '../src-engine/ice/stun/attributes.js';
import { longTermKey } from '../src-engine/ice/stun/credentials.js';
import { classifyDatagram } from '../src-engine/ice/stun/demux.js';
import { cryptoRandom, transactionKey, type RandomSource } from '../src-engine/ice/stun/header.js';
import {
  decodeMessage,
  encodeMessage,
  getAttribute,
  getAttributes,
  integrityOf,
  verifyIntegrity,
  type StunMessage,
} from '../src-engine/ice/stun/message.js';
import {
  decodeChannelData,
  encodeChannelData,
  isValidChannelNumber,
} from '../src-engine/ice/turn/channel-data.js';
import {
  canonicalTransportAddress,
  familyOf,
  formatTransportAddress,
  sameTransportAddress,
  type AddressFamily,
  type TransportAddress,
} from '../src-engine/ice/transport-address.js';

/** `coturn`: TURN REST (`use-auth-secret`); `firezone`: Firezone's relay. */
export type TurnPasswordScheme = 'coturn' | 'firezone';

export interface TurnServerOptions {
  /** The relay's listening addresses (usually port 3478), at most one per family. */
  readonly addresses: readonly TransportAddress[];
  /** The shared secret (coturn `static-auth-secret`, the portal catalog's relay `secret`). */
  readonly secret: string;
  /** Default `firezone`. */
  readonly realm?: string;
  /** Relay ports, inclusive (coturn `min-port`/`max-port`; default 49152–65535). */
  readonly relayPortRange?: { readonly min: number; readonly max: number };
  /** Default 600 (RFC 8656 §7.2). */
  readonly lifetimeDefaultS?: number;
  /** Default 3600 (coturn `max-allocate-lifetime`). */
  readonly lifetimeMaxS?: number;
  /** How long a nonce is accepted, ms (coturn `stale-nonce`; default 600 s). */
  readonly nonceLifetimeMs?: number;
  /** Relay ports, nonce keys and indication transaction IDs (default node:crypto). */
  readonly random?: RandomSource;
  /**
   * Unix time in ms at virtual time `now`, for the usernames' expiry. Default: `now` itself (the
   * simulation's clock counts unix milliseconds).
   */
  readonly wallClock?: (now: number) => number;
  /** Password schemes accepted (default both). */
  readonly passwordSchemes?: readonly TurnPasswordScheme[];
}

export interface TurnServerTransmit {
  /** A listening address (answers, data to clients) or a relayed address (data to peers). */
  readonly from: TransportAddress;
  readonly to: TransportAddress;
  readonly payload: Uint8Array;
}

export type TurnServerDropReason =
  /** Arrived on an address that is neither a listening address nor a live relayed address. */
  | 'unknown_destination'
  /** `from` or `to` is not a valid transport address. */
  | 'bad_address'
  /** On a listening address: neither STUN nor ChannelData. */
  | 'not_turn'
  | 'malformed_stun'
  | 'malformed_channel_data'
  /** Responses, and indications other than Send, from a client. */
  | 'unexpected_message'
  /** A Send indication or ChannelData on a 5-tuple without allocation. */
  | 'no_allocation'
  /** A Send indication without XOR-PEER-ADDRESS or DATA, or with unknown required attributes. */
  | 'malformed_send'
  /** A Send indication to a peer without permission. */
  | 'no_permission'
  /** A Send indication to a peer of a family the allocation has no relayed address for. */
  | 'peer_family_mismatch'
  /** ChannelData on a channel that is not bound (or no longer). */
  | 'unbound_channel'
  /** UDP from a peer whose IP has no permission on that allocation. */
  | 'peer_no_permission'
  /** Data from a peer too large for a ChannelData message or Data indication. */
  | 'too_large';

export interface TurnServerStats {
  /** STUN requests from clients, all methods. */
  requests: number;
  bindings: number;
  /** Allocations created. */
  allocations: number;
  /** Allocate retransmissions answered again with the stored success response. */
  allocateReplays: number;
  refreshes: number;
  /** Allocations deleted by Refresh with LIFETIME 0. */
  deallocations: number;
  /** Allocations that ran out. */
  expirations: number;
  /** Successful CreatePermission requests. */
  permissions: number;
  /** Successful ChannelBind requests. */
  channelBinds: number;
  /** 401 to requests without MESSAGE-INTEGRITY (the challenge). */
  challenges: number;
  /** 401 to requests whose credentials failed (bad username, wrong HMAC, realm, expired). */
  unauthorized: number;
  /** Of `unauthorized`, usernames whose expiry had passed. */
  expiredCredentials: number;
  /** 438 answers. */
  staleNonces: number;
  /** 437 answers. */
  mismatches: number;
  /** Datagrams relayed from clients to peers (Send indications and ChannelData). */
  toPeers: number;
  channelDataToClients: number;
  dataIndicationsToClients: number;
  restarts: number;
}

/** A read-only snapshot of one allocation. */
export interface TurnServerAllocation {
  readonly client: TransportAddress;
  /** The listening address the allocation was made on (the server side of the 5-tuple). */
  readonly server: TransportAddress;
  /** One per family, the requested (or IPv4) one first. */
  readonly relayed: readonly TransportAddress[];
  readonly username: string;
  readonly expiresAt: number;
  /** Peer IP → expiry. */
  readonly permissions: ReadonlyMap<string, number>;
  readonly channels: ReadonlyMap<number, { readonly peer: TransportAddress; readonly expiresAt: number }>;
}

interface Channel {
  readonly peer: TransportAddress;
  readonly peerKey: string;
  expiresAt: number;
}

interface Allocation {
  readonly tuple: string;
  readonly client: TransportAddress;
  readonly server: TransportAddress;
  readonly relayed: TransportAddress[];
  readonly username: string;
  /** Hex transaction ID of the Allocate that created it. */
  readonly transactionId: string;
  /** That Allocate's success response, sent again to its retransmissions. */
  readonly response: Uint8Array;
  expiresAt: number;
  readonly permissions: Map<string, number>;
  readonly channels: Map<number, Channel>;
  /** `ip:port` of a peer → its channel. */
  readonly channelByPeer: Map<string, number>;
}

interface Tuple {
  readonly key: string;
  readonly client: TransportAddress;
  readonly server: TransportAddress;
}

interface Auth {
  readonly username: string;
  readonly key: Uint8Array;
}

const REASONS: Readonly<Record<number, string>> = {
  [ERROR_BAD_REQUEST]: 'Bad Request',
  [ERROR_UNAUTHENTICATED]: 'Unauthorized',
  [ERROR_UNKNOWN_ATTRIBUTE]: 'Unknown Attribute',
  [ERROR_ALLOCATION_MISMATCH]: 'Allocation Mismatch',
  [ERROR_STALE_NONCE]: 'Stale Nonce',
  [ERROR_ADDRESS_FAMILY_NOT_SUPPORTED]: 'Address Family not Supported',
  [ERROR_WRONG_CREDENTIALS]: 'Wrong Credentials',
  [ERROR_UNSUPPORTED_TRANSPORT_PROTOCOL]: 'Unsupported Transport Protocol',
  [ERROR_PEER_ADDRESS_FAMILY_MISMATCH]: 'Peer Address Family Mismatch',
  [ERROR_INSUFFICIENT_CAPACITY]: 'Insufficient Capacity',
};

/** The largest DATA a Data indication can carry (message body ≤ 0xFFFF with XOR-PEER-ADDRESS). */
const MAX_INDICATION_DATA = 0xffff - 64;
const MAX_CHANNEL_DATA = 0xffff;
const USERNAME_PATTERN = /^(\d{1,15}):(.*)$/s;
const NONCE_TIME_PATTERN = /^-?[0-9a-z]{1,12}$/;

/** The password a relay with `secret` expects for `username` under `scheme`. */
export function turnPassword(scheme: TurnPasswordScheme, secret: string, username: string): string {
  if (scheme === 'coturn') return createHmac('sha1', secret).update(username, 'utf8').digest('base64');
  const colon = username.indexOf(':');
  const expiry = colon < 0 ? username : username.slice(0, colon);
  const salt = colon < 0 ? '' : username.slice(colon + 1);
  return createHash('sha256')
    .update(`${expiry}:${secret}:${salt}`, 'utf8')
    .digest('base64')
    .replace(/=+$/, '');
}

export class TurnServer {
  readonly stats: TurnServerStats = {
    requests: 0,
    bindings: 0,
    allocations: 0,
    allocateReplays: 0,
    refreshes: 0,
    deallocations: 0,
    expirations: 0,
    permissions: 0,
    channelBinds: 0,
    challenges: 0,
    unauthorized: 0,
    expiredCredentials: 0,
    staleNonces: 0,
    mismatches: 0,
    toPeers: 0,
    channelDataToClients: 0,
    dataIndicationsToClients: 0,
    restarts: 0,
  };
  readonly drops = new Map<TurnServerDropReason, number>();
  /** Error responses sent, by code. */
  readonly errors = new Map<number, number>();

  private readonly listening = new Map<string, TransportAddress>();
  private readonly byFamily = new Map<AddressFamily, TransportAddress>();
  private readonly realm: string;
  private readonly portMin: number;
  private readonly portMax: number;
  private readonly lifetimeDefaultS: number;
  private readonly lifetimeMaxS: number;
  private readonly nonceLifetimeMs: number;
  private readonly random: RandomSource;
  private readonly wallClock: (now: number) => number;
  private readonly schemes: readonly TurnPasswordScheme[];
  private readonly byTuple = new Map<string, Allocation>();
  private readonly byRelayed = new Map<string, Allocation>();
  private transmits: TurnServerTransmit[] = [];
  private nonceKey: Uint8Array;

  constructor(private readonly options: TurnServerOptions) {
    for (const a of options.addresses) {
      const canonical = canonicalTransportAddress(a.address, a.port);
      if (canonical === undefined) throw new RangeError(`invalid relay address: ${a.address}:${a.port}`);
      const family = familyOf(canonical.address);
      if (this.byFamily.has(family)) throw new RangeError(`more than one ${family} relay address`);
      this.byFamily.set(family, canonical);
      this.listening.set(formatTransportAddress(canonical), canonical);
    }
    if (this.listening.size === 0) throw new RangeError('a relay needs at least one address');
    this.realm = options.realm ?? FIREZONE_REALM;
    this.portMin = options.relayPortRange?.min ?? 49_152;
    this.portMax = options.relayPortRange?.max ?? 65_535;
    if (!Number.isInteger(this.portMin) || !Number.isInteger(this.portMax)) {
      throw new RangeError('relay ports must be integers');
    }
    if (this.portMin < 1 || this.portMax > 0xffff || this.portMin > this.portMax) {
      throw new RangeError(`invalid relay port range ${this.portMin}–${this.portMax}`);
    }
    this.lifetimeDefaultS = options.lifetimeDefaultS ?? DEFAULT_ALLOCATION_LIFETIME_S;
    this.lifetimeMaxS = options.lifetimeMaxS ?? 3600;
    this.nonceLifetimeMs = options.nonceLifetimeMs ?? 600_000;
    this.random = options.random ?? cryptoRandom;
    this.wallClock = options.wallClock ?? ((now) => now);
    this.schemes = options.passwordSchemes ?? ['coturn', 'firezone'];
    this.nonceKey = this.randomBytes(16);
  }

  // -------------------------------------------------------------------------------------------
  // Read-only view

  /** The listening addresses. */
  get addresses(): readonly TransportAddress[] {
    return [...this.listening.values()];
  }

  get allocationCount(): number {
    return this.byTuple.size;
  }

  /** Snapshots of the allocations (expired ones not yet collected by `handleTimeout` included). */
  get allocations(): TurnServerAllocation[] {
    return [...this.byTuple.values()].map(snapshot);
  }

  /** The allocation of a client's 5-tuple (any listening address when `server` is not given). */
  allocationOf(client: TransportAddress, server?: TransportAddress): TurnServerAllocation | undefined {
    for (const a of this.byTuple.values()) {
      if (
        sameTransportAddress(a.client, client) &&
        (server === undefined || sameTransportAddress(a.server, server))
      ) {
        return snapshot(a);
      }
    }
    return undefined;
  }

  /** Whether datagrams to `address` are this relay's: a listening or an allocated relayed address. */
  serves(address: TransportAddress): boolean {
    const key = formatTransportAddress(address);
    return this.listening.has(key) || this.byRelayed.has(key);
  }

  // -------------------------------------------------------------------------------------------
  // Sans-IO interface

  /**
   * One datagram from `from` that arrived on `to`: a listening address (client traffic) or a
   * relayed address (peer traffic). Never throws.
   */
  handleInput(bytes: Uint8Array, from: TransportAddress, to: TransportAddress, now: number): void {
    const source = canonicalTransportAddress(from.address, from.port);
    const destination = canonicalTransportAddress(to.address, to.port);
    if (source === undefined || destination === undefined) return this.drop('bad_address');
    const toKey = formatTransportAddress(destination);
    const server = this.listening.get(toKey);
    if (server !== undefined) {
      const tuple: Tuple = { key: `${formatTransportAddress(source)}>${toKey}`, client: source, server };
      return this.fromClient(bytes, tuple, now);
    }
    const allocation = this.byRelayed.get(toKey);
    if (allocation === undefined || !this.alive(allocation, now)) return this.drop('unknown_destination');
    this.fromPeer(bytes, source, allocation, now);
  }

  pollTransmit(): TurnServerTransmit | undefined {
    return this.transmits.shift();
  }

  /** The next expiry of an allocation, permission or channel. */
  pollTimeout(): number | undefined {
    let next = Number.POSITIVE_INFINITY;
    for (const a of this.byTuple.values()) {
      next = Math.min(next, a.expiresAt);
      for (const at of a.permissions.values()) next = Math.min(next, at);
      for (const c of a.channels.values()) next = Math.min(next, c.expiresAt);
    }
    return Number.isFinite(next) ? next : undefined;
  }

  handleTimeout(now: number): void {
    for (const a of [...this.byTuple.values()]) {
      if (!this.alive(a, now)) continue;
      for (const [ip, at] of a.permissions) if (at <= now) a.permissions.delete(ip);
      for (const [channel, c] of a.channels) if (c.expiresAt <= now) unbind(a, channel, c);
    }
  }

  /** A rebooted relay: every allocation, queued datagram and issued nonce is forgotten. */
  restart(): void {
    this.byTuple.clear();
    this.byRelayed.clear();
    this.transmits = [];
    this.nonceKey = this.randomBytes(16);
    this.stats.restarts++;
  }

  // -------------------------------------------------------------------------------------------
  // From clients

  private fromClient(bytes: Uint8Array, tuple: Tuple, now: number): void {
    switch (classifyDatagram(bytes)) {
      case 'stun': {
        const decoded = decodeMessage(bytes);
        if (!decoded.ok) return this.drop('malformed_stun');
        return this.onStun(decoded.message, tuple, now);
      }
      case 'channel_data':
        return this.onChannelData(bytes, tuple, now);
      default:
        return this.drop('not_turn');
    }
  }

  private onStun(msg: StunMessage, tuple: Tuple, now: number): void {
    if (msg.class === 'indication') {
      return msg.method === METHOD_SEND ? this.onSend(msg, tuple, now) : this.drop('unexpected_message');
    }
    if (msg.class !== 'request') return this.drop('unexpected_message');
    this.stats.requests++;
    switch (msg.method) {
      case METHOD_BINDING:
        return this.onBinding(msg, tuple);
      case METHOD_ALLOCATE:
      case METHOD_REFRESH:
      case METHOD_CREATE_PERMISSION:
      case METHOD_CHANNEL_BIND:
        return this.onTurnRequest(msg, tuple, now);
      default:
        // RFC 8489 §6.3.1: a request of a method the server does not know.
        return this.error(msg, tuple, ERROR_BAD_REQUEST, undefined);
    }
  }

  private onBinding(msg: StunMessage, tuple: Tuple): void {
    if (msg.unknownRequired.length > 0)
      return this.unknownAttributes(msg, tuple, msg.unknownRequired, undefined);
    this.stats.bindings++;
    this.respond(msg, tuple, 'success', [{ type: 'XOR-MAPPED-ADDRESS', address: tuple.client }], undefined);
  }

  private onTurnRequest(msg: StunMessage, tuple: Tuple, now: number): void {
    const existing = this.liveAllocation(tuple.key, now);
    if (msg.method === METHOD_ALLOCATE && existing !== undefined) {
      if (transactionKey(msg.transactionId) === existing.transactionId) {
        // RFC 8656 §7.2: a retransmission of the Allocate that made it gets the same answer.
        this.stats.allocateReplays++;
        this.transmits.push({ from: tuple.server, to: tuple.client, payload: existing.response });
        return;
      }
      if (!hasIntegrity(msg)) return this.mismatch(msg, tuple, undefined);
    }
    const auth = this.authenticate(msg, tuple, now);
    if (auth === undefined) return;
    const unknown = msg.unknownRequired.filter(
      (code) => !(code === ATTR_DONT_FRAGMENT && msg.method === METHOD_ALLOCATE),
    );
    if (unknown.length > 0) return this.unknownAttributes(msg, tuple, unknown, auth.key);
    if (msg.method === METHOD_ALLOCATE) {
      if (existing !== undefined) return this.mismatch(msg, tuple, auth.key);
      return this.allocate(msg, tuple, auth, now);
    }
    if (existing === undefined) return this.mismatch(msg, tuple, auth.key);
    // RFC 8656 §5: later requests must come with the credentials that made the allocation.
    if (existing.username !== auth.username) return this.error(msg, tuple, ERROR_WRONG_CREDENTIALS, auth.key);
    switch (msg.method) {
      case METHOD_REFRESH:
        return this.refresh(msg, tuple, existing, auth.key, now);
      case METHOD_CREATE_PERMISSION:
        return this.createPermission(msg, tuple, existing, auth.key, now);
      default:
        return this.channelBind(msg, tuple, existing, auth.key, now);
    }
  }

  /** RFC 8489 §9.2.4; undefined when the request has been answered with an error. */
  private authenticate(msg: StunMessage, tuple: Tuple, now: number): Auth | undefined {
    if (!hasIntegrity(msg)) {
      this.stats.challenges++;
      this.challenge(msg, tuple, ERROR_UNAUTHENTICATED, now);
      return undefined;
    }
    const username = getAttribute(msg, 'USERNAME')?.value;
    const realm = getAttribute(msg, 'REALM')?.value;
    const nonce = getAttribute(msg, 'NONCE')?.value;
    if (username === undefined || realm === undefined || nonce === undefined) {
      this.error(msg, tuple, ERROR_BAD_REQUEST, undefined);
      return undefined;
    }
    const key = realm === this.realm ? this.keyFor(msg, username, now) : undefined;
    if (key === undefined) {
      this.stats.unauthorized++;
      this.challenge(msg, tuple, ERROR_UNAUTHENTICATED, now);
      return undefined;
    }
    if (!this.nonceValid(nonce, tuple.key, now)) {
      this.stats.staleNonces++;
      this.challenge(msg, tuple, ERROR_STALE_NONCE, now);
      return undefined;
    }
    return { username, key };
  }

  /** The long-term key the request's integrity verifies with, if any scheme's password fits. */
  private keyFor(msg: StunMessage, username: string, now: number): Uint8Array | undefined {
    const match = USERNAME_PATTERN.exec(username);
    if (match === null) return undefined;
    if (Number(match[1]) * 1000 <= this.wallClock(now)) {
      this.stats.expiredCredentials++;
      return undefined;
    }
    for (const scheme of this.schemes) {
      const key = longTermKey(username, this.realm, turnPassword(scheme, this.options.secret, username));
      if (verifyIntegrity(msg, key) === 'ok') return key;
    }
    return undefined;
  }

  private allocate(msg: StunMessage, tuple: Tuple, auth: Auth, now: number): void {
    const transport = getAttribute(msg, 'REQUESTED-TRANSPORT');
    if (transport === undefined) return this.error(msg, tuple, ERROR_BAD_REQUEST, auth.key);
    if (transport.protocol !== TRANSPORT_UDP) {
      return this.error(msg, tuple, ERROR_UNSUPPORTED_TRANSPORT_PROTOCOL, auth.key);
    }
    const requested = getAttribute(msg, 'REQUESTED-ADDRESS-FAMILY')?.family;
    const additional = getAttribute(msg, 'ADDITIONAL-ADDRESS-FAMILY')?.family;
    // RFC 8656 §7.2: not both; and the additional family can only be IPv6.
    if ((requested !== undefined && additional !== undefined) || additional === 'ipv4') {
      return this.error(msg, tuple, ERROR_BAD_REQUEST, auth.key);
    }
    const primary = this.byFamily.get(requested ?? 'ipv4');
    if (primary === undefined) return this.error(msg, tuple, ERROR_ADDRESS_FAMILY_NOT_SUPPORTED, auth.key);
    const primaryPort = this.freePort(primary.address);
    if (primaryPort === undefined) return this.error(msg, tuple, ERROR_INSUFFICIENT_CAPACITY, auth.key);
    const relayed: TransportAddress[] = [{ address: primary.address, port: primaryPort }];
    const extra: StunAttribute[] = [];
    if (additional === 'ipv6') {
      const v6 = this.byFamily.get('ipv6');
      const port = v6 && this.freePort(v6.address);
      if (v6 === undefined) extra.push(addressErrorCode('ipv6', ERROR_ADDRESS_FAMILY_NOT_SUPPORTED));
      else if (port === undefined) extra.push(addressErrorCode('ipv6', ERROR_INSUFFICIENT_CAPACITY));
      else relayed.push({ address: v6.address, port });
    }
    const asked = getAttribute(msg, 'LIFETIME')?.seconds ?? this.lifetimeDefaultS;
    const lifetime = Math.max(this.lifetimeDefaultS, Math.min(asked, this.lifetimeMaxS));
    const response = this.respond(
      msg,
      tuple,
      'success',
      [
        ...relayed.map((address): StunAttribute => ({ type: 'XOR-RELAYED-ADDRESS', address })),
        { type: 'LIFETIME', seconds: lifetime },
        { type: 'XOR-MAPPED-ADDRESS', address: tuple.client },
        ...extra,
      ],
      auth.key,
    );
    const allocation: Allocation = {
      tuple: tuple.key,
      client: tuple.client,
      server: tuple.server,
      relayed,
      username: auth.username,
      transactionId: transactionKey(msg.transactionId),
      response,
      expiresAt: now + lifetime * 1000,
      permissions: new Map(),
      channels: new Map(),
      channelByPeer: new Map(),
    };
    this.byTuple.set(tuple.key, allocation);
    for (const r of relayed) this.byRelayed.set(formatTransportAddress(r), allocation);
    this.stats.allocations++;
  }

  private refresh(msg: StunMessage, tuple: Tuple, a: Allocation, key: Uint8Array, now: number): void {
    const asked = getAttribute(msg, 'LIFETIME')?.seconds ?? this.lifetimeDefaultS;
    if (asked === 0) {
      this.remove(a);
      this.stats.deallocations++;
      this.respond(msg, tuple, 'success', [{ type: 'LIFETIME', seconds: 0 }], key);
      return;
    }
    const lifetime = Math.min(asked, this.lifetimeMaxS);
    a.expiresAt = now + lifetime * 1000;
    this.stats.refreshes++;
    this.respond(msg, tuple, 'success', [{ type: 'LIFETIME', seconds: lifetime }], key);
  }

  private createPermission(
    msg: StunMessage,
    tuple: Tuple,
    a: Allocation,
    key: Uint8Array,
    now: number,
  ): void {
    const peers = getAttributes(msg, 'XOR-PEER-ADDRESS');
    if (peers.length === 0) return this.error(msg, tuple, ERROR_BAD_REQUEST, key);
    // RFC 8656 §9.2: all or nothing.
    if (peers.some((p) => relayedFor(a, p.address) === undefined)) {
      return this.error(msg, tuple, ERROR_PEER_ADDRESS_FAMILY_MISMATCH, key);
    }
    for (const p of peers) a.permissions.set(p.address.address, now + PERMISSION_LIFETIME_MS);
    this.stats.permissions++;
    this.respond(msg, tuple, 'success', [], key);
  }

  private channelBind(msg: StunMessage, tuple: Tuple, a: Allocation, key: Uint8Array, now: number): void {
    const channel = getAttribute(msg, 'CHANNEL-NUMBER')?.channel;
    const peer = getAttribute(msg, 'XOR-PEER-ADDRESS')?.address;
    if (channel === undefined || peer === undefined || !isValidChannelNumber(channel)) {
      return this.error(msg, tuple, ERROR_BAD_REQUEST, key);
    }
    if (relayedFor(a, peer) === undefined)
      return this.error(msg, tuple, ERROR_PEER_ADDRESS_FAMILY_MISMATCH, key);
    const peerKey = formatTransportAddress(peer);
    const bound = a.channels.get(channel);
    if (bound !== undefined && bound.expiresAt <= now) unbind(a, channel, bound);
    const other = a.channelByPeer.get(peerKey);
    const otherEntry = other === undefined ? undefined : a.channels.get(other);
    if (other !== undefined && otherEntry !== undefined && otherEntry.expiresAt <= now) {
      unbind(a, other, otherEntry);
    }
    // RFC 8656 §11.2: a bound channel keeps its peer, a bound peer keeps its channel.
    const current = a.channels.get(channel);
    if (current !== undefined && current.peerKey !== peerKey)
      return this.error(msg, tuple, ERROR_BAD_REQUEST, key);
    const currentChannel = a.channelByPeer.get(peerKey);
    if (currentChannel !== undefined && currentChannel !== channel) {
      return this.error(msg, tuple, ERROR_BAD_REQUEST, key);
    }
    if (current !== undefined) current.expiresAt = now + CHANNEL_LIFETIME_MS;
    else {
      a.channels.set(channel, { peer, peerKey, expiresAt: now + CHANNEL_LIFETIME_MS });
      a.channelByPeer.set(peerKey, channel);
    }
    a.permissions.set(peer.address, now + PERMISSION_LIFETIME_MS);
    this.stats.channelBinds++;
    this.respond(msg, tuple, 'success', [], key);
  }

  /** RFC 8656 §10.2: a Send indication; never answered, dropped when unusable. */
  private onSend(msg: StunMessage, tuple: Tuple, now: number): void {
    const a = this.liveAllocation(tuple.key, now);
    if (a === undefined) return this.drop('no_allocation');
    const peer = getAttribute(msg, 'XOR-PEER-ADDRESS')?.address;
    const data = getAttribute(msg, 'DATA')?.data;
    const unknown = msg.unknownRequired.some((code) => code !== ATTR_DONT_FRAGMENT);
    if (peer === undefined || data === undefined || unknown) return this.drop('malformed_send');
    const from = relayedFor(a, peer);
    if (from === undefined) return this.drop('peer_family_mismatch');
    if (!permitted(a, peer.address, now)) return this.drop('no_permission');
    this.stats.toPeers++;
    this.transmits.push({ from, to: peer, payload: new Uint8Array(data) });
  }

  /** RFC 8656 §12.5: ChannelData from the client goes to the channel's peer. */
  private onChannelData(bytes: Uint8Array, tuple: Tuple, now: number): void {
    const decoded = decodeChannelData(bytes);
    if (!decoded.ok) return this.drop('malformed_channel_data');
    const a = this.liveAllocation(tuple.key, now);
    if (a === undefined) return this.drop('no_allocation');
    const bound = a.channels.get(decoded.channel);
    if (bound === undefined || bound.expiresAt <= now) return this.drop('unbound_channel');
    const from = relayedFor(a, bound.peer);
    if (from === undefined) return this.drop('peer_family_mismatch');
    this.stats.toPeers++;
    this.transmits.push({ from, to: bound.peer, payload: new Uint8Array(decoded.payload) });
  }

  // -------------------------------------------------------------------------------------------
  // From peers

  /** RFC 8656 §9, §10.3, §12.6: UDP at a relayed address goes to the client if permitted. */
  private fromPeer(bytes: Uint8Array, peer: TransportAddress, a: Allocation, now: number): void {
    if (!permitted(a, peer.address, now)) return this.drop('peer_no_permission');
    const channel = a.channelByPeer.get(formatTransportAddress(peer));
    const bound = channel === undefined ? undefined : a.channels.get(channel);
    if (channel !== undefined && bound !== undefined && bound.expiresAt > now) {
      if (bytes.length > MAX_CHANNEL_DATA) return this.drop('too_large');
      this.stats.channelDataToClients++;
      this.transmits.push({ from: a.server, to: a.client, payload: encodeChannelData(channel, bytes) });
      return;
    }
    if (bytes.length > MAX_INDICATION_DATA) return this.drop('too_large');
    const payload = encodeMessage({
      method: METHOD_DATA,
      class: 'indication',
      transactionId: this.randomBytes(12),
      attributes: [
        { type: 'XOR-PEER-ADDRESS', address: peer },
        { type: 'DATA', data: bytes },
      ],
    });
    this.stats.dataIndicationsToClients++;
    this.transmits.push({ from: a.server, to: a.client, payload });
  }

  // -------------------------------------------------------------------------------------------
  // Answers

  /** Queues a response to `msg` (signed with `key` when given) and returns its bytes. */
  private respond(
    msg: StunMessage,
    tuple: Tuple,
    cls: 'success' | 'error',
    attributes: readonly StunAttribute[],
    key: Uint8Array | undefined,
  ): Uint8Array {
    const payload = encodeMessage(
      { method: msg.method, class: cls, transactionId: msg.transactionId, attributes },
      {
        integrity: key === undefined ? undefined : { key, algorithm: integrityOf(msg) ?? 'sha1' },
        fingerprint: true,
      },
    );
    this.transmits.push({ from: tuple.server, to: tuple.client, payload });
    return payload;
  }

  private error(
    msg: StunMessage,
    tuple: Tuple,
    code: number,
    key: Uint8Array | undefined,
    extra: readonly StunAttribute[] = [],
  ): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    const reason = REASONS[code] ?? '';
    this.respond(msg, tuple, 'error', [{ type: 'ERROR-CODE', code, reason }, ...extra], key);
  }

  /** 401 or 438 with REALM and a fresh NONCE (RFC 8489 §9.2.4), unsigned. */
  private challenge(msg: StunMessage, tuple: Tuple, code: number, now: number): void {
    this.error(msg, tuple, code, undefined, [
      { type: 'REALM', value: this.realm },
      { type: 'NONCE', value: this.makeNonce(tuple.key, now) },
    ]);
  }

  private mismatch(msg: StunMessage, tuple: Tuple, key: Uint8Array | undefined): void {
    this.stats.mismatches++;
    this.error(msg, tuple, ERROR_ALLOCATION_MISMATCH, key);
  }

  private unknownAttributes(
    msg: StunMessage,
    tuple: Tuple,
    types: readonly number[],
    key: Uint8Array | undefined,
  ): void {
    this.error(msg, tuple, ERROR_UNKNOWN_ATTRIBUTE, key, [{ type: 'UNKNOWN-ATTRIBUTES', types }]);
  }

  // -------------------------------------------------------------------------------------------
  // Nonces: "<issued ms, base 36>.<HMAC(key, issued | 5-tuple)>", stateless.

  private makeNonce(tuple: string, now: number): string {
    const issued = Math.floor(now).toString(36);
    return `${issued}.${this.nonceMac(issued, tuple)}`;
  }

  private nonceValid(nonce: string, tuple: string, now: number): boolean {
    const dot = nonce.indexOf('.');
    if (dot <= 0) return false;
    const issued = nonce.slice(0, dot);
    if (!NONCE_TIME_PATTERN.test(issued) || nonce.slice(dot + 1) !== this.nonceMac(issued, tuple))
      return false;
    return now < parseInt(issued, 36) + this.nonceLifetimeMs;
  }

  private nonceMac(issued: string, tuple: string): string {
    return createHmac('sha256', this.nonceKey).update(`${issued}|${tuple}`).digest('hex').slice(0, 24);
  }

  // -------------------------------------------------------------------------------------------
  // Bookkeeping

  private liveAllocation(tuple: string, now: number): Allocation | undefined {
    const a = this.byTuple.get(tuple);
    return a !== undefined && this.alive(a, now) ? a : undefined;
  }

  /** Whether `a` is still alive at `now`; an expired one is removed and counted. */
  private alive(a: Allocation, now: number): boolean {
    if (a.expiresAt > now) return true;
    this.remove(a);
    this.stats.expirations++;
    return false;
  }

  private remove(a: Allocation): void {
    this.byTuple.delete(a.tuple);
    for (const r of a.relayed) this.byRelayed.delete(formatTransportAddress(r));
  }

  /** A free relay port on `ip`, starting the search at a random place in the range. */
  private freePort(ip: string): number | undefined {
    const size = this.portMax - this.portMin + 1;
    const bytes = this.randomBytes(4);
    const start = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
    for (let i = 0; i < size; i++) {
      const port = this.portMin + ((start + i) % size);
      const key = formatTransportAddress({ address: ip, port });
      if (!this.byRelayed.has(key) && !this.listening.has(key)) return port;
    }
    return undefined;
  }

  private randomBytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    this.random(out);
    return out;
  }

  private drop(reason: TurnServerDropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }
}

function hasIntegrity(msg: StunMessage): boolean {
  return msg.integrityOffset !== undefined || msg.integritySha256Offset !== undefined;
}

/** The allocation's relayed address of `peer`'s family. */
function relayedFor(a: Allocation, peer: TransportAddress): TransportAddress | undefined {
  const family = familyOf(peer.address);
  return a.relayed.find((r) => familyOf(r.address) === family);
}

function permitted(a: Allocation, ip: string, now: number): boolean {
  const until = a.permissions.get(ip);
  return until !== undefined && until > now;
}

function unbind(a: Allocation, channel: number, c: Channel): void {
  a.channels.delete(channel);
  if (a.channelByPeer.get(c.peerKey) === channel) a.channelByPeer.delete(c.peerKey);
}

/** RFC 8656 §18.12: family, reserved, then an ERROR-CODE value (class, number, reason). */
function addressErrorCode(family: AddressFamily, code: number): StunAttribute {
  const reason = new TextEncoder().encode(REASONS[code] ?? '');
  const value = new Uint8Array(4 + reason.length);
  value[0] = family === 'ipv4' ? FAMILY_IPV4 : FAMILY_IPV6;
  value[2] = Math.floor(code / 100);
  value[3] = code % 100;
  value.set(reason, 4);
  return { type: 'unknown', code: ATTR_ADDRESS_ERROR_CODE, value };
}

function snapshot(a: Allocation): TurnServerAllocation {
  return {
    client: a.client,
    server: a.server,
    relayed: [...a.relayed],
    username: a.username,
    expiresAt: a.expiresAt,
    permissions: new Map(a.permissions),
    channels: new Map([...a.channels].map(([n, c]) => [n, { peer: c.peer, expiresAt: c.expiresAt }])),
  };
}
