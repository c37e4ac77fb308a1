/**
 * The dev portal's config file (YAML or JSON; see examples/portal/portal.example.yaml): account,
 * users, groups, sites with gateway tokens, resources, policies, relays and upstream DNS.
 *
 * Loading validates everything — shapes, formats, cross references, reserved address ranges —
 * and reports each problem with its path (`resources[2].address: …`). The result is the
 * signalling core's `Catalog` plus what only the portal needs (password hashes, token hashes).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEFAULT_CLIENT_HANDLER, RESERVED_IPV4, RESERVED_IPV6 } from '../src-engine/portal/constants.js';
import type { Filter } from '../src-engine/portal/messages/common.js';
import type { Catalog, CatalogResource } from './signalling/catalog.js';
import { derivedUuid } from './signalling/views.js';
import { parsePasswordHash } from './passwords.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid portal config ${file}:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

export interface ConfigUser {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly passwordHash: string | null;
}

export interface GatewayTokenEntry {
  /** Stable id (derived from the hash) used in logs and revocation; never the token. */
  readonly id: string;
  readonly sha256: string;
  readonly siteId: string;
}

export interface PortalLimits {
  /** Client devices (distinct `external_id`s) a user may have; a new one beyond is refused (402). */
  readonly devicesPerUser: number;
  /** Gateways (distinct `external_id`s) a site may have; a new one beyond is refused (402). */
  readonly gatewaysPerSite: number;
}

export interface PortalConfig {
  readonly file: string;
  readonly catalog: Catalog;
  readonly users: readonly ConfigUser[];
  readonly gatewayTokens: readonly GatewayTokenEntry[];
  /** Caps of `limits:` (devices per user, gateways per site). */
  readonly limits: PortalLimits;
  /** Lifetime of client tokens minted at sign-in or by `mint-token`, seconds. */
  readonly clientTokenTtlSeconds: number;
  /** Deep-link prefix of the app, e.g. `firezone-fd0020211111://`. */
  readonly clientHandler: string;
  /** The portal's external base URL (no trailing slash), or null for its own listen address. */
  readonly publicUrl: string | null;
  readonly identityProviders: readonly IdentityProviderConfig[];
}

/** An OpenID Connect provider users may sign in through (`identity_providers[]`). */
export interface IdentityProviderConfig {
  /** Path segment of `/auth/oidc/<id>/…`. */
  readonly id: string;
  /** Shown on the button "Sign in with <name>". */
  readonly name: string;
  /** Issuer identifier, exactly as the provider's discovery document states it. */
  readonly issuer: string;
  readonly clientId: string;
  /**
   * Reads the client secret (inline, or from the environment at the moment of use); undefined
   * for a public client or an unset variable. A function, so the secret is never part of a
   * serialised config object.
   */
  readonly clientSecret: () => string | undefined;
  /** Where the secret comes from, for messages: `inline`, `env:<NAME>` or `none`. */
  readonly clientSecretSource: string;
  readonly scopes: readonly string[];
  /** The ID token (or UserInfo) claim that holds the user's email. */
  readonly emailClaim: string;
  /** Refuse sign-ins whose `email_verified` claim is not true. */
  readonly requireEmailVerified: boolean;
}

// ---------------------------------------------------------------------------------------------
// File schema.

const DURATION = /^(\d+)\s*(s|m|h|d)$/;
const durationSchema = z.union([
  z.number().int().positive(),
  z.string().regex(DURATION, { error: 'expected a duration like "3600s", "90m", "12h" or "30d"' }),
]);

function durationSeconds(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = DURATION.exec(value)!;
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's' | 'm' | 'h' | 'd'];
}

const optionalId = z.guid({ error: 'expected a UUID' }).optional();
const nameSchema = z.string().trim().min(1).max(255);
const PORTS = /^(\d{1,5})(?:-(\d{1,5}))?$/;

const LOOPBACK_HOSTS = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** The issuer must be https, or http on a loopback host (a local provider in dev and tests). */
function issuerProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'expected an absolute URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.test(url.hostname)))
    return 'expected an https:// URL (http:// only for 127.0.0.1, [::1] or localhost)';
  if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#'))
    return 'an issuer has no query or fragment';
  if (url.username !== '' || url.password !== '') return 'an issuer has no user name or password';
  return undefined;
}

const identityProviderSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, {
      error: 'expected lowercase letters, digits, "-" or "_" (max 64)',
    }),
    name: nameSchema,
    issuer: z
      .string()
      .trim()
      .max(2048)
      .superRefine((value, ctx) => {
        const problem = issuerProblem(value);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
    client_id: z.string().trim().min(1).max(1024),
    client_secret: z.string().min(1).max(4096).optional(),
    client_secret_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, { error: 'expected an environment variable name' })
      .optional(),
    scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/, { error: 'expected a scope token' }))
      .min(1)
      .max(32)
      .default(['openid', 'email', 'profile']),
    email_claim: z.string().trim().min(1).max(128).default('email'),
    require_email_verified: z.boolean().default(false),
  })
  .strict();

const filterSchema = z.discriminatedUnion('protocol', [
  z
    .object({
      protocol: z.enum(['tcp', 'udp']),
      ports: z.array(z.union([z.string(), z.number().int()])).optional(),
    })
    .strict(),
  z.object({ protocol: z.literal('icmp') }).strict(),
]);

const resourceSchema = z
  .object({
    id: optionalId,
    name: nameSchema,
    type: z.enum(['dns', 'cidr', 'internet']),
    address: z.string().trim().min(1).optional(),
    description: z.string().max(512).nullable().optional(),
    site: nameSchema,
    ip_stack: z.enum(['dual', 'ipv4_only', 'ipv6_only']).optional(),
    filters: z.array(filterSchema).optional(),
  })
  .strict();

const fileSchema = z
  .object({
    account: z
      .object({
        id: optionalId,
        slug: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, {
          error: 'expected lowercase letters, digits, "-" or "_" (max 64)',
        }),
        name: nameSchema,
        iceless: z.boolean().default(false),
      })
      .strict(),
    client_token_ttl: durationSchema.default('30d'),
    client_handler: z
      .string()
      .regex(/^[a-z][a-z0-9+.-]*:\/\/$/, {
        error: 'expected a URL scheme prefix like "firezone-fd0020211111://"',
      })
      .default(DEFAULT_CLIENT_HANDLER),
    public_url: z
      .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
      .refine((value) => !/[?#]/.test(value), { error: 'expected a URL without query or fragment' })
      .optional(),
    identity_providers: z.array(identityProviderSchema).max(16).default([]),
    users: z
      .array(
        z
          .object({
            id: optionalId,
            email: z.email({ error: 'expected an email address' }).transform((email) => email.toLowerCase()),
            name: nameSchema,
            password_hash: z.string().optional(),
            groups: z.array(nameSchema).default([]),
          })
          .strict(),
      )
      .default([]),
    groups: z.array(z.object({ id: optionalId, name: nameSchema }).strict()).default([]),
    sites: z
      .array(
        z
          .object({
            id: optionalId,
            name: nameSchema,
            gateway_tokens: z
              .array(
                z.union([
                  z
                    .object({
                      sha256: z
                        .string()
                        .regex(/^[0-9a-f]{64}$/, { error: 'expected 64 lowercase hex digits' }),
                    })
                    .strict(),
                  z
                    .object({
                      token: z.string().min(16, { error: 'gateway tokens must have at least 16 characters' }),
                    })
                    .strict(),
                ]),
              )
              .default([]),
          })
          .strict(),
      )
      .default([]),
    resources: z.array(resourceSchema).default([]),
    policies: z
      .array(
        z
          .object({
            id: optionalId,
            group: nameSchema,
            resource: nameSchema,
            // After this instant the policy grants nothing; authorizations it gave end then.
            expires_at: z.iso.datetime({ offset: true }).optional(),
          })
          .strict(),
      )
      .default([]),
    relays: z
      .array(
        z
          .object({
            id: optionalId,
            name: nameSchema,
            urls: z.array(z.string()).min(1).max(2),
            secret: z.string().min(8, { error: 'relay secrets must have at least 8 characters' }),
          })
          .strict(),
      )
      .default([]),
    dns: z
      .object({
        upstream_do53: z.array(z.string()).default([]),
        upstream_doh: z.array(z.url({ protocol: /^https$/, error: 'expected an https:// URL' })).default([]),
        search_domain: z.string().nullable().default(null),
      })
      .strict()
      .default({ upstream_do53: [], upstream_doh: [], search_domain: null }),
    limits: z
      .object({
        devices_per_user: z.number().int().min(1).max(100_000).default(50),
        gateways_per_site: z.number().int().min(1).max(100_000).default(50),
      })
      .strict()
      .default({ devices_per_user: 50, gateways_per_site: 50 }),
  })
  .strict();

type ConfigFile = z.output<typeof fileSchema>;

// ---------------------------------------------------------------------------------------------

/** Reads, parses and validates a config file. Throws `ConfigError` listing every problem. */
export function loadConfig(file: string): PortalConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file = '<config>'): PortalConfig {
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (error) {
    throw new ConfigError(file, [
      `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`,
    ]);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      file,
      parsed.error.issues.slice(0, 20).map((issue) => `${formatPath(issue.path)}: ${issue.message}`),
    );
  }
  const problems: string[] = [];
  const config = resolve(parsed.data, file, problems);
  if (problems.length > 0) throw new ConfigError(file, problems);
  return config;
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path.reduce<string>(
    (out, key) =>
      typeof key === 'number' ? `${out}[${key}]` : out.length === 0 ? String(key) : `${out}.${String(key)}`,
    '',
  );
}

const RESERVED = new BlockList();
RESERVED.addSubnet(RESERVED_IPV4.split('/')[0]!, Number(RESERVED_IPV4.split('/')[1]), 'ipv4');
RESERVED.addSubnet(RESERVED_IPV6.split('/')[0]!, Number(RESERVED_IPV6.split('/')[1]), 'ipv6');

function isReserved(ip: string): boolean {
  return RESERVED.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6');
}

function resolve(file: ConfigFile, path: string, problems: string[]): PortalConfig {
  const slug = file.account.slug;
  const accountId = file.account.id ?? derivedUuid(`fz-dev-portal|${slug}|account`);
  const idFor = (kind: string, key: string, explicit: string | undefined): string =>
    explicit?.toLowerCase() ?? derivedUuid(`fz-dev-portal|${accountId}|${kind}|${key}`);

  const unique = (kind: string, names: readonly string[]): void => {
    const seen = new Set<string>();
    names.forEach((name, index) => {
      const key = name.toLowerCase();
      if (seen.has(key)) problems.push(`${kind}[${index}]: duplicate name "${name}"`);
      seen.add(key);
    });
  };
  unique(
    'groups',
    file.groups.map((group) => group.name),
  );
  unique(
    'sites',
    file.sites.map((site) => site.name),
  );
  unique(
    'resources',
    file.resources.map((resource) => resource.name),
  );
  unique(
    'relays',
    file.relays.map((relay) => relay.name),
  );
  unique(
    'users',
    file.users.map((user) => user.email),
  );
  unique(
    'identity_providers',
    file.identity_providers.map((provider) => provider.id),
  );

  const groups = file.groups.map((group) => ({
    id: idFor('group', group.name.toLowerCase(), group.id),
    name: group.name,
  }));
  const groupByName = new Map(groups.map((group) => [group.name.toLowerCase(), group]));
  const sites = file.sites.map((site) => ({
    id: idFor('site', site.name.toLowerCase(), site.id),
    name: site.name,
  }));
  const siteByName = new Map(sites.map((site) => [site.name.toLowerCase(), site]));

  const users: ConfigUser[] = [];
  const actors = file.users.map((user, index) => {
    const id = idFor('user', user.email, user.id);
    const groupIds = user.groups.flatMap((name) => {
      const group = groupByName.get(name.toLowerCase());
      if (!group) problems.push(`users[${index}].groups: unknown group "${name}"`);
      return group ? [group.id] : [];
    });
    if (user.password_hash !== undefined) {
      try {
        parsePasswordHash(user.password_hash);
      } catch (error) {
        problems.push(`users[${index}].password_hash: ${(error as Error).message}`);
      }
    }
    users.push({ id, email: user.email, name: user.name, passwordHash: user.password_hash ?? null });
    return { id, name: user.name, email: user.email, groupIds };
  });

  const gatewayTokens: GatewayTokenEntry[] = [];
  file.sites.forEach((site, index) => {
    const siteId = sites[index]!.id;
    for (const entry of site.gateway_tokens) {
      const sha256 =
        'sha256' in entry ? entry.sha256 : createHash('sha256').update(entry.token, 'utf8').digest('hex');
      if (gatewayTokens.some((other) => other.sha256 === sha256)) {
        problems.push(`sites[${index}].gateway_tokens: a gateway token is listed twice`);
        continue;
      }
      gatewayTokens.push({ id: `gw-${sha256.slice(0, 16)}`, sha256, siteId });
    }
  });

  const resources: CatalogResource[] = [];
  let internetCount = 0;
  file.resources.forEach((resource, index) => {
    const where = `resources[${index}]`;
    const site = siteByName.get(resource.site.toLowerCase());
    if (!site) problems.push(`${where}.site: unknown site "${resource.site}"`);
    const id = idFor('resource', resource.name.toLowerCase(), resource.id);
    const filters = resolveFilters(resource.filters ?? [], `${where}.filters`, problems);
    const siteId = site?.id ?? '';
    switch (resource.type) {
      case 'internet': {
        internetCount += 1;
        if (resource.address !== undefined)
          problems.push(`${where}.address: the internet resource has no address`);
        if (resource.filters !== undefined)
          problems.push(`${where}.filters: the internet resource has no filters`);
        resources.push({ id, type: 'internet', name: resource.name, siteId });
        return;
      }
      case 'cidr': {
        const address = resolveCidr(resource.address, `${where}.address`, problems);
        if (resource.ip_stack !== undefined)
          problems.push(`${where}.ip_stack: only DNS resources have an ip_stack`);
        resources.push({
          id,
          type: 'cidr',
          name: resource.name,
          address,
          addressDescription: resource.description ?? null,
          siteId,
          filters,
        });
        return;
      }
      case 'dns': {
        const address = resource.address?.toLowerCase() ?? '';
        const patternProblem = dnsPatternProblem(address);
        if (patternProblem !== undefined) problems.push(`${where}.address: ${patternProblem}`);
        resources.push({
          id,
          type: 'dns',
          name: resource.name,
          address,
          addressDescription: resource.description ?? null,
          siteId,
          filters,
          ipStack: resource.ip_stack ?? 'dual',
        });
        return;
      }
    }
  });
  if (internetCount > 1) problems.push('resources: at most one resource may be of type "internet"');
  const resourceByName = new Map(
    file.resources.map((resource, index) => [resource.name.toLowerCase(), resources[index]!]),
  );

  const policies = file.policies.flatMap((policy, index) => {
    const group = groupByName.get(policy.group.toLowerCase());
    const resource = resourceByName.get(policy.resource.toLowerCase());
    if (!group) problems.push(`policies[${index}].group: unknown group "${policy.group}"`);
    if (!resource) problems.push(`policies[${index}].resource: unknown resource "${policy.resource}"`);
    if (!group || !resource) return [];
    return [
      {
        id: idFor('policy', `${group.id}|${resource.id}`, policy.id),
        groupId: group.id,
        resourceId: resource.id,
        ...(policy.expires_at !== undefined
          ? { expiresAt: Math.floor(Date.parse(policy.expires_at) / 1000) }
          : {}),
      },
    ];
  });

  const relays = file.relays.map((relay, index) => ({
    id: idFor('relay', relay.name.toLowerCase(), relay.id),
    name: relay.name,
    secret: relay.secret,
    addresses: relay.urls.flatMap((url, urlIndex) => {
      const address = parseTurnUrl(url);
      if (typeof address === 'string') {
        problems.push(`relays[${index}].urls[${urlIndex}]: ${address}`);
        return [];
      }
      return [address];
    }),
  }));

  file.dns.upstream_do53.forEach((ip, index) => {
    if (!isIPv4(ip) && !isIPv6(ip))
      problems.push(`dns.upstream_do53[${index}]: expected an IP address, got "${ip}"`);
    else if (isReserved(ip))
      problems.push(`dns.upstream_do53[${index}]: ${ip} is inside the reserved tunnel ranges`);
  });
  const search = file.dns.search_domain;
  if (
    search !== null &&
    !/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(
      search,
    )
  ) {
    problems.push(`dns.search_domain: "${search}" is not a domain name`);
  }

  const identityProviders = file.identity_providers.map((provider, index): IdentityProviderConfig => {
    const where = `identity_providers[${index}]`;
    if (provider.client_secret !== undefined && provider.client_secret_env !== undefined)
      problems.push(`${where}: give client_secret or client_secret_env, not both`);
    if (!provider.scopes.includes('openid')) problems.push(`${where}.scopes: must include "openid"`);
    const inline = provider.client_secret;
    const envName = provider.client_secret_env;
    return {
      id: provider.id,
      name: provider.name,
      issuer: provider.issuer,
      clientId: provider.client_id,
      clientSecret:
        inline !== undefined
          ? () => inline
          : envName !== undefined
            ? () => process.env[envName] || undefined
            : () => undefined,
      clientSecretSource: inline !== undefined ? 'inline' : envName !== undefined ? `env:${envName}` : 'none',
      scopes: [...new Set(provider.scopes)],
      emailClaim: provider.email_claim,
      requireEmailVerified: provider.require_email_verified,
    };
  });

  const catalog: Catalog = {
    account: { id: accountId, slug, name: file.account.name, iceless: file.account.iceless },
    sites,
    resources,
    actors,
    groups,
    policies,
    relays,
    dns: { upstreamDo53: file.dns.upstream_do53, upstreamDoh: file.dns.upstream_doh, searchDomain: search },
  };
  return {
    file: path,
    catalog,
    users,
    gatewayTokens,
    limits: { devicesPerUser: file.limits.devices_per_user, gatewaysPerSite: file.limits.gateways_per_site },
    clientTokenTtlSeconds: durationSeconds(file.client_token_ttl),
    clientHandler: file.client_handler,
    publicUrl: file.public_url === undefined ? null : file.public_url.replace(/\/+$/, ''),
    identityProviders,
  };
}

function resolveFilters(
  filters: readonly z.output<typeof filterSchema>[],
  where: string,
  problems: string[],
): Filter[] {
  const out: Filter[] = [];
  filters.forEach((filter, index) => {
    if (filter.protocol === 'icmp') {
      out.push({ protocol: 'icmp' });
      return;
    }
    const ports = filter.ports ?? [];
    if (ports.length === 0) {
      out.push({ protocol: filter.protocol, port_range_start: 0, port_range_end: 65_535 });
      return;
    }
    ports.forEach((port, portIndex) => {
      const match = PORTS.exec(String(port).trim());
      const start = match ? Number(match[1]) : NaN;
      const end = match ? Number(match[2] ?? match[1]) : NaN;
      if (!match || start > 65_535 || end > 65_535 || start > end) {
        problems.push(
          `${where}[${index}].ports[${portIndex}]: expected a port "N" or range "N-M" within 0-65535`,
        );
        return;
      }
      out.push({ protocol: filter.protocol, port_range_start: start, port_range_end: end });
    });
  });
  return out;
}

function resolveCidr(address: string | undefined, where: string, problems: string[]): string {
  if (address === undefined) {
    problems.push(`${where}: a cidr resource needs an address`);
    return '';
  }
  const [ip, prefixText] = address.includes('/') ? address.split('/') : [address, undefined];
  const v4 = isIPv4(ip!);
  const v6 = isIPv6(ip!);
  if (!v4 && !v6) {
    problems.push(`${where}: "${address}" is not an IP network`);
    return address;
  }
  const bits = v4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > bits ||
    (prefixText !== undefined && !/^\d+$/.test(prefixText))
  ) {
    problems.push(`${where}: prefix length must be 0-${bits}`);
    return address;
  }
  const network = maskAddress(ip!, prefix, v4);
  if (network !== canonical(ip!, v4)) {
    problems.push(`${where}: "${address}" has host bits set; the network is ${network}/${prefix}`);
  }
  const probe = new BlockList();
  probe.addSubnet(network, prefix, v4 ? 'ipv4' : 'ipv6');
  const reservedNet = v4 ? RESERVED_IPV4 : RESERVED_IPV6;
  // Two networks overlap iff one contains the other's network address.
  if (probe.check(reservedNet.split('/')[0]!, v4 ? 'ipv4' : 'ipv6') || isReserved(network)) {
    problems.push(`${where}: ${network}/${prefix} overlaps the reserved tunnel range ${reservedNet}`);
  }
  return `${network}/${prefix}`;
}

function toBigInt(ip: string, v4: boolean): bigint {
  if (v4) return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const headParts = head ? head.split(':').filter((part) => part.length > 0) : [];
  const tailParts = tail ? tail.split(':').filter((part) => part.length > 0) : [];
  const expand = (parts: string[]): string[] =>
    parts.flatMap((part) => {
      if (!part.includes('.')) return [part];
      const value = toBigInt(part, true);
      return [((value >> 16n) & 0xffffn).toString(16), (value & 0xffffn).toString(16)];
    });
  const h = expand(headParts);
  const t = expand(tailParts);
  const missing = tail === undefined ? 0 : 8 - h.length - t.length;
  const groups = [...h, ...Array<string>(missing).fill('0'), ...t];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function fromBigInt(value: bigint, v4: boolean): string {
  if (v4) return [24n, 16n, 8n, 0n].map((shift) => ((value >> shift) & 0xffn).toString()).join('.');
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j += 1;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

function maskAddress(ip: string, prefix: number, v4: boolean): string {
  const bits = v4 ? 32n : 128n;
  const value = toBigInt(ip, v4);
  const mask = prefix === 0 ? 0n : ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
  return fromBigInt(value & mask, v4);
}

function canonical(ip: string, v4: boolean): string {
  return fromBigInt(toBigInt(ip, v4), v4);
}

export const ipMath = { toBigInt, fromBigInt };

/**
 * A DNS resource pattern (§2.4): labels of letters, digits, `-`, `_`, `*`, `?`; `**` only as a
 * whole label; at least one label without wildcards.
 */
export function dnsPatternProblem(address: string): string | undefined {
  if (address.length === 0) return 'a dns resource needs an address';
  if (address.length > 253) return 'longer than 253 characters';
  const labels = address.replace(/\.$/, '').split('.');
  if (labels.some((label) => label.length === 0 || label.length > 63))
    return `"${address}" has an empty or over-long label`;
  for (const label of labels) {
    if (!/^[a-z0-9_*?-]+$/.test(label))
      return `"${address}": label "${label}" has characters other than a-z 0-9 - _ * ?`;
    if (label.includes('**') && label !== '**') return `"${address}": "**" must be a whole label`;
  }
  if (!labels.some((label) => !/[*?]/.test(label)))
    return `"${address}" must contain at least one label without wildcards`;
  return undefined;
}

/** `turn:host:port` (or `turn:[v6]:port`, port default 3478) with an IP host. */
export function parseTurnUrl(url: string): { ip: string; port: number } | string {
  const match = /^turn:(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?(?:\?transport=udp)?$/.exec(url.trim());
  if (!match) return `expected "turn:<ip>[:port]" (UDP), got "${url}"`;
  const ip = match[1] ?? match[2]!;
  if (match[1] !== undefined ? !isIPv6(ip) : !isIPv4(ip)) {
    return `"${ip}" is not an IP address (the portal sends relays as ip:port, without DNS)`;
  }
  const port = match[3] === undefined ? 3478 : Number(match[3]);
  if (port < 1 || port > 65_535) return `port ${port} is out of range`;
  return { ip, port };
}
