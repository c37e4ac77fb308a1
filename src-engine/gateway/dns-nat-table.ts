/**
 * The gateway's NAT for DNS resources, one table per client. The client sends to proxy IPs
 * (100.96.0.0/11, fd00:2021:1111:8000::/107) that stand for a domain; the gateway resolved the
 * domain and the caller passes, per packet, the real address the proxy IP stands for. Outbound
 * the destination becomes the real address and, when another session of this client already
 * uses the source port (or ICMP echo identifier) towards that real address, the port becomes a
 * free one; inbound the reverse. The destination port is never changed and the client's own
 * address is left to the rest of the gateway (the kernel masquerades it).
 *
 * Sans-IO: every call takes `now`, a monotonic time in ms, and the table reads no clock and
 * sets no timer. Each call first retires what expired by `now`, so translation is exact whenever
 * it is called; `pollTimeout()` / `handleTimeout(now)` only let the caller free memory on time.
 *
 * API:
 *   new DnsNatTable({ maxSessions? })                  default DNS_NAT_DEFAULT_MAX_SESSIONS
 *   translateOutbound(packet, realIp, now): OutboundResult      client → resource, in place
 *   translateInbound(packet, now): InboundResult                resource → client, in place
 *   translateInboundIcmpError(packet, now): Uint8Array | IcmpErrorResult  a new error packet
 *   pollTimeout(): number | undefined; handleTimeout(now): void
 *   size; sessions(); clear()
 * Packets are IpPackets from parseIpPacket; the rewrites update checksums incrementally, so a
 * packet whose checksums were right stays right. Nothing throws.
 *
 * Sessions. The outside tuple is (protocol, client port or echo identifier, proxy IP), the
 * inside tuple (protocol, chosen port or identifier, real IP); the table is a bijection between
 * live ones. The protocol is part of both because TCP port 5000 and UDP port 5000 are different
 * flows, and the inside tuple must hold the port because two domains (two proxy IPs) may resolve
 * to the same real IP: the port is what tells their replies apart. The chosen port is the
 * client's own if free for (protocol, real IP), else the next free one upwards, wrapping within
 * 1..65535 (0..65535 for echo identifiers). If the domain re-resolves and the caller passes a
 * different real IP for a live outside tuple, the old session ends and a new one starts.
 *
 * Lifetimes, counted from the last packet in either direction (RFC 4787 REQ-5, RFC 5382 REQ-5,
 * RFC 5508 REQ-1): until a session sees its first inbound packet it lives 60 s past the last
 * outbound one, so probes of dead or firewalled hosts do not hold entries for long; once
 * answered, TCP lives 2 h 4 min, UDP and ICMP 2 min. A TCP
 * session with a FIN in both directions lives 5 s past its last packet (time for the last ACK
 * and retransmitted FINs); a RST in either direction ends it right after that packet is
 * translated. A SYN without ACK from the client starts a new connection on the tuple and clears
 * the FIN and answered state. Inside tuples of ended sessions are remembered for 2 min (at most
 * DNS_NAT_EXPIRED_MEMORY_SIZE of them), so a late reply is reported `expired` (drop it quietly)
 * rather than `no_session` (not ours at all).
 *
 * Keys are numbers, never strings built per packet: address id × 2^18 + protocol × 2^16 + port.
 * An IPv4 address is its own id (its 32-bit value); an IPv6 address gets an id ≥ 2^32 from a
 * small reference-counted table of the IPv6 addresses in use (Ipv6Ids), so ids are reused and
 * every key stays below 2^53.
 */
import { readU16, writeU16 } from '../packet/bytes.js';
import {
  applyChecksumDelta,
  checksumDelta,
  ICMP_CHECKSUM_OFFSET,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_ERROR_MAX_SIZE,
  ICMP_HEADER_LENGTH,
  ICMP_PARAMETER_PROBLEM,
  ICMP_TIME_EXCEEDED,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_ERROR_MAX_SIZE,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_CHECKSUM_OFFSET,
  IPV4_DST_OFFSET,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_MIN_HEADER_LENGTH,
  IPV4_SRC_OFFSET,
  IPV6_DST_OFFSET,
  IPV6_HEADER_LENGTH,
  IPV6_SRC_OFFSET,
  isPacketError,
  rewriteDstAddress,
  rewriteDstPort,
  rewriteIcmpIdentifier,
  rewriteSrcAddress,
  rewriteSrcPort,
  TCP_ACK,
  TCP_CHECKSUM_OFFSET,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  transportChecksum,
  UDP_CHECKSUM_OFFSET,
  walkIpv6ExtensionHeaders,
  writeIpHeader,
  type IcmpHeader,
  type IpPacket,
} from '../packet/index.js';

/** Established TCP: RFC 5382 REQ-5 asks for at least 2 h 4 min of idle time. */
export const DNS_NAT_TCP_TIMEOUT_MS = (2 * 60 + 4) * 60_000;
/** UDP: RFC 4787 REQ-5 asks for at least 2 min. */
export const DNS_NAT_UDP_TIMEOUT_MS = 2 * 60_000;
/** ICMP echo: RFC 5508 REQ-1 asks for at least 60 s; we keep UDP's 2 min. */
export const DNS_NAT_ICMP_TIMEOUT_MS = 2 * 60_000;
/** Any session that has not yet seen an inbound packet. */
export const DNS_NAT_UNANSWERED_TIMEOUT_MS = 60_000;
/** TCP after a FIN in each direction. */
export const DNS_NAT_CLOSED_TIMEOUT_MS = 5_000;
/** How long an ended session's inside tuple is remembered, to classify late replies. */
export const DNS_NAT_EXPIRED_MEMORY_MS = 2 * 60_000;
/** At most this many remembered inside tuples; the oldest is forgotten first. */
export const DNS_NAT_EXPIRED_MEMORY_SIZE = 4096;
export const DNS_NAT_DEFAULT_MAX_SESSIONS = 16_384;
/**
 * TTL / Hop Limit of the ICMP errors we rebuild. They only need to cross the tunnel to the
 * client; a small value keeps a misrouted one from travelling far.
 */
export const DNS_NAT_ICMP_ERROR_TTL = 20;

export interface DnsNatTableOptions {
  /** Live sessions at most; more are refused with `table_full`. Default 16384. */
  readonly maxSessions?: number;
}

/** What translateOutbound did with a client → resource packet. */
export type OutboundResult =
  /** Rewritten in place: forward it to the resource. */
  | 'translated'
  /** A new session was needed and maxSessions are live (or, for a maxSessions above 65535, every
   * port towards that real IP is taken): packet untouched, drop it. */
  | 'table_full'
  /** Not TCP, UDP or an ICMP echo request: untouched. */
  | 'unsupported_protocol'
  /** An IP fragment: only the first carries ports, so fragments cannot be mapped. Untouched. */
  | 'fragment'
  /** The real IP is not of the packet's family (a caller bug). Untouched. */
  | 'family_mismatch';

/** What translateInbound did with a resource → client packet. */
export type InboundResult =
  /** Rewritten in place (source real IP → proxy IP, destination port back): deliver it. */
  | 'translated'
  /** It answers a session that ended less than 2 min ago: drop it. Untouched. */
  | 'expired'
  /** No session, live or recently ended, has this inside tuple: not ours. Untouched. */
  | 'no_session'
  /** An ICMP error: pass it to translateInboundIcmpError instead. Untouched. */
  | 'icmp_error'
  /** Not TCP, UDP or an ICMP echo reply: untouched. */
  | 'unsupported_protocol'
  /** An IP fragment (see OutboundResult): untouched. */
  | 'fragment';

/** Why translateInboundIcmpError built nothing. */
export type IcmpErrorResult =
  /** The quoted packet is not one of a live or recently ended session (or is too short to tell). */
  | 'no_session'
  /** The quoted packet belongs to a session that ended less than 2 min ago. */
  | 'expired'
  /** Not an error we relay: ICMPv4 Destination Unreachable, Time Exceeded, Parameter Problem;
   * ICMPv6 Destination Unreachable, Packet Too Big, Time Exceeded, Parameter Problem. */
  | 'unsupported_protocol';

export type DnsNatProtocol = 'tcp' | 'udp' | 'icmp';

/** A live session, for status views and tests. Addresses are copies. */
export interface DnsNatSessionInfo {
  readonly protocol: DnsNatProtocol;
  readonly proxyIp: Uint8Array;
  /** The client's source port, or its echo identifier. */
  readonly clientPort: number;
  readonly realIp: Uint8Array;
  /** The source port (or identifier) the resource sees. */
  readonly insidePort: number;
  readonly lastSeen: number;
  /** When it ends unless another packet comes first. */
  readonly expiresAt: number;
}

// Protocol numbers inside keys: two bits above the 16-bit port.
const TCP = 0;
const UDP = 1;
const ICMP = 2;
type Proto = typeof TCP | typeof UDP | typeof ICMP;
const PROTOCOL_NAMES: readonly DnsNatProtocol[] = ['tcp', 'udp', 'icmp'];

const PORT_BITS = 2 ** 16;
const ADDRESS_UNIT = 2 ** 18;
const IPV6_ID_BASE = 2 ** 32;

function makeKey(addressId: number, proto: Proto, port: number): number {
  return addressId * ADDRESS_UNIT + proto * PORT_BITS + port;
}

function addressIdOfKey(key: number): number {
  return Math.floor(key / ADDRESS_UNIT);
}

class Session {
  answered = false;
  finOut = false;
  finIn = false;
  live = true;
  expiresAt = 0;
  /**
   * Deadline of this session's valid entry in the timer heap, always ≤ expiresAt: the heap is
   * only touched when a deadline moves earlier, and a timer that fires early re-arms itself.
   */
  timerAt = Infinity;

  constructor(
    readonly proto: Proto,
    readonly outsideKey: number,
    readonly insideKey: number,
    readonly clientPort: number,
    readonly insidePort: number,
    readonly proxy: Uint8Array,
    readonly real: Uint8Array,
    readonly proxyId: number,
    readonly realId: number,
    public lastSeen: number,
  ) {}

  /** Lifetime after the last packet, by the rules in the header comment. */
  get timeout(): number {
    if (!this.answered) return DNS_NAT_UNANSWERED_TIMEOUT_MS;
    if (this.proto === TCP) {
      return this.finOut && this.finIn ? DNS_NAT_CLOSED_TIMEOUT_MS : DNS_NAT_TCP_TIMEOUT_MS;
    }
    return this.proto === UDP ? DNS_NAT_UDP_TIMEOUT_MS : DNS_NAT_ICMP_TIMEOUT_MS;
  }
}

interface Ipv6Slot {
  readonly id: number;
  readonly hash: number;
  readonly bytes: Uint8Array;
  refs: number;
  next: Ipv6Slot | undefined;
}

/**
 * Small ids for the IPv6 addresses the table holds (proxy and real IPs of sessions and
 * remembered tuples), so keys can be numbers. Chained hash buckets over the 16 bytes; each
 * holder takes a reference and the id is freed and reused when the last one lets go.
 */
class Ipv6Ids {
  private readonly buckets = new Map<number, Ipv6Slot>();
  private readonly slots: (Ipv6Slot | undefined)[] = [];
  private readonly free: number[] = [];

  /** The id of `address`, or -1 if no one holds it. */
  find(address: Uint8Array): number {
    const slot = this.slotOf(address, hash16(address));
    return slot === undefined ? -1 : slot.id;
  }

  /** Takes a reference to `address`, adding it if needed; returns its id. */
  acquire(address: Uint8Array): number {
    const hash = hash16(address);
    const found = this.slotOf(address, hash);
    if (found !== undefined) {
      found.refs++;
      return found.id;
    }
    const id = this.free.pop() ?? this.slots.length;
    const slot: Ipv6Slot = { id, hash, bytes: address.slice(0, 16), refs: 1, next: this.buckets.get(hash) };
    this.buckets.set(hash, slot);
    this.slots[id] = slot;
    return id;
  }

  release(id: number): void {
    const slot = this.slots[id]!;
    if (--slot.refs > 0) return;
    let head = this.buckets.get(slot.hash)!;
    if (head === slot) {
      if (slot.next === undefined) this.buckets.delete(slot.hash);
      else this.buckets.set(slot.hash, slot.next);
    } else {
      while (head.next !== slot) head = head.next!;
      head.next = slot.next;
    }
    this.slots[id] = undefined;
    this.free.push(id);
  }

  bytes(id: number): Uint8Array {
    return this.slots[id]!.bytes;
  }

  /** Addresses held, for tests of the reference counting. */
  get count(): number {
    return this.slots.length - this.free.length;
  }

  clear(): void {
    this.buckets.clear();
    this.slots.length = 0;
    this.free.length = 0;
  }

  private slotOf(address: Uint8Array, hash: number): Ipv6Slot | undefined {
    for (let slot = this.buckets.get(hash); slot !== undefined; slot = slot.next) {
      if (sameBytes(slot.bytes, address)) return slot;
    }
    return undefined;
  }
}

function hash16(a: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < 16; i += 4) {
    h = Math.imul(h ^ ((a[i]! << 24) | (a[i + 1]! << 16) | (a[i + 2]! << 8) | a[i + 3]!), 0x9e3779b1);
    h ^= h >>> 15;
  }
  return h;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Protocol and port (or identifier) of a packet's transport, or why it has none we map. */
interface FlowOf {
  proto: Proto;
  port: number;
  flags: number;
}

export class DnsNatTable {
  private readonly maxSessions: number;
  private readonly outside = new Map<number, Session>();
  private readonly inside = new Map<number, Session>();
  /** Inside key → until when it counts as recently ended. Insertion order ≈ age. */
  private readonly ended = new Map<number, number>();
  private readonly ipv6 = new Ipv6Ids();
  // Binary min-heap of (deadline, session) in two parallel arrays. Entries whose deadline is no
  // longer the session's timerAt, or whose session ended, are stale and skipped when popped.
  private heapAt: number[] = [];
  private heapSession: Session[] = [];
  /** Scratch result of flowOf, reused so the per-packet path allocates nothing. */
  private readonly flow: FlowOf = { proto: TCP, port: 0, flags: 0 };

  constructor(options?: DnsNatTableOptions) {
    const max = options?.maxSessions ?? DNS_NAT_DEFAULT_MAX_SESSIONS;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxSessions ${max}`);
    this.maxSessions = max;
  }

  /** Live sessions. */
  get size(): number {
    return this.outside.size;
  }

  /**
   * Rewrites a client → resource packet to a proxy IP in place, creating or refreshing its
   * session. `realIp` is what the proxy IP (packet.dst) currently stands for, in the same family.
   */
  translateOutbound(packet: IpPacket, realIp: Uint8Array, now: number): OutboundResult {
    this.advance(now);
    if (packet.fragment !== null) return 'fragment';
    const flow = this.flowOf(packet, true);
    if (flow === undefined) return 'unsupported_protocol';
    if (realIp.length !== (packet.version === 4 ? 4 : 16)) return 'family_mismatch';
    const { proto, port, flags } = flow;

    const proxyId = this.findId(packet.dst);
    let session = proxyId < 0 ? undefined : this.outside.get(makeKey(proxyId, proto, port));
    if (session !== undefined && !sameBytes(session.real, realIp)) {
      // The domain now resolves elsewhere: the flow to the old address is over.
      this.remove(session, now);
      session = undefined;
    }
    if (session === undefined) {
      session = this.create(packet.dst, realIp, proto, port, now);
      if (session === undefined) return 'table_full';
    }

    session.lastSeen = now;
    if (proto === TCP) {
      if ((flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
        session.answered = false;
        session.finOut = false;
        session.finIn = false;
      }
      if ((flags & TCP_FIN) !== 0) session.finOut = true;
    }
    // The rewrites only fail on arguments of the wrong size or range, which cannot happen here.
    rewriteDstAddress(packet, session.real);
    if (session.insidePort !== port) {
      if (proto === ICMP) rewriteIcmpIdentifier(packet, session.insidePort);
      else rewriteSrcPort(packet, session.insidePort);
    }
    this.afterPacket(session, flags, now);
    return 'translated';
  }

  /** Rewrites a resource → client packet in place if it answers a live session. */
  translateInbound(packet: IpPacket, now: number): InboundResult {
    this.advance(now);
    if (packet.fragment !== null) return 'fragment';
    const transport = packet.transport;
    if (transport !== null && transport.kind !== 'udp' && transport.kind !== 'tcp' && transport.isError) {
      return 'icmp_error';
    }
    const flow = this.flowOf(packet, false);
    if (flow === undefined) return 'unsupported_protocol';
    const { proto, port, flags } = flow;

    const realId = this.findId(packet.src);
    if (realId < 0) return 'no_session';
    const key = makeKey(realId, proto, port);
    const session = this.inside.get(key);
    if (session === undefined) return this.endedRecently(key, now) ? 'expired' : 'no_session';

    session.lastSeen = now;
    session.answered = true;
    if (proto === TCP && (flags & TCP_FIN) !== 0) session.finIn = true;
    rewriteSrcAddress(packet, session.proxy);
    if (session.insidePort !== session.clientPort) {
      if (proto === ICMP) rewriteIcmpIdentifier(packet, session.clientPort);
      else rewriteDstPort(packet, session.clientPort);
    }
    this.afterPacket(session, flags, now);
    return 'translated';
  }

  /**
   * For an ICMP error from the resource's side about a packet this table translated, builds a
   * new error for the client: from the proxy IP, TTL DNS_NAT_ICMP_ERROR_TTL, same type, code and
   * second header word (the MTU of "fragmentation needed" / Packet Too Big, the Parameter
   * Problem pointer), quoting the original as the client sent it (destination proxy IP, its own
   * source port or identifier; the quoted checksums updated to match). The input is not changed
   * and the session is not refreshed: an error is not an answer.
   */
  translateInboundIcmpError(packet: IpPacket, now: number): Uint8Array | IcmpErrorResult {
    this.advance(now);
    const icmp = packet.transport;
    if (icmp === null || icmp.kind === 'udp' || icmp.kind === 'tcp' || !isRelayedError(icmp)) {
      return 'unsupported_protocol';
    }
    const v4 = packet.version === 4;
    const quote = icmp.body;
    const quoted = parseQuote(quote, packet.version);
    if (quoted === undefined) return 'no_session';
    const size = v4 ? 4 : 16;
    const srcAt = v4 ? IPV4_SRC_OFFSET : IPV6_SRC_OFFSET;
    // The error must quote a packet from the address it was delivered to, the one the caller
    // chose this client's table by; else a forged quote could aim our rebuilt error elsewhere.
    if (!sameBytes(quote.subarray(srcAt, srcAt + size), packet.dst)) return 'no_session';
    const dstAt = v4 ? IPV4_DST_OFFSET : IPV6_DST_OFFSET;
    const realId = this.findId(quote.subarray(dstAt, dstAt + size));
    if (realId < 0) return 'no_session';
    const key = makeKey(realId, quoted.proto, quoted.port);
    const session = this.inside.get(key);
    if (session === undefined) return this.endedRecently(key, now) ? 'expired' : 'no_session';

    const ipHeaderLength = v4 ? IPV4_MIN_HEADER_LENGTH : IPV6_HEADER_LENGTH;
    const maxSize = v4 ? ICMP_ERROR_MAX_SIZE : ICMPV6_ERROR_MAX_SIZE;
    const quoteLength = Math.min(quote.length, maxSize - ipHeaderLength - ICMP_HEADER_LENGTH);
    const icmpLength = ICMP_HEADER_LENGTH + quoteLength;
    const out = new Uint8Array(ipHeaderLength + icmpLength);
    const quoteAt = ipHeaderLength + ICMP_HEADER_LENGTH;
    out.set(quote.subarray(0, quoteLength), quoteAt);
    restoreQuote(out.subarray(quoteAt), packet.version, quoted, session);

    const protocol = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    // Back to the client, the sender of the quoted packet (checked above).
    const fields = {
      src: session.proxy,
      dst: packet.dst,
      ttl: DNS_NAT_ICMP_ERROR_TTL,
    };
    const written = writeIpHeader(out, 0, fields, protocol, icmpLength);
    if (isPacketError(written)) return 'no_session'; // unreachable: the sizes are right
    out[ipHeaderLength] = icmp.type;
    out[ipHeaderLength + 1] = icmp.code;
    out.set(packet.buffer.subarray(icmp.offset + 4, icmp.offset + ICMP_HEADER_LENGTH), ipHeaderLength + 4);
    const scope = {
      version: packet.version,
      protocol,
      payloadOffset: ipHeaderLength,
      payloadLength: icmpLength,
    };
    writeU16(out, ipHeaderLength + ICMP_CHECKSUM_OFFSET, transportChecksum(out, scope));
    return out;
  }

  /**
   * When handleTimeout has work: the earliest session deadline, or undefined with no sessions.
   * It may come early (a session refreshed since its timer was set then just re-arms it). The
   * remembered tuples need no wake-up: they are bounded and pruned on every call.
   */
  pollTimeout(): number | undefined {
    // Drop stale entries at the top so the answer is a real deadline of a live session.
    while (this.heapAt.length > 0) {
      const session = this.heapSession[0]!;
      if (session.live && session.timerAt === this.heapAt[0]) return this.heapAt[0];
      this.heapPop();
    }
    return undefined;
  }

  /** Ends the sessions that expired by `now` and forgets old remembered tuples. */
  handleTimeout(now: number): void {
    this.advance(now);
  }

  /** Forgets every session and remembered tuple (the client left or lost its authorization). */
  clear(): void {
    for (const session of this.outside.values()) session.live = false;
    this.outside.clear();
    this.inside.clear();
    this.ended.clear();
    this.ipv6.clear();
    this.heapAt = [];
    this.heapSession = [];
  }

  /** Live sessions as of the last call (not a hot-path method: it copies). */
  *sessions(): IterableIterator<DnsNatSessionInfo> {
    for (const s of this.outside.values()) {
      yield {
        protocol: PROTOCOL_NAMES[s.proto]!,
        proxyIp: s.proxy.slice(),
        clientPort: s.clientPort,
        realIp: s.real.slice(),
        insidePort: s.insidePort,
        lastSeen: s.lastSeen,
        expiresAt: s.expiresAt,
      };
    }
  }

  /** Recently ended inside tuples still remembered (for tests of the bound). */
  get rememberedCount(): number {
    return this.ended.size;
  }

  /** IPv6 addresses with an id (for tests: they must be freed with their last holder). */
  get ipv6AddressCount(): number {
    return this.ipv6.count;
  }

  /**
   * The mapped flow of a packet: TCP or UDP with the port the table keys on (source port
   * outbound, destination port inbound), or an ICMP echo request (outbound) / reply (inbound)
   * with its identifier. Undefined for anything else.
   */
  private flowOf(packet: IpPacket, outbound: boolean): FlowOf | undefined {
    const transport = packet.transport;
    if (transport === null) return undefined;
    const flow = this.flow;
    switch (transport.kind) {
      case 'tcp':
        flow.proto = TCP;
        flow.port = outbound ? transport.srcPort : transport.dstPort;
        flow.flags = transport.flags;
        return flow;
      case 'udp':
        flow.proto = UDP;
        flow.port = outbound ? transport.srcPort : transport.dstPort;
        flow.flags = 0;
        return flow;
      default: {
        const v4 = transport.kind === 'icmpv4';
        const wanted = outbound
          ? v4
            ? ICMP_ECHO_REQUEST
            : ICMPV6_ECHO_REQUEST
          : v4
            ? ICMP_ECHO_REPLY
            : ICMPV6_ECHO_REPLY;
        if (transport.type !== wanted) return undefined;
        flow.proto = ICMP;
        flow.port = transport.identifier!;
        flow.flags = 0;
        return flow;
      }
    }
  }

  /** A new session for (proto, port, proxy) → realIp, or undefined if none can be made. */
  private create(
    proxy: Uint8Array,
    realIp: Uint8Array,
    proto: Proto,
    port: number,
    now: number,
  ): Session | undefined {
    if (this.outside.size >= this.maxSessions) return undefined;
    const realId = this.acquireId(realIp);
    const insidePort = this.freePort(realId, proto, port);
    if (insidePort < 0) {
      this.releaseId(realId);
      return undefined;
    }
    const proxyId = this.acquireId(proxy);
    const insideKey = makeKey(realId, proto, insidePort);
    if (this.ended.delete(insideKey)) this.releaseId(realId); // its memory held a reference
    const session = new Session(
      proto,
      makeKey(proxyId, proto, port),
      insideKey,
      port,
      insidePort,
      this.bytesOf(proxyId, proxy),
      this.bytesOf(realId, realIp),
      proxyId,
      realId,
      now,
    );
    this.outside.set(session.outsideKey, session);
    this.inside.set(insideKey, session);
    return session;
  }

  /**
   * The client's own port if no session of this protocol towards the real IP uses it, else the
   * next free one upwards with wrap-around; -1 if all are taken. TCP and UDP skip port 0, which
   * is not a usable source port; echo identifiers may be 0.
   */
  private freePort(realId: number, proto: Proto, port: number): number {
    const base = makeKey(realId, proto, 0);
    const min = proto === ICMP ? 0 : 1;
    let candidate = port < min ? min : port;
    for (let tried = min; tried <= 0xffff; tried++) {
      if (!this.inside.has(base + candidate)) return candidate;
      candidate = candidate === 0xffff ? min : candidate + 1;
    }
    return -1;
  }

  /** After a translated packet: a RST ends the session now, anything else pushes its end out. */
  private afterPacket(session: Session, flags: number, now: number): void {
    if (session.proto === TCP && (flags & TCP_RST) !== 0) {
      this.remove(session, now);
      return;
    }
    session.expiresAt = session.lastSeen + session.timeout;
    if (session.expiresAt < session.timerAt) {
      // Only an earlier deadline (a new session, a FIN closing it) needs a heap entry now; a
      // later one is picked up when the current timer fires.
      session.timerAt = session.expiresAt;
      this.heapPush(session.expiresAt, session);
      this.compactHeap();
    }
  }

  /** Ends a session at `endedAt`, remembering its inside tuple for late replies. */
  private remove(session: Session, endedAt: number): void {
    session.live = false;
    this.outside.delete(session.outsideKey);
    this.inside.delete(session.insideKey);
    this.releaseId(session.proxyId);
    // The memory takes over the session's reference to the real IP.
    if (this.ended.size >= DNS_NAT_EXPIRED_MEMORY_SIZE) this.forgetOldest();
    this.ended.set(session.insideKey, endedAt + DNS_NAT_EXPIRED_MEMORY_MS);
    this.compactHeap();
  }

  private endedRecently(key: number, now: number): boolean {
    const until = this.ended.get(key);
    return until !== undefined && now < until;
  }

  private forgetOldest(): void {
    const [key] = this.ended.keys();
    this.ended.delete(key!);
    this.releaseId(addressIdOfKey(key!));
  }

  /** Ends every session whose deadline passed and forgets old remembered tuples. */
  private advance(now: number): void {
    while (this.heapAt.length > 0 && this.heapAt[0]! <= now) {
      const at = this.heapAt[0]!;
      const session = this.heapSession[0]!;
      this.heapPop();
      if (!session.live || at !== session.timerAt) continue;
      if (session.expiresAt <= now) {
        // Remembered from the deadline, not from when we noticed: the same answer whenever
        // the caller happens to call.
        this.remove(session, session.expiresAt);
      } else {
        session.timerAt = session.expiresAt;
        this.heapPush(session.expiresAt, session);
      }
    }
    // Insertion order is close to expiry order; anything out of order is caught by
    // endedRecently's own check and by the size bound.
    for (const [key, until] of this.ended) {
      if (until > now) break;
      this.ended.delete(key);
      this.releaseId(addressIdOfKey(key));
    }
  }

  private findId(address: Uint8Array): number {
    if (address.length === 4) return ipv4Id(address);
    const id = this.ipv6.find(address);
    return id < 0 ? -1 : IPV6_ID_BASE + id;
  }

  private acquireId(address: Uint8Array): number {
    return address.length === 4 ? ipv4Id(address) : IPV6_ID_BASE + this.ipv6.acquire(address);
  }

  private releaseId(id: number): void {
    if (id >= IPV6_ID_BASE) this.ipv6.release(id - IPV6_ID_BASE);
  }

  /** The session's own copy of an address: IPv6 shares the id table's copy. */
  private bytesOf(id: number, address: Uint8Array): Uint8Array {
    return id >= IPV6_ID_BASE ? this.ipv6.bytes(id - IPV6_ID_BASE) : address.slice(0, 4);
  }

  /**
   * Stale heap entries come from sessions that ended early (RST, re-resolution) and deadlines
   * that moved earlier (FIN). Once they outnumber the live sessions, rebuild the heap from the
   * sessions, so its memory stays proportional to `size`.
   */
  private compactHeap(): void {
    if (this.heapAt.length <= 2 * this.outside.size + 64) return;
    const sessions = [...this.outside.values()].sort((a, b) => a.expiresAt - b.expiresAt);
    // A sorted array is a valid min-heap.
    this.heapSession = sessions;
    this.heapAt = sessions.map((s) => {
      s.timerAt = s.expiresAt;
      return s.expiresAt;
    });
  }

  private heapPush(at: number, session: Session): void {
    const heapAt = this.heapAt;
    const heapSession = this.heapSession;
    let i = heapAt.length;
    heapAt.push(at);
    heapSession.push(session);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heapAt[parent]! <= at) break;
      heapAt[i] = heapAt[parent]!;
      heapSession[i] = heapSession[parent]!;
      i = parent;
    }
    heapAt[i] = at;
    heapSession[i] = session;
  }

  private heapPop(): void {
    const heapAt = this.heapAt;
    const heapSession = this.heapSession;
    const lastAt = heapAt.pop()!;
    const lastSession = heapSession.pop()!;
    const n = heapAt.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heapAt[child + 1]! < heapAt[child]!) child++;
      if (heapAt[child]! >= lastAt) break;
      heapAt[i] = heapAt[child]!;
      heapSession[i] = heapSession[child]!;
      i = child;
    }
    heapAt[i] = lastAt;
    heapSession[i] = lastSession;
  }
}

function ipv4Id(address: Uint8Array): number {
  return ((address[0]! << 24) | (address[1]! << 16) | (address[2]! << 8) | address[3]!) >>> 0;
}

/** The ICMP errors worth relaying to the client: they describe a path or a refusal. */
function isRelayedError(icmp: IcmpHeader): boolean {
  const type = icmp.type;
  if (icmp.kind === 'icmpv4') {
    // Source Quench is deprecated (RFC 6633) and a Redirect only concerns the gateway's own routing.
    return type === ICMP_DEST_UNREACHABLE || type === ICMP_TIME_EXCEEDED || type === ICMP_PARAMETER_PROBLEM;
  }
  return (
    type === ICMPV6_DEST_UNREACHABLE ||
    type === ICMPV6_PACKET_TOO_BIG ||
    type === ICMPV6_TIME_EXCEEDED ||
    type === ICMPV6_PARAMETER_PROBLEM
  );
}

/** Where the parts of a quoted packet are, and its flow as the resource saw it. */
interface Quoted {
  readonly proto: Proto;
  /** The quoted source port or echo identifier: the session's inside port. */
  readonly port: number;
  /** Offset of the transport header in the quote. */
  readonly l4: number;
}

/**
 * Reads the packet an ICMP error quotes. The quote is usually cut short (RFC 792 asks only for
 * the IP header and 8 bytes), so this cannot be parseIpPacket: it needs the IP header (with any
 * IPv6 extension headers) and the first 8 transport bytes, which hold the ports or the echo
 * identifier, and nothing more. Non-first fragments have no ports and are not ours.
 */
function parseQuote(quote: Uint8Array, version: 4 | 6): Quoted | undefined {
  if (quote.length < 1 || quote[0]! >>> 4 !== version) return undefined;
  let protocol: number;
  let l4: number;
  if (version === 4) {
    l4 = (quote[0]! & 0x0f) * 4;
    if (l4 < IPV4_MIN_HEADER_LENGTH || quote.length < l4 + 8) return undefined;
    if ((readU16(quote, 6) & IPV4_FRAGMENT_OFFSET_MASK) !== 0) return undefined;
    protocol = quote[9]!;
  } else {
    if (quote.length < IPV6_HEADER_LENGTH + 8) return undefined;
    const upper = walkIpv6ExtensionHeaders(quote, quote.length);
    if (isPacketError(upper)) return undefined;
    if (upper.fragment !== null && upper.fragment.offset !== 0) return undefined;
    protocol = upper.protocol;
    l4 = upper.offset;
    if (quote.length < l4 + 8) return undefined;
  }
  if (protocol === IPPROTO_TCP) return { proto: TCP, port: readU16(quote, l4), l4 };
  if (protocol === IPPROTO_UDP) return { proto: UDP, port: readU16(quote, l4), l4 };
  const echoRequest = version === 4 ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST;
  if (protocol === (version === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6) && quote[l4] === echoRequest) {
    return { proto: ICMP, port: readU16(quote, l4 + 4), l4 };
  }
  return undefined;
}

/**
 * Undoes the outbound translation in a copied quote: destination real IP → proxy IP and the
 * source port / identifier back to the client's. The quoted IPv4 header checksum and, when the
 * quote reaches it, the transport checksum are updated incrementally, so the quote reads as the
 * packet the client sent (a transport checksum cannot be verified on a cut quote, but the client
 * may compare it).
 */
function restoreQuote(quote: Uint8Array, version: 4 | 6, quoted: Quoted, session: Session): void {
  const v4 = version === 4;
  const dstAt = v4 ? IPV4_DST_OFFSET : IPV6_DST_OFFSET;
  const addressDelta = checksumDelta(quote, dstAt, session.proxy, 0, v4 ? 4 : 16);
  if (v4) {
    writeU16(
      quote,
      IPV4_CHECKSUM_OFFSET,
      applyChecksumDelta(readU16(quote, IPV4_CHECKSUM_OFFSET), addressDelta),
    );
  }
  quote.set(session.proxy, dstAt);

  const l4 = quoted.l4;
  const portAt = quoted.proto === ICMP ? l4 + 4 : l4;
  const portDelta = (~readU16(quote, portAt) & 0xffff) + session.clientPort;
  writeU16(quote, portAt, session.clientPort);

  const checksumAt =
    l4 +
    (quoted.proto === TCP
      ? TCP_CHECKSUM_OFFSET
      : quoted.proto === UDP
        ? UDP_CHECKSUM_OFFSET
        : ICMP_CHECKSUM_OFFSET);
  if (checksumAt + 2 > quote.length) return;
  const old = readU16(quote, checksumAt);
  // Over IPv4 a zero UDP checksum means "none" and stays so (RFC 768).
  if (quoted.proto === UDP && v4 && old === 0) return;
  // ICMPv4 has no pseudo-header, so only the identifier counts there.
  const pseudo = quoted.proto === ICMP && v4 ? 0 : addressDelta;
  let checksum = applyChecksumDelta(old, pseudo + portDelta);
  if (quoted.proto === UDP && checksum === 0) checksum = 0xffff;
  writeU16(quote, checksumAt, checksum);
}
