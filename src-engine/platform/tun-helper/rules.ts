/**
 * What the privileged helper lets an app configure, whatever the app asks for: interface
 * addresses only inside the client's tunnel ranges (so no app can take over a LAN address or
 * shadow the host's own networks with a connected route), an MTU an IP stack can live with, DNS
 * servers only inside the tunnel (a desktop session cannot point the host's resolver at an
 * outside server), a search domain that is a DNS name. Routes may name any prefix (that is what
 * a VPN is for: the Internet resource routes 0.0.0.0/0) but always go via the session's own
 * device, which the request shape already guarantees: it has no field for another one.
 */
import { isIP } from 'node:net';
import { parseCidr } from '../../datapath/allowed-ips.js';
import { formatIp, parseIpAddress } from '../../packet/index.js';
import { contains } from '../../tunnel/routing-table.js';

/** The client's tunnel ranges (the portal hands out interface addresses from these). */
export const TUNNEL_IPV4_RANGE = '100.64.0.0/10';
export const TUNNEL_IPV6_RANGE = 'fd00:2021:1111::/48';
export const MIN_MTU = 1280;
export const MAX_MTU = 9000;

const RANGES = [parseCidr(TUNNEL_IPV4_RANGE), parseCidr(TUNNEL_IPV6_RANGE)];

/** Strict CIDR text: an IP literal, '/', a decimal prefix in range; nothing else (no spaces, no "dev"). */
export function parseStrictCidr(
  text: string,
): { address: string; prefix: number; family: 4 | 6 } | undefined {
  const match = /^([0-9A-Fa-f:.]{2,45})\/(\d{1,3})$/.exec(text);
  if (!match) return undefined;
  const family = isIP(match[1]!);
  const prefix = Number(match[2]);
  if (family === 0 || prefix > (family === 4 ? 32 : 128) || String(prefix) !== match[2]) return undefined;
  return { address: match[1]!, prefix, family: family as 4 | 6 };
}

/** True when the whole prefix lies inside one of the tunnel ranges. */
export function inTunnelRanges(cidr: string): boolean {
  const parsed = parseStrictCidr(cidr);
  if (!parsed) return false;
  const bytes = parseIpAddress(parsed.address);
  if (!bytes) return false;
  return RANGES.some(
    (r) => r.bytes.length === bytes.length && parsed.prefix >= r.prefix && contains(r, bytes),
  );
}

/** True when the address (no prefix) is inside one of the tunnel ranges. */
export function isTunnelAddress(address: string): boolean {
  if (isIP(address) === 0) return false;
  return inTunnelRanges(`${address}/${address.includes(':') ? 128 : 32}`);
}

/** A DNS name: labels of 1–63 letters, digits and inner hyphens (underscore allowed), ≤ 253 chars. */
export function isDnsName(name: string): boolean {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed.length === 0 || trimmed.length > 253) return false;
  return trimmed
    .split('.')
    .every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

export interface ApplyConfigShape {
  readonly addresses: readonly string[];
  readonly mtu: number;
  readonly routes: readonly string[];
  readonly dns: { readonly servers: readonly string[]; readonly searchDomain: string | null } | null;
}

/** Every rule the config breaks, as messages for the caller (empty: allowed). */
export function checkApplyConfig(config: ApplyConfigShape): string[] {
  const problems: string[] = [];
  for (const address of config.addresses) {
    if (!inTunnelRanges(address))
      problems.push(
        `address ${JSON.stringify(address)} is not inside the tunnel ranges ${TUNNEL_IPV4_RANGE} and ${TUNNEL_IPV6_RANGE}`,
      );
  }
  if (new Set(config.addresses).size !== config.addresses.length) problems.push('duplicate addresses');
  if (!Number.isInteger(config.mtu) || config.mtu < MIN_MTU || config.mtu > MAX_MTU)
    problems.push(`mtu ${config.mtu} is outside ${MIN_MTU}..${MAX_MTU}`);
  for (const route of config.routes) {
    if (!parseStrictCidr(route)) {
      problems.push(`route ${JSON.stringify(route.slice(0, 64))} is not a CIDR (address/prefix)`);
      break; // one is enough: a list of ten thousand bad routes need not be echoed
    }
  }
  if (config.dns) {
    for (const server of config.dns.servers) {
      if (!isTunnelAddress(server))
        problems.push(`DNS server ${JSON.stringify(server)} is not a tunnel address`);
    }
    const domain = config.dns.searchDomain;
    if (domain !== null && !isDnsName(domain))
      problems.push(`search domain ${JSON.stringify(domain.slice(0, 64))} is not a DNS name`);
  }
  return problems;
}

/** The CIDR with its host bits cleared (`ip route` refuses 10.1.2.3/8), in canonical text. */
export function canonicalCidr(text: string): string {
  const parsed = parseStrictCidr(text);
  const bytes = parsed && parseIpAddress(parsed.address);
  if (!parsed || !bytes) throw new TypeError(`not a CIDR: ${JSON.stringify(text)}`);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, parsed.prefix - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return `${formatIp(bytes)}/${parsed.prefix}`;
}
