/**
 * Moves the node's datagrams between its sans-IO core and the real sockets (one UDP transport
 * per address family, batched where node-tun has recvmmsg/sendmmsg), and drives its timers.
 * Decrypted IP packets go to `onPacket`; after every batch `onWork` lets the owner drain the
 * cores that sit above the node (client or gateway state).
 */
import { ADDR_SIZE, createDatagramBatch, type DatagramBatch } from '../tun/batch.js';
import { EndpointCache } from '../datapath/address-record.js';
import type { UdpTransport } from '../datapath/udp.js';
import type { Node } from './node.js';

export interface NodeDriverOptions {
  readonly node: Node;
  /** At most one per family. */
  readonly transports: readonly UdpTransport[];
  readonly onPacket: (connection: string, packet: Uint8Array) => void;
  /** Called after the node did work (input, timers): drain the layers above, then call `flush`. */
  readonly onWork: () => void;
  readonly clock?: () => number;
  readonly onError?: (error: Error) => void;
}

export interface NodeDriverStats {
  sendDropped: number;
  receivedDatagrams: number;
  sentDatagrams: number;
}

const BATCH = 64;

export class NodeDriver {
  readonly stats: NodeDriverStats = { sendDropped: 0, receivedDatagrams: 0, sentDatagrams: 0 };
  private readonly clock: () => number;
  private readonly endpoints = new EndpointCache();
  private readonly out = new Map<UdpTransport, { batch: DatagramBatch; count: number }>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private running = false;

  constructor(private readonly options: NodeDriverOptions) {
    this.clock = options.clock ?? (() => performance.now());
    for (const t of options.transports)
      this.out.set(t, { batch: createDatagramBatch(BATCH, 2048), count: 0 });
  }

  get now(): number {
    return this.clock();
  }

  start(): void {
    this.running = true;
    for (const transport of this.options.transports) {
      transport.start(
        (batch, count) => this.fromNetwork(batch, count),
        (error) => this.options.onError?.(new Error(`UDP socket: ${error.message}`, { cause: error })),
      );
    }
    this.afterWork();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    for (const transport of this.options.transports) transport.close();
  }

  /** Sends whatever the node queued and re-arms the timer. Call after feeding the node. */
  flush(): void {
    const node = this.options.node;
    for (let t = node.pollTransmit(); t; t = node.pollTransmit()) {
      const v6 = t.to.address.includes(':');
      const transport = this.options.transports.find((u) => u.localAddress.includes(':') === v6);
      const slot = transport && this.out.get(transport);
      if (!transport || !slot || t.payload.length > slot.batch.slotSize) {
        this.stats.sendDropped++;
        continue;
      }
      if (slot.count === slot.batch.capacity) this.send(transport);
      const at = slot.count * slot.batch.slotSize;
      slot.batch.buffer.set(t.payload, at);
      slot.batch.lengths[slot.count] = t.payload.length;
      this.endpoints.toRecord(t.to, slot.batch.addrs, slot.count * ADDR_SIZE);
      slot.count++;
    }
    for (const transport of this.options.transports) this.send(transport);
    this.schedule();
  }

  private send(transport: UdpTransport): void {
    const slot = this.out.get(transport)!;
    if (slot.count === 0) return;
    const sent = transport.send(slot.batch, slot.count);
    this.stats.sentDatagrams += sent;
    // A full socket buffer: like a NIC queue, drop rather than block the engine (counted).
    this.stats.sendDropped += slot.count - sent;
    slot.count = 0;
  }

  private fromNetwork(batch: DatagramBatch, count: number): void {
    const now = this.clock();
    const node = this.options.node;
    for (let i = 0; i < count; i++) {
      const offset = i * batch.slotSize + batch.headroom;
      const datagram = batch.buffer.subarray(offset, offset + batch.lengths[i]!);
      const from = this.endpoints.fromRecord(batch.addrs, i * ADDR_SIZE);
      this.stats.receivedDatagrams++;
      try {
        const result = node.handleDatagram(from, datagram, now);
        if (result) this.options.onPacket(result.connection, result.packet);
      } catch (error) {
        // A bug must cost one datagram, never the engine.
        this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
      }
    }
    this.afterWork();
  }

  private afterWork(): void {
    this.options.onWork();
    this.flush();
  }

  private schedule(): void {
    if (!this.running) return;
    const at = this.options.node.pollTimeout();
    if (at === undefined || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.options.node.handleTimeout(this.clock());
        this.afterWork();
      },
      Math.max(0, at - this.clock()),
    );
  }
}
