/**
 * How the portal renders its objects on the wire (docs/protocol.md §3.6–3.8, §4.2, §4.5).
 */
import { createHash, createHmac } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { turnRestCredentials } from '../../src-engine/portal/credentials.js';
import type { CatalogDns, CatalogRelay, CatalogResource, CatalogSite } from './catalog.js';

export function clientResourceView(resource: CatalogResource, site: CatalogSite): Record<string, unknown> {
  const sites = [{ id: site.id, name: site.name }];
  switch (resource.type) {
    case 'dns':
      return {
        id: resource.id,
        type: 'dns',
        address: resource.address,
        name: resource.name,
        address_description: resource.addressDescription,
        sites,
        filters: resource.filters,
        ip_stack: resource.ipStack,
      };
    case 'cidr':
      return {
        id: resource.id,
        type: 'cidr',
        address: resource.address,
        name: resource.name,
        address_description: resource.addressDescription,
        sites,
        filters: resource.filters,
      };
    case 'internet':
      return { id: resource.id, type: 'internet', name: resource.name, can_be_disabled: true, sites };
  }
}

export function gatewayResourceView(resource: CatalogResource): Record<string, unknown> {
  switch (resource.type) {
    case 'dns':
      return {
        id: resource.id,
        type: 'dns',
        address: resource.address,
        name: resource.name,
        filters: resource.filters,
      };
    case 'cidr':
      return {
        id: resource.id,
        type: 'cidr',
        address: resource.address,
        name: resource.name,
        filters: resource.filters,
      };
    case 'internet':
      return { id: resource.id, type: 'internet' };
  }
}

export function clientInterfaceView(ipv4: string, ipv6: string, dns: CatalogDns): Record<string, unknown> {
  return {
    ipv4,
    ipv6,
    search_domain: dns.searchDomain,
    upstream_do53: dns.upstreamDo53.map((ip) => ({ ip })),
    upstream_doh: dns.upstreamDoh.map((url) => ({ url })),
    // Legacy list for clients that predate `upstream_do53` (§3.7).
    upstream_dns: dns.upstreamDo53.map((ip) => ({
      protocol: 'ip_port',
      address: isIPv6(ip) ? `[${ip}]:53` : `${ip}:53`,
    })),
  };
}

/** Flow logs are not collected by the dev portal: uploads disabled (§4.5). */
export const FLOW_LOGS_DISABLED = { api_url: '', upload_interval_secs: 0, upload_batch_size: 0 } as const;

/**
 * Relays for one device: at most `limit`, chosen by a stable hash of (device, relay) so a device
 * keeps its relays across reconnects while devices spread over relays. Each address is one
 * object; a dual-stack relay is two objects with the same id (§3.8).
 */
export function relayViews(
  relays: readonly CatalogRelay[],
  deviceId: string,
  expiresAt: number,
  limit = 2,
): Record<string, unknown>[] {
  const ranked = [...relays].sort((a, b) => rank(deviceId, a.id).localeCompare(rank(deviceId, b.id)));
  const out: Record<string, unknown>[] = [];
  for (const relay of ranked.slice(0, limit)) {
    const { username, password } = turnRestCredentials(relay.secret, deviceId, expiresAt);
    for (const address of relay.addresses) {
      out.push({
        id: relay.id,
        type: 'turn',
        addr: isIPv6(address.ip) ? `[${address.ip}]:${address.port}` : `${address.ip}:${address.port}`,
        username,
        password,
        expires_at: expiresAt,
      });
    }
  }
  return out;
}

function rank(deviceId: string, relayId: string): string {
  return createHash('sha256').update(`${deviceId}|${relayId}`).digest('hex');
}

export interface IngestClaims {
  readonly account_id: string;
  readonly iat: number;
  readonly exp: number;
  readonly uploads_enabled: boolean;
  readonly role: 'initiator' | 'responder';
  readonly initiator_device_id: string;
  readonly responder_device_id: string;
  readonly policy_authorization_id: string;
  readonly policy_id: string;
  readonly resource_id: string;
  readonly resource_name: string;
  readonly initiator_actor_id: string;
  readonly initiator_actor_name: string;
  readonly authorized_at: string;
  readonly authorization_expires_at: string;
  readonly resource_address?: string | null;
  readonly initiator_actor_email?: string | null;
  readonly initiator_client_version?: string | null;
  readonly initiator_device_os_name?: string | null;
  readonly initiator_device_os_version?: string | null;
}

/**
 * A JWT-shaped flow-log ingest token (HS256 over base64url segments), which the Rust client and
 * gateway require in authorizations (§4.5). Our own components ignore it.
 */
export function mintIngestToken(claims: IngestClaims, key: Uint8Array): string {
  const header = base64url(Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));
  const payload = base64url(Buffer.from(JSON.stringify(claims)));
  const signature = base64url(createHmac('sha256', key).update(`${header}.${payload}`).digest());
  return `${header}.${payload}.${signature}`;
}

function base64url(bytes: Buffer): string {
  return bytes.toString('base64url');
}

/** A UUID-shaped id derived from a string (SHA-256, version 8 and RFC 9562 variant bits). */
export function derivedUuid(seed: string): string {
  const bytes = createHash('sha256').update(seed, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
