import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { markDgramSocket } from '../platform/fwmark.js';
import { ADDR_SIZE, createDatagramBatch, type DatagramBatch, slot } from '../tun/batch.js';
import { EndpointCache } from './address-record.js';
import type { UdpTransport, UdpTransportStats } from './udp.js';

/**
 * The portable UDP transport over node:dgram, for platforms where node-tun has no batched
 * socket (Windows) or where it cannot load. Datagrams that arrive within one event-loop turn
 * are handed over as one batch, so the data path above stays the same; each send copies its
 * datagram because dgram may hold the buffer past the call. About 4 µs per datagram each way
 * (docs/performance.md §A4), against well under 1 µs with recvmmsg/sendmmsg and GSO/GRO.
 */
export class DgramUdpTransport implements UdpTransport {
  readonly stats: UdpTransportStats = { receivedDatagrams: 0, sentDatagrams: 0, sendBackpressure: 0 };
  private readonly batch: DatagramBatch;
  private readonly endpoints = new EndpointCache();
  private pending = 0;
  private flushScheduled = false;
  private onDatagrams: ((batch: DatagramBatch, count: number) => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    batchSize: number,
  ) {
    this.batch = createDatagramBatch(batchSize, 2048);
  }

  /** mark: SO_MARK (Linux, CAP_NET_ADMIN), set right after bind, before anything is sent. */
  static bind(options: {
    address: string;
    port: number;
    batchSize?: number;
    mark?: number;
  }): Promise<DgramUdpTransport> {
    const socket = createSocket({
      type: isIPv6(options.address) ? 'udp6' : 'udp4',
      recvBufferSize: 4 << 20,
      sendBufferSize: 4 << 20,
    });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.port, options.address, () => {
        socket.off('error', reject);
        if (options.mark !== undefined) {
          try {
            markDgramSocket(socket, options.mark);
          } catch (error) {
            socket.close();
            reject(error as Error);
            return;
          }
        }
        resolve(new DgramUdpTransport(socket, options.batchSize ?? 64));
      });
    });
  }

  get localAddress(): string {
    return this.socket.address().address;
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  start(onDatagrams: (batch: DatagramBatch, count: number) => void, onError: (err: Error) => void): void {
    this.onDatagrams = onDatagrams;
    this.socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    this.socket.on('error', onError);
  }

  send(batch: DatagramBatch, count: number): number {
    for (let i = 0; i < count; i++) {
      const to = this.endpoints.fromRecord(batch.addrs, i * ADDR_SIZE);
      this.socket.send(Buffer.from(slot(batch, i)), to.port, to.address);
    }
    this.stats.sentDatagrams += count;
    return count;
  }

  onceWritable(cb: () => void): void {
    setImmediate(cb);
  }

  close(): void {
    this.onDatagrams = undefined;
    this.socket.close();
  }

  private receive(msg: Buffer, rinfo: RemoteInfo): void {
    if (msg.length > this.batch.slotSize) return; // larger than any WireGuard message we accept
    const i = this.pending++;
    this.batch.buffer.set(msg, i * this.batch.slotSize);
    this.batch.lengths[i] = msg.length;
    this.endpoints.toRecord({ address: rinfo.address, port: rinfo.port }, this.batch.addrs, i * ADDR_SIZE);
    this.stats.receivedDatagrams++;
    if (this.pending === this.batch.capacity) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const n = this.pending;
    this.pending = 0;
    if (n > 0) this.onDatagrams?.(this.batch, n);
  }
}
