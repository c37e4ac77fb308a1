/**
 * The engine's socket mark (Linux SO_MARK). With the Internet resource on, the default routes
 * point into the TUN; policy routing (linux-policy-routing.ts) consults those tables only for
 * packets that do NOT carry this mark, so the engine's own traffic (WireGuard/ICE/TURN over UDP,
 * the portal's WebSocket, upstream DNS queries) keeps leaving through the physical network.
 * Firezone uses the same mark and table numbers.
 *
 * Setting a mark needs CAP_NET_ADMIN (or CAP_NET_RAW on Linux 5.17+); the client runs as root.
 * node-tun is loaded on first use, so importing this module never loads native code.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns/promises';
import { closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP, Socket } from 'node:net';

/** Firezone's fwmark for the engine's own sockets. */
export const ENGINE_FWMARK = 0xfd002021;

type NodeTunMarks = Pick<typeof import('node-tun'), 'setSocketMark' | 'createTcpSocket'>;
let nodeTun: NodeTunMarks | undefined;

function marks(): NodeTunMarks {
  nodeTun ??= createRequire(import.meta.url)('node-tun') as NodeTunMarks;
  return nodeTun;
}

/** Sets SO_MARK on a socket fd (Linux; throws elsewhere, and EPERM without CAP_NET_ADMIN). */
export function setSocketMark(fd: number, mark: number = ENGINE_FWMARK): void {
  marks().setSocketMark(fd, mark);
}

/**
 * The fd of a bound node:dgram socket. Node has no public accessor; the handle (an internal
 * UDPWrap, reached through the socket's "state symbol") has an `fd` getter on Unix. The socket
 * is created by bind(), so this is valid from the 'listening' event on.
 */
export function dgramSocketFd(socket: UdpSocket): number {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = key === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[key];
  const fd = (state as { handle?: { fd?: unknown } } | undefined)?.handle?.fd;
  if (typeof fd !== 'number' || fd < 0)
    throw new Error(
      'cannot find the fd of this node:dgram socket (not bound yet, or an unknown Node version)',
    );
  return fd;
}

/** Marks a bound node:dgram socket (call it in bind's callback, before the first send). */
export function markDgramSocket(socket: UdpSocket, mark: number = ENGINE_FWMARK): void {
  setSocketMark(dgramSocketFd(socket), mark);
}

export interface MarkedUdpOptions {
  readonly mark?: number;
  /** Default: the wildcard address of the family. */
  readonly address?: string;
  /** Default 0: an ephemeral port. */
  readonly port?: number;
}

/**
 * A bound node:dgram socket whose datagrams carry the mark from the first one on: for queries to
 * upstream DNS resolvers that must not go into the tunnel. The caller closes it.
 */
export function markedUdpSocket(family: 4 | 6, options: MarkedUdpOptions = {}): Promise<UdpSocket> {
  const socket = createSocket({ type: family === 4 ? 'udp4' : 'udp6' });
  return new Promise((resolve, reject) => {
    const fail = (error: unknown): void => {
      socket.close();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    socket.once('error', fail);
    socket.bind(options.port ?? 0, options.address ?? (family === 4 ? '0.0.0.0' : '::'), () => {
      socket.off('error', fail);
      try {
        markDgramSocket(socket, options.mark ?? ENGINE_FWMARK);
      } catch (error) {
        fail(error);
        return;
      }
      resolve(socket);
    });
  });
}

/** Resolves a host name to addresses, in the order to try them. */
export type HostLookup = (host: string) => Promise<readonly { address: string; family: number }[]>;

const systemLookup: HostLookup = (host) => dnsLookup(host, { all: true });

/**
 * Starts a TCP connection from a fresh marked socket (node-tun's createTcpSocket) to an IP
 * address. Node wraps the fd and starts reading at once; on a socket that is not connected yet,
 * the first poll would report ENOTCONN and destroy it. connect() to an IP literal reaches the
 * kernel in a process.nextTick, before the event loop polls again, so wrapping and connecting
 * must happen together, here, with an address (never a name: a DNS lookup lets the loop turn).
 */
export function connectMarkedTcpAddress(address: string, port: number, mark: number = ENGINE_FWMARK): Socket {
  const family = isIP(address);
  if (family !== 4 && family !== 6) throw new TypeError(`not an IP address: ${address}`);
  const fd = marks().createTcpSocket(family, mark);
  let socket: Socket;
  try {
    socket = new Socket({ fd, readable: true, writable: true });
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  socket.connect(port, address);
  return socket;
}

export interface MarkedTcpOptions {
  readonly host: string;
  readonly port: number;
  readonly mark?: number;
  /** Name resolution for host names (default: the system resolver, dns.lookup). */
  readonly lookup?: HostLookup;
  /** Per address; the next address is tried after a failure or this long (default 10 s). */
  readonly attemptTimeoutMs?: number;
}

/**
 * A connected TCP socket whose packets carry the mark, SYN included. A host name is resolved
 * first; its addresses are tried in order until one connects.
 */
export async function connectMarkedTcp(options: MarkedTcpOptions): Promise<Socket> {
  const host = options.host.startsWith('[') ? options.host.slice(1, -1) : options.host;
  const addresses = isIP(host) ? [{ address: host }] : await (options.lookup ?? systemLookup)(host);
  if (addresses.length === 0) throw new Error(`no addresses for ${host}`);
  let lastError: unknown;
  for (const { address } of addresses) {
    try {
      return await attempt(
        address,
        options.port,
        options.mark ?? ENGINE_FWMARK,
        options.attemptTimeoutMs ?? 10_000,
      );
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

function attempt(address: string, port: number, mark: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectMarkedTcpAddress(address, port, mark);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect ETIMEDOUT ${address}:${port}`));
    }, timeoutMs);
    const onError = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
