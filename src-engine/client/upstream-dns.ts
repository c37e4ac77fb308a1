/**
 * Sends the client's forwarded DNS queries to the upstream resolvers, outside the tunnel, and
 * hands their answers back (docs/protocol.md §2.3 step 8, "resolved by the IO layer"). UDP queries
 * use one socket per family; TCP queries one connection each (RFC 7766 framing), closed after
 * the answer. The resolver core owns timeouts and matching: this only moves bytes. Sockets get
 * the engine's routing mark (UDP and TCP alike, through platform/fwmark.ts) when one is given, so
 * they never loop through the TUN when the Internet resource routes everything there.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect, type Socket as TcpSocket } from 'node:net';
import { frameTcpMessage, TcpDnsDeframer } from '../dns/tcp-framing.js';
import { connectMarkedTcpAddress, markDgramSocket } from '../platform/fwmark.js';
import { parseUpstreamName, type DnsForward } from './client-dns.js';

/** A TCP upstream that has not answered in this long is closed (the core has moved on by then). */
const TCP_IDLE_MS = 10_000;

export interface UpstreamDnsOptions {
  readonly onResponse: (bytes: Uint8Array, from: string) => void;
  readonly onError?: (error: Error) => void;
  /** The routing mark for the sockets (Linux SO_MARK), so policy routing keeps them off the TUN. */
  readonly mark?: number;
}

export class UpstreamDns {
  private v4: Socket | undefined;
  private v6: Socket | undefined;
  private readonly tcp = new Set<TcpSocket>();
  private closed = false;

  constructor(private readonly options: UpstreamDnsOptions) {}

  send(forward: DnsForward): void {
    if (this.closed) return;
    const target = parseUpstreamName(forward.upstream);
    if (!target) return;
    if (forward.transport === 'tcp') this.sendTcp(forward, target);
    else this.udp(target.address.includes(':') ? 6 : 4).send(forward.bytes, target.port, target.address);
  }

  close(): void {
    this.closed = true;
    this.v4?.close();
    this.v6?.close();
    for (const socket of this.tcp) socket.destroy();
    this.tcp.clear();
  }

  private udp(family: 4 | 6): Socket {
    const existing = family === 4 ? this.v4 : this.v6;
    if (existing) return existing;
    const socket = createSocket(family === 4 ? 'udp4' : 'udp6');
    socket.on('message', (message, remote) => {
      const from =
        remote.family === 'IPv6' ? `[${remote.address}]:${remote.port}` : `${remote.address}:${remote.port}`;
      this.options.onResponse(new Uint8Array(message.buffer, message.byteOffset, message.length), from);
    });
    socket.on('error', (error) => this.options.onError?.(error));
    // Marked before the first datagram: bind's callback runs before queued sends are flushed.
    socket.bind(0, () => {
      if (this.options.mark === undefined) return;
      try {
        markDgramSocket(socket, this.options.mark);
      } catch (error) {
        this.options.onError?.(error as Error);
      }
    });
    socket.unref();
    if (family === 4) this.v4 = socket;
    else this.v6 = socket;
    return socket;
  }

  private sendTcp(forward: DnsForward, target: { address: string; port: number }): void {
    let socket: TcpSocket;
    try {
      socket =
        this.options.mark === undefined
          ? connect({ host: target.address, port: target.port })
          : connectMarkedTcpAddress(target.address, target.port, this.options.mark);
    } catch (error) {
      this.options.onError?.(error as Error); // the core's timeout answers SERVFAIL
      return;
    }
    this.tcp.add(socket);
    const deframer = new TcpDnsDeframer();
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('connect', () => socket.write(frameTcpMessage(forward.bytes)));
    socket.on('data', (chunk) => {
      for (const message of deframer.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))) {
        this.options.onResponse(message, forward.upstream);
        socket.end();
      }
    });
    socket.on('error', () => undefined); // the core's timeout answers SERVFAIL
    socket.on('close', () => this.tcp.delete(socket));
    socket.unref();
  }
}
