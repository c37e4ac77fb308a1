/**
 * The connection layer (Firezone's "snownet" node), sans-IO: one UDP socket per family carries
 * STUN to the relays, TURN ChannelData, ICE checks and WireGuard for every peer (docs/protocol.md
 * §5.8). Per peer it runs an ICE agent and a WireGuard `Tunn`; shared by all peers it runs one TURN
 * allocation per relay, which yields the server-reflexive candidate (from the relay's Binding
 * answer) and relay candidates (§5.3). It implements `PeerNode` for the client and gateway cores.
 *
 * Inputs: `handleDatagram(from, datagram, now)` (anything the sockets received), relays and host
 * addresses from the driver, connections from the cores. Outputs: `pollTransmit()` (datagrams for
 * the sockets), `pollEvent()`, `pollTimeout()` / `handleTimeout(now)`.
 */
import type { CryptoBackend } from '../wireguard/crypto/backend.js';
import { HandshakeGuard } from '../wireguard/guard.js';
import { IndexTable } from '../wireguard/indices.js';
import { classify, Initiation, receiverIndexOf } from '../wireguard/messages.js';
import { openInitiation, responderHash } from '../wireguard/noise.js';
import { readU32 } from '../wireguard/counter.js';
import type { TunnResult } from '../wireguard/result.js';
import { Tunn } from '../wireguard/tunn.js';
import { decodeMessage, getAttribute, type StunMessage } from '../ice/stun/message.js';
import { classifyDatagram } from '../ice/stun/demux.js';
import type { RandomSource } from '../ice/stun/header.js';
import { TurnClient } from '../ice/turn/client.js';
import { describeTurnFailure } from '../ice/turn/events.js';
import {
  formatTransportAddress,
  sameTransportAddress,
  type TransportAddress,
} from '../ice/transport-address.js';
import {
  sameSetup,
  type ConnectionSetup,
  type NodeEvent,
  type PeerNode,
  type SendOutcome,
} from '../tunnel/peer-node.js';
import type { AgentFactory, AgentPort } from './agent-port.js';
import {
  HANDSHAKE_SUPPRESS_MS,
  PEER_DEAD_AFTER_MS,
  PEER_PROBE_AFTER_MS,
  RELAY_RETRY_MAX_MS,
  RELAY_RETRY_MS,
  MAX_QUEUED_BEFORE_PATH,
  NODE_MTU,
  RELAY_RTT_TOLERANCE,
  WG_REKEY_ATTEMPT_TIME_MS,
} from './constants.js';

export interface RelayConfig {
  readonly id: string;
  readonly servers: readonly TransportAddress[];
  readonly username: string;
  readonly password: string;
  /** On the node's clock (ms). */
  readonly expiresAt?: number;
}

export interface NodeTransmit {
  readonly to: TransportAddress;
  readonly payload: Uint8Array;
}

/** A path as the status shows it. */
export interface ConnectionInfo {
  readonly id: string;
  readonly state: 'connecting' | 'connected' | 'failed';
  readonly path?: { local: string; remote: string; localKind: string; remoteKind: string; relayed: boolean };
  readonly rttMs?: number;
  readonly txBytes: number;
  readonly rxBytes: number;
  readonly lastHandshakeAt?: number;
}

export type NodeDropReason =
  | 'unknown_stun'
  | 'malformed_stun'
  | 'unknown_wireguard_peer'
  | 'not_wireguard'
  | 'relay_data_dropped'
  | 'no_path'
  | 'queue_full'
  | 'handshake_rejected';

interface RelayEntry {
  readonly config: RelayConfig;
  turn: TurnClient;
  /** Relay candidates last handed to connections (withdrawn when the allocation goes). */
  relayed: readonly TransportAddress[];
  /** When to allocate again after a failure or loss; undefined while it works. */
  retryAt: number | undefined;
  failures: number;
  lastError: string | undefined;
}

interface Connection {
  readonly id: string;
  readonly setup: ConnectionSetup;
  readonly agent: AgentPort;
  readonly tunn: Tunn;
  /** The relay whose allocation gives this connection its relay candidates. */
  relayId: string | undefined;
  nominated:
    { local: TransportAddress; remote: TransportAddress; localKind: string; remoteKind: string } | undefined;
  /** Where the peer's last authenticated WireGuard datagram came from, and on which local base. */
  lastInbound: { local: TransportAddress; remote: TransportAddress } | undefined;
  handshakeDone: boolean;
  established: boolean;
  /** When the peer last proved alive on this connection: a WireGuard datagram or a STUN answer. */
  lastRx: number;
  lastHandshakeSentAt: number;
  /** WireGuard datagrams produced before any path exists (bounded). */
  readonly queued: Uint8Array[];
  /** Remote non-host candidate addresses: each gets a TURN channel on our relay (§5.4). */
  readonly remoteRelayed: TransportAddress[];
}

export interface NodeOptions {
  readonly crypto: CryptoBackend;
  readonly privateKey: Uint8Array;
  readonly createAgent: AgentFactory;
  /** A uniform random number in [0, 1), for relay sampling (seeded in simulations). */
  readonly random?: () => number;
  /** Source of STUN transaction ids for the TURN allocations (seeded in simulations). */
  readonly stunRandom?: RandomSource;
  readonly wallClock?: () => number;
}

export class Node implements PeerNode {
  readonly drops = new Map<NodeDropReason, number>();
  private readonly c: CryptoBackend;
  private keys: { privateKey: Uint8Array; publicKey: Uint8Array };
  private localResponderHash: Uint8Array;
  private guard: HandshakeGuard;
  private readonly indices = new IndexTable<Connection>();
  private readonly connections = new Map<string, Connection>();
  private readonly byKey = new Map<string, Connection>();
  private readonly relays = new Map<string, RelayEntry>();
  private hostAddresses: TransportAddress[] = [];
  /** Shared server-reflexive candidates (one per family), with their host base. */
  private readonly srflx = new Map<string, { address: TransportAddress; base: TransportAddress }>();
  private readonly transmits: NodeTransmit[] = [];
  private readonly events: NodeEvent[] = [];
  private readonly random: () => number;
  private readonly scratch = new Uint8Array(NODE_MTU + 64);
  private readonly out = new Uint8Array(2048);

  constructor(private readonly options: NodeOptions) {
    this.c = options.crypto;
    this.keys = {
      privateKey: Uint8Array.from(options.privateKey),
      publicKey: this.c.x25519PublicKey(options.privateKey),
    };
    this.localResponderHash = responderHash(this.c, this.keys.publicKey);
    this.guard = new HandshakeGuard(this.c, this.keys.publicKey);
    this.random = options.random ?? Math.random;
  }

  get publicKey(): Uint8Array {
    return this.keys.publicKey;
  }

  /**
   * A session reset after a network change (docs/protocol.md §3.3, §5.11): a new static key, every
   * connection closed (no events: the caller forgets its peers), every relay allocated afresh from
   * the new address, and the server-reflexive candidates forgotten. The portal, told the new key,
   * derives new per-pair secrets, so gateways set up fresh connections instead of reusing stale
   * ones.
   */
  reset(privateKey: Uint8Array, now: number): void {
    for (const id of [...this.connections.keys()]) this.closeConnection(id, now);
    this.keys = { privateKey: Uint8Array.from(privateKey), publicKey: this.c.x25519PublicKey(privateKey) };
    this.localResponderHash = responderHash(this.c, this.keys.publicKey);
    this.guard = new HandshakeGuard(this.c, this.keys.publicKey);
    this.srflx.clear();
    for (const [id, relay] of this.relays) {
      const turn = this.newTurnClient(relay.config, now);
      if (turn) relay.turn = turn;
      relay.relayed = [];
      relay.retryAt = undefined;
      relay.failures = 0;
      this.drainTurn(id, now);
    }
  }

  // ===========================================================================================
  // Environment: host addresses and relays.

  /** The host's own socket addresses (interface address + socket port), as host candidates. */
  setHostAddresses(addresses: readonly TransportAddress[], now: number): void {
    const gone = this.hostAddresses.filter((a) => !addresses.some((b) => sameTransportAddress(a, b)));
    const added = addresses.filter((a) => !this.hostAddresses.some((b) => sameTransportAddress(a, b)));
    this.hostAddresses = [...addresses];
    for (const connection of this.connections.values()) {
      for (const address of gone) this.invalidateLocal(connection, address, now);
      for (const address of added) this.addLocal(connection, { kind: 'host', address, base: address }, now);
    }
  }

  /**
   * Relays from the portal (`init.relays`, `relays_presence`): removed ones are freed and their
   * connections move to another relay; new ones start allocating.
   */
  updateRelays(removed: readonly string[], upserted: readonly RelayConfig[], now: number): void {
    for (const id of removed) this.removeRelay(id, now);
    for (const config of upserted) {
      const existing = this.relays.get(config.id);
      if (existing && sameRelay(existing.config, config)) continue;
      if (existing) this.removeRelay(config.id, now);
      const turn = this.newTurnClient(config, now);
      if (!turn) continue; // an unusable address: the portal validates its relays, this is defensive
      this.relays.set(config.id, {
        config,
        turn,
        relayed: [],
        retryAt: undefined,
        failures: 0,
        lastError: undefined,
      });
      this.drainTurn(config.id, now);
    }
    if (this.relays.size === 0 && removed.length > 0) this.events.push({ type: 'no_relays' });
  }

  private newTurnClient(config: RelayConfig, now: number): TurnClient | undefined {
    try {
      return new TurnClient(
        {
          servers: config.servers,
          credentials: {
            username: config.username,
            password: config.password,
            ...(config.expiresAt !== undefined ? { expiresAt: config.expiresAt } : {}),
          },
          ...(this.options.stunRandom ? { random: this.options.stunRandom } : {}),
        },
        now,
      );
    } catch {
      return undefined;
    }
  }

  relayIds(): string[] {
    return [...this.relays.keys()];
  }

  relayState(id: string): { state: string; relayed: string[]; srflx?: string; error?: string } | undefined {
    const relay = this.relays.get(id);
    if (!relay) return undefined;
    const srflx = relay.turn.srflx;
    return {
      state: relay.retryAt !== undefined ? 'retrying' : relay.turn.state,
      relayed: relay.turn.relayed.map(formatTransportAddress),
      ...(srflx ? { srflx: formatTransportAddress(srflx) } : {}),
      ...(relay.lastError ? { error: relay.lastError } : {}),
    };
  }

  // ===========================================================================================
  // PeerNode.

  upsertConnection(id: string, setup: ConnectionSetup, now: number): void {
    const existing = this.connections.get(id);
    if (existing && sameSetup(existing.setup, setup)) {
      // Same derived secrets: reuse the tunnel, re-signal our candidates (§5.2) and, controlling,
      // start a fresh handshake so a peer that lost its state catches up.
      for (const line of existing.agent.localCandidateLines()) {
        this.events.push({ type: 'new_ice_candidate', connection: id, candidate: line });
      }
      if (setup.role === 'controlling' && existing.nominated) this.initiate(existing, now, true);
      return;
    }
    if (existing) {
      this.closeConnection(id, now);
      // The peer starts over with us, perhaps because our relayed candidates stopped working.
      for (const relay of this.relays.values()) relay.turn.checkAllocation(now);
    }
    const agent = this.options.createAgent({
      role: setup.role,
      localCredentials: setup.localCredentials,
      remoteCredentials: setup.remoteCredentials,
      now,
    });
    const connection: Connection = {
      id,
      setup,
      agent,
      tunn: undefined as unknown as Tunn,
      relayId: undefined,
      nominated: undefined,
      lastInbound: undefined,
      handshakeDone: false,
      established: false,
      lastRx: now,
      lastHandshakeSentAt: -Infinity,
      queued: [],
      remoteRelayed: [],
    };
    (connection as { tunn: Tunn }).tunn = new Tunn({
      crypto: this.c,
      staticPrivate: this.keys.privateKey,
      peerPublic: setup.remotePublicKey,
      presharedKey: setup.presharedKey,
      mtu: NODE_MTU,
      padding: false,
      guard: this.guard,
      indices: this.indices.allocatorFor(connection),
      rekeyAttemptTime: WG_REKEY_ATTEMPT_TIME_MS,
      ...(this.options.wallClock ? { wallClock: this.options.wallClock } : {}),
    });
    this.connections.set(id, connection);
    this.byKey.set(hex(setup.remotePublicKey), connection);
    for (const address of this.hostAddresses)
      this.addLocal(connection, { kind: 'host', address, base: address }, now);
    for (const { address, base } of this.srflx.values())
      this.addLocal(connection, { kind: 'srflx', address, base }, now);
    this.assignRelay(connection, now);
    this.drainConnection(connection, now);
  }

  closeConnection(id: string, _now: number): void {
    const connection = this.connections.get(id);
    if (!connection) return;
    this.connections.delete(id);
    if (this.byKey.get(hex(connection.setup.remotePublicKey)) === connection) {
      this.byKey.delete(hex(connection.setup.remotePublicKey));
    }
    const relay = connection.relayId ? this.relays.get(connection.relayId) : undefined;
    for (const peer of connection.remoteRelayed) relay?.turn.unbindChannel(peer);
  }

  hasConnection(id: string): boolean {
    return this.connections.has(id);
  }

  isConnected(id: string): boolean {
    return this.connections.get(id)?.established ?? false;
  }

  addRemoteCandidate(id: string, candidate: string, now: number): void {
    const connection = this.connections.get(id);
    if (!connection) return;
    const added = connection.agent.addRemoteCandidate(candidate, now);
    if (added && added.kind !== 'host') {
      // The peer may only be reachable at that address through relays: a channel on our relay
      // lets our relay candidates talk to it (§5.4).
      connection.remoteRelayed.push(added.address);
      const relay = connection.relayId ? this.relays.get(connection.relayId) : undefined;
      relay?.turn.bindChannel(added.address, now);
      if (connection.relayId) this.drainTurn(connection.relayId, now);
    }
    this.drainConnection(connection, now);
  }

  removeRemoteCandidate(id: string, candidate: string, now: number): void {
    const connection = this.connections.get(id);
    if (!connection) return;
    connection.agent.removeRemoteCandidate(candidate, now);
    this.drainConnection(connection, now);
  }

  encapsulate(id: string, packet: Uint8Array, now: number): SendOutcome {
    const connection = this.connections.get(id);
    if (!connection) return 'unknown_connection';
    if (!connection.established) return 'connecting';
    // A live peer answers consent checks every few seconds (and WireGuard keepalives): sending
    // into silence longer than that means it is gone. Failing now lets the client ask the portal
    // for another gateway within seconds, instead of after ICE's 30 s consent timeout.
    const silence = now - connection.lastRx;
    if (silence > PEER_DEAD_AFTER_MS) {
      this.fail(connection, 'the peer stopped answering', now);
      return 'unknown_connection';
    }
    // Silent for a while: ask the peer for an answer it must give at once (a handshake
    // initiation; WireGuard itself sends at most one per 5 s), so a lossy but live path is told
    // apart from a dead peer before the deadline.
    if (silence > PEER_PROBE_AFTER_MS) this.collect(connection, connection.tunn.initiateHandshake(now), now);
    const r = connection.tunn.encapsulate(packet, this.out, now);
    this.collect(connection, r, now);
    return 'sent';
  }

  pollEvent(): NodeEvent | undefined {
    return this.events.shift();
  }

  // ===========================================================================================
  // Datagrams.

  /**
   * A datagram one of our sockets received. Returns a decrypted IP packet and the peer it came
   * from when there is one; everything else (STUN, TURN, handshakes) is consumed here.
   */
  handleDatagram(
    from: TransportAddress,
    datagram: Uint8Array,
    now: number,
  ): { connection: string; packet: Uint8Array } | undefined {
    // Relay traffic first: control messages and data relayed from peers (§5.8 step 1).
    for (const [relayId, relay] of this.relays) {
      if (!relay.turn.serves(from)) continue;
      const input = relay.turn.handleInput(datagram, from, now);
      this.drainTurn(relayId, now);
      if (input.type === 'data') {
        const local = relay.turn.relayed.find((a) => sameFamily(a, input.peer));
        if (!local) {
          this.drop('relay_data_dropped');
          return undefined;
        }
        return this.handlePeerDatagram(input.peer, local, input.payload, now);
      }
      if (input.type !== 'not_turn') return undefined;
    }
    const local = this.hostAddresses.find((a) => sameFamily(a, from)) ?? from;
    return this.handlePeerDatagram(from, local, datagram, now);
  }

  private handlePeerDatagram(
    from: TransportAddress,
    local: TransportAddress,
    datagram: Uint8Array,
    now: number,
  ): { connection: string; packet: Uint8Array } | undefined {
    const kind = classifyDatagram(datagram);
    if (kind === 'stun') {
      const decoded = decodeMessage(datagram);
      if (!decoded.ok) {
        this.drop('malformed_stun');
        return undefined;
      }
      const connection = this.connectionForStun(decoded.message);
      if (!connection || !connection.agent.handleStun(decoded.message, from, local, now)) {
        this.drop('unknown_stun');
        return undefined;
      }
      connection.lastRx = now;
      this.drainConnection(connection, now);
      return undefined;
    }
    const wg = classify(datagram);
    if (wg === undefined) {
      this.drop('not_wireguard');
      return undefined;
    }
    let connection: Connection | undefined;
    let r: TunnResult;
    const endpoint = { address: from.address, port: from.port };
    if (wg === 'initiation') {
      const verdict = this.guard.check(datagram, readU32(datagram, Initiation.senderIndex), endpoint, now);
      if (verdict.action === 'cookie') {
        this.transmits.push({ to: from, payload: Uint8Array.from(verdict.reply) });
        return undefined;
      }
      const opened =
        verdict.action === 'accept'
          ? openInitiation(this.c, this.keys, this.localResponderHash, datagram)
          : undefined;
      connection = opened && this.byKey.get(hex(opened.initiatorStatic));
      if (!opened || !connection) {
        this.drop('unknown_wireguard_peer');
        return undefined;
      }
      connection.lastInbound = { local, remote: from };
      r = connection.tunn.receiveOpenedInitiation(opened, datagram, endpoint, now);
      if (r.type !== 'error') connection.lastRx = now;
    } else {
      connection = this.indices.lookup(receiverIndexOf(wg, datagram));
      if (!connection) {
        this.drop('unknown_wireguard_peer');
        return undefined;
      }
      r = connection.tunn.decapsulate(datagram, endpoint, this.scratch, now);
      if (r.type !== 'error') {
        connection.lastInbound = { local, remote: from };
        connection.lastRx = now;
      }
    }
    if (r.type === 'tunnel') {
      const packet = Uint8Array.from(r.packet);
      this.drainConnection(connection, now);
      return { connection: connection.id, packet };
    }
    this.collect(connection, r, now);
    return undefined;
  }

  // ===========================================================================================
  // Time and output.

  pollTimeout(): number | undefined {
    let next: number | undefined;
    const consider = (at: number | undefined): void => {
      if (at !== undefined && (next === undefined || at < next)) next = at;
    };
    for (const connection of this.connections.values()) {
      consider(connection.agent.pollTimeout());
      consider(connection.tunn.pollTimeout());
    }
    for (const relay of this.relays.values()) {
      consider(relay.turn.pollTimeout());
      consider(relay.retryAt);
    }
    return next;
  }

  handleTimeout(now: number): void {
    for (const [id, relay] of this.relays) {
      if (relay.retryAt !== undefined && relay.retryAt <= now) {
        // Allocate again: the relay restarted, or the path to it came back.
        const turn = this.newTurnClient(relay.config, now);
        relay.retryAt = undefined;
        if (turn) relay.turn = turn;
        this.drainTurn(id, now);
        continue;
      }
      const at = relay.turn.pollTimeout();
      if (at !== undefined && at <= now) {
        relay.turn.handleTimeout(now);
        this.drainTurn(id, now);
      }
    }
    for (const connection of [...this.connections.values()]) {
      const agentAt = connection.agent.pollTimeout();
      if (agentAt !== undefined && agentAt <= now) connection.agent.handleTimeout(now);
      const tunnAt = connection.tunn.pollTimeout();
      if (tunnAt !== undefined && tunnAt <= now) connection.tunn.handleTimeout(now);
      this.drainConnection(connection, now);
    }
  }

  pollTransmit(): NodeTransmit | undefined {
    return this.transmits.shift();
  }

  connectionInfo(id: string): ConnectionInfo | undefined {
    const c = this.connections.get(id);
    if (!c) return undefined;
    const relayed = c.nominated
      ? c.nominated.localKind === 'relay' || c.nominated.remoteKind === 'relay'
      : false;
    const rtt = c.agent.rttMs;
    const handshakeAt = c.tunn.stats.lastHandshakeAt;
    return {
      id,
      state: c.established ? 'connected' : 'connecting',
      ...(c.nominated
        ? {
            path: {
              local: formatTransportAddress(c.nominated.local),
              remote: formatTransportAddress(c.nominated.remote),
              localKind: c.nominated.localKind,
              remoteKind: c.nominated.remoteKind,
              relayed,
            },
          }
        : {}),
      ...(rtt !== undefined ? { rttMs: rtt } : {}),
      txBytes: c.tunn.stats.txBytes,
      rxBytes: c.tunn.stats.rxBytes,
      ...(handshakeAt !== undefined ? { lastHandshakeAt: handshakeAt } : {}),
    };
  }

  // ===========================================================================================
  // Internals.

  private connectionForStun(message: StunMessage): Connection | undefined {
    const username = getAttribute(message, 'USERNAME');
    if (username && message.class === 'request') {
      // RFC 8445 §7.2.2: USERNAME is "receiver's ufrag:sender's ufrag", so ours comes first.
      const ufrag = username.value.split(':')[0];
      for (const connection of this.connections.values()) {
        if (connection.agent.localUfrag === ufrag) return connection;
      }
      return undefined;
    }
    for (const connection of this.connections.values()) {
      if (connection.agent.ownsTransaction(message)) return connection;
    }
    return undefined;
  }

  /** Moves a connection's agent and tunnel outputs to the network and events. */
  private drainConnection(connection: Connection, now: number): void {
    for (let t = connection.agent.pollTransmit(); t; t = connection.agent.pollTransmit()) {
      this.sendFrom(connection, t.source, t.destination, t.payload, now);
    }
    for (let e = connection.agent.pollEvent(); e; e = connection.agent.pollEvent()) {
      switch (e.type) {
        case 'nominated': {
          const changed =
            !connection.nominated ||
            !sameTransportAddress(connection.nominated.local, e.local) ||
            !sameTransportAddress(connection.nominated.remote, e.remote);
          connection.nominated = {
            local: e.local,
            remote: e.remote,
            localKind: e.localKind,
            remoteKind: e.remoteKind,
          };
          connection.tunn.setEndpoint({ address: e.remote.address, port: e.remote.port });
          for (const datagram of connection.queued.splice(0)) this.sendOnPath(connection, datagram, now);
          // The controlling side handshakes on every new path (§5.5).
          if (connection.setup.role === 'controlling' && changed) this.initiate(connection, now, false);
          this.maybeEstablished(connection);
          break;
        }
        case 'failed':
          this.fail(connection, e.reason, now);
          return;
        case 'disconnected':
        case 'connected':
          break;
      }
    }
    for (let t = connection.tunn.pollTransmit(); t; t = connection.tunn.pollTransmit()) {
      this.sendOnPath(connection, t.packet, now);
    }
    for (let e = connection.tunn.pollEvent(); e; e = connection.tunn.pollEvent()) {
      if (e.type === 'handshake_completed') {
        connection.handshakeDone = true;
        this.maybeEstablished(connection);
      } else if (e.type === 'connection_expired') {
        this.fail(connection, 'WireGuard handshake did not complete', now);
        return;
      }
    }
  }

  private maybeEstablished(connection: Connection): void {
    if (connection.established || !connection.handshakeDone || !connection.nominated) return;
    connection.established = true;
    this.events.push({ type: 'connection_established', connection: connection.id });
  }

  private fail(connection: Connection, reason: string, now: number): void {
    if (!this.connections.has(connection.id)) return;
    this.closeConnection(connection.id, 0);
    this.events.push({ type: 'connection_failed', connection: connection.id, reason });
    // A relay that restarted forgot our allocations without telling us: check them now, so the
    // next attempt gets working relayed candidates instead of the dead ones.
    for (const relay of this.relays.values()) relay.turn.checkAllocation(now);
  }

  private initiate(connection: Connection, now: number, force: boolean): void {
    // Proactive handshakes are suppressed within 20 s of the last one (§5.5).
    if (!force && now - connection.lastHandshakeSentAt < HANDSHAKE_SUPPRESS_MS && connection.handshakeDone)
      return;
    connection.lastHandshakeSentAt = now;
    this.collect(connection, connection.tunn.initiateHandshake(now), now);
  }

  private collect(connection: Connection, r: TunnResult, now: number): void {
    if (r.type === 'network') this.sendOnPath(connection, r.packet, now);
    this.drainConnection(connection, now);
  }

  /** A WireGuard datagram for the peer: on the nominated path, else where it last spoke from. */
  private sendOnPath(connection: Connection, datagram: Uint8Array, now: number): void {
    const path = connection.nominated ?? connection.lastInbound;
    if (!path) {
      if (connection.queued.length >= MAX_QUEUED_BEFORE_PATH) {
        this.drop('queue_full');
        return;
      }
      connection.queued.push(Uint8Array.from(datagram));
      return;
    }
    this.sendFrom(connection, path.local, path.remote, datagram, now);
  }

  /** Sends `payload` from local base `source`: directly, or through our relay if it is relayed. */
  private sendFrom(
    connection: Connection,
    source: TransportAddress,
    destination: TransportAddress,
    payload: Uint8Array,
    now: number,
  ): void {
    const relay = connection.relayId ? this.relays.get(connection.relayId) : undefined;
    const viaRelay = relay?.turn.relayed.some((a) => sameTransportAddress(a, source)) ?? false;
    if (!viaRelay) {
      this.transmits.push({ to: destination, payload: Uint8Array.from(payload) });
      return;
    }
    let t = relay!.turn.encapsulate(destination, payload, now);
    if (!t) {
      // No channel yet: ask for one, and use a Send indication meanwhile if permitted.
      relay!.turn.bindChannel(destination, now);
      t = relay!.turn.sendIndication(destination, payload, now);
    }
    this.drainTurn(connection.relayId!, now);
    if (t) this.transmits.push({ to: t.to, payload: Uint8Array.from(t.payload) });
    else this.drop('no_path');
  }

  private addLocal(
    connection: Connection,
    init: { kind: 'host' | 'srflx' | 'relay'; address: TransportAddress; base: TransportAddress },
    now: number,
  ): void {
    const line = connection.agent.addLocalCandidate(init, now);
    if (line !== undefined)
      this.events.push({ type: 'new_ice_candidate', connection: connection.id, candidate: line });
  }

  private invalidateLocal(connection: Connection, address: TransportAddress, now: number): void {
    const line = connection.agent.removeLocalCandidate(address, now);
    if (line !== undefined)
      this.events.push({ type: 'invalidate_ice_candidate', connection: connection.id, candidate: line });
  }

  /** Picks this connection's relay among allocated ones with a good RTT (§5.3 sampling). */
  private assignRelay(connection: Connection, now: number): void {
    const allocated = [...this.relays.entries()].filter(([, r]) => r.turn.state === 'allocated');
    if (allocated.length === 0) {
      connection.relayId = undefined;
      return;
    }
    const best = Math.min(...allocated.map(([, r]) => r.turn.rttMs ?? Infinity));
    const near = allocated.filter(
      ([, r]) => (r.turn.rttMs ?? Infinity) <= best * RELAY_RTT_TOLERANCE || best === Infinity,
    );
    const [id, relay] = near[Math.floor(this.random() * near.length)] ?? allocated[0]!;
    connection.relayId = id;
    for (const address of relay.turn.relayed)
      this.addLocal(connection, { kind: 'relay', address, base: address }, now);
    for (const peer of connection.remoteRelayed) relay.turn.bindChannel(peer, now);
    this.drainTurn(id, now);
  }

  private removeRelay(id: string, now: number): void {
    const relay = this.relays.get(id);
    if (!relay) return;
    this.relays.delete(id);
    relay.turn.free(now);
    for (const t of drainTransmits(relay.turn)) this.transmits.push(t);
    for (const connection of this.connections.values()) {
      if (connection.relayId !== id) continue;
      for (const address of relay.relayed) this.invalidateLocal(connection, address, now);
      this.assignRelay(connection, now);
      this.drainConnection(connection, now);
    }
  }

  private drainTurn(id: string, now: number): void {
    const relay = this.relays.get(id);
    if (!relay) return;
    for (const t of drainTransmits(relay.turn)) this.transmits.push(t);
    for (let e = relay.turn.pollEvent(); e; e = relay.turn.pollEvent()) {
      switch (e.type) {
        case 'srflx_candidate': {
          const family = e.address.address.includes(':') ? 'v6' : 'v4';
          const base = e.base ?? this.hostAddresses.find((a) => sameFamily(a, e.address));
          if (!base) break;
          const previous = this.srflx.get(family);
          if (previous && sameTransportAddress(previous.address, e.address)) break;
          this.srflx.set(family, { address: e.address, base });
          for (const connection of this.connections.values()) {
            if (previous) this.invalidateLocal(connection, previous.address, now);
            this.addLocal(connection, { kind: 'srflx', address: e.address, base }, now);
            this.drainConnection(connection, now);
          }
          break;
        }
        case 'relay_candidates':
          relay.relayed = [...e.addresses];
          // The TURN client allocated again by itself (after a 437): a retry scheduled when the
          // old allocation was lost would now throw the new one away.
          relay.retryAt = undefined;
          relay.failures = 0;
          relay.lastError = undefined;
          for (const connection of this.connections.values()) {
            if (connection.relayId === undefined) this.assignRelay(connection, now);
            else if (connection.relayId === id) {
              for (const address of e.addresses)
                this.addLocal(connection, { kind: 'relay', address, base: address }, now);
            }
            this.drainConnection(connection, now);
          }
          break;
        case 'allocation_failed':
        case 'allocation_lost': {
          const lost = relay.relayed;
          relay.relayed = [];
          relay.lastError = describeTurnFailure(e.reason);
          relay.failures++;
          // Wrong credentials stay wrong until the portal sends new ones (a new RelayConfig);
          // anything else is retried with a growing delay.
          if (e.reason.kind !== 'unauthorized' && e.reason.kind !== 'credentials_expired') {
            relay.retryAt = now + Math.min(RELAY_RETRY_MAX_MS, RELAY_RETRY_MS * 2 ** (relay.failures - 1));
          }
          for (const connection of this.connections.values()) {
            if (connection.relayId !== id) continue;
            for (const address of lost) this.invalidateLocal(connection, address, now);
            connection.relayId = undefined;
            this.assignRelay(connection, now);
            this.drainConnection(connection, now);
          }
          break;
        }
        default:
          break;
      }
    }
  }

  private drop(reason: NodeDropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }
}

function drainTransmits(turn: TurnClient): NodeTransmit[] {
  const out: NodeTransmit[] = [];
  for (let t = turn.pollTransmit(); t; t = turn.pollTransmit()) out.push({ to: t.to, payload: t.payload });
  return out;
}

function sameFamily(a: TransportAddress, b: TransportAddress): boolean {
  return a.address.includes(':') === b.address.includes(':');
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

function sameRelay(a: RelayConfig, b: RelayConfig): boolean {
  return (
    a.username === b.username &&
    a.password === b.password &&
    a.servers.length === b.servers.length &&
    a.servers.every((s, i) => sameTransportAddress(s, b.servers[i]))
  );
}
