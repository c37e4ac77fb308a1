/**
 * Messages of the `gateway` topic (docs/protocol.md §4.2–4.3).
 */
import { z } from 'zod';
import {
  candidateListSchema,
  disconnectSchema,
  emptyObjectSchema,
  filterSchema,
  flowLogsConfigSchema,
  iceCredentialsSchema,
  ipv4Schema,
  ipv6Schema,
  key32Schema,
  outgoingCandidateListSchema,
  relayListSchema,
  relaysPresenceSchema,
  snownetCapabilitiesSchema,
  unixSecondsSchema,
  uuidSchema,
} from './common.js';

export const gatewayInterfaceSchema = z.object({ ipv4: ipv4Schema, ipv6: ipv6Schema });

const dnsResourceSchema = z.object({
  id: uuidSchema,
  type: z.literal('dns'),
  address: z.string().min(1),
  name: z.string(),
  filters: z.array(filterSchema).default([]),
});
const cidrResourceSchema = z.object({
  id: uuidSchema,
  type: z.literal('cidr'),
  address: z.union([z.cidrv4(), z.cidrv6()], { error: 'expected a CIDR network' }),
  name: z.string(),
  filters: z.array(filterSchema).default([]),
});
const internetResourceSchema = z.object({ id: uuidSchema, type: z.literal('internet') });

export const gatewayResourceSchema = z.discriminatedUnion('type', [
  dnsResourceSchema,
  cidrResourceSchema,
  internetResourceSchema,
]);
export type GatewayResource = z.output<typeof gatewayResourceSchema>;

/** `expires_at` is unix seconds or `null` (never expires); the key may be missing (§4.2). */
const expiresAtSchema = unixSecondsSchema.nullable().optional().default(null);

export const gatewayInitSchema = z.object({
  interface: gatewayInterfaceSchema,
  config: z.object({
    ipv4_masquerade_enabled: z.boolean(),
    ipv6_masquerade_enabled: z.boolean(),
  }),
  relays: relayListSchema.default([]),
  account_slug: z.string().optional(),
  authorizations: z
    .array(z.object({ client_id: uuidSchema, resource_id: uuidSchema, expires_at: expiresAtSchema }))
    .default([]),
  flow_logs: flowLogsConfigSchema,
});
export type GatewayInit = z.output<typeof gatewayInitSchema>;

const nullableString = z.string().nullable().optional().default(null);

export const gatewayClientSchema = z.object({
  id: uuidSchema,
  public_key: key32Schema,
  preshared_key: key32Schema,
  ipv4: ipv4Schema,
  ipv6: ipv6Schema,
  version: nullableString,
  device_serial: nullableString,
  device_os_name: nullableString,
  device_os_version: nullableString,
  device_uuid: nullableString,
  firebase_installation_id: nullableString,
  identifier_for_vendor: nullableString,
});
export type GatewayClient = z.output<typeof gatewayClientSchema>;

export const createAuthorizationSchema = z.object({
  ref: z.string().min(1).max(1024),
  resource: gatewayResourceSchema,
  client: gatewayClientSchema,
  client_ice_credentials: iceCredentialsSchema,
  gateway_ice_credentials: iceCredentialsSchema,
  expires_at: expiresAtSchema,
  use_iceless: z.boolean().default(false),
  // Informational (who is behind the flow); the gateway does not act on it.
  subject: z.record(z.string(), z.unknown()).optional(),
  flow_logs_ingest_token: z.string().optional(),
});
export type CreateAuthorization = z.output<typeof createAuthorizationSchema>;

export const gatewayClientIceCandidatesSchema = z.object({
  client_id: uuidSchema,
  candidates: candidateListSchema,
});

export const gatewayRejectAccessSchema = z.object({ client_id: uuidSchema, resource_id: uuidSchema });

/** Every event the portal may push on the `gateway` topic. */
export const gatewayIngress = {
  init: gatewayInitSchema,
  create_authorization: createAuthorizationSchema,
  ice_candidates: gatewayClientIceCandidatesSchema,
  invalidate_ice_candidates: gatewayClientIceCandidatesSchema,
  reject_access: gatewayRejectAccessSchema,
  resource_updated: gatewayResourceSchema,
  relays_presence: relaysPresenceSchema,
  disconnect: disconnectSchema,
} as const;

/** Events a gateway knows and deliberately ignores (§4.2: obsolete). */
export const gatewayIgnoredIngress: ReadonlySet<string> = new Set(['access_authorization_expiry_updated']);

const broadcastCandidates = z.object({
  client_ids: z.array(uuidSchema).max(4096),
  candidates: outgoingCandidateListSchema,
});

export const gatewayEgress = {
  authorization_created: z.object({ ref: z.string().min(1).max(1024) }),
  broadcast_ice_candidates: broadcastCandidates,
  broadcast_invalidated_ice_candidates: broadcastCandidates,
  no_relays: emptyObjectSchema,
  set_snownet_capabilities: snownetCapabilitiesSchema,
} as const;
