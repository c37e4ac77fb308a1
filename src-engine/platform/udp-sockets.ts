/**
 * The engine's UDP sockets: one per address family (PROTOCOL.md §5.8), batched over node-tun's
 * recvmmsg/sendmmsg where it loads, else over node:dgram. The IPv4 socket takes the preferred
 * port 52625 when it is free (Firezone's "FIRE"), else a random one; the IPv6 socket has its own
 * port, because without IPV6_V6ONLY a wildcard IPv6 bind would collide with the IPv4 one.
 */
import { DgramUdpTransport } from '../datapath/dgram-udp.js';
import { NativeUdpTransport } from '../datapath/native-udp.js';
import type { UdpTransport } from '../datapath/udp.js';

export const PREFERRED_PORT = 52625;

export async function openUdpSockets(
  options: { readonly port?: number; readonly ipv6?: boolean } = {},
): Promise<UdpTransport[]> {
  const out: UdpTransport[] = [];
  const v4 = await bind('0.0.0.0', options.port ?? PREFERRED_PORT).catch(() =>
    options.port === undefined
      ? bind('0.0.0.0', 0)
      : Promise.reject(new Error(`UDP port ${options.port} is taken`)),
  );
  out.push(v4);
  if (options.ipv6 !== false) {
    // No IPv6 on the host is not an error: the engine then speaks IPv4 only.
    const v6 = await bind('::', 0).catch(() => undefined);
    if (v6) out.push(v6);
  }
  return out;
}

async function bind(address: string, port: number): Promise<UdpTransport> {
  try {
    return new NativeUdpTransport({ address, port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).message?.includes('EADDRINUSE')) throw error;
    return DgramUdpTransport.bind({ address, port });
  }
}
