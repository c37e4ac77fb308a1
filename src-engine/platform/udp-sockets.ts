/**
 * The engine's UDP sockets: one per address family (docs/protocol.md §5.8), batched over node-tun's
 * recvmmsg/sendmmsg where it loads, else over node:dgram. The IPv4 socket takes the preferred
 * port 52625 when it is free (Firezone's "FIRE"), else a random one; the IPv6 socket has its own
 * port, because without IPV6_V6ONLY a wildcard IPv6 bind would collide with the IPv4 one.
 *
 * With `mark` (Linux: ENGINE_FWMARK from ./fwmark.ts), every datagram carries that SO_MARK, so
 * policy routing keeps the engine's own traffic out of the tunnel (linux-policy-routing.ts).
 * Marking needs CAP_NET_ADMIN; a socket that cannot be marked is an error, not a silent fallback.
 */
import { DgramUdpTransport } from '../datapath/dgram-udp.js';
import { NativeUdpTransport } from '../datapath/native-udp.js';
import type { UdpTransport } from '../datapath/udp.js';

export const PREFERRED_PORT = 52625;

export interface UdpSocketsOptions {
  readonly port?: number;
  readonly ipv6?: boolean;
  /** SO_MARK for both sockets (Linux, CAP_NET_ADMIN). */
  readonly mark?: number;
}

export async function openUdpSockets(options: UdpSocketsOptions = {}): Promise<UdpTransport[]> {
  const out: UdpTransport[] = [];
  const mark = options.mark;
  const v4 = await bind('0.0.0.0', options.port ?? PREFERRED_PORT, mark).catch((error: unknown) => {
    if (isMarkError(error)) throw error;
    return options.port === undefined
      ? bind('0.0.0.0', 0, mark)
      : Promise.reject(new Error(`UDP port ${options.port} is taken`));
  });
  out.push(v4);
  if (options.ipv6 !== false) {
    // No IPv6 on the host is not an error: the engine then speaks IPv4 only.
    const v6 = await bind('::', 0, mark).catch(() => undefined);
    if (v6) out.push(v6);
  }
  return out;
}

async function bind(address: string, port: number, mark: number | undefined): Promise<UdpTransport> {
  const options = { address, port, ...(mark !== undefined ? { mark } : {}) };
  try {
    return new NativeUdpTransport(options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).message?.includes('EADDRINUSE') || isMarkError(error)) throw error;
    return DgramUdpTransport.bind(options);
  }
}

/** The mark could not be set (EPERM without CAP_NET_ADMIN, or not Linux): no fallback helps. */
function isMarkError(error: unknown): boolean {
  const e = error as NodeJS.ErrnoException | undefined;
  return e?.syscall === 'setsockopt(SO_MARK)' || e?.code === 'ERR_NOT_SUPPORTED';
}
