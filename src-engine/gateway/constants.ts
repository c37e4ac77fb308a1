import { parseCidr } from '../datapath/allowed-ips.js';

/** Routes a gateway sends into its TUN: the tunnel ranges, where clients live (docs/protocol.md §4.2). */
export const TUNNEL_RANGES_GATEWAY: readonly string[] = ['100.64.0.0/11', 'fd00:2021:1111::/107'];

/**
 * What the Internet resource never reaches on a gateway (docs/protocol.md §4.4): private, loopback,
 * link-local, CG-NAT, multicast and reserved IPv4; IPv6 loopback, v4-mapped, ULA, link-local and
 * multicast. Those get ICMP "unreachable".
 */
export const INTERNET_EXCLUDED = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '100.64.0.0/10',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::1/128',
  '::ffff:0:0/96',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
].map(parseCidr);
