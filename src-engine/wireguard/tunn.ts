import type { CryptoBackend } from './crypto/backend.js';
import type { ParallelAead } from './crypto/parallel-aead.js';
import {
  DEFAULT_MTU,
  KEEPALIVE_TIMEOUT,
  MAX_STAGED_PACKETS,
  MESSAGE_TRANSPORT_DATA,
  NEW_HANDSHAKE_AFTER,
  PADDING_MULTIPLE,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  REKEY_ATTEMPT_TIME,
  REKEY_ON_RECEIVE_AFTER,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  TRANSPORT_HEADER_SIZE,
  TRANSPORT_OVERHEAD,
  ZERO_KEYS_AFTER,
} from './constants.js';
import { CookieGenerator } from './cookie.js';
import { readCounter, readU32, writeCounter, writeU32 } from './counter.js';
import { type Endpoint, sameEndpoint } from './endpoint.js';
import { HandshakeGuard } from './guard.js';
import { type IndexAllocator, RandomIndexAllocator } from './indices.js';
import { Keypair } from './keypair.js';
import { classify, Initiation, Response, Transport } from './messages.js';
import { Handshake, openInitiation, responderHash, type OpenedInitiation, type StaticKeys } from './noise.js';
import {
  DONE,
  DROP_REASONS,
  type DropReason,
  type Transmit,
  type TunnEvent,
  type TunnResult,
  wgError,
} from './result.js';
import { tai64n, tai64nAfter, tai64nSuccessor } from './tai64n.js';

export interface TunnConfig {
  readonly crypto: CryptoBackend;
  readonly staticPrivate: Uint8Array;
  readonly peerPublic: Uint8Array;
  readonly presharedKey?: Uint8Array;
  /** Seconds between keepalives when idle (0 or absent: off). */
  readonly persistentKeepalive?: number;
  /** Largest IP packet accepted from the tunnel side (default 1280). */
  readonly mtu?: number;
  /**
   * Pad plaintext to a multiple of 16 as the paper specifies (default). Firezone's peers send
   * unpadded (exactly 32 bytes overhead); receivers accept both.
   */
  readonly padding?: boolean;
  /** Shared with the other peers of the same static key; one is made when absent. */
  readonly guard?: HandshakeGuard;
  /** Session index allocator; a device with many peers shares one so indices stay unique. */
  readonly indices?: IndexAllocator;
  /** Wall clock in ms since the epoch, for TAI64N timestamps only (default Date.now). */
  readonly wallClock?: () => number;
  /** Uniform [0, 1) source for timer jitter (default Math.random). */
  readonly random?: () => number;
  /**
   * How long to keep retrying a handshake (default REKEY_ATTEMPT_TIME, 90 s). Firezone shortens
   * it to 20 s on ICE connections so a dead path fails fast.
   */
  readonly rekeyAttemptTime?: number;
  readonly endpoint?: Endpoint;
}

export interface TunnStats {
  /** Authenticated WireGuard bytes on the wire, as `wg show` counts them. */
  txBytes: number;
  rxBytes: number;
  /** IP packets sent into / received out of the tunnel (keepalives excluded). */
  txPackets: number;
  rxPackets: number;
  handshakesInitiated: number;
  handshakesCompleted: number;
  /** Monotonic time of the last completed handshake, or undefined. */
  lastHandshakeAt: number | undefined;
  readonly dropped: Record<DropReason, number>;
}

type Deadline = number | undefined;
const ZERO_NONCE_SIZE = 12;

/**
 * One WireGuard peer, sans-IO (boringtun's `Tunn`): it never touches a socket or a clock.
 * Feed it outgoing IP packets (`encapsulate`), incoming datagrams (`decapsulate`) and time
 * (`handleTimeout`); send what it returns and what `pollTransmit` yields; call `handleTimeout`
 * again at `pollTimeout()`. The timer logic follows the paper §6 through named events
 * ("data sent", "any authenticated packet received", …) as wireguard-go's timers.go does.
 */
export class Tunn {
  readonly stats: TunnStats;
  readonly peerPublic: Uint8Array;
  private readonly c: CryptoBackend;
  private readonly local: StaticKeys;
  private readonly localResponderHash: Uint8Array;
  private readonly handshake: Handshake;
  private readonly cookieGenerator: CookieGenerator;
  private readonly guard: HandshakeGuard;
  private readonly indices: IndexAllocator;
  private readonly wallClock: () => number;
  private readonly random: () => number;
  private readonly mtu: number;
  private readonly padding: boolean;
  private readonly persistentKeepaliveMs: number;
  private readonly maxHandshakeAttempts: number;

  private current: Keypair | undefined;
  private previous: Keypair | undefined;
  private next: Keypair | undefined;
  private endpoint: Endpoint | undefined;

  private readonly staged: Uint8Array[] = [];
  private readonly transmits: Transmit[] = [];
  private readonly events: TunnEvent[] = [];

  // Timers (paper §6.2–6.5): absolute deadlines in ms, undefined when not armed.
  private retransmitHandshakeAt: Deadline;
  private sendKeepaliveAt: Deadline;
  private newHandshakeAt: Deadline;
  private zeroKeyMaterialAt: Deadline;
  private persistentKeepaliveAt: Deadline;
  private handshakeAttempts = 0;
  private needAnotherKeepalive = false;
  private sentLastMinuteHandshake = false;
  private lastInitiationSentAt = -Infinity;
  private lastTimestampSent: Uint8Array = new Uint8Array(12);

  // Scratch buffers reused on the data path.
  private readonly nonce = new Uint8Array(ZERO_NONCE_SIZE);
  private readonly padScratch: Uint8Array;

  constructor(config: TunnConfig) {
    const c = config.crypto;
    this.c = c;
    this.local = {
      privateKey: Uint8Array.from(config.staticPrivate),
      publicKey: c.x25519PublicKey(config.staticPrivate),
    };
    this.peerPublic = Uint8Array.from(config.peerPublic);
    this.localResponderHash = responderHash(c, this.local.publicKey);
    this.handshake = new Handshake(c, this.local, this.peerPublic, config.presharedKey);
    if (!this.handshake.valid) throw new Error('wireguard: the peer public key is not a usable X25519 key');
    this.cookieGenerator = new CookieGenerator(c, this.peerPublic);
    this.guard = config.guard ?? new HandshakeGuard(c, this.local.publicKey);
    this.indices = config.indices ?? new RandomIndexAllocator();
    this.wallClock = config.wallClock ?? Date.now;
    this.random = config.random ?? Math.random;
    this.mtu = config.mtu ?? DEFAULT_MTU;
    this.padding = config.padding ?? true;
    this.persistentKeepaliveMs = (config.persistentKeepalive ?? 0) * 1000;
    this.maxHandshakeAttempts = Math.ceil((config.rekeyAttemptTime ?? REKEY_ATTEMPT_TIME) / REKEY_TIMEOUT);
    this.endpoint = config.endpoint;
    this.padScratch = new Uint8Array(this.mtu + PADDING_MULTIPLE);
    this.stats = {
      txBytes: 0,
      rxBytes: 0,
      txPackets: 0,
      rxPackets: 0,
      handshakesInitiated: 0,
      handshakesCompleted: 0,
      lastHandshakeAt: undefined,
      dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    };
  }

  get localPublic(): Uint8Array {
    return this.local.publicKey;
  }

  get currentEndpoint(): Endpoint | undefined {
    return this.endpoint;
  }

  setEndpoint(endpoint: Endpoint | undefined): void {
    this.endpoint = endpoint;
  }

  /** Whether a session usable for sending exists. */
  hasSession(now: number): boolean {
    return this.current !== undefined && this.current.canSend(now);
  }

  /** The size `out` must have for `encapsulate` of a packet of `length` bytes. */
  static encapsulatedSize(length: number): number {
    return TRANSPORT_OVERHEAD + length + PADDING_MULTIPLE;
  }

  // ---------------------------------------------------------------------------------------------
  // Outgoing IP packets

  /**
   * Encrypts an IP packet for the peer. With a session, the datagram is written into `out`
   * (at least `Tunn.encapsulatedSize(packet.length)` bytes) and returned as a subarray of it.
   * Without one, the packet is copied to a bounded queue and a handshake starts.
   *
   * With `aead`, a transport packet's sealing is only queued there: the header is written and the
   * datagram's length is final, but its ciphertext exists once the caller has called `aead.run()`
   * (before it sends `out`; `packet` must stay as it is until then).
   */
  encapsulate(packet: Uint8Array, out: Uint8Array, now: number, aead?: ParallelAead): TunnResult {
    if (packet.length > this.mtu) return this.drop('packet_too_large');
    const kp = this.current;
    if (this.staged.length === 0 && kp !== undefined && kp.canSend(now) && this.endpoint !== undefined) {
      const n = aead ? this.sealQueued(kp, packet, out, aead) : this.seal(kp, packet, out);
      this.afterDataSent(packet.length, n, now);
      this.keepKeyFreshSending(now);
      return { type: 'network', packet: out.subarray(0, n), to: this.endpoint };
    }
    this.stage(packet);
    this.sendStagedPackets(now);
    return this.nextTransmitAsResult();
  }

  /** Starts a handshake now (unless one was sent within REKEY_TIMEOUT). */
  initiateHandshake(now: number): TunnResult {
    this.sendHandshakeInitiation(false, now);
    return this.nextTransmitAsResult();
  }

  // ---------------------------------------------------------------------------------------------
  // Incoming datagrams

  /**
   * Processes a datagram from the network. A decrypted IP packet is written into `out` (at least
   * `datagram.length` bytes, not overlapping it) and returned as a subarray of it.
   */
  decapsulate(datagram: Uint8Array, from: Endpoint, out: Uint8Array, now: number): TunnResult {
    switch (classify(datagram)) {
      case 'transport':
        return this.receiveTransport(datagram, from, out, now);
      case 'initiation':
        return this.receiveInitiation(datagram, from, now);
      case 'response':
        return this.receiveResponse(datagram, from, now);
      case 'cookie':
        return this.receiveCookieReply(datagram, now);
      default:
        return this.drop('malformed');
    }
  }

  /**
   * First half of `decapsulate` for a transport message (classified as one by the caller), for a
   * data path that opens a whole batch at once: the session, age, counter and replay checks, then
   * the opening is queued on `aead`. Returns the session to hand to `finishTransport` with the
   * job's result after `aead.run()`, or undefined when the message was dropped (and counted).
   */
  queueTransport(
    datagram: Uint8Array,
    out: Uint8Array,
    now: number,
    aead: ParallelAead,
  ): Keypair | undefined {
    const kp = this.transportSession(datagram, now);
    if (typeof kp === 'string') {
      this.stats.dropped[kp]++;
      return undefined;
    }
    aead.open(kp.receiveKey, this.nonce, datagram.subarray(Transport.payload), out);
    return kp;
  }

  /**
   * Second half: `opened` is the AEAD's result (plaintext length, or -1). Messages are finished in
   * the order they were queued, and the caller finishes them before it passes this peer any other
   * kind of message, so no session changes between the halves except by confirming `next` (which
   * retires nothing: an initiation already cleared `previous`). The check below keeps it so should
   * that ever change: a session retired in between is refused, as it would have been one message
   * at a time.
   */
  finishTransport(
    kp: Keypair,
    opened: number,
    datagram: Uint8Array,
    from: Endpoint,
    out: Uint8Array,
    now: number,
  ): TunnResult {
    if (this.keypairByIndex(kp.localIndex) !== kp) return this.drop('unknown_index');
    return this.openedTransport(kp, opened, datagram, from, out, now);
  }

  private receiveTransport(datagram: Uint8Array, from: Endpoint, out: Uint8Array, now: number): TunnResult {
    const kp = this.transportSession(datagram, now);
    if (typeof kp === 'string') return this.drop(kp);
    const n = this.c.aeadOpen(kp.receiveKey, this.nonce, datagram.subarray(Transport.payload), EMPTY_AD, out);
    return this.openedTransport(kp, n, datagram, from, out, now);
  }

  /**
   * The session a transport message may be opened with, its nonce set; or why it must be dropped:
   * an unknown index, an expired session, an impossible counter or a replay.
   */
  private transportSession(datagram: Uint8Array, now: number): Keypair | DropReason {
    const kp = this.keypairByIndex(readU32(datagram, Transport.receiverIndex));
    if (!kp) return 'unknown_index';
    if (!kp.canReceive(now)) return 'expired_keypair';
    const counter = readCounter(datagram, Transport.counter);
    if (counter < 0) return 'counter_too_large';
    // Cheap pre-check so replayed floods cost no decryption; the window is updated only after.
    if (!kp.replay.wouldAccept(counter)) return 'replay';
    this.setNonce(counter);
    return kp;
  }

  private openedTransport(
    kp: Keypair,
    n: number,
    datagram: Uint8Array,
    from: Endpoint,
    out: Uint8Array,
    now: number,
  ): TunnResult {
    if (n < 0) return this.drop('decrypt_failed');
    if (!kp.replay.accept(readCounter(datagram, Transport.counter))) return this.drop('replay');

    if (kp === this.next) {
      // The initiator used the session we answered: it is confirmed, so it becomes current.
      this.releaseKeypair(this.previous);
      this.previous = this.current;
      this.current = kp;
      this.next = undefined;
      this.timersHandshakeComplete(now, false);
      this.sendStagedPackets(now);
    }
    this.keepKeyFreshReceiving(now);
    this.timersAnyAuthenticatedPacketTraversal(now);
    this.timersAnyAuthenticatedPacketReceived();
    this.updateEndpoint(from);
    this.stats.rxBytes += datagram.length;

    if (n === 0) return this.nextTransmitAsResult(); // keepalive
    const length = innerPacketLength(out, n);
    if (length < 0) return this.drop('invalid_inner_packet');
    this.timersDataReceived(now);
    this.stats.rxPackets++;
    return { type: 'tunnel', packet: out.subarray(0, length) };
  }

  private receiveInitiation(msg: Uint8Array, from: Endpoint, now: number): TunnResult {
    const verdict = this.guard.check(msg, readU32(msg, Initiation.senderIndex), from, now);
    if (verdict.action === 'drop') return this.drop(verdict.reason);
    if (verdict.action === 'cookie') return { type: 'network', packet: verdict.reply, to: from };
    const opened = openInitiation(this.c, this.local, this.localResponderHash, msg);
    if (!opened) return this.drop('handshake_invalid');
    return this.receiveOpenedInitiation(opened, msg, from, now);
  }

  /**
   * Second half of an initiation, for devices that opened it themselves to find the peer. The
   * guard checks must already have passed.
   */
  receiveOpenedInitiation(
    opened: OpenedInitiation,
    msg: Uint8Array,
    from: Endpoint,
    now: number,
  ): TunnResult {
    const previousIndex = this.handshake.state === 'zeroed' ? undefined : this.handshake.localIndex;
    const verdict = this.handshake.consumeInitiation(opened, msg, now);
    switch (verdict) {
      case 'ok':
        break;
      case 'wrong_peer':
        return this.drop('wrong_peer');
      case 'timestamp_replay':
        return this.drop('timestamp_replay');
      case 'flood':
        return this.drop('handshake_flood');
      default:
        return this.drop('handshake_invalid');
    }
    if (previousIndex !== undefined && !this.isKeypairIndex(previousIndex))
      this.indices.release(previousIndex);
    const response = this.handshake.createResponse(this.indices.allocate());
    const keys = response && this.handshake.deriveSession();
    if (!response || !keys) {
      this.handshake.clear();
      return this.drop('handshake_invalid');
    }
    this.cookieGenerator.addMacs(response, now);
    // Responder: the new session waits in `next` until the initiator's first data confirms it.
    this.releaseKeypair(this.next);
    this.releaseKeypair(this.previous);
    this.previous = undefined;
    this.next = new Keypair(keys, now);
    this.timersSessionDerived(now);
    this.timersAnyAuthenticatedPacketTraversal(now);
    this.timersAnyAuthenticatedPacketReceived();
    this.updateEndpoint(from);
    this.stats.rxBytes += msg.length;
    this.queue(response);
    this.timersAnyAuthenticatedPacketSent();
    return this.nextTransmitAsResult();
  }

  private receiveResponse(msg: Uint8Array, from: Endpoint, now: number): TunnResult {
    const verdict = this.guard.check(msg, readU32(msg, Response.senderIndex), from, now);
    if (verdict.action === 'drop') return this.drop(verdict.reason);
    if (verdict.action === 'cookie') return { type: 'network', packet: verdict.reply, to: from };
    if (
      this.handshake.state !== 'initiation_created' ||
      readU32(msg, Response.receiverIndex) !== this.handshake.localIndex
    ) {
      return this.drop('unknown_index');
    }
    if (!this.handshake.consumeResponse(msg)) return this.drop('handshake_invalid');
    const keys = this.handshake.deriveSession();
    if (!keys) return this.drop('handshake_invalid');
    // Initiator: the new session is confirmed by the response and becomes current at once.
    const kp = new Keypair(keys, now);
    if (this.next) {
      this.releaseKeypair(this.previous);
      this.previous = this.next;
      this.next = undefined;
    } else {
      this.releaseKeypair(this.previous);
      this.previous = this.current;
    }
    this.current = kp;
    this.timersSessionDerived(now);
    this.timersHandshakeComplete(now, true);
    this.timersAnyAuthenticatedPacketTraversal(now);
    this.timersAnyAuthenticatedPacketReceived();
    this.updateEndpoint(from);
    this.stats.rxBytes += msg.length;
    // Confirm the session to the responder: queued data if any, else a keepalive.
    this.sendKeepalive(now);
    return this.nextTransmitAsResult();
  }

  private receiveCookieReply(msg: Uint8Array, now: number): TunnResult {
    const index = readU32(msg, 4);
    const known =
      (this.handshake.state !== 'zeroed' && this.handshake.localIndex === index) ||
      this.isKeypairIndex(index);
    if (!known) return this.drop('unknown_index');
    if (!this.cookieGenerator.consumeReply(msg, now)) return this.drop('handshake_invalid');
    return DONE;
  }

  // ---------------------------------------------------------------------------------------------
  // Time

  /** The next instant `handleTimeout` must be called, or undefined when no timer is armed. */
  pollTimeout(): number | undefined {
    let min: number | undefined;
    for (const t of [
      this.retransmitHandshakeAt,
      this.sendKeepaliveAt,
      this.newHandshakeAt,
      this.zeroKeyMaterialAt,
      this.persistentKeepaliveAt,
    ]) {
      if (t !== undefined && (min === undefined || t < min)) min = t;
    }
    return min;
  }

  /** Fires every timer that is due; outputs go to `pollTransmit` and `pollEvent`. */
  handleTimeout(now: number): void {
    if (this.retransmitHandshakeAt !== undefined && now >= this.retransmitHandshakeAt) {
      this.retransmitHandshakeAt = undefined;
      this.expiredRetransmitHandshake(now);
    }
    if (this.sendKeepaliveAt !== undefined && now >= this.sendKeepaliveAt) {
      this.sendKeepaliveAt = undefined;
      this.sendKeepalive(now);
      if (this.needAnotherKeepalive) {
        this.needAnotherKeepalive = false;
        this.sendKeepaliveAt = now + KEEPALIVE_TIMEOUT;
      }
    }
    if (this.newHandshakeAt !== undefined && now >= this.newHandshakeAt) {
      // We sent data and heard nothing back for 15 s: the session may be dead on the other end.
      this.newHandshakeAt = undefined;
      this.sendHandshakeInitiation(false, now);
    }
    if (this.zeroKeyMaterialAt !== undefined && now >= this.zeroKeyMaterialAt) {
      this.zeroKeyMaterialAt = undefined;
      this.zeroAllKeys();
      this.events.push({ type: 'keys_zeroed', at: now });
    }
    if (this.persistentKeepaliveAt !== undefined && now >= this.persistentKeepaliveAt) {
      this.persistentKeepaliveAt = undefined;
      if (this.persistentKeepaliveMs > 0) this.sendKeepalive(now);
    }
  }

  pollTransmit(): Transmit | undefined {
    return this.transmits.shift();
  }

  pollEvent(): TunnEvent | undefined {
    return this.events.shift();
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: sending

  private expiredRetransmitHandshake(now: number): void {
    if (this.handshakeAttempts >= this.maxHandshakeAttempts) {
      // Give up: drop what waited for this handshake; keys go after ZERO_KEYS_AFTER.
      this.sendKeepaliveAt = undefined;
      this.stats.dropped.expired_handshake += this.staged.length;
      this.staged.length = 0;
      if (this.zeroKeyMaterialAt === undefined) this.zeroKeyMaterialAt = now + ZERO_KEYS_AFTER;
      this.events.push({ type: 'connection_expired', at: now });
      return;
    }
    this.handshakeAttempts++;
    this.sendHandshakeInitiation(true, now);
  }

  private sendHandshakeInitiation(isRetry: boolean, now: number): void {
    if (!isRetry) this.handshakeAttempts = 0;
    if (now - this.lastInitiationSentAt < REKEY_TIMEOUT) return;
    this.lastInitiationSentAt = now;
    if (this.handshake.state !== 'zeroed' && !this.isKeypairIndex(this.handshake.localIndex)) {
      this.indices.release(this.handshake.localIndex);
    }
    const msg = this.handshake.createInitiation(this.indices.allocate(), this.nextTimestamp());
    if (!msg) return;
    this.cookieGenerator.addMacs(msg, now);
    this.stats.handshakesInitiated++;
    this.timersAnyAuthenticatedPacketTraversal(now);
    this.timersAnyAuthenticatedPacketSent();
    this.retransmitHandshakeAt = now + REKEY_TIMEOUT + this.jitter();
    this.queue(msg);
  }

  private sendKeepalive(now: number): void {
    if (this.staged.length === 0) this.staged.push(EMPTY_PACKET);
    this.sendStagedPackets(now);
  }

  private sendStagedPackets(now: number): void {
    if (this.staged.length === 0) return;
    const kp = this.current;
    if (!kp || !kp.canSend(now)) {
      this.sendHandshakeInitiation(false, now);
      return;
    }
    if (this.endpoint === undefined) return;
    for (const packet of this.staged) {
      const out = new Uint8Array(Tunn.encapsulatedSize(packet.length));
      const n = this.seal(kp, packet, out);
      this.transmits.push({ packet: out.subarray(0, n), to: this.endpoint });
      this.afterDataSent(packet.length, n, now);
    }
    this.staged.length = 0;
    this.keepKeyFreshSending(now);
  }

  private stage(packet: Uint8Array): void {
    if (this.staged.length >= MAX_STAGED_PACKETS) {
      this.staged.shift();
      this.stats.dropped.staged_overflow++;
    }
    this.staged.push(Uint8Array.from(packet));
  }

  /** Writes a transport header with the session's next counter, and sets the nonce to it. */
  private transportHeader(kp: Keypair, out: Uint8Array): void {
    const counter = kp.sendCounter++;
    writeU32(out, 0, MESSAGE_TRANSPORT_DATA);
    writeU32(out, Transport.receiverIndex, kp.remoteIndex);
    writeCounter(out, Transport.counter, counter);
    this.setNonce(counter);
  }

  /** As `seal`, with the AEAD queued on `aead`; returns the datagram length it will have. */
  private sealQueued(kp: Keypair, packet: Uint8Array, out: Uint8Array, aead: ParallelAead): number {
    this.transportHeader(kp, out);
    const padded = this.paddedLength(packet.length);
    aead.seal(kp.sendKey, this.nonce, packet, out.subarray(TRANSPORT_HEADER_SIZE), padded);
    return TRANSPORT_OVERHEAD + padded;
  }

  /** Seals `packet` into `out` as a transport message; returns the datagram length. */
  private seal(kp: Keypair, packet: Uint8Array, out: Uint8Array): number {
    this.transportHeader(kp, out);
    let plaintext = packet;
    const padded = this.paddedLength(packet.length);
    if (padded !== packet.length) {
      plaintext = this.padScratch.subarray(0, padded);
      plaintext.set(packet);
      plaintext.fill(0, packet.length);
    }
    const n = this.c.aeadSeal(
      kp.sendKey,
      this.nonce,
      plaintext,
      EMPTY_AD,
      out.subarray(TRANSPORT_HEADER_SIZE),
    );
    return TRANSPORT_HEADER_SIZE + n;
  }

  private paddedLength(length: number): number {
    if (!this.padding || length === 0) return length;
    const padded = Math.ceil(length / PADDING_MULTIPLE) * PADDING_MULTIPLE;
    return padded > this.mtu ? Math.max(length, this.mtu) : padded;
  }

  private afterDataSent(ipLength: number, wireLength: number, now: number): void {
    this.stats.txBytes += wireLength;
    this.timersAnyAuthenticatedPacketTraversal(now);
    this.timersAnyAuthenticatedPacketSent();
    if (ipLength > 0) {
      this.stats.txPackets++;
      this.timersDataSent(now);
    }
  }

  /** The initiator rekeys a session that is old or has sent many messages (§6.2). */
  private keepKeyFreshSending(now: number): void {
    const kp = this.current;
    if (
      kp &&
      kp.isInitiator &&
      (kp.sendCounter > REKEY_AFTER_MESSAGES || now - kp.createdAt > REKEY_AFTER_TIME)
    ) {
      this.sendHandshakeInitiation(false, now);
    }
  }

  /** …and on receive shortly before the responder would reject the session (165 s, §6.2). */
  private keepKeyFreshReceiving(now: number): void {
    const kp = this.current;
    if (
      kp &&
      kp.isInitiator &&
      now - kp.createdAt > REKEY_ON_RECEIVE_AFTER &&
      !this.sentLastMinuteHandshake
    ) {
      this.sentLastMinuteHandshake = true;
      this.sendHandshakeInitiation(false, now);
    }
  }

  private queue(packet: Uint8Array): void {
    if (this.endpoint === undefined) {
      this.stats.dropped.no_endpoint++;
      return;
    }
    this.stats.txBytes += packet.length;
    this.transmits.push({ packet, to: this.endpoint });
  }

  private nextTransmitAsResult(): TunnResult {
    const t = this.transmits.shift();
    return t ? { type: 'network', packet: t.packet, to: t.to } : DONE;
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: timers as named events (paper §6, wireguard-go timers.go)

  private timersDataSent(now: number): void {
    if (this.newHandshakeAt === undefined) this.newHandshakeAt = now + NEW_HANDSHAKE_AFTER + this.jitter();
  }

  private timersDataReceived(now: number): void {
    if (this.sendKeepaliveAt === undefined) this.sendKeepaliveAt = now + KEEPALIVE_TIMEOUT;
    else this.needAnotherKeepalive = true;
  }

  private timersAnyAuthenticatedPacketSent(): void {
    this.sendKeepaliveAt = undefined;
  }

  private timersAnyAuthenticatedPacketReceived(): void {
    this.newHandshakeAt = undefined;
  }

  private timersAnyAuthenticatedPacketTraversal(now: number): void {
    if (this.persistentKeepaliveMs > 0) this.persistentKeepaliveAt = now + this.persistentKeepaliveMs;
  }

  private timersHandshakeComplete(now: number, isInitiator: boolean): void {
    this.retransmitHandshakeAt = undefined;
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
    this.stats.handshakesCompleted++;
    this.stats.lastHandshakeAt = now;
    this.events.push({ type: 'handshake_completed', isInitiator, at: now });
  }

  private timersSessionDerived(now: number): void {
    this.zeroKeyMaterialAt = now + ZERO_KEYS_AFTER;
  }

  private jitter(): number {
    return Math.floor(this.random() * (REKEY_TIMEOUT_JITTER_MAX + 1));
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: sessions

  private keypairByIndex(index: number): Keypair | undefined {
    if (this.current?.localIndex === index) return this.current;
    if (this.next?.localIndex === index) return this.next;
    if (this.previous?.localIndex === index) return this.previous;
    return undefined;
  }

  private isKeypairIndex(index: number): boolean {
    return this.keypairByIndex(index) !== undefined;
  }

  private releaseKeypair(kp: Keypair | undefined): void {
    if (!kp) return;
    kp.zero();
    if (kp.localIndex !== this.handshake.localIndex || this.handshake.state === 'zeroed') {
      this.indices.release(kp.localIndex);
    }
  }

  private zeroAllKeys(): void {
    for (const kp of [this.current, this.previous, this.next]) this.releaseKeypair(kp);
    this.current = this.previous = this.next = undefined;
    if (this.handshake.state !== 'zeroed') this.indices.release(this.handshake.localIndex);
    this.handshake.clear();
  }

  private updateEndpoint(from: Endpoint): void {
    // Roaming (paper §2.1): the peer's endpoint is wherever its last authenticated packet came from.
    if (!sameEndpoint(this.endpoint, from)) this.endpoint = { address: from.address, port: from.port };
  }

  private nextTimestamp(): Uint8Array {
    let ts = tai64n(this.wallClock());
    if (!tai64nAfter(ts, this.lastTimestampSent)) ts = tai64nSuccessor(this.lastTimestampSent);
    this.lastTimestampSent = ts;
    return ts;
  }

  private setNonce(counter: number): void {
    writeCounter(this.nonce, 4, counter);
  }

  private drop(reason: DropReason): TunnResult {
    this.stats.dropped[reason]++;
    return { type: 'error', error: wgError(reason) };
  }
}

const EMPTY_AD = new Uint8Array(0);
const EMPTY_PACKET = new Uint8Array(0);

/**
 * Length of the IP packet at the start of a decrypted payload (padding follows it), or -1 when
 * the plaintext is not a consistent IPv4/IPv6 packet.
 */
function innerPacketLength(buf: Uint8Array, available: number): number {
  const version = buf[0]! >> 4;
  let length: number;
  if (version === 4) {
    if (available < 20) return -1;
    length = (buf[2]! << 8) | buf[3]!;
    if (length < 20) return -1;
  } else if (version === 6) {
    if (available < 40) return -1;
    length = 40 + ((buf[4]! << 8) | buf[5]!);
  } else {
    return -1;
  }
  return length <= available ? length : -1;
}
