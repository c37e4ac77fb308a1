/**
 * An in-memory `PeerNode` for tests of the client and gateway cores: nodes on one
 * `MemoryPeerNetwork` reach each other by name. A connection announces one host candidate when
 * created and counts as established once it has a remote candidate and the peer holds a
 * connection back with the same keys; packets then go straight to the peer's inbox. It checks
 * what the real node checks: matching static keys, PSK and ICE credentials on both ends.
 */
import {
  sameSetup,
  type ConnectionSetup,
  type NodeEvent,
  type PeerNode,
  type SendOutcome,
} from './peer-node.js';

interface MemoryConnection {
  readonly setup: ConnectionSetup;
  remoteCandidates: Set<string>;
  established: boolean;
}

export class MemoryPeerNetwork {
  readonly nodes = new Map<string, MemoryPeerNode>();
  /** Names of nodes whose traffic is dropped (a dead gateway, a partition). */
  readonly down = new Set<string>();

  node(name: string, publicKey: Uint8Array): MemoryPeerNode {
    const node = new MemoryPeerNode(this, name, publicKey);
    this.nodes.set(name, node);
    return node;
  }
}

export class MemoryPeerNode implements PeerNode {
  private readonly connections = new Map<string, MemoryConnection>();
  private readonly events: NodeEvent[] = [];
  /** Packets received: [from connection id, packet]. */
  readonly inbox: [string, Uint8Array][] = [];

  constructor(
    private readonly network: MemoryPeerNetwork,
    readonly name: string,
    readonly publicKey: Uint8Array,
  ) {}

  upsertConnection(id: string, setup: ConnectionSetup, _now: number): void {
    const existing = this.connections.get(id);
    if (existing && sameSetup(existing.setup, setup)) {
      this.events.push({ type: 'new_ice_candidate', connection: id, candidate: this.candidate() });
      return;
    }
    this.connections.set(id, { setup, remoteCandidates: new Set(), established: false });
    this.events.push({ type: 'new_ice_candidate', connection: id, candidate: this.candidate() });
  }

  closeConnection(id: string): void {
    this.connections.delete(id);
  }

  hasConnection(id: string): boolean {
    return this.connections.has(id);
  }

  isConnected(id: string): boolean {
    return this.connections.get(id)?.established ?? false;
  }

  addRemoteCandidate(id: string, candidate: string): void {
    const connection = this.connections.get(id);
    if (!connection) return;
    connection.remoteCandidates.add(candidate);
    this.tryEstablish(id);
  }

  removeRemoteCandidate(id: string, candidate: string): void {
    this.connections.get(id)?.remoteCandidates.delete(candidate);
  }

  encapsulate(id: string, packet: Uint8Array): SendOutcome {
    const connection = this.connections.get(id);
    if (!connection) return 'unknown_connection';
    if (!connection.established) {
      this.tryEstablish(id);
      if (!connection.established) return 'connecting';
    }
    const peer = this.network.nodes.get(id);
    if (!peer || this.network.down.has(id) || this.network.down.has(this.name)) return 'sent';
    if (!peer.connections.get(this.name)?.established) return 'sent';
    peer.inbox.push([this.name, Uint8Array.from(packet)]);
    return 'sent';
  }

  /** Reports a failure of connection `id`, as ICE or WireGuard would after a timeout. */
  fail(id: string, reason: string): void {
    if (!this.connections.delete(id)) return;
    this.events.push({ type: 'connection_failed', connection: id, reason });
  }

  pollEvent(): NodeEvent | undefined {
    return this.events.shift();
  }

  private tryEstablish(id: string): void {
    const connection = this.connections.get(id)!;
    if (connection.established || connection.remoteCandidates.size === 0) return;
    const peer = this.network.nodes.get(id);
    const back = peer?.connections.get(this.name);
    if (!peer || !back || this.network.down.has(id)) return;
    const keysMatch =
      equal(connection.setup.remotePublicKey, peer.publicKey) &&
      equal(back.setup.remotePublicKey, this.publicKey) &&
      equal(connection.setup.presharedKey, back.setup.presharedKey) &&
      connection.setup.localCredentials.username === back.setup.remoteCredentials.username &&
      connection.setup.remoteCredentials.password === back.setup.localCredentials.password &&
      connection.setup.role !== back.setup.role;
    if (!keysMatch) return;
    connection.established = true;
    this.events.push({ type: 'connection_established', connection: id });
    if (!back.established) {
      back.established = true;
      peer.events.push({ type: 'connection_established', connection: this.name });
    }
  }

  private candidate(): string {
    return `candidate:1 1 udp 2130706431 ${this.name} 52625 typ host`;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
