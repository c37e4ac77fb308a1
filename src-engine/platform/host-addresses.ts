/**
 * The host's own addresses, for host candidates: every interface address except loopback,
 * link-local, our own tunnel ranges (a candidate inside the tunnel would route through itself)
 * and interfaces the caller excludes (its TUN device).
 */
import { networkInterfaces } from 'node:os';
import { parseCidr } from '../datapath/allowed-ips.js';
import { parseIpAddress } from '../packet/index.js';
import { contains } from '../tunnel/routing-table.js';

const EXCLUDED = [
  '127.0.0.0/8',
  '169.254.0.0/16',
  '100.64.0.0/10',
  '::1/128',
  'fe80::/10',
  'fd00:2021:1111::/48',
].map(parseCidr);

export function hostAddresses(options: { readonly excludeInterfaces?: readonly string[] } = {}): string[] {
  const out: string[] = [];
  for (const [name, list] of Object.entries(networkInterfaces())) {
    if (options.excludeInterfaces?.includes(name)) continue;
    for (const entry of list ?? []) {
      if (entry.internal) continue;
      const bytes = parseIpAddress(entry.address);
      if (!bytes || EXCLUDED.some((range) => contains(range, bytes))) continue;
      out.push(entry.address);
    }
  }
  return out;
}
