import type { UdpTransport } from '../datapath/udp.js';
import { canonicalTransportAddress, type TransportAddress } from '../ice/transport-address.js';

/**
 * The host candidates of the engine's sockets: each host address with the port of the socket of
 * its family. `changed` tells a new network (roaming) from the same one polled again; the first
 * reading is not a change.
 */
export class HostAddressWatch {
  private last: string | undefined;

  constructor(
    private readonly transports: readonly UdpTransport[],
    private readonly source: () => readonly string[],
  ) {}

  read(): { addresses: TransportAddress[]; changed: boolean; first: boolean } {
    const addresses: TransportAddress[] = [];
    for (const ip of this.source()) {
      const port = this.transports.find((t) => t.localAddress.includes(':') === ip.includes(':'))?.localPort;
      const address = port === undefined ? undefined : canonicalTransportAddress(ip, port);
      if (address) addresses.push(address);
    }
    const key = JSON.stringify(addresses);
    const first = this.last === undefined;
    const changed = !first && key !== this.last;
    this.last = key;
    return { addresses, changed, first };
  }
}
