import { UdpSocket } from 'node-tun';
import { createDatagramBatch, type DatagramBatch } from '../tun/batch.js';
import type { UdpTransport, UdpTransportStats } from './udp.js';

export interface NativeUdpOptions {
  readonly address: string;
  readonly port: number;
  readonly batchSize?: number;
  /** Socket buffers; large ones absorb bursts of a fast flow (default 4 MiB). */
  readonly bufferSize?: number;
  /** SO_MARK, set before bind (Linux, CAP_NET_ADMIN): see src-engine/platform/fwmark.ts. */
  readonly mark?: number;
  /**
   * Receive into shared memory (SharedArrayBuffer), so a crypto worker can open the datagrams in
   * place (src-engine/wireguard/crypto/parallel-aead.ts). Default off.
   */
  readonly sharedMemory?: boolean;
}

/** A UDP socket over node-tun's recvmmsg/sendmmsg: one native call per batch each way. */
export class NativeUdpTransport implements UdpTransport {
  private readonly socket: UdpSocket;
  private readonly batch: DatagramBatch;
  private readonly batchSize: number;
  private readonly backpressure = { count: 0 };

  constructor(options: NativeUdpOptions) {
    const size = options.bufferSize ?? 4 * 1024 * 1024;
    this.socket = UdpSocket.bind({
      address: options.address,
      port: options.port,
      recvBufferSize: size,
      sendBufferSize: size,
      ...(options.mark !== undefined ? { mark: options.mark } : {}),
    });
    this.batchSize = options.batchSize ?? 64;
    this.batch = createDatagramBatch(this.batchSize, 2048, 0, options.sharedMemory ?? false);
  }

  get localAddress(): string {
    return this.socket.address;
  }

  get localPort(): number {
    return this.socket.port;
  }

  get stats(): UdpTransportStats {
    const s = this.socket.stats;
    return {
      receivedDatagrams: s.receivedDatagrams,
      sentDatagrams: s.sentDatagrams,
      sendBackpressure: s.eagainSends,
      receiveDrops: s.receiveDrops,
      sendErrors: s.sendErrors,
      truncated: s.truncated,
    };
  }

  start(onDatagrams: (batch: DatagramBatch, count: number) => void, onError: (err: Error) => void): void {
    const b = this.batch;
    this.socket.startReading(
      b.buffer,
      b.slotSize,
      b.headroom,
      b.lengths,
      b.addrs,
      this.batchSize,
      (count) => onDatagrams(b, count),
      onError,
    );
  }

  send(batch: DatagramBatch, count: number): number {
    return this.socket.send(batch.buffer, batch.slotSize, batch.headroom, batch.lengths, batch.addrs, count);
  }

  onceWritable(cb: () => void): void {
    this.socket.onceWritable(cb);
  }

  close(): void {
    this.socket.close();
  }
}
