/**
 * Building blocks of the portal message schemas (docs/protocol.md §3.4–3.8, §4.2–4.3).
 *
 * Rules shared by every schema here:
 * - unknown object keys are ignored (zod strips them), so a newer portal can add fields;
 * - a wrong type or format is an error naming the field;
 * - lists the Rust client parses with `VecSkipError` (resources, relays, candidates) are
 *   lenient: a bad entry is skipped and reported as a warning, the rest is kept.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Warnings collected while parsing one message (lenient lists report skipped entries here).

let warningSink: string[] | undefined;

/** Runs `parse` and returns its result together with the warnings the lenient lists raised. */
export function collectWarnings<T>(parse: () => T): { result: T; warnings: string[] } {
  const previous = warningSink;
  const warnings: string[] = [];
  warningSink = warnings;
  try {
    return { result: parse(), warnings };
  } finally {
    warningSink = previous;
  }
}

function warn(text: string): void {
  warningSink?.push(text);
}

/** One zod issue as "field \"a.b\": message". Values are never included: they may be secrets. */
export function describeIssue(
  issue: z.core.$ZodIssue | undefined,
  prefix: readonly PropertyKey[] = [],
): string {
  if (issue === undefined) return 'invalid value';
  const path = [...prefix, ...issue.path].map(String).join('.');
  return path.length > 0 ? `field "${path}": ${issue.message}` : issue.message;
}

/**
 * An array whose entries are validated one by one: entries that fail are skipped with a warning,
 * entries for which `ignore` returns a note are skipped silently (forward compatibility).
 */
export function lenientArray<T extends z.ZodType>(
  item: T,
  label: string,
  ignore?: (value: unknown) => string | undefined,
) {
  return z.array(z.unknown()).transform((values) => {
    const out: z.output<T>[] = [];
    values.forEach((value, index) => {
      if (ignore?.(value) !== undefined) return;
      const parsed = item.safeParse(value);
      if (parsed.success) out.push(parsed.data);
      else warn(`${label}[${index}] skipped: ${describeIssue(parsed.error.issues[0])}`);
    });
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Scalars.

/** Firezone ids are UUIDs; like the Rust `uuid` crate we accept any 8-4-4-4-12 hex string. */
export const uuidSchema = z.guid({ error: 'expected a UUID' }).transform((id) => id.toLowerCase());

export const ipv4Schema = z.string().refine((value) => isIPv4(value), { error: 'expected an IPv4 address' });
export const ipv6Schema = z.string().refine((value) => isIPv6(value), { error: 'expected an IPv6 address' });

const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;
/** Standard base64 of 32 bytes: exactly 44 characters (WireGuard keys, PSKs). */
export const key32Schema = z.string().refine((value) => BASE64_KEY.test(value), {
  error: 'expected 32 bytes in standard base64 (44 characters)',
});

export function isBase64Key32(value: string): boolean {
  return BASE64_KEY.test(value);
}

/** `ip:port` or `[ipv6]:port`, as Rust's `SocketAddr` parses it. */
export function parseSocketAddr(value: string): { ip: string; port: number } | undefined {
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value);
  const plain = /^([^:]+):(\d{1,5})$/.exec(value);
  const match = bracketed ?? plain;
  if (!match) return undefined;
  const ip = match[1]!;
  const port = Number(match[2]);
  if (port > 65_535) return undefined;
  if (bracketed ? !isIPv6(ip) : !isIPv4(ip)) return undefined;
  return { ip, port };
}

export const socketAddrSchema = z
  .string()
  .refine((value) => parseSocketAddr(value) !== undefined, { error: 'expected "ip:port" or "[ipv6]:port"' });

/** Unix seconds. */
export const unixSecondsSchema = z.number().int().nonnegative();

// ---------------------------------------------------------------------------------------------
// ICE.

export const iceCredentialsSchema = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
});
export type IceCredentials = z.output<typeof iceCredentialsSchema>;

/**
 * The receiver's rule for an SDP candidate (docs/protocol.md §5.3): it must start with
 * `candidate:` and its fourth field (the priority) must be numeric.
 */
export function isValidCandidate(value: unknown): value is string {
  if (typeof value !== 'string' || !value.startsWith('candidate:') || value.length > 512) return false;
  const fields = value.split(/\s+/);
  return fields.length >= 4 && /^\d+$/.test(fields[3]!);
}

/** A received candidate list: entries that are not valid candidates are skipped. */
export const candidateListSchema = z.array(z.unknown()).transform((values) => {
  const out: string[] = [];
  values.forEach((value, index) => {
    if (isValidCandidate(value)) out.push(value);
    else warn(`candidates[${index}] skipped: not an SDP "candidate:" line`);
  });
  return out;
});

/** A candidate list we send: every entry must be valid (a bug otherwise). */
export const outgoingCandidateListSchema = z.array(
  z.string().refine(isValidCandidate, { error: 'expected an SDP "candidate:" line with a numeric priority' }),
);

// ---------------------------------------------------------------------------------------------
// Filters, sites, relays.

const portSchema = z.number().int().min(0).max(65_535);

export const filterSchema = z.discriminatedUnion('protocol', [
  z.object({
    protocol: z.literal('tcp'),
    port_range_start: portSchema.default(0),
    port_range_end: portSchema.default(65_535),
  }),
  z.object({
    protocol: z.literal('udp'),
    port_range_start: portSchema.default(0),
    port_range_end: portSchema.default(65_535),
  }),
  z.object({ protocol: z.literal('icmp') }),
]);
export type Filter = z.output<typeof filterSchema>;

export const siteSchema = z.object({ id: uuidSchema, name: z.string() });
export type Site = z.output<typeof siteSchema>;

const turnRelaySchema = z.object({
  id: uuidSchema,
  type: z.literal('turn'),
  addr: socketAddrSchema,
  username: z.string().min(1),
  password: z.string().min(1),
  expires_at: unixSecondsSchema,
});
const stunRelaySchema = z.object({ id: uuidSchema, type: z.literal('stun'), addr: socketAddrSchema });

export const relaySchema = z.discriminatedUnion('type', [turnRelaySchema, stunRelaySchema]);
export type Relay = z.output<typeof relaySchema>;
export type TurnRelay = z.output<typeof turnRelaySchema>;

const RELAY_TYPES = new Set(['turn', 'stun']);
/** Relay list: unknown relay types are ignored, broken entries skipped. */
export const relayListSchema = lenientArray(relaySchema, 'relays', (value) =>
  ignoredByType(value, RELAY_TYPES, 'relay'),
);

export const relaysPresenceSchema = z.object({
  disconnected_ids: z.array(uuidSchema),
  connected: relayListSchema,
});

/** A note when `value` is an object whose string `type` is not one we know. */
export function ignoredByType(value: unknown, known: ReadonlySet<string>, what: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const type = (value as { type?: unknown }).type;
  if (typeof type === 'string' && !known.has(type)) return `unknown ${what} type "${type}" ignored`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Flow logs.

export const flowLogsConfigSchema = z.object({
  api_url: z.string(),
  upload_interval_secs: z.number().int().nonnegative(),
  upload_batch_size: z.number().int().nonnegative(),
});

export const disconnectSchema = z.object({ reason: z.string() });

export const snownetCapabilitiesSchema = z.object({ iceless: z.boolean() });

export const emptyObjectSchema = z.object({});
