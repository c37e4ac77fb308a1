/**
 * The client's DNS-resource NAT state machine (docs/protocol.md §1.5), sans-IO: it tells gateways which
 * proxy IPs stand for which domain of which resource (`AssignedIps`), holds the packets to those
 * proxy IPs until the gateway confirms (`DomainStatus`), and re-sends when asked to by the only
 * two triggers Firezone has: an `update` (a DNS answer, a new authorization) or an outgoing packet
 * hitting a pending entry — never a timer, and never within 2 s of the previous send.
 *
 * Entries are keyed by (gateway id, domain, resource id): one domain can belong to several
 * resources. Domains compare case-insensitively (DNS names do). Outputs are polled: control
 * packets for a gateway (`pollControlPacket`) and packets to re-inject through the client's
 * normal routing (`pollReinject`). Packets refused by a full buffer or discarded by a clear are
 * counted in `counters`, never lost silently.
 */
import { formatIp, parseIpAddress } from '../packet/index.js';
import { PacketBuffer } from '../tunnel/packet-buffer.js';
import { buildAssignedIps, isP2pControlError, type DomainStatus } from './codec.js';
import { ASSIGNED_IPS_RESEND_MS, DNS_NAT_BUFFER } from './constants.js';

/** Which entry: the gateway the resource is reached through, the domain and the resource. */
export interface DnsNatKey {
  readonly gatewayId: string;
  readonly domain: string;
  readonly resourceId: string;
}

/** An entry's content: the key plus the proxy IPs the client handed out for the domain. */
export interface DnsNatAssignment extends DnsNatKey {
  /** 4 or 8 addresses, IPv4 first (the `AssignedIps` rule). */
  readonly proxyIps: readonly string[];
}

export type DnsNatStateKind = 'pending' | 'recreating' | 'confirmed' | 'failed';

/** What to do with an outgoing packet to a proxy IP. */
export type OutgoingVerdict =
  /** Send it to the gateway now. */
  | 'forward'
  /** Held until the gateway answers; it comes back through `pollReinject`. */
  | 'buffered'
  /** The entry's buffer was full: dropped (counted as `buffer_full`). */
  | 'dropped';

/** A control packet for a gateway. The bytes are shared with the entry: do not modify them. */
export interface ControlPacketOut {
  readonly gatewayId: string;
  readonly packet: Uint8Array;
}

export type DnsNatCounter =
  /** A packet refused because its entry already held DNS_NAT_BUFFER packets. */
  | 'buffer_full'
  /** Buffered packets discarded by `clearByGateway` / `clearByResource` / `clear`. */
  | 'cleared'
  /** A `DomainStatus` for no entry (late, or for a cleared one): ignored. */
  | 'unknown_entry'
  /** An `update` whose fields cannot make an `AssignedIps` (bad UUID, domain or proxy IPs). */
  | 'bad_assignment';

/** An entry as seen from outside, for status views and tests. */
export interface DnsNatEntryView extends DnsNatAssignment {
  readonly state: DnsNatStateKind;
  /** Whether a pending/recreating entry holds packets (false for confirmed/failed). */
  readonly shouldBuffer: boolean;
  readonly buffered: number;
}

type State =
  | { kind: 'pending'; sentAt: number; readonly buffer: PacketBuffer; readonly shouldBuffer: boolean }
  | { kind: 'recreating'; readonly shouldBuffer: boolean }
  | { kind: 'confirmed' }
  | { kind: 'failed' };

interface Entry {
  readonly gatewayId: string;
  readonly domain: string;
  readonly resourceId: string;
  proxyIps: readonly string[];
  /** The pre-built `AssignedIps`, sent as is on every (re)send. */
  packet: Uint8Array;
  state: State;
}

export class DnsResourceNat {
  readonly counters = new Map<DnsNatCounter, number>();
  private readonly entries = new Map<string, Entry>();
  private readonly controlOut: ControlPacketOut[] = [];
  private readonly reinjectOut: Uint8Array[] = [];

  constructor(
    private readonly options: { readonly bufferCapacity?: number; readonly resendMs?: number } = {},
  ) {}

  /**
   * The client answered a DNS query for `domain` of a DNS resource and has an authorized gateway
   * for it (or a new authorization arrived). Creates the entry (queues `AssignedIps`, state
   * pending and buffering) or turns a recreating one pending (queues `AssignedIps` at once); a
   * pending one re-sends when 2 s have passed; confirmed and failed ones stay. `packets` are the
   * packets for this domain that waited elsewhere (for the authorization): held if the entry
   * buffers, else handed back through `pollReinject`.
   */
  update(assignment: DnsNatAssignment, now: number, packets: readonly Uint8Array[] = []): void {
    const key = keyOf(assignment);
    let entry = this.entries.get(key);
    const prepared = prepare(assignment);
    if (prepared === null) {
      this.count('bad_assignment');
      if (!entry) {
        for (const held of packets) this.reinjectOut.push(held);
        return;
      }
    } else if (!entry) {
      entry = {
        gatewayId: assignment.gatewayId,
        domain: assignment.domain,
        resourceId: assignment.resourceId,
        proxyIps: prepared.proxyIps,
        packet: prepared.packet,
        state: { kind: 'recreating', shouldBuffer: true },
      };
      this.entries.set(key, entry);
    } else if (!sameList(entry.proxyIps, prepared.proxyIps)) {
      // The client renumbered the domain: the gateway must learn the new proxy IPs before
      // packets to them can pass.
      entry.packet = prepared.packet;
      entry.proxyIps = prepared.proxyIps;
      if (entry.state.kind === 'pending') entry.state.sentAt = -Infinity;
      else entry.state = { kind: 'recreating', shouldBuffer: true };
    }

    const state = entry.state;
    if (state.kind === 'recreating') {
      entry.state = {
        kind: 'pending',
        sentAt: now,
        buffer: new PacketBuffer(this.options.bufferCapacity ?? DNS_NAT_BUFFER),
        shouldBuffer: state.shouldBuffer,
      };
      this.send(entry);
    } else if (state.kind === 'pending') {
      this.resendIfDue(entry, state, now);
    }

    for (const held of packets) {
      const current = entry.state;
      if (current.kind === 'pending' && current.shouldBuffer) this.bufferPacket(current, held);
      else this.reinjectOut.push(held);
    }
  }

  /**
   * A packet from the TUN to one of `key`'s proxy IPs. No entry: forward. Pending and buffering:
   * hold it (and re-send `AssignedIps` if due). Pending without buffering (a confirmed entry being
   * refreshed): re-send if due, forward. Recreating, confirmed, failed: forward.
   */
  handleOutgoing(key: DnsNatKey, packet: Uint8Array, now: number): OutgoingVerdict {
    const entry = this.entries.get(keyOf(key));
    if (!entry) return 'forward';
    const state = entry.state;
    if (state.kind !== 'pending') return 'forward';
    this.resendIfDue(entry, state, now);
    if (!state.shouldBuffer) return 'forward';
    return this.bufferPacket(state, packet) ? 'buffered' : 'dropped';
  }

  /**
   * A `DomainStatus` decoded from gateway `gatewayId`'s tunnel. Active confirms the entry and
   * Inactive fails it, whatever state it was in (a late answer confirms what exists); either way
   * its held packets go to `pollReinject` (after a failure they reach the gateway, which answers
   * with ICMP, rather than vanish). True if an entry matched.
   */
  handleDomainStatus(gatewayId: string, status: DomainStatus): boolean {
    const entry = this.entries.get(keyOf({ gatewayId, domain: status.domain, resourceId: status.resource }));
    if (!entry) {
      this.count('unknown_entry');
      return false;
    }
    const previous = entry.state;
    entry.state = status.status === 'Active' ? { kind: 'confirmed' } : { kind: 'failed' };
    if (previous.kind === 'pending')
      for (const packet of previous.buffer.drain()) this.reinjectOut.push(packet);
    return true;
  }

  /**
   * The client got a DNS query for `domain` (any resource, any gateway): confirmed entries become
   * recreating without buffering (traffic keeps flowing while the gateway re-resolves), failed
   * ones recreating with buffering; pending and recreating ones stay. The `update` that follows
   * the answer sends `AssignedIps` again.
   */
  recreate(domain: string): void {
    const wanted = domain.toLowerCase();
    for (const entry of this.entries.values()) {
      if (entry.domain.toLowerCase() !== wanted) continue;
      if (entry.state.kind === 'confirmed') entry.state = { kind: 'recreating', shouldBuffer: false };
      else if (entry.state.kind === 'failed') entry.state = { kind: 'recreating', shouldBuffer: true };
    }
  }

  /** The connection to the gateway is gone: forget its entries. Returns the packets discarded. */
  clearByGateway(gatewayId: string): number {
    return this.clearWhere((entry) => entry.gatewayId === gatewayId);
  }

  /** The resource was disabled or removed: forget its entries. Returns the packets discarded. */
  clearByResource(resourceId: string): number {
    const wanted = resourceId.toLowerCase();
    return this.clearWhere((entry) => entry.resourceId.toLowerCase() === wanted);
  }

  /** Forgets everything (session reset). Returns the packets discarded. */
  clear(): number {
    return this.clearWhere(() => true);
  }

  pollControlPacket(): ControlPacketOut | undefined {
    return this.controlOut.shift();
  }

  /** A held packet to route again, oldest first per entry. */
  pollReinject(): Uint8Array | undefined {
    return this.reinjectOut.shift();
  }

  stateOf(key: DnsNatKey): DnsNatStateKind | undefined {
    return this.entries.get(keyOf(key))?.state.kind;
  }

  list(): DnsNatEntryView[] {
    return [...this.entries.values()].map((entry) => ({
      gatewayId: entry.gatewayId,
      domain: entry.domain,
      resourceId: entry.resourceId,
      proxyIps: entry.proxyIps,
      state: entry.state.kind,
      shouldBuffer:
        entry.state.kind === 'pending' || entry.state.kind === 'recreating'
          ? entry.state.shouldBuffer
          : false,
      buffered: entry.state.kind === 'pending' ? entry.state.buffer.length : 0,
    }));
  }

  get size(): number {
    return this.entries.size;
  }

  private resendIfDue(entry: Entry, state: State & { kind: 'pending' }, now: number): void {
    if (now - state.sentAt < (this.options.resendMs ?? ASSIGNED_IPS_RESEND_MS)) return;
    state.sentAt = now;
    this.send(entry);
  }

  private send(entry: Entry): void {
    this.controlOut.push({ gatewayId: entry.gatewayId, packet: entry.packet });
  }

  private bufferPacket(state: State & { kind: 'pending' }, packet: Uint8Array): boolean {
    if (state.buffer.push(packet)) return true;
    this.count('buffer_full');
    return false;
  }

  private clearWhere(matches: (entry: Entry) => boolean): number {
    let discarded = 0;
    for (const [key, entry] of this.entries) {
      if (!matches(entry)) continue;
      if (entry.state.kind === 'pending') discarded += entry.state.buffer.clear();
      this.entries.delete(key);
    }
    if (discarded > 0) this.count('cleared', discarded);
    return discarded;
  }

  private count(counter: DnsNatCounter, n = 1): void {
    this.counters.set(counter, (this.counters.get(counter) ?? 0) + n);
  }
}

/** Ids are UUIDs (case-insensitive); DNS names are case-insensitive. */
function keyOf(key: DnsNatKey): string {
  return `${key.gatewayId.toLowerCase()}\n${key.domain.toLowerCase()}\n${key.resourceId.toLowerCase()}`;
}

/**
 * The proxy IPs in canonical text (as the gateway will see them) and the `AssignedIps` packet, or
 * null when the fields cannot make one. Run on every update (a DNS answer), not per packet.
 */
function prepare(assignment: DnsNatAssignment): { proxyIps: string[]; packet: Uint8Array } | null {
  const proxyIps: string[] = [];
  for (const ip of assignment.proxyIps) {
    const bytes = parseIpAddress(ip);
    if (bytes === null) return null;
    proxyIps.push(formatIp(bytes));
  }
  const packet = buildAssignedIps({ resource: assignment.resourceId, domain: assignment.domain, proxyIps });
  return isP2pControlError(packet) ? null : { proxyIps, packet };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
