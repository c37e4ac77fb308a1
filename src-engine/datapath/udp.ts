import type { DatagramBatch } from '../tun/batch.js';

export interface UdpTransportStats {
  receivedDatagrams: number;
  sentDatagrams: number;
  /** Datagrams the kernel could not take at once (the data path waited for writability). */
  sendBackpressure: number;
  /** Datagrams the kernel dropped before we read them (receive buffer full), where it tells. */
  receiveDrops?: number;
  /** Datagrams the kernel refused to send (dropped). */
  sendErrors?: number;
  /** Received datagrams too big for a slot (dropped). */
  truncated?: number;
}

/**
 * A UDP socket that moves datagrams in batches (recvmmsg/sendmmsg in node-tun), with source
 * and destination addresses as per-slot records (see `ADDR_SIZE`).
 */
export interface UdpTransport {
  readonly localAddress: string;
  readonly localPort: number;
  readonly stats: UdpTransportStats;
  start(onDatagrams: (batch: DatagramBatch, count: number) => void, onError: (err: Error) => void): void;
  /** Sends datagrams [0, count); returns how many the kernel took (the rest: wait for `onceWritable`). */
  send(batch: DatagramBatch, count: number): number;
  onceWritable(cb: () => void): void;
  close(): void;
}
