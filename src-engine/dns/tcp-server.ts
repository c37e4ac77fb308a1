/**
 * A minimal userspace TCP responder for DNS over TCP to the sentinel addresses, sans-IO.
 *
 * The OS sends DNS over TCP to <sentinel>:53 as raw IP packets into our TUN, so the client has
 * to terminate TCP itself (Firezone uses smoltcp for the same job). The driver hands in parsed
 * TCP packets addressed to a sentinel's port 53 (`handlePacket`, the caller filters) and timer
 * expiries (`handleTimeout`), each with `now` (monotonic ms); it polls IP packets to write back
 * into the TUN (`pollPacket`), complete DNS messages (`pollQuery`) and when to wake us
 * (`pollTimeout`), and answers with `sendReply`. Nothing here reads a clock, opens a socket or
 * throws on input.
 *
 * Implemented (RFC 9293 unless noted):
 * - A passive open on any address: SYN → SYN-ACK with a random ISN (injected `random`) and our
 *   MSS (what fits in 1280-byte IP packets); a retransmitted SYN gets the SYN-ACK again, a SYN
 *   with another ISN replaces a half-open connection.
 * - The states SYN-RECEIVED, ESTABLISHED, CLOSE-WAIT, LAST-ACK, FIN-WAIT-1, FIN-WAIT-2, CLOSING.
 *   No TIME-WAIT: after the final ACK the connection is forgotten (a retransmitted FIN then gets
 *   a RST, which closes the peer's side just as well).
 * - The RFC 9293 §3.10.7.4 segment checks in order: sequence acceptability (unacceptable → ACK),
 *   RST (exact RCV.NXT resets, otherwise a challenge ACK, RFC 5961 §3), SYN in a synchronized
 *   state (challenge ACK, RFC 5961 §4), ACK acceptability (RFC 5961 §5), window update, data, FIN.
 * - In-order data only: a segment starting after RCV.NXT is dropped with a duplicate ACK (the
 *   peer retransmits it); overlapping retransmissions are trimmed. The request stream goes
 *   through the RFC 1035 §4.2.2 / RFC 7766 §8 2-byte framing; each whole message is a query.
 * - Replies are framed, cut to the send MSS (the peer's MSS option, else 536 for IPv4 / 1220 for
 *   IPv6, never above 1240 / 1220) and never sent beyond the peer's advertised window; a zero
 *   window is probed with one byte on the retransmission timer.
 * - Retransmission (RFC 6298 without RTT measurement): RTO 1 s, doubled on each expiry,
 *   everything unacknowledged (SYN-ACK, data, FIN) is sent again; after 5 retransmissions
 *   without progress the connection is aborted with a RST. An ACK of new data resets the RTO.
 * - Closing: after the peer's FIN we send our FIN once every query received has been answered
 *   (`sendReply`); `close` and the idle timeout (30 s without a segment or a reply while nothing
 *   is outstanding, RFC 7766 §6.2.3) close from our side. Data arriving after our FIN aborts
 *   the connection with a RST, as a fully closed socket would.
 * - Resets (RFC 9293 §3.5.2): anything for an unknown connection other than a SYN or a RST gets
 *   a RST (<SEQ=SEG.ACK> if it has an ACK, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>); so
 *   does a SYN beyond 10 connections per sentinel address (Firezone's limit), a connection whose
 *   unread request bytes exceed 64 KiB, or whose unacknowledged replies exceed 256 KiB.
 *
 * Not implemented, on purpose: congestion control, slow start, fast retransmit/recovery, delayed
 * ACKs, Nagle, SACK, timestamps, window scaling (we send none of these options in the SYN-ACK,
 * so RFC 7323 / RFC 2018 keep them off for both directions and the peer's window is read
 * unscaled), ECN, urgent data (ignored), data on a SYN (TFO; the peer sends it again),
 * out-of-order reassembly, TIME-WAIT, keep-alive, PMTU discovery, simultaneous and active open. This is enough for DNS: the TUN is a loopback
 * without loss or reordering in practice, queries and replies are a few hundred bytes (at most
 * 64 KiB), a connection carries a handful of request/response exchanges, and a peer that sees
 * a RST or a FIN simply retries the query on a new connection (RFC 7766 §6.2.3, §6.2.4). The
 * retransmission timer exists only so a packet dropped by the OS does not hang a lookup.
 *
 * ```ts
 * tcp.handlePacket(packet, now);                        // parsed, to <sentinel>:53
 * for (let q; (q = tcp.pollQuery()); ) resolve(q.connection, q.message);
 * tcp.sendReply(connection, replyBytes, now);            // unframed; false if the connection is gone
 * for (let p; (p = tcp.pollPacket()); ) tun.write(p);
 * tcp.handleTimeout(now);                                // at tcp.pollTimeout()
 * ```
 *
 * Incoming checksums are not verified unless `verifyChecksums` is set: the packets come from
 * the local stack (as `parseIpPacket` assumes by default). Outgoing packets always carry correct
 * IPv4 header and TCP checksums.
 */
import {
  TCP_ACK,
  TCP_FIN,
  TCP_MIN_HEADER_LENGTH,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  IPV4_MIN_HEADER_LENGTH,
  IPV6_HEADER_LENGTH,
  MAX_IP_SIZE,
} from '../packet/constants.js';
import { buildTcpPacket } from '../packet/build.js';
import { verifyTransportChecksum } from '../packet/checksum.js';
import { isPacketError } from '../packet/errors.js';
import type { IpPacket } from '../packet/parse.js';
import { tcpMssOption, type TcpHeader } from '../packet/tcp.js';
import { frameTcpMessage, TcpDnsDeframer } from './tcp-framing.js';
import { pooledRandom } from './random.js';

/** Names one connection; opaque, never reused by a server. */
export type ConnId = number;
/** The same, under the name the client's DNS glue uses. */
export type DnsTcpConnection = ConnId;

/** Concurrent connections per sentinel address (Firezone's number). */
export const TCP_DNS_MAX_CONNECTIONS_PER_ADDRESS = 10;
/** Idle connections are closed after this long (RFC 7766 §6.2.3). */
export const TCP_DNS_IDLE_TIMEOUT_MS = 30_000;
/** First retransmission timeout (RFC 6298 §2.1). */
export const TCP_DNS_INITIAL_RTO_MS = 1_000;
/** Retransmissions without progress before the connection is aborted. */
export const TCP_DNS_MAX_RETRANSMITS = 5;
/** Request bytes a connection may hold unread (partial message plus unpolled queries). */
export const TCP_DNS_MAX_REQUEST_BYTES = 64 * 1024;
/** Reply bytes a connection may hold unacknowledged. */
export const TCP_DNS_MAX_REPLY_BYTES = 256 * 1024;

/** RFC 9293 §3.7.1 default send MSS for IPv4 (576 − 40) and RFC 8200 §5 minimum for IPv6 (1280 − 60). */
const DEFAULT_MSS_V4 = 536;
const DEFAULT_MSS_V6 = 1220;
/** Largest MSS that fits a 1280-byte IP packet with no options. */
const MAX_MSS_V4 = MAX_IP_SIZE - IPV4_MIN_HEADER_LENGTH - TCP_MIN_HEADER_LENGTH;
const MAX_MSS_V6 = MAX_IP_SIZE - IPV6_HEADER_LENGTH - TCP_MIN_HEADER_LENGTH;
/** Floor for a peer's MSS option, so a tiny value cannot make us send a packet per byte (Linux uses 48). */
const MIN_MSS = 64;
/** Ceiling of the doubled RTO (RFC 6298 §2.5 allows 60 s). */
const MAX_RTO_MS = 60_000;

const EMPTY: Uint8Array = new Uint8Array(0);

export interface DnsTcpServerOptions {
  /** ISN source, uniform in [0, 1); defaults to the platform's CSPRNG. */
  readonly random?: () => number;
  readonly maxConnectionsPerAddress?: number;
  readonly idleTimeoutMs?: number;
  readonly initialRtoMs?: number;
  readonly maxRetransmits?: number;
  readonly maxRequestBytes?: number;
  readonly maxReplyBytes?: number;
  /** Drop segments whose TCP checksum is wrong (default false: they come from the local stack). */
  readonly verifyChecksums?: boolean;
}

export interface DnsTcpQuery {
  readonly connection: ConnId;
  /** One DNS message, without its length prefix. */
  readonly message: Uint8Array;
}

export interface DnsTcpServerStats {
  /** SYNs that opened a connection (retransmitted SYNs not counted). */
  connectionsAccepted: number;
  /** SYNs answered with a RST because the address already had its maximum of connections. */
  connectionsRefused: number;
  /** Connections that ended with both FINs exchanged and acknowledged (or timed out in FIN-WAIT-2). */
  connectionsClosed: number;
  /** Connections ended by the peer's RST. */
  connectionsReset: number;
  /** Connections we ended with a RST: retransmissions exhausted, buffer bounds, data after our FIN. */
  connectionsAborted: number;
  /** Idle timeouts (each starts a close from our side). */
  idleTimeouts: number;
  /** DNS messages received. */
  queries: number;
  /** Replies accepted by `sendReply`. */
  replies: number;
  /** Segments sent again by the retransmission timer (zero-window probes included). */
  retransmits: number;
  /** RST segments sent, for known and unknown connections. */
  resetsSent: number;
  /** RST segments received that ended a connection or were ignored. */
  resetsReceived: number;
  /** Packets dropped unseen: not TCP, a fragment, a zero port, a bad checksum. */
  dropped: number;
}

type State =
  'syn-received' | 'established' | 'close-wait' | 'last-ack' | 'fin-wait-1' | 'fin-wait-2' | 'closing';

interface Connection {
  readonly id: ConnId;
  readonly key: string;
  readonly localKey: string;
  /** Copies of the addresses: the sentinel (ours) and the client's. */
  readonly local: Uint8Array;
  readonly remote: Uint8Array;
  readonly localPort: number;
  readonly remotePort: number;
  /** Largest payload we put in one segment. */
  readonly mss: number;
  readonly irs: number;
  readonly iss: number;
  state: State;
  sndUna: number;
  sndNxt: number;
  sndWnd: number;
  sndWl1: number;
  sndWl2: number;
  maxSndWnd: number;
  rcvNxt: number;
  /** Reply bytes not yet acknowledged, starting at sequence number `sendStart`: in flight, then unsent. */
  sendBuf: Uint8Array;
  sendStart: number;
  /** Our FIN is due once the send buffer is out. */
  finQueued: boolean;
  /** Our FIN has been sent; it is sequence number sndNxt − 1. */
  finSent: boolean;
  /** A segment must go out (an ACK at least); `flush` sends it. */
  ackNeeded: boolean;
  readonly deframer: TcpDnsDeframer;
  /** Bytes of this connection's queries still in the query queue. */
  unpolledBytes: number;
  /** Queries handed out and not answered yet. */
  pendingQueries: number;
  rto: number;
  retries: number;
  /** Retransmission timer; undefined when nothing is outstanding. */
  rtoAt: number | undefined;
  lastActivity: number;
}

/** Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4). */
const seqAdd = (a: number, n: number): number => (a + n) >>> 0;
/** a − b as a signed 32-bit distance. */
const seqDiff = (a: number, b: number): number => (a - b) | 0;
const seqLt = (a: number, b: number): boolean => seqDiff(a, b) < 0;
const seqLe = (a: number, b: number): boolean => seqDiff(a, b) <= 0;

export class DnsTcpServer {
  readonly stats: DnsTcpServerStats = {
    connectionsAccepted: 0,
    connectionsRefused: 0,
    connectionsClosed: 0,
    connectionsReset: 0,
    connectionsAborted: 0,
    idleTimeouts: 0,
    queries: 0,
    replies: 0,
    retransmits: 0,
    resetsSent: 0,
    resetsReceived: 0,
    dropped: 0,
  };

  readonly #random: () => number;
  readonly #maxPerAddress: number;
  readonly #idleTimeoutMs: number;
  readonly #initialRto: number;
  readonly #maxRetransmits: number;
  readonly #maxRequestBytes: number;
  readonly #maxReplyBytes: number;
  readonly #verifyChecksums: boolean;
  /** The window we advertise: constant, since every byte received is consumed at once. */
  readonly #window: number;

  readonly #byKey = new Map<string, Connection>();
  readonly #byId = new Map<ConnId, Connection>();
  readonly #perAddress = new Map<string, number>();
  readonly #dirty = new Set<Connection>();
  #output: Uint8Array[] = [];
  #outputHead = 0;
  #queries: DnsTcpQuery[] = [];
  #queriesHead = 0;
  #nextId: ConnId = 1;
  /** The latest `now` passed in, for timers armed while flushing from a poll. */
  #now = 0;

  constructor(options: DnsTcpServerOptions = {}) {
    this.#random = options.random ?? pooledRandom(64);
    this.#maxPerAddress = options.maxConnectionsPerAddress ?? TCP_DNS_MAX_CONNECTIONS_PER_ADDRESS;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? TCP_DNS_IDLE_TIMEOUT_MS;
    this.#initialRto = options.initialRtoMs ?? TCP_DNS_INITIAL_RTO_MS;
    this.#maxRetransmits = options.maxRetransmits ?? TCP_DNS_MAX_RETRANSMITS;
    this.#maxRequestBytes = options.maxRequestBytes ?? TCP_DNS_MAX_REQUEST_BYTES;
    this.#maxReplyBytes = options.maxReplyBytes ?? TCP_DNS_MAX_REPLY_BYTES;
    this.#verifyChecksums = options.verifyChecksums ?? false;
    this.#window = Math.max(1, Math.min(0xffff, this.#maxRequestBytes));
  }

  /** Open connections, half-open and closing ones included. */
  get connectionCount(): number {
    return this.#byId.size;
  }

  /** A TCP segment from the TUN addressed to a sentinel's port 53. */
  handlePacket(packet: IpPacket, now: number): void {
    this.#now = now;
    const tcp = packet.transport;
    if (
      tcp === null ||
      tcp.kind !== 'tcp' ||
      packet.fragment !== null ||
      tcp.srcPort === 0 ||
      tcp.dstPort === 0 ||
      (this.#verifyChecksums && !verifyTransportChecksum(packet.buffer, packet))
    ) {
      this.stats.dropped++;
      return;
    }
    const key = connectionKey(packet.src, tcp.srcPort, packet.dst, tcp.dstPort);
    const conn = this.#byKey.get(key);
    if (conn === undefined) {
      this.#listen(packet, tcp, key, now);
    } else {
      this.#segmentArrives(conn, packet, tcp, key, now);
    }
  }

  /** The next IP packet to write into the TUN. */
  pollPacket(): Uint8Array | undefined {
    this.#flushAll();
    if (this.#outputHead >= this.#output.length) return undefined;
    const packet = this.#output[this.#outputHead++]!;
    if (this.#outputHead === this.#output.length) {
      this.#output = [];
      this.#outputHead = 0;
    }
    return packet;
  }

  /** The next DNS message received, with its connection (for `sendReply`). */
  pollQuery(): DnsTcpQuery | undefined {
    while (this.#queriesHead < this.#queries.length) {
      const query = this.#queries[this.#queriesHead++]!;
      if (this.#queriesHead === this.#queries.length) {
        this.#queries = [];
        this.#queriesHead = 0;
      }
      const conn = this.#byId.get(query.connection);
      if (conn === undefined) continue;
      conn.unpolledBytes -= query.message.length;
      return query;
    }
    return undefined;
  }

  /**
   * Frames `message` and queues it on `connection`; false when the connection is gone or has
   * already closed its sending side. RangeError for a message over 65535 bytes.
   */
  sendReply(connection: ConnId, message: Uint8Array, now: number): boolean {
    this.#now = now;
    const conn = this.#byId.get(connection);
    if (conn === undefined || !canSend(conn)) return false;
    const frame = frameTcpMessage(message);
    if (conn.sendBuf.length + frame.length > this.#maxReplyBytes) {
      this.#abort(conn);
      return false;
    }
    conn.sendBuf = concat(conn.sendBuf, frame);
    conn.lastActivity = now;
    if (conn.pendingQueries > 0) conn.pendingQueries--;
    if (conn.state === 'close-wait' && conn.pendingQueries === 0) conn.finQueued = true;
    this.stats.replies++;
    this.#dirty.add(conn);
    return true;
  }

  /** Closes our side after the replies already queued; false when the connection is gone or closing. */
  close(connection: ConnId, now: number): boolean {
    this.#now = now;
    const conn = this.#byId.get(connection);
    if (conn === undefined || !canSend(conn)) return false;
    conn.finQueued = true;
    this.#dirty.add(conn);
    return true;
  }

  /** When `handleTimeout` is next due (absolute ms), or undefined without connections. */
  pollTimeout(): number | undefined {
    this.#flushAll();
    let earliest: number | undefined;
    for (const conn of this.#byId.values()) {
      const at = conn.rtoAt ?? conn.lastActivity + this.#idleTimeoutMs;
      if (earliest === undefined || at < earliest) earliest = at;
    }
    return earliest;
  }

  handleTimeout(now: number): void {
    this.#now = now;
    this.#flushAll();
    for (const conn of [...this.#byId.values()]) {
      if (conn.rtoAt !== undefined) {
        if (conn.rtoAt <= now) this.#retransmit(conn, now);
      } else if (conn.lastActivity + this.#idleTimeoutMs <= now) {
        this.#idle(conn, now);
      }
    }
    this.#flushAll();
  }

  // --- Arrival --------------------------------------------------------------------------------

  /** No connection: LISTEN for SYNs, reset anything else (RFC 9293 §3.5.2 case 1). */
  #listen(packet: IpPacket, tcp: TcpHeader, key: string, now: number): void {
    const flags = tcp.flags;
    if (flags & TCP_RST) {
      this.stats.resetsReceived++;
      return;
    }
    if (flags & TCP_ACK) {
      this.#resetReply(packet, tcp, tcp.acknowledgmentNumber, undefined);
      return;
    }
    if (!(flags & TCP_SYN)) {
      this.#resetReply(packet, tcp, 0, seqAdd(tcp.sequenceNumber, segmentLength(tcp)));
      return;
    }
    const localKey = addressKey(packet.dst);
    const count = this.#perAddress.get(localKey) ?? 0;
    if (count >= this.#maxPerAddress) {
      this.stats.connectionsRefused++;
      this.#resetReply(packet, tcp, 0, seqAdd(tcp.sequenceNumber, segmentLength(tcp)));
      return;
    }
    this.#perAddress.set(localKey, count + 1);
    const v4 = packet.version === 4;
    const peerMss = mssOption(tcp.options);
    const mss = Math.max(
      MIN_MSS,
      Math.min(peerMss ?? (v4 ? DEFAULT_MSS_V4 : DEFAULT_MSS_V6), v4 ? MAX_MSS_V4 : MAX_MSS_V6),
    );
    const iss = Math.floor(this.#random() * 0x1_0000_0000) >>> 0;
    const irs = tcp.sequenceNumber;
    // Data and FIN on the SYN are not taken (no TFO): RCV.NXT covers the SYN only, so the peer
    // sends them again after the handshake.
    const conn: Connection = {
      id: this.#nextId++,
      key,
      localKey,
      local: packet.dst.slice(),
      remote: packet.src.slice(),
      localPort: tcp.dstPort,
      remotePort: tcp.srcPort,
      mss,
      irs,
      iss,
      state: 'syn-received',
      sndUna: iss,
      sndNxt: seqAdd(iss, 1),
      sndWnd: tcp.window,
      sndWl1: irs,
      sndWl2: iss,
      maxSndWnd: tcp.window,
      rcvNxt: seqAdd(irs, 1),
      sendBuf: EMPTY,
      sendStart: seqAdd(iss, 1),
      finQueued: false,
      finSent: false,
      ackNeeded: false,
      deframer: new TcpDnsDeframer(),
      unpolledBytes: 0,
      pendingQueries: 0,
      rto: this.#initialRto,
      retries: 0,
      rtoAt: now + this.#initialRto,
      lastActivity: now,
    };
    this.#byKey.set(key, conn);
    this.#byId.set(conn.id, conn);
    this.stats.connectionsAccepted++;
    this.#sendSynAck(conn);
  }

  /** RFC 9293 §3.10.7.4 for a known connection. */
  #segmentArrives(conn: Connection, packet: IpPacket, tcp: TcpHeader, key: string, now: number): void {
    const flags = tcp.flags;
    const seq = tcp.sequenceNumber;
    const ack = tcp.acknowledgmentNumber;

    if (conn.state === 'syn-received' && flags & TCP_SYN && !(flags & (TCP_ACK | TCP_RST))) {
      if (seq === conn.irs) {
        // Our SYN-ACK was lost (or is late): send it again.
        conn.ackNeeded = true;
        this.#dirty.add(conn);
        return;
      }
      // A new attempt on the same ports: forget the half-open one (RFC 9293: back to LISTEN).
      this.#remove(conn);
      this.#listen(packet, tcp, key, now);
      return;
    }

    // 1. Sequence number acceptability, against our constant receive window.
    const dataLength = tcp.payloadLength;
    const segLen = segmentLength(tcp);
    const windowEnd = seqAdd(conn.rcvNxt, this.#window);
    const inWindow = (s: number): boolean => seqLe(conn.rcvNxt, s) && seqLt(s, windowEnd);
    const acceptable = segLen === 0 ? inWindow(seq) : inWindow(seq) || inWindow(seqAdd(seq, segLen - 1));
    if (!acceptable) {
      if (!(flags & TCP_RST)) this.#needAck(conn);
      return;
    }

    // 2. RST: only the exact next sequence number resets; others get a challenge ACK (RFC 5961 §3.2).
    if (flags & TCP_RST) {
      this.stats.resetsReceived++;
      if (seq === conn.rcvNxt) {
        this.stats.connectionsReset++;
        this.#remove(conn);
      } else {
        this.#needAck(conn);
      }
      return;
    }

    // 4. SYN in a synchronized state: challenge ACK (RFC 5961 §4.2).
    if (flags & TCP_SYN) {
      this.#needAck(conn);
      return;
    }

    // 5. ACK.
    if (!(flags & TCP_ACK)) return;
    if (conn.state === 'syn-received') {
      if (!(seqLt(conn.sndUna, ack) && seqLe(ack, conn.sndNxt))) {
        this.#resetReply(packet, tcp, ack, undefined);
        return;
      }
      conn.state = 'established';
      conn.sndWnd = tcp.window;
      conn.maxSndWnd = Math.max(conn.maxSndWnd, tcp.window);
      conn.sndWl1 = seq;
      conn.sndWl2 = ack;
    }
    if (seqLt(conn.sndNxt, ack)) {
      // Acknowledges something not yet sent.
      this.#needAck(conn);
      return;
    }
    if (seqDiff(conn.sndUna, ack) > conn.maxSndWnd) {
      // Older than anything we could have sent: challenge ACK (RFC 5961 §5.2).
      this.#needAck(conn);
      return;
    }
    conn.lastActivity = now;
    if (seqLt(conn.sndUna, ack)) {
      const dataAcked = Math.max(0, Math.min(seqDiff(ack, conn.sendStart), conn.sendBuf.length));
      if (dataAcked > 0) {
        conn.sendBuf = dataAcked === conn.sendBuf.length ? EMPTY : conn.sendBuf.subarray(dataAcked);
        conn.sendStart = seqAdd(conn.sendStart, dataAcked);
      }
      conn.sndUna = ack;
      conn.retries = 0;
      conn.rto = this.#initialRto;
      conn.rtoAt = seqDiff(conn.sndNxt, conn.sndUna) > 0 ? now + conn.rto : undefined;
      if (conn.finSent && ack === conn.sndNxt) {
        // Our FIN is acknowledged.
        if (conn.state === 'fin-wait-1') {
          conn.state = 'fin-wait-2';
        } else if (conn.state === 'closing' || conn.state === 'last-ack') {
          this.stats.connectionsClosed++;
          this.#remove(conn);
          return;
        }
      }
    }
    if (seqLt(conn.sndWl1, seq) || (conn.sndWl1 === seq && seqLe(conn.sndWl2, ack))) {
      conn.sndWnd = tcp.window;
      conn.maxSndWnd = Math.max(conn.maxSndWnd, tcp.window);
      conn.sndWl1 = seq;
      conn.sndWl2 = ack;
    }
    if (unsentBytes(conn) > 0 || (conn.finQueued && !conn.finSent)) this.#dirty.add(conn);

    // 7. Data, in order only.
    const behind = seqDiff(conn.rcvNxt, seq);
    if (behind < 0) {
      // Out of order: drop it (data and FIN); the duplicate ACK tells the peer where we are.
      if (segLen > 0) this.#needAck(conn);
      return;
    }
    let data = tcp.payload;
    if (behind > 0) data = data.subarray(Math.min(behind, data.length));
    let fin = (flags & TCP_FIN) !== 0;
    if (data.length > this.#window) {
      data = data.subarray(0, this.#window);
      fin = false;
    }
    if (data.length > 0) {
      if (conn.state === 'established') {
        conn.rcvNxt = seqAdd(conn.rcvNxt, data.length);
        this.#needAck(conn);
        if (!this.#receive(conn, data)) return;
      } else if (conn.state === 'fin-wait-1' || conn.state === 'fin-wait-2') {
        // We have closed and cannot answer: tell the peer at once.
        this.#abort(conn);
        return;
      }
      // CLOSE-WAIT, CLOSING, LAST-ACK: the peer's FIN came first; nothing can follow it.
    } else if (dataLength > 0 || behind > 0) {
      this.#needAck(conn);
    }

    // 8. FIN, when everything before it has arrived.
    if (!fin || seqAdd(seq, dataLength) !== conn.rcvNxt) {
      if (fin && seqLt(seqAdd(seq, dataLength), conn.rcvNxt)) this.#needAck(conn);
      return;
    }
    conn.rcvNxt = seqAdd(conn.rcvNxt, 1);
    switch (conn.state) {
      case 'established':
        conn.state = 'close-wait';
        if (conn.pendingQueries === 0) conn.finQueued = true;
        this.#needAck(conn);
        break;
      case 'fin-wait-1':
        conn.state = 'closing';
        this.#needAck(conn);
        break;
      case 'fin-wait-2':
        // Both FINs done: acknowledge and forget (no TIME-WAIT).
        this.#emit(conn, TCP_ACK, conn.sndNxt);
        this.stats.connectionsClosed++;
        this.#remove(conn);
        break;
      default:
        break;
    }
  }

  /** Feeds in-order request bytes to the deframer; false when the connection was aborted. */
  #receive(conn: Connection, data: Uint8Array): boolean {
    for (const message of conn.deframer.push(data)) {
      this.#queries.push({ connection: conn.id, message });
      conn.unpolledBytes += message.length;
      conn.pendingQueries++;
      this.stats.queries++;
    }
    if (conn.deframer.buffered + conn.unpolledBytes > this.#maxRequestBytes) {
      this.#abort(conn);
      return false;
    }
    return true;
  }

  // --- Timers ---------------------------------------------------------------------------------

  #retransmit(conn: Connection, now: number): void {
    if (conn.retries >= this.#maxRetransmits) {
      this.#abort(conn);
      return;
    }
    conn.retries++;
    conn.rto = Math.min(conn.rto * 2, MAX_RTO_MS);
    conn.rtoAt = now + conn.rto;
    if (conn.state === 'syn-received') {
      this.stats.retransmits++;
      this.#sendSynAck(conn);
      return;
    }
    const inFlight = Math.min(seqDiff(conn.sndNxt, conn.sendStart), conn.sendBuf.length);
    if (inFlight === 0 && !conn.finSent) {
      // Nothing in flight but data waiting: the peer's window is closed, probe it with one byte.
      if (conn.sendBuf.length === 0) {
        conn.rtoAt = undefined;
        return;
      }
      this.stats.retransmits++;
      this.#emit(conn, TCP_ACK | TCP_PSH, conn.sndNxt, conn.sendBuf.subarray(0, 1));
      conn.sndNxt = seqAdd(conn.sndNxt, 1);
      return;
    }
    // Go back N: everything unacknowledged again, from SND.UNA, in MSS-sized segments.
    let offset = 0;
    do {
      const length = Math.min(conn.mss, inFlight - offset);
      const end = offset + length === inFlight;
      const fin = end && conn.finSent;
      this.stats.retransmits++;
      this.#emit(
        conn,
        TCP_ACK | (end && length > 0 ? TCP_PSH : 0) | (fin ? TCP_FIN : 0),
        seqAdd(conn.sendStart, offset),
        conn.sendBuf.subarray(offset, offset + length),
      );
      offset += length;
    } while (offset < inFlight);
    conn.ackNeeded = false;
  }

  #idle(conn: Connection, now: number): void {
    this.stats.idleTimeouts++;
    conn.lastActivity = now;
    switch (conn.state) {
      case 'established':
      case 'close-wait':
        // Close from our side; the FIN's retransmission timer takes over.
        conn.finQueued = true;
        this.#dirty.add(conn);
        break;
      case 'fin-wait-2':
        this.stats.connectionsClosed++;
        this.#remove(conn);
        break;
      default:
        // Something is always outstanding in the other states; be safe anyway.
        this.#abort(conn);
        break;
    }
  }

  // --- Output ---------------------------------------------------------------------------------

  #flushAll(): void {
    if (this.#dirty.size === 0) return;
    for (const conn of this.#dirty) this.#flush(conn);
    this.#dirty.clear();
  }

  /** Sends what the window allows, our FIN when due, or a bare ACK when one is owed. */
  #flush(conn: Connection): void {
    if (conn.state === 'syn-received') {
      if (conn.ackNeeded) this.#sendSynAck(conn);
      conn.ackNeeded = false;
      return;
    }
    let sent = false;
    if (!conn.finSent) {
      let offset = seqDiff(conn.sndNxt, conn.sendStart);
      const windowEnd = seqAdd(conn.sndUna, conn.sndWnd);
      while (offset < conn.sendBuf.length) {
        const usable = seqDiff(windowEnd, conn.sndNxt);
        if (usable <= 0) break;
        const length = Math.min(conn.mss, conn.sendBuf.length - offset, usable);
        const last = offset + length === conn.sendBuf.length;
        const fin = last && conn.finQueued;
        this.#emit(
          conn,
          TCP_ACK | (last ? TCP_PSH : 0) | (fin ? TCP_FIN : 0),
          conn.sndNxt,
          conn.sendBuf.subarray(offset, offset + length),
        );
        conn.sndNxt = seqAdd(conn.sndNxt, length + (fin ? 1 : 0));
        offset += length;
        sent = true;
        if (fin) this.#finSent(conn);
      }
      if (!conn.finSent && conn.finQueued && offset === conn.sendBuf.length) {
        this.#emit(conn, TCP_ACK | TCP_FIN, conn.sndNxt);
        conn.sndNxt = seqAdd(conn.sndNxt, 1);
        sent = true;
        this.#finSent(conn);
      }
      // Sent something, or data is held back by a closed window (the timer then probes it).
      if (conn.rtoAt === undefined && (sent || offset < conn.sendBuf.length)) {
        conn.rtoAt = this.#now + conn.rto;
      }
    }
    if (!sent && conn.ackNeeded) this.#emit(conn, TCP_ACK, conn.sndNxt);
    conn.ackNeeded = false;
  }

  #finSent(conn: Connection): void {
    conn.finSent = true;
    conn.state = conn.state === 'close-wait' ? 'last-ack' : 'fin-wait-1';
  }

  #sendSynAck(conn: Connection): void {
    const mss = conn.local.length === 4 ? MAX_MSS_V4 : MAX_MSS_V6;
    this.#emit(conn, TCP_SYN | TCP_ACK, conn.iss, EMPTY, tcpMssOption(mss));
  }

  #needAck(conn: Connection): void {
    conn.ackNeeded = true;
    this.#dirty.add(conn);
  }

  #emit(
    conn: Connection,
    flags: number,
    seq: number,
    payload: Uint8Array = EMPTY,
    options: Uint8Array = EMPTY,
  ): void {
    const packet = buildTcpPacket({
      src: conn.local,
      dst: conn.remote,
      srcPort: conn.localPort,
      dstPort: conn.remotePort,
      flags,
      sequenceNumber: seq,
      acknowledgmentNumber: flags & TCP_ACK ? conn.rcvNxt : 0,
      window: flags & TCP_RST ? 0 : this.#window,
      options,
      payload,
    });
    if (!isPacketError(packet)) this.#output.push(packet);
  }

  /** A RST in answer to `tcp` (RFC 9293 §3.5.2): <SEQ=seq>, plus <ACK=ack> with the ACK bit if given. */
  #resetReply(packet: IpPacket, tcp: TcpHeader, seq: number, ack: number | undefined): void {
    const reply = buildTcpPacket({
      src: packet.dst,
      dst: packet.src,
      srcPort: tcp.dstPort,
      dstPort: tcp.srcPort,
      flags: ack === undefined ? TCP_RST : TCP_RST | TCP_ACK,
      sequenceNumber: seq,
      acknowledgmentNumber: ack ?? 0,
      window: 0,
    });
    if (isPacketError(reply)) return;
    this.#output.push(reply);
    this.stats.resetsSent++;
  }

  /** Ends the connection with a RST at SND.NXT. */
  #abort(conn: Connection): void {
    this.#emit(conn, TCP_RST | TCP_ACK, conn.sndNxt);
    this.stats.resetsSent++;
    this.stats.connectionsAborted++;
    this.#remove(conn);
  }

  #remove(conn: Connection): void {
    if (this.#byId.get(conn.id) !== conn) return;
    this.#byId.delete(conn.id);
    this.#byKey.delete(conn.key);
    this.#dirty.delete(conn);
    const count = (this.#perAddress.get(conn.localKey) ?? 1) - 1;
    if (count <= 0) this.#perAddress.delete(conn.localKey);
    else this.#perAddress.set(conn.localKey, count);
  }
}

function canSend(conn: Connection): boolean {
  return (conn.state === 'established' || conn.state === 'close-wait') && !conn.finQueued;
}

function unsentBytes(conn: Connection): number {
  return conn.finSent ? 0 : conn.sendBuf.length - seqDiff(conn.sndNxt, conn.sendStart);
}

/** SEG.LEN: data plus one for each of SYN and FIN. */
function segmentLength(tcp: TcpHeader): number {
  const flags = tcp.flags;
  return tcp.payloadLength + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
}

/** The MSS option's value (RFC 9293 §3.2), or undefined; malformed options end the scan. */
function mssOption(options: Uint8Array): number | undefined {
  let at = 0;
  while (at < options.length) {
    const kind = options[at]!;
    if (kind === 0) break;
    if (kind === 1) {
      at++;
      continue;
    }
    if (at + 1 >= options.length) break;
    const length = options[at + 1]!;
    if (length < 2 || at + length > options.length) break;
    if (kind === 2 && length === 4) return (options[at + 2]! << 8) | options[at + 3]!;
    at += length;
  }
  return undefined;
}

function addressKey(address: Uint8Array): string {
  return String.fromCharCode(...address);
}

function connectionKey(remote: Uint8Array, remotePort: number, local: Uint8Array, localPort: number): string {
  return `${addressKey(remote)}:${remotePort}|${addressKey(local)}:${localPort}`;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
