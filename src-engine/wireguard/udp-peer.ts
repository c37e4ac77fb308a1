import type { Socket, RemoteInfo } from 'node:dgram';
import type { Endpoint } from './endpoint.js';
import type { TunnEvent, TunnResult } from './result.js';
import { Tunn } from './tunn.js';

export interface UdpPeerOptions {
  readonly tunn: Tunn;
  /** A bound UDP socket; the peer owns it from now on (it closes it). */
  readonly socket: Socket;
  /** Receives each decrypted IP packet (a view valid only during the call). */
  readonly onPacket: (packet: Uint8Array) => void;
  readonly onEvent?: (event: TunnEvent) => void;
  /** Monotonic milliseconds (default performance.now). */
  readonly clock?: () => number;
}

const RECEIVE_BUFFER_SIZE = 65_536;

/**
 * The simplest driver of one `Tunn`: a single dgram socket and Node timers. It serves the
 * wireguard-go interop test and the demo; the product's data path (TUN batches, batched UDP)
 * is a separate driver built for speed.
 */
export class UdpPeer {
  private socket: Socket;
  private readonly tunn: Tunn;
  private readonly clock: () => number;
  private readonly receiveBuffer = new Uint8Array(RECEIVE_BUFFER_SIZE);
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closed = false;
  private readonly onMessage = (msg: Buffer, rinfo: RemoteInfo): void => this.receive(msg, rinfo);

  constructor(private readonly options: UdpPeerOptions) {
    this.tunn = options.tunn;
    this.socket = options.socket;
    this.clock = options.clock ?? (() => performance.now());
    this.socket.on('message', this.onMessage);
    this.schedule();
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  /** Encrypts and sends an IP packet (or queues it behind a handshake). */
  send(packet: Uint8Array): TunnResult {
    const out = new Uint8Array(Tunn.encapsulatedSize(packet.length));
    const result = this.tunn.encapsulate(packet, out, this.clock());
    this.handle(result);
    return result;
  }

  initiateHandshake(): void {
    this.handle(this.tunn.initiateHandshake(this.clock()));
  }

  /**
   * Moves to another local socket, as when the host roams to a new address or NAT port. The
   * peer follows on our next authenticated packet, so a keepalive is sent at once.
   */
  replaceSocket(socket: Socket): void {
    this.socket.off('message', this.onMessage);
    this.socket.close();
    this.socket = socket;
    this.socket.on('message', this.onMessage);
    this.send(new Uint8Array(0));
  }

  /** Runs due timers now (after the clock was moved, e.g. by a test that skips time). */
  poke(): void {
    this.fireTimers();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.socket.off('message', this.onMessage);
    this.socket.close();
  }

  private receive(msg: Buffer, rinfo: RemoteInfo): void {
    const from: Endpoint = { address: rinfo.address, port: rinfo.port };
    const result = this.tunn.decapsulate(msg, from, this.receiveBuffer, this.clock());
    this.handle(result);
  }

  private handle(result: TunnResult): void {
    if (this.closed) return;
    if (result.type === 'network') this.transmit(result.packet, result.to);
    else if (result.type === 'tunnel') this.options.onPacket(result.packet);
    for (let t = this.tunn.pollTransmit(); t; t = this.tunn.pollTransmit()) this.transmit(t.packet, t.to);
    for (let e = this.tunn.pollEvent(); e; e = this.tunn.pollEvent()) this.options.onEvent?.(e);
    this.schedule();
  }

  private transmit(packet: Uint8Array, to: Endpoint): void {
    // dgram may queue the buffer past this call, so it gets its own copy.
    this.socket.send(Buffer.from(packet), to.port, to.address);
  }

  private fireTimers(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.tunn.handleTimeout(this.clock());
    this.handle({ type: 'done' });
  }

  private schedule(): void {
    const at = this.tunn.pollTimeout();
    if (at === undefined || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.fireTimers(), Math.max(0, at - this.clock()));
  }
}
