import { ADDR_SIZE, createDatagramBatch, type DatagramBatch, slot } from '../tun/batch.js';
import type { Endpoint } from '../wireguard/endpoint.js';
import { EndpointCache, readRecord } from './address-record.js';
import type { UdpTransport, UdpTransportStats } from './udp.js';

/**
 * An in-memory UDP network for tests: sockets find each other by address and port; delivery is
 * asynchronous and batched like recvmmsg. `filter` can drop or inspect datagrams in flight.
 */
export class MemoryUdpNetwork {
  private readonly sockets = new Map<string, MemoryUdpSocket>();
  filter: (from: Endpoint, to: Endpoint, datagram: Uint8Array) => boolean = () => true;

  /** `sharedMemory`: sockets receive into shared-memory batches (as NativeUdpTransport's option). */
  constructor(private readonly options: { readonly sharedMemory?: boolean } = {}) {}

  bind(address: string, port: number): MemoryUdpSocket {
    const key = `${address}|${port}`;
    if (this.sockets.has(key)) throw new Error(`address in use: ${key}`);
    const s = new MemoryUdpSocket(this, address, port, this.options.sharedMemory ?? false);
    this.sockets.set(key, s);
    return s;
  }

  /** @internal */
  deliver(from: Endpoint, to: Endpoint, datagram: Uint8Array): void {
    if (!this.filter(from, to, datagram)) return;
    this.sockets.get(`${to.address}|${to.port}`)?.enqueue(from, datagram);
  }

  /** @internal */
  unbind(s: MemoryUdpSocket): void {
    this.sockets.delete(`${s.localAddress}|${s.localPort}`);
  }
}

export class MemoryUdpSocket implements UdpTransport {
  readonly stats: UdpTransportStats = { receivedDatagrams: 0, sentDatagrams: 0, sendBackpressure: 0 };
  private readonly queue: { from: Endpoint; data: Uint8Array }[] = [];
  private readonly batch: DatagramBatch;
  private readonly cache = new EndpointCache();
  private onDatagrams: ((batch: DatagramBatch, count: number) => void) | undefined;
  private scheduled = false;

  constructor(
    private readonly network: MemoryUdpNetwork,
    readonly localAddress: string,
    readonly localPort: number,
    sharedMemory = false,
  ) {
    this.batch = createDatagramBatch(64, 2048, 0, sharedMemory);
  }

  start(onDatagrams: (batch: DatagramBatch, count: number) => void): void {
    this.onDatagrams = onDatagrams;
    this.schedule();
  }

  send(batch: DatagramBatch, count: number): number {
    const self = { address: this.localAddress, port: this.localPort };
    for (let i = 0; i < count; i++) {
      this.network.deliver(self, readRecord(batch.addrs, i * ADDR_SIZE), Uint8Array.from(slot(batch, i)));
    }
    this.stats.sentDatagrams += count;
    return count;
  }

  onceWritable(cb: () => void): void {
    setImmediate(cb);
  }

  close(): void {
    this.onDatagrams = undefined;
    this.network.unbind(this);
  }

  /** @internal */
  enqueue(from: Endpoint, data: Uint8Array): void {
    this.queue.push({ from, data });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || !this.onDatagrams || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.onDatagrams) return;
      let n = 0;
      while (n < this.batch.capacity && this.queue.length > 0) {
        const { from, data } = this.queue.shift()!;
        this.batch.buffer.set(data, n * this.batch.slotSize);
        this.batch.lengths[n] = data.length;
        this.cache.toRecord(from, this.batch.addrs, n * ADDR_SIZE);
        n++;
      }
      this.stats.receivedDatagrams += n;
      this.onDatagrams(this.batch, n);
      this.schedule();
    });
  }
}
