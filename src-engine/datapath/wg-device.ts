import {
  ADDR_SIZE,
  createBatch,
  createDatagramBatch,
  type DatagramBatch,
  type PacketBatch,
} from '../tun/batch.js';
import { isPlausibleIpPacket, type TunDevice } from '../tun/device.js';
import type { CryptoBackend } from '../wireguard/crypto/backend.js';
import type { ParallelAead } from '../wireguard/crypto/parallel-aead.js';
import { readU32 } from '../wireguard/counter.js';
import type { Endpoint } from '../wireguard/endpoint.js';
import { HandshakeGuard } from '../wireguard/guard.js';
import { IndexTable } from '../wireguard/indices.js';
import type { Keypair } from '../wireguard/keypair.js';
import { classify, Initiation } from '../wireguard/messages.js';
import { openInitiation, responderHash } from '../wireguard/noise.js';
import type { Transmit, TunnEvent, TunnResult } from '../wireguard/result.js';
import { Tunn, type TunnStats } from '../wireguard/tunn.js';
import { AllowedIps, type Cidr } from './allowed-ips.js';
import { EndpointCache } from './address-record.js';
import type { UdpTransport } from './udp.js';

export interface DevicePeerConfig {
  readonly publicKey: Uint8Array;
  readonly presharedKey?: Uint8Array;
  readonly endpoint?: Endpoint;
  readonly allowedIps: readonly Cidr[];
  readonly persistentKeepalive?: number;
}

export interface WireGuardDeviceConfig {
  readonly crypto: CryptoBackend;
  readonly privateKey: Uint8Array;
  readonly peers: readonly DevicePeerConfig[];
  readonly mtu?: number;
  /** Pad plaintext as the paper specifies (default true). */
  readonly padding?: boolean;
  /** Packets per batch in each direction (default 64): bounds the time one source holds the loop. */
  readonly batchSize?: number;
  readonly clock?: () => number;
  /**
   * Seal and open each batch's packets on this thread and a crypto worker at once (the caller
   * starts and closes it; `parallelAeadLanes` says when it pays). Packets work in place when the
   * TUN's and the socket's batches are shared memory too (their `sharedMemory` option); others
   * are sealed and opened at once as without it.
   */
  readonly parallelAead?: ParallelAead;
}

export interface DeviceStats {
  /** TUN packets with no peer for their destination (dropped). */
  noRoute: number;
  /** Decrypted packets whose source is not in the sending peer's allowed IPs (dropped). */
  sourceNotAllowed: number;
  /** Datagrams for no known peer or index (dropped). */
  unknownPeer: number;
  /** Datagrams dropped because the socket stayed full. */
  sendDropped: number;
  tunWriteDropped: number;
  /** TUN reads that are no whole IP packet within the MTU (dropped before routing). */
  tunInvalidDropped: number;
}

interface Peer {
  readonly tunn: Tunn;
  readonly allowed: readonly Cidr[];
}

const SLOT_SIZE = 2048;
/**
 * A batch is flushed early once it has taken this long to build, so the kernel and the other
 * end (on the other core) work on the first packets while we seal the rest. With
 * sodium-native a whole batch of 64 takes less; with @noble (≈ 22 µs per packet) this keeps the
 * first packet from waiting 1.5 ms, which held TCP back more than the crypto did.
 */
const FLUSH_AFTER_MS = 0.25;

/** A transport message whose opening is queued on the parallel AEAD, waiting for its result. */
interface PendingOpen {
  peer: Peer | undefined;
  kp: Keypair | undefined;
  datagram: Uint8Array;
  /** The TUN slot it opens into. */
  out: Uint8Array;
  from: Endpoint | undefined;
  job: number;
}

/**
 * A WireGuard interface: one TUN, one UDP socket, many peers (wireguard-go's Device). The hot
 * path works on packed batches end to end — a TUN batch becomes one sendmmsg, a recvmmsg batch
 * becomes one batched TUN write — with preallocated slabs, no promises and no logging per
 * packet. Each callback handles at most `batchSize` packets, then returns to the event loop, so
 * TUN reads cannot starve UDP receives (docs/performance.md §A2) or the other way round.
 */
export class WireGuardDevice {
  readonly stats: DeviceStats = {
    noRoute: 0,
    sourceNotAllowed: 0,
    unknownPeer: 0,
    sendDropped: 0,
    tunWriteDropped: 0,
    tunInvalidDropped: 0,
  };
  private readonly c: CryptoBackend;
  private readonly staticKeys: { privateKey: Uint8Array; publicKey: Uint8Array };
  private readonly localResponderHash: Uint8Array;
  private readonly guard: HandshakeGuard;
  private readonly indices = new IndexTable<Peer>();
  private readonly routes = new AllowedIps<Peer>();
  private readonly peersByKey = new Map<string, Peer>();
  private readonly endpoints = new EndpointCache();
  private readonly clock: () => number;
  private readonly mtu: number;
  private readonly aead: ParallelAead | undefined;
  /** Opens queued in this batch, in order; their TUN slots follow `tunOutCount` one to one. */
  private readonly pendingOpens: PendingOpen[];
  private pendingOpenCount = 0;

  // Outgoing datagrams and incoming packets, preallocated once.
  private readonly udpOut: DatagramBatch;
  private readonly tunOut: PacketBatch;
  private udpOutCount = 0;
  private tunOutCount = 0;
  private waitingForSocket = false;

  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private running = false;
  private readonly eventListeners: ((peer: Uint8Array, e: TunnEvent) => void)[] = [];

  constructor(
    config: WireGuardDeviceConfig,
    private readonly tun: TunDevice,
    private readonly udp: UdpTransport,
  ) {
    this.c = config.crypto;
    this.clock = config.clock ?? (() => performance.now());
    this.mtu = config.mtu ?? tun.mtu;
    this.staticKeys = {
      privateKey: Uint8Array.from(config.privateKey),
      publicKey: this.c.x25519PublicKey(config.privateKey),
    };
    this.localResponderHash = responderHash(this.c, this.staticKeys.publicKey);
    this.guard = new HandshakeGuard(this.c, this.staticKeys.publicKey);
    const batch = config.batchSize ?? 64;
    this.aead = config.parallelAead;
    const shared = this.aead !== undefined;
    // Room for the batch plus the handshake messages a batch can trigger.
    if (this.aead && this.aead.capacity < batch * 2)
      throw new RangeError(`parallelAead must take at least ${batch * 2} jobs (twice the batch size)`);
    this.udpOut = createDatagramBatch(batch * 2, SLOT_SIZE, 0, shared);
    this.tunOut = createBatch(batch, SLOT_SIZE, 0, shared);
    this.pendingOpens = Array.from({ length: shared ? batch : 0 }, () => ({
      peer: undefined,
      kp: undefined,
      datagram: EMPTY,
      out: EMPTY,
      from: undefined,
      job: 0,
    }));
    for (const p of config.peers) this.addPeer(p, config.padding ?? true);
  }

  get publicKey(): Uint8Array {
    return this.staticKeys.publicKey;
  }

  onEvent(listener: (peerPublicKey: Uint8Array, e: TunnEvent) => void): void {
    this.eventListeners.push(listener);
  }

  start(onError: (err: Error) => void): void {
    this.running = true;
    this.tun.start(
      (batch, count) => this.fromTun(batch, count),
      (err) => onError(new Error(`TUN ${this.tun.name}: ${err.message}`, { cause: err })),
    );
    this.udp.start(
      (batch, count) => this.fromNetwork(batch, count),
      (err) => onError(new Error(`UDP socket: ${err.message}`, { cause: err })),
    );
    this.afterWork();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.tun.close();
    this.udp.close();
  }

  peerStats(): { publicKey: Uint8Array; endpoint: Endpoint | undefined; stats: TunnStats }[] {
    return [...this.peersByKey.values()].map((p) => ({
      publicKey: p.tunn.peerPublic,
      endpoint: p.tunn.currentEndpoint,
      stats: p.tunn.stats,
    }));
  }

  /** Starts handshakes with every peer that has an endpoint (instead of waiting for traffic). */
  connectAll(): void {
    const now = this.clock();
    for (const p of this.peersByKey.values()) {
      if (p.tunn.currentEndpoint) this.collect(p, p.tunn.initiateHandshake(now));
    }
    this.afterWork();
  }

  private addPeer(config: DevicePeerConfig, padding: boolean): void {
    const peer: Peer = { tunn: undefined as unknown as Tunn, allowed: config.allowedIps };
    (peer as { tunn: Tunn }).tunn = new Tunn({
      crypto: this.c,
      staticPrivate: this.staticKeys.privateKey,
      peerPublic: config.publicKey,
      presharedKey: config.presharedKey,
      persistentKeepalive: config.persistentKeepalive,
      endpoint: config.endpoint,
      mtu: this.mtu,
      padding,
      guard: this.guard,
      indices: this.indices.allocatorFor(peer),
    });
    this.peersByKey.set(Buffer.from(config.publicKey).toString('hex'), peer);
    for (const cidr of config.allowedIps) this.routes.insert(cidr, peer);
  }

  // ---------------------------------------------------------------------------------------------
  // TUN → peers → UDP

  private fromTun(batch: PacketBatch, count: number): void {
    const now = this.clock();
    let flushedAt = now;
    const buf = batch.buffer;
    for (let i = 0; i < count; i++) {
      if ((i & 7) === 7 && this.clock() - flushedAt > FLUSH_AFTER_MS) {
        this.flushUdp();
        flushedAt = this.clock();
      }
      const offset = i * batch.slotSize + batch.headroom;
      const length = batch.lengths[i]!;
      if (!isPlausibleIpPacket(buf, offset, length, this.mtu)) {
        this.stats.tunInvalidDropped++;
        continue;
      }
      const v4 = buf[offset]! >> 4 === 4;
      const peer = this.routes.lookup(buf, offset + (v4 ? 16 : 24), v4 ? 4 : 16);
      if (!peer) {
        this.stats.noRoute++;
        continue;
      }
      if (this.udpOutCount === this.udpOut.capacity) this.flushUdp();
      const slotStart = this.udpOutCount * this.udpOut.slotSize;
      const out = this.udpOut.buffer.subarray(slotStart, slotStart + this.udpOut.slotSize);
      const r = peer.tunn.encapsulate(buf.subarray(offset, offset + length), out, now, this.aead);
      if (r.type === 'network') {
        if (r.packet.buffer === out.buffer && r.packet.byteOffset === out.byteOffset) {
          this.udpOut.lengths[this.udpOutCount] = r.packet.length;
          this.endpoints.toRecord(r.to, this.udpOut.addrs, this.udpOutCount * ADDR_SIZE);
          this.udpOutCount++;
        } else {
          this.queueDatagram(r.packet, r.to);
        }
      }
      this.drainPeer(peer);
    }
    this.afterWork();
  }

  // ---------------------------------------------------------------------------------------------
  // UDP → peers → TUN

  private fromNetwork(batch: DatagramBatch, count: number): void {
    const now = this.clock();
    let flushedAt = now;
    const buf = batch.buffer;
    for (let i = 0; i < count; i++) {
      if ((i & 7) === 7 && this.clock() - flushedAt > FLUSH_AFTER_MS) {
        this.flushTun();
        this.flushUdp();
        flushedAt = this.clock();
      }
      const offset = i * batch.slotSize + batch.headroom;
      const datagram = buf.subarray(offset, offset + batch.lengths[i]!);
      const from = this.endpoints.fromRecord(batch.addrs, i * ADDR_SIZE);
      const kind = classify(datagram);
      let peer: Peer | undefined;
      let r: TunnResult;
      if (kind === 'transport' || kind === 'response' || kind === 'cookie') {
        peer = this.indices.lookup(readU32(datagram, kind === 'response' ? 8 : 4));
        if (!peer) {
          this.stats.unknownPeer++;
          continue;
        }
        if (kind === 'transport' && this.aead) {
          this.queueOpen(peer, datagram, from, now);
          continue;
        }
        // Anything else is handled in order: the opens queued before it are finished first.
        this.finishOpens(now);
        if (this.tunOutCount === this.tunOut.capacity) this.flushTun();
        const slotStart = this.tunOutCount * this.tunOut.slotSize;
        r = peer.tunn.decapsulate(
          datagram,
          from,
          this.tunOut.buffer.subarray(slotStart, slotStart + this.tunOut.slotSize),
          now,
        );
      } else if (kind === 'initiation') {
        this.finishOpens(now);
        const verdict = this.guard.check(datagram, readU32(datagram, Initiation.senderIndex), from, now);
        if (verdict.action === 'cookie') {
          this.queueDatagram(verdict.reply, from);
          continue;
        }
        const opened =
          verdict.action === 'accept'
            ? openInitiation(this.c, this.staticKeys, this.localResponderHash, datagram)
            : undefined;
        peer = opened && this.peersByKey.get(Buffer.from(opened.initiatorStatic).toString('hex'));
        if (!opened || !peer) {
          this.stats.unknownPeer++;
          continue;
        }
        r = peer.tunn.receiveOpenedInitiation(opened, datagram, from, now);
      } else {
        this.stats.unknownPeer++;
        continue;
      }
      this.received(peer, r);
    }
    this.flushTun();
    this.afterWork();
  }

  /** What became of one datagram: a packet for the TUN (in the next TUN slot) or a reply. */
  private received(peer: Peer, r: TunnResult): void {
    if (r.type === 'tunnel') {
      if (this.sourceAllowed(peer, r.packet)) {
        this.tunOut.lengths[this.tunOutCount++] = r.packet.length;
      } else {
        this.stats.sourceNotAllowed++;
      }
    } else if (r.type === 'network') {
      this.queueDatagram(r.packet, r.to);
    }
    this.drainPeer(peer);
  }

  /** Checks a transport message and queues its opening into the TUN slot after the queued ones. */
  private queueOpen(peer: Peer, datagram: Uint8Array, from: Endpoint, now: number): void {
    if (this.tunOutCount + this.pendingOpenCount === this.tunOut.capacity) this.flushTun();
    const job = this.aead!.pending;
    const out = this.tunSlot(this.tunOutCount + this.pendingOpenCount);
    const kp = peer.tunn.queueTransport(datagram, out, now, this.aead!);
    if (kp === undefined) return; // dropped and counted by the peer
    const p = this.pendingOpens[this.pendingOpenCount++]!;
    p.peer = peer;
    p.kp = kp;
    p.datagram = datagram;
    p.out = out;
    p.from = from;
    p.job = job;
  }

  /**
   * Opens the queued messages (both threads at once) and finishes them in order. A packet lands
   * in its reserved slot; when an earlier one was dropped, it moves down so the TUN slots stay
   * contiguous.
   */
  private finishOpens(now: number): void {
    const n = this.pendingOpenCount;
    if (n === 0) return;
    this.aead!.run();
    // Cleared first: finishing can send (a flush of the socket) and must not see these again.
    this.pendingOpenCount = 0;
    const slotSize = this.tunOut.slotSize;
    const base = this.tunOutCount;
    for (let k = 0; k < n; k++) {
      const p = this.pendingOpens[k]!;
      const r = p.peer!.tunn.finishTransport(
        p.kp!,
        this.aead!.result(p.job),
        p.datagram,
        p.from!,
        p.out,
        now,
      );
      const slot = base + k;
      if (r.type === 'tunnel' && slot !== this.tunOutCount) {
        const from = slot * slotSize;
        this.tunOut.buffer.copyWithin(this.tunOutCount * slotSize, from, from + r.packet.length);
      }
      this.received(p.peer!, r);
      p.peer = p.kp = p.from = undefined;
      p.datagram = p.out = EMPTY;
    }
  }

  private tunSlot(i: number): Uint8Array {
    const start = i * this.tunOut.slotSize;
    return this.tunOut.buffer.subarray(start, start + this.tunOut.slotSize);
  }

  private sourceAllowed(peer: Peer, packet: Uint8Array): boolean {
    const v4 = packet[0]! >> 4 === 4;
    return this.routes.lookup(packet, v4 ? 12 : 8, v4 ? 4 : 16) === peer;
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  private collect(peer: Peer, r: TunnResult): void {
    if (r.type === 'network') this.queueDatagram(r.packet, r.to);
    this.drainPeer(peer);
  }

  private drainPeer(peer: Peer): void {
    for (let t: Transmit | undefined = peer.tunn.pollTransmit(); t; t = peer.tunn.pollTransmit()) {
      this.queueDatagram(t.packet, t.to);
    }
    for (let e = peer.tunn.pollEvent(); e; e = peer.tunn.pollEvent()) {
      for (const l of this.eventListeners) l(peer.tunn.peerPublic, e);
    }
  }

  /** Copies a datagram produced outside the batch slab (handshakes, flushed queues) into it. */
  private queueDatagram(packet: Uint8Array, to: Endpoint): void {
    if (this.udpOutCount === this.udpOut.capacity) this.flushUdp();
    if (this.udpOutCount === this.udpOut.capacity) {
      this.stats.sendDropped++;
      return;
    }
    this.udpOut.buffer.set(packet, this.udpOutCount * this.udpOut.slotSize);
    this.udpOut.lengths[this.udpOutCount] = packet.length;
    this.endpoints.toRecord(to, this.udpOut.addrs, this.udpOutCount * ADDR_SIZE);
    this.udpOutCount++;
  }

  private flushUdp(): void {
    // Sealing queued on the parallel AEAD is finished before anything is sent, and before the
    // TUN batch it reads from is handed back.
    this.aead?.run();
    if (this.udpOutCount === 0 || this.waitingForSocket) return;
    const sent = this.udp.send(this.udpOut, this.udpOutCount);
    if (sent < this.udpOutCount) {
      // The socket buffer is full: keep the rest, wait until the kernel drains it.
      this.udpOut.buffer.copyWithin(0, sent * this.udpOut.slotSize, this.udpOutCount * this.udpOut.slotSize);
      this.udpOut.lengths.copyWithin(0, sent, this.udpOutCount);
      this.udpOut.addrs.copyWithin(0, sent * ADDR_SIZE, this.udpOutCount * ADDR_SIZE);
      this.udpOutCount -= sent;
      this.waitingForSocket = true;
      this.udp.stats.sendBackpressure++;
      this.udp.onceWritable(() => {
        this.waitingForSocket = false;
        this.flushUdp();
      });
      return;
    }
    this.udpOutCount = 0;
  }

  private flushTun(): void {
    this.finishOpens(this.clock());
    if (this.tunOutCount === 0) return;
    const written = this.tun.write(this.tunOut, this.tunOutCount);
    // A TUN write only fails when the kernel queue is full; like a NIC, drop rather than block.
    this.stats.tunWriteDropped += this.tunOutCount - written;
    this.tunOutCount = 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Timers

  private afterWork(): void {
    this.flushUdp();
    if (this.running) this.schedule();
  }

  private schedule(): void {
    let at = Infinity;
    for (const p of this.peersByKey.values()) {
      const t = p.tunn.pollTimeout();
      if (t !== undefined && t < at) at = t;
    }
    if (at >= this.timerAt || at === Infinity) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, at - this.clock()));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock();
    for (const p of this.peersByKey.values()) {
      const t = p.tunn.pollTimeout();
      if (t !== undefined && t <= now) {
        p.tunn.handleTimeout(now);
        this.drainPeer(p);
      }
    }
    this.afterWork();
  }
}

const EMPTY = new Uint8Array(0);
