/**
 * Resource filters (docs/protocol.md §3.6): which protocols and ports of a resource a policy opens.
 * An empty list opens everything; an ICMP filter also admits ICMP errors, so that a reply's
 * "port unreachable" or "fragmentation needed" reaches the sender (PMTU discovery keeps working).
 */
import type { Filter } from '../portal/messages/common.js';

export type L4Protocol = 'tcp' | 'udp' | 'icmp' | 'other';

/** The protocol and destination port of a packet, as far as filters care. */
export interface FlowKey {
  readonly protocol: L4Protocol;
  /** Destination port for TCP and UDP; 0 otherwise. */
  readonly port: number;
}

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

export function l4ProtocolOf(ipProtocol: number): L4Protocol {
  switch (ipProtocol) {
    case IPPROTO_TCP:
      return 'tcp';
    case IPPROTO_UDP:
      return 'udp';
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return 'icmp';
    default:
      return 'other';
  }
}

/** Whether `filters` let `flow` through. Protocols other than TCP, UDP and ICMP pass only an empty list. */
export function filtersAllow(filters: readonly Filter[], flow: FlowKey): boolean {
  if (filters.length === 0) return true;
  for (const filter of filters) {
    if (filter.protocol === 'icmp') {
      if (flow.protocol === 'icmp') return true;
      continue;
    }
    if (
      filter.protocol === flow.protocol &&
      flow.port >= filter.port_range_start &&
      flow.port <= filter.port_range_end
    ) {
      return true;
    }
  }
  return false;
}

/** Whether some filter of the list opens the protocol at all (any port): the routing tie-break. */
export function filtersMentionProtocol(filters: readonly Filter[], protocol: L4Protocol): boolean {
  if (filters.length === 0) return true;
  return filters.some((filter) => filter.protocol === protocol);
}
