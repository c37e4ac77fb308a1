/**
 * What the client and gateway cores need from the connection layer (Firezone's "snownet" node):
 * one WireGuard + ICE connection per peer, set up from the portal's authorization, fed with
 * candidates that travel through the portal, and reporting when a path is up or gone. The real
 * node composes the ICE agent, the TURN allocations and `Tunn`; tests use an in-memory one.
 *
 * The cores never see sockets: the driver hands datagrams to the node, which gives decrypted IP
 * packets back with the id of the peer they came from.
 */
export interface IceCredentials {
  readonly username: string;
  readonly password: string;
}

export interface ConnectionSetup {
  /** Client → gateway: the client controls (docs/protocol.md §5.2). */
  readonly role: 'controlling' | 'controlled';
  readonly remotePublicKey: Uint8Array;
  readonly presharedKey: Uint8Array;
  readonly localCredentials: IceCredentials;
  readonly remoteCredentials: IceCredentials;
}

export type NodeEvent =
  | { readonly type: 'new_ice_candidate'; readonly connection: string; readonly candidate: string }
  | { readonly type: 'invalidate_ice_candidate'; readonly connection: string; readonly candidate: string }
  | { readonly type: 'connection_established'; readonly connection: string }
  | { readonly type: 'connection_failed'; readonly connection: string; readonly reason: string }
  | { readonly type: 'no_relays' };

/** What `encapsulate` did with a packet. */
export type SendOutcome = 'sent' | 'connecting' | 'unknown_connection';

export interface PeerNode {
  /** Creates the connection, or reuses it when `setup` is the same (the portal's derived secrets). */
  upsertConnection(id: string, setup: ConnectionSetup, now: number): void;
  /** Drops the connection at once (no event). */
  closeConnection(id: string, now: number): void;
  hasConnection(id: string): boolean;
  isConnected(id: string): boolean;
  addRemoteCandidate(id: string, candidate: string, now: number): void;
  removeRemoteCandidate(id: string, candidate: string, now: number): void;
  /** Encrypts `packet` for peer `id` and queues the datagram; 'connecting' means: buffer it. */
  encapsulate(id: string, packet: Uint8Array, now: number): SendOutcome;
  pollEvent(): NodeEvent | undefined;
}

/** Whether two set-ups are the same (the portal's derived secrets): the connection is reused. */
export function sameSetup(a: ConnectionSetup, b: ConnectionSetup): boolean {
  const eq = (x: Uint8Array, y: Uint8Array): boolean =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a.role === b.role &&
    eq(a.remotePublicKey, b.remotePublicKey) &&
    eq(a.presharedKey, b.presharedKey) &&
    a.localCredentials.username === b.localCredentials.username &&
    a.localCredentials.password === b.localCredentials.password &&
    a.remoteCredentials.username === b.remoteCredentials.username &&
    a.remoteCredentials.password === b.remoteCredentials.password
  );
}
