/**
 * Transport addresses (RFC 8489 §3: an IP address and a port) as the ICE and TURN cores pass them
 * around: the same shape as the data path's `Endpoint`, so values flow between them unchanged.
 * Text forms are canonical (RFC 5952 for IPv6), so two equal addresses compare equal as strings.
 */
import { formatIpv4, formatIpv6, parseIpAddress } from '../packet/address.js';

export interface TransportAddress {
  /** Dotted IPv4 or RFC 5952 IPv6 text, without brackets or zone. */
  readonly address: string;
  readonly port: number;
}

export type AddressFamily = 'ipv4' | 'ipv6';

export function familyOf(address: string): AddressFamily {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

/** A valid IP text and port, re-written in canonical form; undefined if either is invalid. */
export function canonicalTransportAddress(address: string, port: number): TransportAddress | undefined {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) return undefined;
  const bytes = parseIpAddress(address);
  if (bytes === null) return undefined;
  return { address: bytes.length === 4 ? formatIpv4(bytes) : formatIpv6(bytes), port };
}

export function sameTransportAddress(
  a: TransportAddress | undefined,
  b: TransportAddress | undefined,
): boolean {
  return a === b || (a !== undefined && b !== undefined && a.port === b.port && a.address === b.address);
}

/** `ip:port` or `[ip]:port`, for logs and map keys. */
export function formatTransportAddress(t: TransportAddress): string {
  return t.address.includes(':') ? `[${t.address}]:${t.port}` : `${t.address}:${t.port}`;
}
