/**
 * The client's DNS at the packet level (docs/protocol.md §2.1–2.3): it owns the sentinel
 * addresses the OS uses as its name servers, takes the IP packets the OS sends to them out of the
 * TUN (UDP and TCP port 53), hands the DNS messages to the stub resolver and turns its answers
 * back into IP packets for the TUN. Forwarded queries and resolver events are polled by the
 * client core. Sans-IO: no socket, no clock.
 */
import {
  addressKey,
  buildUdpPacket,
  formatIp,
  isPacketError,
  parseIpAddress,
  type IpPacket,
} from '../packet/index.js';
import { parseCidr } from '../datapath/allowed-ips.js';
import { contains } from '../tunnel/routing-table.js';
import type { DnsResourceSpec } from '../dns/matcher.js';
import { processProxyIpAllocator, type ProxyIpAllocator, type ProxyIpRecord } from '../dns/proxy-ips.js';
import { StubResolver, type DnsTransport, type StubEvent } from '../dns/stub-resolver.js';
import { DnsTcpServer, type DnsTcpConnection } from '../dns/tcp-server.js';
import { SENTINEL_IPV4_RANGE, SENTINEL_IPV6_RANGE } from '../dns/constants.js';

const SENTINEL_V4 = parseCidr(SENTINEL_IPV4_RANGE);
const SENTINEL_V6 = parseCidr(SENTINEL_IPV6_RANGE);
/** First sentinel of each family (PROTOCOL facts: 100.100.111.1 and …:111:0). */
const FIRST_SENTINEL_V4 = 1;
const FIRST_SENTINEL_V6 = 0;
/** More upstreams than this per family are not given sentinels (the OS uses only a few anyway). */
const MAX_SENTINELS_PER_FAMILY = 8;
const DNS_PORT = 53;

/** Who asked: what the reply packet must be addressed to. */
type QueryContext =
  | {
      readonly transport: 'udp';
      readonly sentinel: Uint8Array;
      readonly client: Uint8Array;
      readonly clientPort: number;
    }
  | { readonly transport: 'tcp'; readonly connection: DnsTcpConnection };

export interface DnsForward {
  /** `ip:53` or `[ip]:53`, as given to the resolver. */
  readonly upstream: string;
  readonly transport: DnsTransport;
  readonly bytes: Uint8Array;
}

export type ClientDnsDrop = 'dns_not_sentinel' | 'dns_bad_port' | 'dns_not_udp_or_tcp';

export class ClientDns {
  readonly resolver: StubResolver<QueryContext>;
  readonly tcp: DnsTcpServer;
  readonly proxyIps: ProxyIpAllocator;
  private sentinelKeys = new Set<number | string>();
  private sentinelList: string[] = [];
  private readonly tunOut: Uint8Array[] = [];
  private readonly forwards: DnsForward[] = [];
  private readonly drops = new Map<ClientDnsDrop, number>();

  constructor(options: { readonly proxyIps?: ProxyIpAllocator; readonly random?: () => number } = {}) {
    this.proxyIps = options.proxyIps ?? processProxyIpAllocator();
    this.resolver = new StubResolver<QueryContext>({
      proxyIps: this.proxyIps,
      ...(options.random ? { random: options.random } : {}),
    });
    this.tcp = new DnsTcpServer(options.random ? { random: options.random } : {});
  }

  /**
   * The effective upstream resolvers (portal Do53 first, else the system's; sentinels filtered
   * out so we never forward to ourselves) get one sentinel each, per family. There is always at
   * least the first IPv4 sentinel, so DNS resources answer even without any upstream (forwarded
   * names then get SERVFAIL). Returns the sentinel addresses, in order, for the OS.
   */
  configure(options: {
    readonly portalUpstreams: readonly string[];
    readonly systemUpstreams: readonly string[];
    readonly searchDomain: string | null;
    readonly resources: Iterable<DnsResourceSpec>;
  }): readonly string[] {
    const upstreams = effectiveUpstreams(options.portalUpstreams, options.systemUpstreams);
    this.resolver.setUpstreams(upstreams.map(upstreamName));
    this.resolver.setSearchDomain(options.searchDomain);
    this.resolver.setResources(options.resources);
    const v4 = upstreams.filter((ip) => !ip.includes(':')).length;
    const v6 = upstreams.filter((ip) => ip.includes(':')).length;
    const list: string[] = [];
    for (let i = 0; i < Math.max(1, Math.min(v4, MAX_SENTINELS_PER_FAMILY)); i++)
      list.push(offsetAddress(SENTINEL_V4.bytes, FIRST_SENTINEL_V4 + i));
    for (let i = 0; i < Math.min(v6, MAX_SENTINELS_PER_FAMILY); i++)
      list.push(offsetAddress(SENTINEL_V6.bytes, FIRST_SENTINEL_V6 + i));
    this.sentinelList = list;
    this.sentinelKeys = new Set(list.map((ip) => addressKey(parseIpAddress(ip)!)));
    return list;
  }

  get sentinels(): readonly string[] {
    return this.sentinelList;
  }

  /** Whether `dst` lies in a sentinel range (then the packet is DNS's, whatever happens to it). */
  inSentinelRange(dst: Uint8Array): boolean {
    return dst.length === 4 ? dst[0] === 100 && dst[1] === 100 && dst[2] === 111 : contains(SENTINEL_V6, dst);
  }

  /** A packet from the OS to a sentinel range (the caller checked the source is ours). */
  handlePacket(packet: IpPacket, now: number): void {
    if (!this.sentinelKeys.has(addressKey(packet.dst))) {
      this.drop('dns_not_sentinel');
      return;
    }
    const transport = packet.transport;
    if (transport?.kind === 'udp') {
      if (transport.dstPort !== DNS_PORT) {
        this.drop('dns_bad_port');
        return;
      }
      // The TUN's buffers are reused after this call: keep copies.
      this.resolver.handleQuery(transport.payload.slice(), 'udp', now, {
        transport: 'udp',
        sentinel: packet.dst.slice(),
        client: packet.src.slice(),
        clientPort: transport.srcPort,
      });
    } else if (transport?.kind === 'tcp') {
      if (transport.dstPort !== DNS_PORT) {
        this.drop('dns_bad_port');
        return;
      }
      this.tcp.handlePacket(packet, now);
    } else {
      this.drop('dns_not_udp_or_tcp');
    }
    this.drain(now);
  }

  handleUpstreamResponse(bytes: Uint8Array, from: string, now: number): void {
    this.resolver.handleUpstreamResponse(bytes, from, now);
    this.drain(now);
  }

  handleTimeout(now: number): void {
    this.resolver.handleTimeout(now);
    this.tcp.handleTimeout(now);
    this.drain(now);
  }

  pollTimeout(): number | undefined {
    const a = this.resolver.pollTimeout();
    const b = this.tcp.pollTimeout();
    return a === undefined ? b : b === undefined ? a : Math.min(a, b);
  }

  pollTunPacket(): Uint8Array | undefined {
    return this.tunOut.shift();
  }

  pollForward(): DnsForward | undefined {
    return this.forwards.shift();
  }

  pollEvent(): StubEvent | undefined {
    return this.resolver.pollEvent();
  }

  /** The name (and resources) a proxy address stands for, if this process handed it out. */
  proxyRecord(address: Uint8Array): ProxyIpRecord | undefined {
    return this.proxyIps.lookup(address);
  }

  resourcesFor(name: string): readonly DnsResourceSpec[] {
    return this.resolver.resourcesFor(name);
  }

  dropCounts(): Map<ClientDnsDrop, number> {
    return this.drops;
  }

  private drain(now: number): void {
    for (let q = this.tcp.pollQuery(); q; q = this.tcp.pollQuery()) {
      this.resolver.handleQuery(q.message, 'tcp', now, { transport: 'tcp', connection: q.connection });
    }
    for (let out = this.resolver.pollOutput(); out; out = this.resolver.pollOutput()) {
      if (out.type === 'forward') {
        this.forwards.push({ upstream: out.upstream, transport: out.transport, bytes: out.bytes });
        continue;
      }
      const context = out.context;
      if (!context) continue;
      if (context.transport === 'tcp') {
        this.tcp.sendReply(context.connection, out.bytes, now);
        continue;
      }
      const packet = buildUdpPacket({
        src: context.sentinel,
        dst: context.client,
        srcPort: DNS_PORT,
        dstPort: context.clientPort,
        payload: out.bytes,
      });
      if (!isPacketError(packet)) this.tunOut.push(packet);
    }
    for (let packet = this.tcp.pollPacket(); packet; packet = this.tcp.pollPacket()) this.tunOut.push(packet);
  }

  private drop(reason: ClientDnsDrop): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }
}

/** Portal Do53 servers win over the system's; sentinels and duplicates are dropped (loops). */
export function effectiveUpstreams(portal: readonly string[], system: readonly string[]): string[] {
  const chosen = portal.length > 0 ? portal : system;
  const out: string[] = [];
  for (const text of chosen) {
    const bare = text.split('%')[0]!;
    const bytes = parseIpAddress(bare);
    if (bytes === null) continue;
    if (contains(bytes.length === 4 ? SENTINEL_V4 : SENTINEL_V6, bytes)) continue;
    const canonical = formatIp(bytes);
    if (!out.includes(canonical)) out.push(canonical);
  }
  return out;
}

/** How the resolver and the driver name an upstream: `1.1.1.1:53`, `[2606:4700::1111]:53`. */
export function upstreamName(ip: string): string {
  return ip.includes(':') ? `[${ip}]:${DNS_PORT}` : `${ip}:${DNS_PORT}`;
}

/** The inverse of upstreamName. */
export function parseUpstreamName(name: string): { address: string; port: number } | undefined {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(name);
  if (!match) return undefined;
  return { address: match[1]!, port: Number(match[2]) };
}

function offsetAddress(base: Uint8Array, offset: number): string {
  const out = base.slice();
  let carry = offset;
  for (let i = out.length - 1; i >= 0 && carry > 0; i--) {
    const sum = out[i]! + carry;
    out[i] = sum & 0xff;
    carry = sum >>> 8;
  }
  return formatIp(out);
}
