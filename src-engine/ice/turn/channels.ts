/**
 * The client's channel bindings (RFC 8656 §12): channel numbers 0x4000–0x4FFF, each bound to one
 * peer transport address for 10 minutes, refreshed at 5 (as Firezone does). A number may be bound
 * again to the same peer at any time, but RFC 8656 §12 keeps it from another peer until 5 minutes
 * after the binding expired; we count those 15 minutes from our last ChannelBind for it, since
 * the relay may have bound it even if the answer was lost. Pure bookkeeping; the client sends.
 */
import {
  CHANNEL_LIFETIME_MS,
  CHANNEL_REFRESH_MS,
  CHANNEL_REUSE_DELAY_MS,
  MAX_CHANNEL_NUMBER,
  MIN_CHANNEL_NUMBER,
} from '../constants.js';
import { formatTransportAddress, type TransportAddress } from '../transport-address.js';

export interface Channel {
  readonly channel: number;
  readonly peer: TransportAddress;
  /** Until when the binding holds (counted from our request); 0 while never confirmed. */
  boundUntil: number;
  refreshAt: number;
  pending: boolean;
  sentAt: number;
}

const CHANNEL_COUNT = MAX_CHANNEL_NUMBER - MIN_CHANNEL_NUMBER + 1;

export class ChannelTable {
  private readonly byPeer = new Map<string, Channel>();
  private readonly byNumber = new Map<number, Channel>();
  /** number → the peer it was last requested for and until when it stays theirs. */
  private readonly reserved = new Map<number, { peer: string; until: number }>();
  private nextNumber = MIN_CHANNEL_NUMBER;

  get size(): number {
    return this.byPeer.size;
  }

  get(peer: TransportAddress): Channel | undefined {
    return this.byPeer.get(formatTransportAddress(peer));
  }

  byChannel(channel: number): Channel | undefined {
    return this.byNumber.get(channel);
  }

  /**
   * The channel for `peer`, creating one (due at once) when there is none. Undefined when all
   * 4096 numbers are in use or reserved for other peers.
   */
  want(peer: TransportAddress, now: number): Channel | undefined {
    const key = formatTransportAddress(peer);
    const existing = this.byPeer.get(key);
    if (existing) return existing;
    const number = this.pickNumber(key, now);
    if (number === undefined) return undefined;
    const entry: Channel = {
      channel: number,
      peer,
      boundUntil: 0,
      refreshAt: Number.NEGATIVE_INFINITY,
      pending: false,
      sentAt: 0,
    };
    this.byPeer.set(key, entry);
    this.byNumber.set(number, entry);
    return entry;
  }

  private pickNumber(peerKey: string, now: number): number | undefined {
    // The number this peer had before comes first: rebinding it to them is always allowed.
    for (const [number, r] of this.reserved) {
      if (r.peer === peerKey && !this.byNumber.has(number)) return number;
    }
    for (let i = 0; i < CHANNEL_COUNT; i++) {
      const number = MIN_CHANNEL_NUMBER + ((this.nextNumber - MIN_CHANNEL_NUMBER + i) % CHANNEL_COUNT);
      if (this.byNumber.has(number)) continue;
      const r = this.reserved.get(number);
      if (r !== undefined && r.until > now) continue;
      this.reserved.delete(number);
      this.nextNumber = number === MAX_CHANNEL_NUMBER ? MIN_CHANNEL_NUMBER : number + 1;
      return number;
    }
    return undefined;
  }

  isBound(entry: Channel, now: number): boolean {
    return entry.boundUntil > now;
  }

  due(now: number): Channel[] {
    return [...this.byPeer.values()].filter((e) => !e.pending && e.refreshAt <= now);
  }

  sent(entry: Channel, now: number): void {
    entry.pending = true;
    entry.sentAt = now;
    this.reserved.set(entry.channel, {
      peer: formatTransportAddress(entry.peer),
      until: now + CHANNEL_REUSE_DELAY_MS,
    });
  }

  bound(entry: Channel): void {
    entry.pending = false;
    entry.boundUntil = entry.sentAt + CHANNEL_LIFETIME_MS;
    entry.refreshAt = entry.sentAt + CHANNEL_REFRESH_MS;
  }

  /** Stops using and refreshing the peer's channel; its number stays reserved for that peer. */
  remove(peer: TransportAddress): Channel | undefined {
    const entry = this.get(peer);
    if (entry) {
      this.byPeer.delete(formatTransportAddress(peer));
      this.byNumber.delete(entry.channel);
    }
    return entry;
  }

  nextTimeout(): number | undefined {
    let next: number | undefined;
    for (const e of this.byPeer.values()) {
      if (!e.pending && (next === undefined || e.refreshAt < next)) next = e.refreshAt;
    }
    return next;
  }

  /** A new allocation has no bindings: every wanted one is due again, reservations are void. */
  reset(): void {
    this.reserved.clear();
    for (const e of this.byPeer.values()) {
      e.boundUntil = 0;
      e.refreshAt = Number.NEGATIVE_INFINITY;
      e.pending = false;
    }
  }

  clear(): void {
    this.byPeer.clear();
    this.byNumber.clear();
    this.reserved.clear();
  }
}
