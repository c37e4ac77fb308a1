/**
 * ICE candidates: their priorities (RFC 8445 §5.1.2), foundations (§5.1.1.3) and the SDP
 * `candidate` attribute value Firezone signals them as (RFC 8839 §5.1, without `a=`, e.g.
 * `candidate:7031633958891736544 1 udp 50331391 35.244.108.190 53909 typ relay raddr 0.0.0.0 rport 0`).
 *
 * Parsing is strict and total: any string yields a candidate or a reason, never an exception,
 * since every line comes from the peer through the portal.
 */
import {
  canonicalTransportAddress,
  familyOf,
  formatTransportAddress,
  type TransportAddress,
} from '../transport-address.js';
import {
  COMPONENT_ID,
  LOCAL_PREFERENCE_IPV4,
  LOCAL_PREFERENCE_IPV6,
  MAX_CANDIDATE_SDP_LENGTH,
  MAX_FOUNDATION_LENGTH,
  MAX_LOCAL_PREFERENCE,
  TYPE_PREFERENCE_HOST,
  TYPE_PREFERENCE_PRFLX,
  TYPE_PREFERENCE_RELAY,
  TYPE_PREFERENCE_SRFLX,
} from './constants.js';

/** RFC 8445 §5.1.1: how the address was learned. Local candidates are never peer-reflexive here. */
export type CandidateKind = 'host' | 'srflx' | 'prflx' | 'relay';
export type LocalCandidateKind = Exclude<CandidateKind, 'prflx'>;

export const TYPE_PREFERENCES: Readonly<Record<CandidateKind, number>> = {
  host: TYPE_PREFERENCE_HOST,
  prflx: TYPE_PREFERENCE_PRFLX,
  srflx: TYPE_PREFERENCE_SRFLX,
  relay: TYPE_PREFERENCE_RELAY,
};

/** What the driver knows about one of its own candidates. */
export interface LocalCandidateInit {
  readonly kind: LocalCandidateKind;
  /** The address the peer sends to. */
  readonly address: TransportAddress;
  /**
   * RFC 8445 §5.1.1.1: where checks are sent from. host: the socket address (= `address`);
   * srflx: the host socket it was learned on; relay: the relayed address (= `address`) — the
   * driver sends datagrams "from" it through its TURN allocation.
   */
  readonly base: TransportAddress;
  /** RFC 8839 §5.1 `raddr`/`rport`; defaults: srflx → its base, relay → unspecified (0.0.0.0:0). */
  readonly related?: TransportAddress;
  /** 0..65535; chosen by the agent when absent (IPv6 one step above IPv4, unique per kind). */
  readonly localPreference?: number;
}

export interface LocalCandidate {
  readonly kind: LocalCandidateKind;
  readonly address: TransportAddress;
  readonly base: TransportAddress;
  readonly related: TransportAddress | undefined;
  readonly localPreference: number;
  readonly priority: number;
  readonly foundation: string;
}

/** A candidate the peer signalled (or that its checks revealed: `prflx`). */
export interface RemoteCandidate {
  readonly kind: CandidateKind;
  readonly address: TransportAddress;
  readonly priority: number;
  readonly foundation: string;
  readonly related: TransportAddress | undefined;
}

/** RFC 8445 §5.1.2.1: priority = 2^24·type preference + 2^8·local preference + (256 − component). */
export function candidatePriority(kind: CandidateKind, localPreference: number): number {
  return TYPE_PREFERENCES[kind] * 2 ** 24 + localPreference * 2 ** 8 + (256 - COMPONENT_ID);
}

export function defaultLocalPreference(address: TransportAddress): number {
  return familyOf(address.address) === 'ipv6' ? LOCAL_PREFERENCE_IPV6 : LOCAL_PREFERENCE_IPV4;
}

/**
 * RFC 8445 §6.1.2.3: pair priority = 2^32·min(G, D) + 2·max(G, D) + (G > D ? 1 : 0), where G is
 * the controlling agent's candidate priority and D the controlled one's. It exceeds 2^53, hence
 * bigint.
 */
export function pairPriority(controlling: number, controlled: number): bigint {
  const g = BigInt(controlling);
  const d = BigInt(controlled);
  const [min, max] = g < d ? [g, d] : [d, g];
  return (min << 32n) + 2n * max + (g > d ? 1n : 0n);
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64 = (1n << 64n) - 1n;

/** 64-bit FNV-1a of a string's UTF-8 bytes, as a decimal string (a valid foundation). */
export function fnv1a64(text: string): string {
  let hash = FNV_OFFSET;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * FNV_PRIME) & U64;
  }
  return hash.toString();
}

/**
 * RFC 8445 §5.1.1.3: candidates share a foundation when they have the same type and base IP
 * (and, for reflexive and relayed ones, the same server — which the base stands for here, one
 * relay per connection). Stable across restarts, so the same candidate always reads the same.
 */
export function localFoundation(kind: LocalCandidateKind, base: TransportAddress): string {
  return fnv1a64(`${kind}/${base.address}`);
}

export function makeLocalCandidate(init: LocalCandidateInit, localPreference: number): LocalCandidate {
  return {
    kind: init.kind,
    address: init.address,
    base: init.base,
    related: init.related,
    localPreference,
    priority: candidatePriority(init.kind, localPreference),
    foundation: localFoundation(init.kind, init.base),
  };
}

export type LocalCandidateCheck =
  { readonly ok: true; readonly init: LocalCandidateInit } | { readonly ok: false; readonly reason: string };

/**
 * Validates a local candidate from the driver and rewrites its addresses in canonical form (so
 * they compare equal to what sockets and STUN report); a reason when it is unusable.
 */
export function checkLocalCandidate(init: LocalCandidateInit): LocalCandidateCheck {
  const address = canonicalTransportAddress(init.address.address, init.address.port);
  const base = canonicalTransportAddress(init.base.address, init.base.port);
  if (address === undefined || address.port === 0) return { ok: false, reason: 'invalid address' };
  if (base === undefined || base.port === 0) return { ok: false, reason: 'invalid base' };
  if (familyOf(address.address) !== familyOf(base.address)) {
    return { ok: false, reason: 'address and base of different families' };
  }
  if ((init.kind === 'host' || init.kind === 'relay') && addressKey(address) !== addressKey(base)) {
    return { ok: false, reason: `a ${init.kind} candidate is its own base` };
  }
  const related = init.related && canonicalTransportAddress(init.related.address, init.related.port);
  if (init.related !== undefined && related === undefined)
    return { ok: false, reason: 'invalid related address' };
  const pref = init.localPreference;
  if (pref !== undefined && (!Number.isInteger(pref) || pref < 0 || pref > MAX_LOCAL_PREFERENCE)) {
    return { ok: false, reason: 'local preference out of range' };
  }
  return { ok: true, init: { kind: init.kind, address, base, related, localPreference: pref } };
}

// ---------------------------------------------------------------------------------------------
// SDP (RFC 8839 §5.1)

export type CandidateParseError =
  | 'too_long'
  | 'not_a_candidate'
  | 'bad_foundation'
  | 'bad_component'
  | 'unsupported_component'
  | 'unsupported_transport'
  | 'bad_priority'
  | 'bad_address'
  | 'bad_port'
  | 'bad_type'
  | 'bad_related_address'
  | 'bad_extension';

export type CandidateParseResult =
  | { readonly ok: true; readonly candidate: RemoteCandidate }
  | { readonly ok: false; readonly error: CandidateParseError };

const PREFIX = 'candidate:';
// RFC 8839 §5.1: foundation = 1*32ice-char; ice-char = ALPHA / DIGIT / "+" / "/".
const FOUNDATION = /^[A-Za-z0-9+/]+$/;
const DIGITS = /^[0-9]+$/;
// A Map, not an object literal: a token such as `constructor` must not find a prototype member.
const KINDS: ReadonlyMap<string, CandidateKind> = new Map([
  ['host', 'host'],
  ['srflx', 'srflx'],
  ['prflx', 'prflx'],
  ['relay', 'relay'],
]);
/** RFC 8445 §5.1.2: priorities are 1 .. 2^31 − 1. */
const MAX_PRIORITY = 2 ** 31 - 1;

function fail(error: CandidateParseError): CandidateParseResult {
  return { ok: false, error };
}

function decimal(token: string, max: number): number | undefined {
  if (!DIGITS.test(token) || token.length > 10) return undefined;
  const value = Number(token);
  return value <= max ? value : undefined;
}

/**
 * Parses one candidate attribute value. Tokens are separated by single spaces (RFC 8839's SP);
 * ABNF literals (`udp`, `typ`, `host`, `raddr`, …) are case-insensitive. Only component 1 over
 * UDP with an IP address (no FQDN, no mDNS name) is accepted: nothing else can be checked.
 * Unknown extensions (`generation 0`, `network-id 1`, …) are skipped in name/value pairs.
 */
export function parseCandidate(sdp: string): CandidateParseResult {
  if (typeof sdp !== 'string') return fail('not_a_candidate');
  if (sdp.length > MAX_CANDIDATE_SDP_LENGTH) return fail('too_long');
  if (!sdp.startsWith(PREFIX)) return fail('not_a_candidate');
  const tokens = sdp.slice(PREFIX.length).split(' ');
  if (tokens.length < 8 || tokens.some((t) => t === '')) return fail('not_a_candidate');
  const [foundation, component, transport, priorityText, ip, portText, typ, typeText] = tokens as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  // Firezone's receivers skip entries whose 4th field is not numeric (docs/protocol.md §5.3).
  const priority = decimal(priorityText, MAX_PRIORITY);
  if (priority === undefined || priority === 0) return fail('bad_priority');
  if (foundation.length > MAX_FOUNDATION_LENGTH || !FOUNDATION.test(foundation))
    return fail('bad_foundation');
  const componentId = decimal(component, 256);
  if (componentId === undefined || componentId === 0) return fail('bad_component');
  if (componentId !== COMPONENT_ID) return fail('unsupported_component');
  if (transport.toLowerCase() !== 'udp') return fail('unsupported_transport');
  const port = decimal(portText, 0xffff);
  if (port === undefined || port === 0) return fail('bad_port');
  const address = canonicalTransportAddress(ip, port);
  // The unspecified address cannot be sent to (Firezone uses it only as a hidden `raddr`).
  if (address === undefined || address.address === '0.0.0.0' || address.address === '::') {
    return fail('bad_address');
  }
  if (typ.toLowerCase() !== 'typ') return fail('bad_type');
  const kind = KINDS.get(typeText.toLowerCase());
  if (kind === undefined) return fail('bad_type');

  let related: TransportAddress | undefined;
  let rest = tokens.slice(8);
  if (rest[0]?.toLowerCase() === 'raddr') {
    if (rest.length < 4 || rest[2]!.toLowerCase() !== 'rport') return fail('bad_related_address');
    const rport = decimal(rest[3]!, 0xffff);
    const raddr = rport === undefined ? undefined : canonicalTransportAddress(rest[1]!, rport);
    if (raddr === undefined) return fail('bad_related_address');
    related = raddr;
    rest = rest.slice(4);
  }
  // RFC 8839 §5.1: cand-extension = extension-att-name SP extension-att-value, repeated.
  if (rest.length % 2 !== 0) return fail('bad_extension');
  for (let i = 0; i < rest.length; i += 2) {
    const name = rest[i]!.toLowerCase();
    if (name === 'raddr' || name === 'rport') return fail('bad_extension');
  }
  return { ok: true, candidate: { kind, address, priority, foundation, related } };
}

function unspecified(like: TransportAddress): TransportAddress {
  return { address: familyOf(like.address) === 'ipv6' ? '::' : '0.0.0.0', port: 0 };
}

/**
 * The attribute value for one of our candidates. srflx candidates name their base as the related
 * address (RFC 8839 §5.1 requires one for non-host types); relay candidates name the given
 * related address or, like Firezone, the unspecified address, which tells the peer nothing.
 */
export function writeCandidate(candidate: LocalCandidate): string {
  const { foundation, priority, address, kind } = candidate;
  let line = `${PREFIX}${foundation} ${COMPONENT_ID} udp ${priority} ${address.address} ${address.port} typ ${kind}`;
  if (kind !== 'host') {
    const related = candidate.related ?? (kind === 'srflx' ? candidate.base : unspecified(address));
    line += ` raddr ${related.address} rport ${related.port}`;
  }
  return line;
}

/** Candidates in the order Firezone signals a batch: highest priority first (docs/protocol.md §5.3). */
export function sortByPriority<T extends { readonly priority: number }>(candidates: readonly T[]): T[] {
  return [...candidates].sort((a, b) => b.priority - a.priority);
}

/** The key of a transport address in maps: equal addresses, equal keys (text forms are canonical). */
export function addressKey(address: TransportAddress): string {
  return formatTransportAddress(address);
}
