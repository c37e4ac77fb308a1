/**
 * Messages of the `client` topic (docs/protocol.md §3.4–3.7, §8).
 *
 * `clientIngress` is what the portal pushes to a client; `clientEgress` what a client sends.
 * Both directions are shared by the engine's session (which parses ingress and validates its own
 * egress) and the dev portal (which validates what clients send and builds what it pushes).
 */
import { z } from 'zod';
import {
  candidateListSchema,
  disconnectSchema,
  emptyObjectSchema,
  filterSchema,
  flowLogsConfigSchema,
  iceCredentialsSchema,
  ignoredByType,
  ipv4Schema,
  ipv6Schema,
  key32Schema,
  lenientArray,
  outgoingCandidateListSchema,
  relayListSchema,
  relaysPresenceSchema,
  siteSchema,
  snownetCapabilitiesSchema,
  unixSecondsSchema,
  uuidSchema,
} from './common.js';

// ---------------------------------------------------------------------------------------------
// Interface (§3.7).

export const interfaceSchema = z.object({
  ipv4: ipv4Schema,
  ipv6: ipv6Schema,
  search_domain: z.string().nullable().optional().default(null),
  upstream_do53: z.array(z.object({ ip: z.union([ipv4Schema, ipv6Schema]) })).default([]),
  upstream_doh: z.array(z.object({ url: z.url({ protocol: /^https$/ }) })).default([]),
  // Legacy list, used only when `upstream_do53` is empty.
  upstream_dns: z.array(z.object({ protocol: z.literal('ip_port'), address: z.string() })).default([]),
});
export type ClientInterface = z.output<typeof interfaceSchema>;

// ---------------------------------------------------------------------------------------------
// Resources (§3.6). `sites` is the current key, `gateway_groups` the older one.

const sitesField = {
  sites: z.array(siteSchema).optional(),
  gateway_groups: z.array(siteSchema).optional(),
};

function normaliseSites<T extends { sites?: z.output<typeof siteSchema>[]; gateway_groups?: unknown }>(
  value: T,
  ctx: z.core.$RefinementCtx,
) {
  const { gateway_groups, sites, ...rest } = value;
  const list = sites ?? (gateway_groups as z.output<typeof siteSchema>[] | undefined);
  if (list === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected "sites" (or legacy "gateway_groups")',
      path: ['sites'],
    });
    return z.NEVER;
  }
  return { ...rest, sites: list };
}

export const ipStackSchema = z.enum(['dual', 'ipv4_only', 'ipv6_only']);

const dnsResourceSchema = z
  .object({
    id: uuidSchema,
    type: z.literal('dns'),
    address: z.string().min(1),
    name: z.string(),
    address_description: z.string().nullable().optional().default(null),
    ...sitesField,
    filters: z.array(filterSchema).default([]),
    ip_stack: ipStackSchema
      .nullable()
      .optional()
      .transform((stack) => stack ?? 'dual'),
  })
  .transform(normaliseSites);

const cidrResourceSchema = z
  .object({
    id: uuidSchema,
    type: z.literal('cidr'),
    address: z.union([z.cidrv4(), z.cidrv6()], { error: 'expected a CIDR network' }),
    name: z.string(),
    address_description: z.string().nullable().optional().default(null),
    ...sitesField,
    filters: z.array(filterSchema).default([]),
  })
  .transform(normaliseSites);

const internetResourceSchema = z
  .object({
    id: uuidSchema,
    type: z.literal('internet'),
    name: z.string().default('Internet Resource'),
    can_be_disabled: z.boolean().default(true),
    ...sitesField,
  })
  .transform(normaliseSites);

const devicePoolMemberSchema = z
  .object({
    client_id: uuidSchema.optional(),
    id: uuidSchema.optional(),
    ipv4: z.cidrv4(),
    ipv6: z.cidrv6(),
  })
  .transform(({ client_id, id, ...rest }, ctx) => {
    const memberId = client_id ?? id;
    if (memberId === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected "client_id"', path: ['client_id'] });
      return z.NEVER;
    }
    return { client_id: memberId, ...rest };
  });

const staticDevicePoolSchema = z.object({
  id: uuidSchema,
  type: z.literal('static_device_pool'),
  name: z.string(),
  devices: z.array(devicePoolMemberSchema).default([]),
  filters: z.array(filterSchema).default([]),
});

const dynamicDevicePoolSchema = z.object({
  id: uuidSchema,
  type: z.literal('dynamic_device_pool'),
  name: z.string(),
  address: z.string().min(1),
  filters: z.array(filterSchema).default([]),
});

export const clientResourceSchema = z.union([
  dnsResourceSchema,
  cidrResourceSchema,
  internetResourceSchema,
  staticDevicePoolSchema,
  dynamicDevicePoolSchema,
]);
export type ClientResource = z.output<typeof clientResourceSchema>;
export type DnsResource = z.output<typeof dnsResourceSchema>;
export type CidrResource = z.output<typeof cidrResourceSchema>;
export type InternetResource = z.output<typeof internetResourceSchema>;

export const CLIENT_RESOURCE_TYPES: ReadonlySet<string> = new Set([
  'dns',
  'cidr',
  'internet',
  'static_device_pool',
  'dynamic_device_pool',
]);

/** Picks the member of the union by `type` first, so errors name the right fields. */
const resourceByType = z.unknown().transform((value, ctx) => {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  const schema =
    type === 'dns'
      ? dnsResourceSchema
      : type === 'cidr'
        ? cidrResourceSchema
        : type === 'internet'
          ? internetResourceSchema
          : type === 'static_device_pool'
            ? staticDevicePoolSchema
            : type === 'dynamic_device_pool'
              ? dynamicDevicePoolSchema
              : undefined;
  if (schema === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected "type" to be a known resource type', path: ['type'] });
    return z.NEVER;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue } as z.core.$ZodRawIssue);
    return z.NEVER;
  }
  return parsed.data as ClientResource;
});

/** A single resource (`resource_created_or_updated`); unknown types are ignored by the parser. */
export const clientResourcePayloadSchema = resourceByType;

export const clientResourceListSchema = lenientArray(resourceByType, 'resources', (value) =>
  ignoredByType(value, CLIENT_RESOURCE_TYPES, 'resource'),
);

// ---------------------------------------------------------------------------------------------
// Portal → client (§3.4).

export const clientInitSchema = z.object({
  interface: interfaceSchema,
  resources: clientResourceListSchema.default([]),
  relays: relayListSchema.default([]),
  // Client-to-client authorizations (§8): kept opaque until device pools are implemented.
  authorizations: z.array(z.unknown()).default([]),
  flow_logs: flowLogsConfigSchema,
  // Our dev portal's extension (Firezone's portal does not send it; the GUI learns the name from
  // the sign-in redirect): who the token belongs to, for the headless client's status.
  actor: z
    .object({ name: z.string().max(256), email: z.string().max(320).nullable().default(null) })
    .optional()
    .catch(undefined),
});
export type ClientInit = z.output<typeof clientInitSchema>;

export const FAIL_REASONS = [
  'not_found',
  'offline',
  'version_mismatch',
  'forbidden',
  'disabled',
  'ambiguous_address',
  'missing_address',
  'invalid_address',
] as const;
export type FailReason = (typeof FAIL_REASONS)[number] | 'unknown';
/** Unknown strings become `unknown`, as the Rust client's `#[serde(other)]`. */
export const failReasonSchema = z
  .string()
  .transform((reason): FailReason =>
    (FAIL_REASONS as readonly string[]).includes(reason) ? (reason as FailReason) : 'unknown',
  );

export const VIOLATED_PROPERTIES = [
  'remote_ip_location_region',
  'remote_ip',
  'provider_id',
  'current_utc_datetime',
  'client_verified',
] as const;
export type ViolatedProperty = (typeof VIOLATED_PROPERTIES)[number] | 'unknown';
const violatedPropertySchema = z
  .string()
  .transform((value): ViolatedProperty =>
    (VIOLATED_PROPERTIES as readonly string[]).includes(value) ? (value as ViolatedProperty) : 'unknown',
  );

export const authorizationCreatedSchema = z
  .object({
    resource_id: uuidSchema,
    gateway_id: uuidSchema,
    gateway_public_key: key32Schema,
    gateway_ipv4: ipv4Schema,
    gateway_ipv6: ipv6Schema,
    site_id: uuidSchema.optional(),
    gateway_group_id: uuidSchema.optional(),
    preshared_key: key32Schema,
    client_ice_credentials: iceCredentialsSchema,
    gateway_ice_credentials: iceCredentialsSchema,
    use_iceless: z.boolean().default(false),
    // Required by the Rust client for flow logs; our client does not upload flow logs.
    flow_logs_ingest_token: z.string().optional(),
  })
  .transform(({ site_id, gateway_group_id, ...rest }, ctx) => {
    const site = site_id ?? gateway_group_id;
    if (site === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected "site_id" (or legacy "gateway_group_id")',
        path: ['site_id'],
      });
      return z.NEVER;
    }
    return { ...rest, site_id: site };
  });
export type AuthorizationCreated = z.output<typeof authorizationCreatedSchema>;

export const authorizationCreationFailedSchema = z.object({
  resource_id: uuidSchema,
  reason: failReasonSchema,
  violated_properties: z.array(violatedPropertySchema).default([]),
});

export const gatewayIceCandidatesSchema = z.object({
  gateway_id: uuidSchema,
  candidates: candidateListSchema,
});
export const clientIceCandidatesSchema = z.object({ client_id: uuidSchema, candidates: candidateListSchema });

const expiresAtSchema = unixSecondsSchema.nullable().optional().default(null);

export const clientDeviceAccessAuthorizedSchema = z.object({
  client_id: uuidSchema,
  client_name: z.string(),
  client_public_key: key32Schema,
  client_ipv4: ipv4Schema,
  client_ipv6: ipv6Schema,
  preshared_key: key32Schema,
  local_ice_credentials: iceCredentialsSchema,
  remote_ice_credentials: iceCredentialsSchema,
  ice_role: z.enum(['controlling', 'controlled']),
  use_iceless: z.boolean().default(false),
  resource: z
    .object({ id: uuidSchema, filters: z.array(filterSchema).default([]) })
    .nullable()
    .optional()
    .default(null),
  expires_at: expiresAtSchema,
  flow_logs_ingest_token: z.string().optional(),
});

export const clientDeviceAccessDeniedSchema = z.object({
  ipv4: ipv4Schema.optional(),
  ipv6: ipv6Schema.optional(),
  reason: failReasonSchema,
});

export const clientIceCandidateErrorSchema = z.object({ client_id: uuidSchema, reason: failReasonSchema });

export const devicePoolDomainResolvedSchema = z.object({
  resource_id: uuidSchema,
  domain: z.string().min(1),
  ipv4: ipv4Schema.nullable().optional().default(null),
  ipv6: ipv6Schema.nullable().optional().default(null),
});

export const devicePoolDomainResolutionFailedSchema = z.object({
  resource_id: uuidSchema,
  domain: z.string(),
  reason: failReasonSchema,
});

export const resourceFiltersUpdatedSchema = z.object({ id: uuidSchema, filters: z.array(filterSchema) });
export const rejectAccessSchema = z.object({ client_id: uuidSchema, resource_id: uuidSchema });

/** Every event the portal may push on the `client` topic, with its payload schema. */
export const clientIngress = {
  init: clientInitSchema,
  config_changed: z.object({ interface: interfaceSchema }),
  resource_created_or_updated: clientResourcePayloadSchema,
  resource_deleted: uuidSchema,
  relays_presence: relaysPresenceSchema,
  authorization_created: authorizationCreatedSchema,
  authorization_creation_failed: authorizationCreationFailedSchema,
  ice_candidates: gatewayIceCandidatesSchema,
  invalidate_ice_candidates: gatewayIceCandidatesSchema,
  client_device_access_authorized: clientDeviceAccessAuthorizedSchema,
  client_device_access_denied: clientDeviceAccessDeniedSchema,
  client_ice_candidates: clientIceCandidatesSchema,
  invalidate_client_ice_candidates: clientIceCandidatesSchema,
  client_ice_candidate_error: clientIceCandidateErrorSchema,
  device_pool_domain_resolved: devicePoolDomainResolvedSchema,
  device_pool_domain_resolution_failed: devicePoolDomainResolutionFailedSchema,
  resource_filters_updated: resourceFiltersUpdatedSchema,
  reject_access: rejectAccessSchema,
  disconnect: disconnectSchema,
} as const;

/** Events a client knows and deliberately ignores (§3.4: obsolete). */
export const clientIgnoredIngress: ReadonlySet<string> = new Set(['access_authorization_expiry_updated']);

// ---------------------------------------------------------------------------------------------
// Client → portal (§3.5).

export const requestAuthorizationSchema = z
  .object({
    resource_id: uuidSchema,
    connected_gateway_ids: z.array(uuidSchema).max(256).default([]),
    ipv4: ipv4Schema.optional(),
    ipv6: ipv6Schema.optional(),
  })
  .refine((value) => value.ipv4 === undefined || value.ipv6 === undefined, {
    error: 'at most one of "ipv4" and "ipv6" may be given',
    path: ['ipv6'],
  });

const outgoingGatewayCandidates = z.object({
  gateway_id: uuidSchema,
  candidates: outgoingCandidateListSchema,
});
const outgoingClientCandidates = z.object({ client_id: uuidSchema, candidates: outgoingCandidateListSchema });

export const clientEgress = {
  request_authorization: requestAuthorizationSchema,
  new_gateway_ice_candidates: outgoingGatewayCandidates,
  invalidate_gateway_ice_candidates: outgoingGatewayCandidates,
  new_client_ice_candidates: outgoingClientCandidates,
  invalidate_client_ice_candidates: outgoingClientCandidates,
  resolve_device_pool_domain: z.object({ resource_id: uuidSchema, domain: z.string().min(1).max(253) }),
  no_relays: emptyObjectSchema,
  set_snownet_capabilities: snownetCapabilitiesSchema,
  // Legacy, still accepted by the portal (§3.5).
  broadcast_ice_candidates: z.object({
    gateway_ids: z.array(uuidSchema),
    candidates: outgoingCandidateListSchema,
  }),
  broadcast_invalidated_ice_candidates: z.object({
    gateway_ids: z.array(uuidSchema),
    candidates: outgoingCandidateListSchema,
  }),
} as const;
