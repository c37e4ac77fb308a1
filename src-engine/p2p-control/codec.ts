/**
 * Codec of the FZ peer-to-peer control protocol (docs/protocol.md §1.2–1.3): events carried inside the
 * WireGuard tunnel as IPv6 packets from `::` to `::` with Next Header 255 and hop limit 0, then an
 * 8-byte header whose first byte is the event kind, then UTF-8 JSON.
 *
 * Decoding never throws: the result is an event or a `P2pControlError` naming why the packet was
 * refused. Unknown event kinds decode to `{ kind: 'unknown', code }` for the caller to ignore, so a
 * newer peer can add events. Unknown JSON keys are ignored for the same reason (as serde does).
 */
import { z } from 'zod';
import {
  IPV6_HEADER_LENGTH,
  MAX_IP_SIZE,
  formatIp,
  parseIpAddress,
  writeIpv6Header,
} from '../packet/index.js';
import { readU16 } from '../packet/bytes.js';
import { describeIssue, uuidSchema } from '../portal/messages/common.js';
import {
  EVENT_ASSIGNED_IPS,
  EVENT_DOMAIN_STATUS,
  EVENT_GOODBYE,
  MAX_DOMAIN_LENGTH,
  MAX_LABEL_LENGTH,
  P2P_CONTROL_HEADER_LENGTH,
  P2P_CONTROL_NEXT_HEADER,
  P2P_CONTROL_PAYLOAD_OFFSET,
} from './constants.js';

// ---------------------------------------------------------------------------------------------
// Types.

/** Client → gateway: "these proxy IPs stand for `domain` of `resource`" (namespace `dns_resource_nat`). */
export interface AssignedIps {
  /** Resource id (UUID, lowercase after decoding). */
  readonly resource: string;
  /** The name the client answered, without trailing dot. */
  readonly domain: string;
  /** 4 or 8 addresses, IPv4 first (sender's rule); canonical text after decoding. */
  readonly proxyIps: readonly string[];
}

/** Anything but `Active` on the wire reads as `Inactive` (forward compatibility). */
export type NatStatus = 'Active' | 'Inactive';

/** Gateway → client: whether the gateway set up the NAT for `domain` of `resource`. */
export interface DomainStatus {
  readonly resource: string;
  readonly domain: string;
  readonly status: NatStatus;
}

export type P2pControlEvent =
  | ({ readonly kind: 'assigned_ips' } & AssignedIps)
  | ({ readonly kind: 'domain_status' } & DomainStatus)
  | { readonly kind: 'goodbye' }
  /** A kind this version does not know: ignore it. */
  | { readonly kind: 'unknown'; readonly code: number };

export type P2pControlErrorCode =
  /** Not IPv6 with Next Header 255 from `::` to `::`. */
  | 'not_p2p_control'
  /** The IPv6 payload is shorter than the 8-byte FZ header. */
  | 'too_short'
  /** Over the 1280-byte packet limit (decoding or building). */
  | 'too_long'
  /** Payload Length points past the bytes present. */
  | 'truncated'
  | 'not_utf8'
  | 'not_json'
  /** Valid JSON of the wrong shape: missing field, bad UUID, bad DNS name, bad IP, ... */
  | 'bad_fields';

export interface P2pControlError {
  readonly error: P2pControlErrorCode;
  readonly detail: string;
}

export function isP2pControlError(value: unknown): value is P2pControlError {
  return typeof value === 'object' && value !== null && 'error' in value;
}

function fail(error: P2pControlErrorCode, detail: string): P2pControlError {
  return { error, detail };
}

// ---------------------------------------------------------------------------------------------
// Field rules.

const LABEL = /^[A-Za-z0-9_-]+$/;

/**
 * A DNS name in text form as the client puts it on the wire: 1 to 253 characters, no trailing
 * (or leading) dot, labels of 1 to 63 letters, digits, hyphens or underscores (`_service` labels
 * occur in real queries; case is kept).
 */
export function isValidDomainName(text: string): boolean {
  if (text.length === 0 || text.length > MAX_DOMAIN_LENGTH) return false;
  for (const label of text.split('.')) {
    if (label.length === 0 || label.length > MAX_LABEL_LENGTH || !LABEL.test(label)) return false;
  }
  return true;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Canonical text (RFC 5952 for IPv6) of an IPv4 or IPv6 address, or null. */
function canonicalIp(text: string): string | null {
  const bytes = parseIpAddress(text);
  return bytes === null ? null : formatIp(bytes);
}

const domainSchema = z.string().refine(isValidDomainName, {
  error: `expected a DNS name of at most ${MAX_DOMAIN_LENGTH} characters without trailing dot`,
});

const ipSchema = z.string().transform((text, ctx) => {
  const canonical = canonicalIp(text);
  if (canonical === null) {
    ctx.addIssue({ code: 'custom', message: 'expected an IP address' });
    return z.NEVER;
  }
  return canonical;
});

const assignedIpsSchema = z.object({
  resource: uuidSchema,
  domain: domainSchema,
  // The receiver does not re-check the count (docs/protocol.md §1.3); the packet size bounds it.
  proxy_ips: z.array(ipSchema),
});

const domainStatusSchema = z.object({
  resource: uuidSchema,
  domain: domainSchema,
  status: z.string().transform((text): NatStatus => (text === 'Active' ? 'Active' : 'Inactive')),
});

// ---------------------------------------------------------------------------------------------
// Recognition and decoding.

/**
 * True when `packet` is a control packet by its IPv6 header: version 6, Next Header 255, source
 * and destination `::`. Reads bytes only (no allocation), for the per-packet path; whether the
 * rest is well formed is `decodeP2pControl`'s job.
 */
export function isP2pControl(packet: Uint8Array): boolean {
  if (packet.length < IPV6_HEADER_LENGTH || packet[0]! >>> 4 !== 6 || packet[6] !== P2P_CONTROL_NEXT_HEADER) {
    return false;
  }
  for (let i = 8; i < IPV6_HEADER_LENGTH; i++) if (packet[i] !== 0) return false;
  return true;
}

const GOODBYE: P2pControlEvent = Object.freeze({ kind: 'goodbye' });
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/**
 * Decodes a control packet. Bytes after the declared Payload Length (WireGuard padding) are
 * ignored, as IP parsers do; the reserved header bytes 1..7 are ignored; a Goodbye's payload is
 * ignored.
 */
export function decodeP2pControl(packet: Uint8Array): P2pControlEvent | P2pControlError {
  if (!isP2pControl(packet)) return fail('not_p2p_control', 'not IPv6 :: → :: with Next Header 255');
  if (packet.length > MAX_IP_SIZE) return fail('too_long', `${packet.length} bytes > ${MAX_IP_SIZE}`);
  const payloadLength = readU16(packet, 4);
  if (payloadLength < P2P_CONTROL_HEADER_LENGTH) {
    return fail('too_short', `payload of ${payloadLength} bytes < ${P2P_CONTROL_HEADER_LENGTH}`);
  }
  const end = IPV6_HEADER_LENGTH + payloadLength;
  if (end > packet.length) return fail('truncated', `payload ends at ${end}, packet has ${packet.length}`);
  const code = packet[IPV6_HEADER_LENGTH]!;
  switch (code) {
    case EVENT_GOODBYE:
      return GOODBYE;
    case EVENT_ASSIGNED_IPS: {
      const parsed = parsePayload(packet.subarray(P2P_CONTROL_PAYLOAD_OFFSET, end), assignedIpsSchema);
      if (isP2pControlError(parsed)) return parsed;
      return {
        kind: 'assigned_ips',
        resource: parsed.resource,
        domain: parsed.domain,
        proxyIps: parsed.proxy_ips,
      };
    }
    case EVENT_DOMAIN_STATUS: {
      const parsed = parsePayload(packet.subarray(P2P_CONTROL_PAYLOAD_OFFSET, end), domainStatusSchema);
      if (isP2pControlError(parsed)) return parsed;
      return {
        kind: 'domain_status',
        resource: parsed.resource,
        domain: parsed.domain,
        status: parsed.status,
      };
    }
    default:
      return { kind: 'unknown', code };
  }
}

function parsePayload<T extends z.ZodType>(bytes: Uint8Array, schema: T): z.output<T> | P2pControlError {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return fail('not_utf8', 'payload is not UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail('not_json', `payload of ${bytes.length} bytes is not JSON`);
  }
  const result = schema.safeParse(json);
  if (!result.success) return fail('bad_fields', describeIssue(result.error.issues[0]));
  return result.data;
}

// ---------------------------------------------------------------------------------------------
// Building.

const UNSPECIFIED = new Uint8Array(16);

/**
 * A control packet of event kind `code` (0–255) with `payload` after the FZ header; refused when
 * it would exceed 1280 bytes. The low-level builder, also for tests and future kinds.
 */
export function encodeP2pControl(code: number, payload: Uint8Array): Uint8Array | P2pControlError {
  if (!Number.isInteger(code) || code < 0 || code > 0xff) return fail('bad_fields', `event kind ${code}`);
  const total = P2P_CONTROL_PAYLOAD_OFFSET + payload.length;
  if (total > MAX_IP_SIZE) return fail('too_long', `${total} bytes > ${MAX_IP_SIZE}`);
  const packet = new Uint8Array(total);
  const written = writeIpv6Header(packet, 0, {
    src: UNSPECIFIED,
    dst: UNSPECIFIED,
    nextHeader: P2P_CONTROL_NEXT_HEADER,
    payloadLength: P2P_CONTROL_HEADER_LENGTH + payload.length,
    hopLimit: 0,
    trafficClass: 0,
    flowLabel: 0,
  });
  if (typeof written !== 'number') return fail('too_long', written.message);
  packet[IPV6_HEADER_LENGTH] = code; // bytes 1..7 of the FZ header stay zero
  packet.set(payload, P2P_CONTROL_PAYLOAD_OFFSET);
  return packet;
}

function checkTarget(resource: string, domain: string): P2pControlError | undefined {
  if (!UUID.test(resource)) return fail('bad_fields', 'field "resource": expected a UUID');
  if (!isValidDomainName(domain)) return fail('bad_fields', 'field "domain": expected a DNS name');
  return undefined;
}

/**
 * `AssignedIps` with the sender's rules: 4 or 8 valid addresses, every IPv4 one before every IPv6
 * one. The UUID is written lowercase and the addresses in canonical text, as Firezone serialises
 * them; JSON keys in the order `resource`, `domain`, `proxy_ips`.
 */
export function buildAssignedIps(fields: AssignedIps): Uint8Array | P2pControlError {
  const bad = checkTarget(fields.resource, fields.domain);
  if (bad) return bad;
  const count = fields.proxyIps.length;
  if (count !== 4 && count !== 8)
    return fail('bad_fields', `field "proxy_ips": ${count} addresses, not 4 or 8`);
  const proxyIps: string[] = [];
  let seenV6 = false;
  for (const ip of fields.proxyIps) {
    const canonical = canonicalIp(ip);
    if (canonical === null) return fail('bad_fields', 'field "proxy_ips": expected IP addresses');
    const v6 = canonical.includes(':');
    if (seenV6 && !v6) return fail('bad_fields', 'field "proxy_ips": IPv4 addresses must come first');
    seenV6 ||= v6;
    proxyIps.push(canonical);
  }
  const json = JSON.stringify({
    resource: fields.resource.toLowerCase(),
    domain: fields.domain,
    proxy_ips: proxyIps,
  });
  return encodeP2pControl(EVENT_ASSIGNED_IPS, utf8Encoder.encode(json));
}

export function buildDomainStatus(fields: DomainStatus): Uint8Array | P2pControlError {
  const bad = checkTarget(fields.resource, fields.domain);
  if (bad) return bad;
  if (fields.status !== 'Active' && fields.status !== 'Inactive') {
    return fail('bad_fields', 'field "status": expected "Active" or "Inactive"');
  }
  const json = JSON.stringify({
    resource: fields.resource.toLowerCase(),
    domain: fields.domain,
    status: fields.status,
  });
  return encodeP2pControl(EVENT_DOMAIN_STATUS, utf8Encoder.encode(json));
}

/** The 48-byte Goodbye: header `[2, 0, 0, 0, 0, 0, 0, 0]`, no payload. A new array each call. */
export function buildGoodbye(): Uint8Array {
  return encodeP2pControl(EVENT_GOODBYE, new Uint8Array(0)) as Uint8Array;
}
