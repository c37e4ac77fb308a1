/**
 * Control packets (`AssignedIps`) waiting for a peer's connection to be established: up to
 * `capacity` per peer (docs/protocol.md §1.5, §7.1: 128), duplicates stored once, the rest dropped and
 * counted. The driver pushes when `encapsulate` says 'connecting' and takes the peer's packets
 * when the node reports the connection established; a failed or closed connection clears them.
 */
import { PacketBuffer } from '../tunnel/packet-buffer.js';
import { PENDING_PEER_PACKETS } from './constants.js';

export class PendingPeerPackets {
  private readonly peers = new Map<string, PacketBuffer>();
  /** Packets refused because their peer's buffer was full. */
  dropped = 0;

  constructor(readonly capacity = PENDING_PEER_PACKETS) {}

  /** Holds a copy of `packet` for `peerId`; false if it was dropped (full). */
  push(peerId: string, packet: Uint8Array): boolean {
    let buffer = this.peers.get(peerId);
    if (!buffer) {
      buffer = new PacketBuffer(this.capacity);
      this.peers.set(peerId, buffer);
    }
    if (buffer.push(packet)) return true;
    this.dropped++;
    return false;
  }

  /** The peer's packets, oldest first, to send now that its connection is up. */
  take(peerId: string): Uint8Array[] {
    const buffer = this.peers.get(peerId);
    if (!buffer) return [];
    this.peers.delete(peerId);
    return buffer.drain();
  }

  /** Forgets the peer's packets (its connection failed or was closed); how many there were. */
  clear(peerId: string): number {
    const buffer = this.peers.get(peerId);
    this.peers.delete(peerId);
    return buffer ? buffer.clear() : 0;
  }

  /** How many packets wait for `peerId`. */
  count(peerId: string): number {
    return this.peers.get(peerId)?.length ?? 0;
  }

  /** Peers with packets waiting. */
  waitingPeers(): string[] {
    return [...this.peers.keys()];
  }
}
