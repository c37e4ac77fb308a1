/**
 * The client's stub resolver for queries sent to a sentinel address (docs/protocol.md §2.3), sans-IO:
 * the driver hands it queries (`handleQuery`), upstream answers (`handleUpstreamResponse`) and
 * timer expiries (`handleTimeout`), each with `now` (monotonic ms), and polls what to send
 * (`pollOutput`), what happened (`pollEvent`) and when to wake it (`pollTimeout`).
 *
 * Answered here:
 * - A / AAAA for names matching a DNS resource: the name's 4 proxy addresses of that family, TTL
 *   1 s, when at least one matching resource has that family in its `ip_stack`; NOERROR with no
 *   records otherwise. Each such answer reports `resolved` once per matching resource.
 * - HTTPS for such names: NOERROR, no records (browsers fall back to A/AAAA).
 * - PTR for proxy addresses: the name.
 * - `use-application-dns.net`: NXDOMAIN (Firefox's DoH canary).
 * - A single-label name is first tried as `<name>.<search domain>`: if that matches a resource the
 *   answer is a CNAME to it plus its records.
 *
 * Everything else is forwarded: a `forward` output with a fresh query ID, to one upstream at a time
 * (5 s each, then the next; SERVFAIL once all have failed). Answers are matched by ID, sender and
 * question and go back with the client's ID. Up to 1024 queries are in flight, independently of
 * each other; beyond that new ones get SERVFAIL.
 *
 * Over UDP a reply larger than the client's EDNS size (512 without EDNS, never above 1212) is
 * truncated to header + question with TC=1. Over TCP the reply is whole (frame it with
 * `frameTcpMessage`). Queries that cannot be parsed get FORMERR when the header is readable,
 * otherwise they are dropped; either way they are counted in `stats`. Nothing here throws on input.
 */
import * as dnsPacket from 'dns-packet';
import {
  LOCAL_ANSWER_TTL_S,
  MAX_OUTSTANDING_QUERIES,
  MAX_UDP_RESPONSE,
  CLASSIC_UDP_LIMIT,
  UPSTREAM_TIMEOUT_MS,
  FIREFOX_DOH_CANARY,
} from './constants.js';
import { nameLabels, ResourceMatcher, type DnsResourceSpec, type IpStack } from './matcher.js';
import { processProxyIpAllocator, type ProxyIpAllocator, type ProxyIpRecord } from './proxy-ips.js';
import { reverseNameToIp } from './ptr.js';
import { MAX_TCP_MESSAGE } from './tcp-framing.js';
import {
  FLAG_QR,
  FLAG_RA,
  FLAG_RD,
  HEADER_LENGTH,
  OPCODE_MASK,
  QCLASS_IN,
  QTYPE,
  RCODE,
  equalBytes,
  foldedQuestion,
  headerOnlyReply,
  readU16,
  scanQuestion,
  truncateReply,
  withId,
  type QuestionSpan,
  type Rcode,
} from './wire.js';
import { pooledRandom } from './random.js';

export type DnsTransport = 'udp' | 'tcp';

export interface StubResolverOptions {
  readonly resources?: Iterable<DnsResourceSpec>;
  /** Upstream resolvers, as the driver names them (e.g. `1.1.1.1:53`); tried in order. */
  readonly upstreams?: readonly string[];
  readonly searchDomain?: string | null;
  /** Defaults to the process-wide allocator (names keep their addresses across sessions). */
  readonly proxyIps?: ProxyIpAllocator;
  readonly maxOutstanding?: number;
  readonly upstreamTimeoutMs?: number;
  /** Source of query IDs, uniform in [0, 1); defaults to the platform's CSPRNG. */
  readonly random?: () => number;
}

export type StubOutput<C> =
  /** A reply for the client that sent the query (unframed; TCP callers frame it). */
  | {
      readonly type: 'reply';
      readonly transport: DnsTransport;
      readonly bytes: Uint8Array;
      readonly context: C | undefined;
    }
  /** A query to send to `upstream` (over `transport`, the one the client used). */
  | {
      readonly type: 'forward';
      readonly upstream: string;
      readonly transport: DnsTransport;
      readonly bytes: Uint8Array;
      /**
       * Set for SRV/TXT queries of a DNS-resource name: the most specific resource. docs/protocol.md
       * §2.3 sends those through the tunnel to that resource's gateway (port 53535) instead.
       */
      readonly resourceId?: string;
    };

export type StubEvent =
  /** A name of a DNS resource was answered locally: the NAT state machine hangs off this. */
  | {
      readonly type: 'resolved';
      readonly name: string;
      readonly resourceId: string;
      /** The proxy addresses for this resource's `ip_stack`: IPv4 first, 4 or 8 of them. */
      readonly proxyIps: readonly string[];
    }
  /** No proxy addresses left (the client has to be restarted); the query got SERVFAIL. */
  | { readonly type: 'proxy_ips_exhausted'; readonly name: string; readonly family: 'ipv4' | 'ipv6' };

export interface StubResolverStats {
  /** Replies made here (any rcode, including errors). */
  localAnswers: number;
  /** Queries passed to an upstream (first attempts). */
  forwarded: number;
  /** Upstream answers passed back to a client. */
  upstreamAnswers: number;
  /** Upstream attempts that timed out. */
  upstreamTimeouts: number;
  /** SERVFAIL because every upstream timed out, or none is configured. */
  upstreamFailures: number;
  /** SERVFAIL because `maxOutstanding` queries were already in flight. */
  overloaded: number;
  /** Too short to have a header, or a response sent to us: dropped. */
  droppedMalformed: number;
  /** Unparsable queries answered with FORMERR. */
  formerr: number;
  /** Opcodes other than QUERY, answered with NOTIMP. */
  notImplemented: number;
  /** Upstream datagrams matching no query in flight (late, spoofed or garbage): dropped. */
  unmatchedUpstream: number;
  /** UDP replies cut to TC=1. */
  truncated: number;
}

interface Pending<C> {
  readonly upstreamId: number;
  readonly clientId: number;
  readonly context: C | undefined;
  readonly transport: DnsTransport;
  /** The query as sent upstream (with `upstreamId`). */
  readonly query: Uint8Array;
  readonly question: Uint8Array;
  readonly limit: number;
  readonly upstreams: readonly string[];
  readonly first: number;
  /** Attempts made so far (the current one is `upstreams[(first + attempts - 1) % n]`). */
  attempts: number;
  deadline: number;
}

/** Queue with O(1) pops. */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head]!;
    this.#head++;
    if (this.#head > 64 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

const familiesOf = (stack: IpStack | null | undefined): { v4: boolean; v6: boolean } => ({
  v4: stack !== 'ipv6_only',
  v6: stack !== 'ipv4_only',
});

function proxyIpsFor(record: ProxyIpRecord, stack: IpStack | null | undefined): string[] {
  const { v4, v6 } = familiesOf(stack);
  return [...(v4 ? record.ipv4 : []), ...(v6 ? record.ipv6 : [])];
}

type Answer = dnsPacket.Answer;

/** Our EDNS record in local replies to EDNS queries: we take up to 1212 bytes over UDP. */
const OPT_RECORD: Answer = {
  type: 'OPT',
  name: '.',
  udpPayloadSize: MAX_UDP_RESPONSE,
  extendedRcode: 0,
  ednsVersion: 0,
  flags: 0,
  flag_do: false,
  options: [],
};

export class StubResolver<C = unknown> {
  readonly stats: StubResolverStats = {
    localAnswers: 0,
    forwarded: 0,
    upstreamAnswers: 0,
    upstreamTimeouts: 0,
    upstreamFailures: 0,
    overloaded: 0,
    droppedMalformed: 0,
    formerr: 0,
    notImplemented: 0,
    unmatchedUpstream: 0,
    truncated: 0,
  };

  #matcher: ResourceMatcher<DnsResourceSpec>;
  #upstreams: readonly string[];
  #searchDomain: string | null = null;
  /** Index of the upstream new queries go to first: the last one that answered. */
  #preferred = 0;
  readonly #proxyIps: ProxyIpAllocator;
  readonly #maxOutstanding: number;
  readonly #timeoutMs: number;
  readonly #random: () => number;
  /** By upstream ID; insertion order is deadline order (every deadline is `now` + the same timeout). */
  readonly #pending = new Map<number, Pending<C>>();
  readonly #outputs = new Fifo<StubOutput<C>>();
  readonly #events = new Fifo<StubEvent>();

  constructor(options: StubResolverOptions = {}) {
    this.#matcher = new ResourceMatcher(options.resources ?? []);
    this.#upstreams = [...(options.upstreams ?? [])];
    this.setSearchDomain(options.searchDomain ?? null);
    this.#proxyIps = options.proxyIps ?? processProxyIpAllocator();
    this.#maxOutstanding = options.maxOutstanding ?? MAX_OUTSTANDING_QUERIES;
    this.#timeoutMs = options.upstreamTimeoutMs ?? UPSTREAM_TIMEOUT_MS;
    this.#random = options.random ?? pooledRandom(256);
  }

  /** Replaces the DNS resources. Returns those whose address is not a supported pattern. */
  setResources(resources: Iterable<DnsResourceSpec>): readonly DnsResourceSpec[] {
    this.#matcher = new ResourceMatcher(resources);
    return this.#matcher.rejected;
  }

  /** Replaces the upstreams for new queries (queries in flight keep theirs). */
  setUpstreams(upstreams: readonly string[]): void {
    this.#upstreams = [...upstreams];
    this.#preferred = 0;
  }

  setSearchDomain(domain: string | null): void {
    const labels = domain === null ? null : nameLabels(domain.trim());
    this.#searchDomain = labels === null ? null : labels.join('.');
  }

  /** The resources matching a name, most specific first (for routing and tests). */
  resourcesFor(name: string): readonly DnsResourceSpec[] {
    return this.#matcher.match(name);
  }

  /** Forwarded queries waiting for an upstream. */
  get outstanding(): number {
    return this.#pending.size;
  }

  pollOutput(): StubOutput<C> | undefined {
    return this.#outputs.shift();
  }

  pollEvent(): StubEvent | undefined {
    return this.#events.shift();
  }

  /** When `handleTimeout` should next be called, if anything is waiting. */
  pollTimeout(): number | undefined {
    for (const entry of this.#pending.values()) return entry.deadline;
    return undefined;
  }

  /** A DNS message from a client to a sentinel address (UDP payload, or one unframed TCP message). */
  handleQuery(bytes: Uint8Array, transport: DnsTransport, now: number, context?: C): void {
    if (bytes.length < HEADER_LENGTH || (readU16(bytes, 2) & FLAG_QR) !== 0) {
      this.stats.droppedMalformed++;
      return;
    }
    if ((readU16(bytes, 2) & OPCODE_MASK) !== 0) {
      this.stats.notImplemented++;
      this.#replyError(bytes, RCODE.NOTIMP, transport, context);
      return;
    }
    const packet = tryDecode(bytes);
    const span = packet === null ? null : scanQuestion(bytes);
    if (packet === null || span === null || packet.questions?.length !== 1) {
      this.stats.formerr++;
      this.#replyError(bytes, RCODE.FORMERR, transport, context);
      return;
    }
    const limit = transport === 'tcp' ? MAX_TCP_MESSAGE : udpLimit(packet);
    const edns = packet.additionals?.some((a) => a.type === 'OPT') ?? false;
    const query: ParsedQuery<C> = { bytes, span, transport, limit, edns, context, now };
    const labels =
      span.plainAscii && span.qclass === QCLASS_IN ? nameLabels(packet.questions[0]!.name) : null;
    if (labels === null || !this.#answerLocally(query, labels)) this.#forward(query);
  }

  /** A datagram (or unframed TCP message) from upstream `from` (the name used in `forward`). */
  handleUpstreamResponse(bytes: Uint8Array, from: string, now: number): void {
    void now;
    const entry = bytes.length >= HEADER_LENGTH ? this.#pending.get(readU16(bytes, 0)) : undefined;
    const span = entry === undefined ? null : scanQuestion(bytes);
    if (
      entry === undefined ||
      span === null ||
      (readU16(bytes, 2) & FLAG_QR) === 0 ||
      !this.#triedUpstream(entry, from) ||
      !equalBytes(foldedQuestion(bytes, span), entry.question)
    ) {
      this.stats.unmatchedUpstream++;
      return;
    }
    this.#pending.delete(entry.upstreamId);
    const index = this.#upstreams.indexOf(from);
    if (index >= 0) this.#preferred = index;
    this.stats.upstreamAnswers++;
    this.#send(entry.transport, withId(bytes, entry.clientId), entry.limit, entry.context);
  }

  /** Moves queries whose upstream has been silent too long on to the next one, or fails them. */
  handleTimeout(now: number): void {
    const expired: Pending<C>[] = [];
    for (const entry of this.#pending.values()) {
      if (entry.deadline > now) break;
      expired.push(entry);
    }
    for (const entry of expired) {
      this.stats.upstreamTimeouts++;
      this.#pending.delete(entry.upstreamId);
      if (entry.attempts >= entry.upstreams.length) {
        this.stats.upstreamFailures++;
        this.#replyError(entry.query, RCODE.SERVFAIL, entry.transport, entry.context, entry.clientId);
        continue;
      }
      entry.attempts++;
      entry.deadline = now + this.#timeoutMs;
      this.#pending.set(entry.upstreamId, entry); // re-inserted: keeps the map in deadline order
      this.#outputs.push({
        type: 'forward',
        upstream: this.#upstreamOf(entry),
        transport: entry.transport,
        bytes: entry.query,
      });
    }
  }

  /** Answers from resources, proxy addresses and fixed rules; false when the query is to be forwarded. */
  #answerLocally(query: ParsedQuery<C>, labels: string[]): boolean {
    const qtype = query.span.qtype;
    const name = labels.join('.');
    if (name === FIREFOX_DOH_CANARY) {
      this.#replyLocal(query, RCODE.NXDOMAIN, []);
      return true;
    }
    if (qtype === QTYPE.PTR) {
      const ip = reverseNameToIp(name);
      const record = ip === null ? undefined : this.#proxyIps.lookup(ip);
      if (record === undefined) return false;
      this.#replyLocal(query, RCODE.NOERROR, [
        { type: 'PTR', name: wireName(query), ttl: LOCAL_ANSWER_TTL_S, data: record.name },
      ]);
      return true;
    }
    let fqdn = name;
    let viaSearchDomain = false;
    let matches: readonly DnsResourceSpec[] = [];
    if (labels.length === 1 && this.#searchDomain !== null) {
      const expanded = `${name}.${this.#searchDomain}`;
      matches = this.#matcher.match(expanded);
      if (matches.length > 0) {
        fqdn = expanded;
        viaSearchDomain = true;
      }
    }
    if (!viaSearchDomain) matches = this.#matcher.match(name);
    if (matches.length === 0) return false;

    const cname: Answer[] = viaSearchDomain
      ? [{ type: 'CNAME', name: wireName(query), ttl: LOCAL_ANSWER_TTL_S, data: fqdn }]
      : [];
    if (qtype === QTYPE.HTTPS) {
      this.#replyLocal(query, RCODE.NOERROR, cname);
      return true;
    }
    if (qtype !== QTYPE.A && qtype !== QTYPE.AAAA) {
      if (viaSearchDomain || (qtype !== QTYPE.SRV && qtype !== QTYPE.TXT)) return false;
      this.#forward(query, matches[0]!.id);
      return true;
    }
    const assigned = this.#proxyIps.assign(
      fqdn,
      matches.map((r) => r.id),
    );
    if (!assigned.ok) {
      if (assigned.error === 'exhausted') {
        this.#events.push({ type: 'proxy_ips_exhausted', name: fqdn, family: assigned.family });
      }
      this.#replyLocal(query, RCODE.SERVFAIL, []);
      return true;
    }
    const record = assigned.record;
    const v4 = qtype === QTYPE.A;
    const served = matches.some((r) => familiesOf(r.ip_stack)[v4 ? 'v4' : 'v6']);
    const owner = viaSearchDomain ? fqdn : wireName(query);
    const answers: Answer[] = [...cname];
    if (served) {
      for (const ip of v4 ? record.ipv4 : record.ipv6) {
        answers.push({ type: v4 ? 'A' : 'AAAA', name: owner, ttl: LOCAL_ANSWER_TTL_S, data: ip });
      }
    }
    this.#replyLocal(query, RCODE.NOERROR, answers);
    for (const resource of matches) {
      this.#events.push({
        type: 'resolved',
        name: record.name,
        resourceId: resource.id,
        proxyIps: proxyIpsFor(record, resource.ip_stack),
      });
    }
    return true;
  }

  /** Sends the query to the preferred upstream, or fails it at once (no upstream, too many in flight). */
  #forward(query: ParsedQuery<C>, resourceId?: string): void {
    const upstreams = this.#upstreams;
    if (upstreams.length === 0) {
      this.stats.upstreamFailures++;
      this.#replyError(query.bytes, RCODE.SERVFAIL, query.transport, query.context);
      return;
    }
    if (this.#pending.size >= this.#maxOutstanding) {
      this.stats.overloaded++;
      this.#replyError(query.bytes, RCODE.SERVFAIL, query.transport, query.context);
      return;
    }
    const upstreamId = this.#freeId();
    const entry: Pending<C> = {
      upstreamId,
      clientId: readU16(query.bytes, 0),
      context: query.context,
      transport: query.transport,
      query: withId(query.bytes, upstreamId),
      question: foldedQuestion(query.bytes, query.span),
      limit: query.limit,
      upstreams,
      first: this.#preferred % upstreams.length,
      attempts: 1,
      deadline: query.now + this.#timeoutMs,
    };
    this.#pending.set(upstreamId, entry);
    this.stats.forwarded++;
    this.#outputs.push({
      type: 'forward',
      upstream: this.#upstreamOf(entry),
      transport: entry.transport,
      bytes: entry.query,
      ...(resourceId === undefined ? {} : { resourceId }),
    });
  }

  #upstreamOf(entry: Pending<C>): string {
    return entry.upstreams[(entry.first + entry.attempts - 1) % entry.upstreams.length]!;
  }

  #triedUpstream(entry: Pending<C>, from: string): boolean {
    const n = entry.upstreams.length;
    for (let i = 0; i < entry.attempts; i++) {
      if (entry.upstreams[(entry.first + i) % n] === from) return true;
    }
    return false;
  }

  /** A random ID not in flight (there are at most `maxOutstanding` ≤ 65536 of them). */
  #freeId(): number {
    let id = Math.floor(this.#random() * 0x10000) & 0xffff;
    while (this.#pending.has(id)) id = (id + 1) & 0xffff;
    return id;
  }

  #replyLocal(query: ParsedQuery<C>, rcode: Rcode, answers: Answer[]): void {
    const flags = (readU16(query.bytes, 2) & FLAG_RD) | FLAG_RA | rcode;
    const encoded = dnsPacket.encode({
      type: 'response',
      id: readU16(query.bytes, 0),
      flags,
      questions: [],
      answers,
      additionals: query.edns ? [OPT_RECORD] : [],
    });
    // The question goes back byte for byte as it came (case included).
    const question = query.bytes.subarray(HEADER_LENGTH, query.span.end);
    const out = new Uint8Array(encoded.length + question.length);
    out.set(encoded.subarray(0, HEADER_LENGTH));
    out[5] = 1;
    out.set(question, HEADER_LENGTH);
    out.set(encoded.subarray(HEADER_LENGTH), HEADER_LENGTH + question.length);
    this.stats.localAnswers++;
    this.#send(query.transport, out, query.limit, query.context);
  }

  #replyError(
    query: Uint8Array,
    rcode: Rcode,
    transport: DnsTransport,
    context: C | undefined,
    clientId?: number,
  ): void {
    const reply = headerOnlyReply(query, rcode);
    if (clientId !== undefined) {
      reply[0] = clientId >> 8;
      reply[1] = clientId & 0xff;
    }
    this.stats.localAnswers++;
    this.#outputs.push({ type: 'reply', transport, bytes: reply, context });
  }

  #send(transport: DnsTransport, bytes: Uint8Array, limit: number, context: C | undefined): void {
    let out = bytes;
    if (out.length > limit) {
      out = truncateReply(out);
      this.stats.truncated++;
    }
    this.#outputs.push({ type: 'reply', transport, bytes: out, context });
  }
}

interface ParsedQuery<C> {
  readonly bytes: Uint8Array;
  readonly span: QuestionSpan;
  readonly transport: DnsTransport;
  /** Largest reply the client takes. */
  readonly limit: number;
  readonly edns: boolean;
  readonly context: C | undefined;
  readonly now: number;
}

function tryDecode(bytes: Uint8Array): dnsPacket.DecodedPacket | null {
  try {
    return dnsPacket.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch {
    return null;
  }
}

/** The question name as it came (case kept), for answer owner names. */
function wireName(query: ParsedQuery<unknown>): string {
  const parts: string[] = [];
  let offset = HEADER_LENGTH;
  for (;;) {
    const length = query.bytes[offset]!;
    if (length === 0) break;
    parts.push(String.fromCharCode(...query.bytes.subarray(offset + 1, offset + 1 + length)));
    offset += 1 + length;
  }
  return parts.join('.');
}

/** The client's UDP limit: its EDNS size (at least 512), or 512 without EDNS; never above 1212. */
function udpLimit(packet: dnsPacket.DecodedPacket): number {
  const opt = packet.additionals?.find((a) => a.type === 'OPT');
  if (opt === undefined || !('udpPayloadSize' in opt)) return CLASSIC_UDP_LIMIT;
  const size = typeof opt.udpPayloadSize === 'number' ? opt.udpPayloadSize : CLASSIC_UDP_LIMIT;
  return Math.min(MAX_UDP_RESPONSE, Math.max(CLASSIC_UDP_LIMIT, size));
}
