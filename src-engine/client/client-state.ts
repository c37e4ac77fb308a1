/**
 * The client's tunnel logic as a sans-IO core (docs/protocol.md §3.4–3.5, §4.6, §5.7, §5.12–5.13, §6):
 * portal messages and TUN packets in; portal messages, TUN packets, interface changes and
 * connection set-ups (through the `PeerNode`) out. It owns the resource list, the routing table
 * of CIDR and Internet resources, the per-resource authorization state and the packets that wait
 * for an authorization or a connection. It reads no clock: every call takes `now` (ms).
 */
import {
  formatIp,
  isPacketError,
  parseIpPacket,
  writeIcmpUnreachable,
  type IpPacket,
} from '../packet/index.js';
import type { Relay } from '../portal/messages/common.js';
import type {
  AuthorizationCreated,
  ClientIngressMessage,
  ClientInterface,
  ClientResource,
  DnsResource,
} from '../portal/messages/index.js';
import { filtersAllow, filtersMentionProtocol, l4ProtocolOf, type FlowKey } from '../tunnel/filters.js';
import { PacketBuffer } from '../tunnel/packet-buffer.js';
import type { NodeEvent, PeerNode } from '../tunnel/peer-node.js';
import { contains, RoutingTable } from '../tunnel/routing-table.js';
import { parseCidr, type Cidr } from '../datapath/allowed-ips.js';
import {
  buildGoodbye,
  decodeP2pControl,
  DnsResourceNat,
  isP2pControl,
  isP2pControlError,
  PendingPeerPackets,
  type DnsNatEntryView,
} from '../p2p-control/index.js';
import type { ProxyIpAllocator, ProxyIpRecord } from '../dns/proxy-ips.js';
import { PROXY_IPV4_RANGE, PROXY_IPV6_RANGE, SENTINEL_IPV6_RANGE } from '../dns/constants.js';
import type { StubEvent } from '../dns/stub-resolver.js';
import { ClientDns, type DnsForward } from './client-dns.js';
import {
  AUTHORIZATION_RETRY_MS,
  FAILED_GATEWAY_AVOID_MS,
  CLIENT_TUNNEL_ROUTES,
  OFFLINE_SITE_RESET_MS,
  PENDING_AUTHORIZATION_BUFFER,
  PENDING_CONNECTION_BUFFER,
} from './constants.js';

/** A message for the portal (an egress event of the `client` topic). */
export interface PortalOutput {
  readonly event: string;
  readonly payload: Record<string, unknown>;
}

export type ClientEvent =
  /** Addresses and routes the TUN must have now (applied by the driver, idempotently). */
  | {
      readonly type: 'interface';
      readonly ipv4: string;
      readonly ipv6: string;
      readonly routes: readonly string[];
      readonly upstreamDns: readonly string[];
      /** The sentinel addresses the OS must use as its name servers (docs/protocol.md §2.1). */
      readonly dnsServers: readonly string[];
      readonly searchDomain: string | null;
    }
  | { readonly type: 'resources_changed' }
  | {
      readonly type: 'connection';
      readonly gatewayId: string;
      readonly state: 'connecting' | 'connected' | 'failed';
      readonly reason?: string;
    }
  | { readonly type: 'site_offline'; readonly siteIds: readonly string[] }
  /** The gateway said Goodbye (it dropped us): its authorizations are forgotten. */
  | { readonly type: 'gateway_goodbye'; readonly gatewayId: string }
  | { readonly type: 'proxy_ips_exhausted'; readonly name: string };

/** Counters of everything dropped, by reason. */
export type ClientDropReason =
  | 'invalid_packet'
  | 'multicast'
  | 'wrong_source'
  | 'no_route'
  | 'filtered'
  | 'pending_buffer_full'
  | 'connection_buffer_full'
  | 'unknown_gateway'
  | 'source_not_allowed'
  | 'stale_authorization'
  | 'candidates_for_unknown_gateway'
  /** To a proxy address this process never handed out, or whose name no resource matches now. */
  | 'unknown_proxy_ip'
  | 'dns_nat_buffer_full'
  /** p2p control packets: undecodable, of a kind a client never receives, or of an unknown kind. */
  | 'invalid_control'
  | 'unexpected_control'
  | 'unknown_control_kind'
  | 'control_pending_full'
  /** A p2p control packet the OS wrote into the TUN (docs/protocol.md §1.2: logged, never sent). */
  | 'control_from_tun';

interface ResourceEntry {
  readonly resource: ClientResource;
  /** Sites of the resource (one today). */
  readonly siteIds: readonly string[];
}

interface Pending {
  lastRequest: number;
  readonly buffer: PacketBuffer;
}

/** Why the last attempt to reach a resource failed, until the next one succeeds. */
export interface FlowFailure {
  /** The portal's `FailReason`, or `handshake_timeout` when the connection itself failed. */
  readonly reason: string;
  readonly at: number;
}

/** How a resource's flow stands, for status views (times on the engine's clock). */
export type FlowView =
  | { readonly state: 'idle' }
  | { readonly state: 'connecting'; readonly since: number }
  | { readonly state: 'connected'; readonly gatewayId: string }
  | { readonly state: 'failed'; readonly failure: FlowFailure };

interface GatewayState {
  readonly id: string;
  readonly ipv4: Uint8Array;
  readonly ipv6: Uint8Array;
  readonly siteId: string;
  readonly resources: Set<string>;
  readonly buffer: PacketBuffer;
  connected: boolean;
}

export interface ClientStats {
  packetsToGateways: number;
  packetsFromGateways: number;
  bytesToGateways: number;
  bytesFromGateways: number;
}

const PROXY_V6 = parseCidr(PROXY_IPV6_RANGE);
/** Routed into the TUN with the tunnel ranges: proxy addresses and sentinels (the v4 sentinels lie in the v4 proxy range). */
const DNS_ROUTES = [PROXY_IPV4_RANGE, PROXY_IPV6_RANGE, SENTINEL_IPV6_RANGE];
const INTERNET_V4 = parseCidr('0.0.0.0/0');
const INTERNET_V6 = parseCidr('::/0');
const TUNNEL_RANGES = CLIENT_TUNNEL_ROUTES.map(parseCidr);

export class ClientState {
  readonly drops = new Map<ClientDropReason, number>();
  readonly stats: ClientStats = {
    packetsToGateways: 0,
    packetsFromGateways: 0,
    bytesToGateways: 0,
    bytesFromGateways: 0,
  };
  private iface: ClientInterface | undefined;
  private ipv4: Uint8Array | undefined;
  private ipv6: Uint8Array | undefined;
  private readonly resources = new Map<string, ResourceEntry>();
  private readonly routes = new RoutingTable<string>();
  private readonly pending = new Map<string, Pending>();
  private readonly flowFailures = new Map<string, FlowFailure>();
  /** When the current attempt to reach a resource began; gone once it is connected. */
  private readonly attemptSince = new Map<string, number>();
  /** resource id → gateway id (one gateway per resource at a time, §5.12). */
  private readonly authorized = new Map<string, string>();
  private readonly gateways = new Map<string, GatewayState>();
  /** Every gateway ever learned per site, for `connected_gateway_ids` (§5.12). */
  private readonly knownGateways = new Set<string>();
  private readonly offlineSites = new Map<string, number>();
  private internetEnabled: boolean;
  private relays: Relay[] = [];
  private readonly portalOut: PortalOutput[] = [];
  private readonly tunOut: Uint8Array[] = [];
  private readonly events: ClientEvent[] = [];
  private lastInterfaceJson = '';
  private actor: { name: string; email: string | null } | undefined;
  /** Gateways whose connection failed → until when they are not named as preferred. */
  private readonly failedGateways = new Map<string, number>();
  /** Resources to ask for again after a session reset, once the portal sent `init`. */
  private readonly reauthorize = new Set<string>();
  private readonly dns: ClientDns;
  private readonly dnsNat = new DnsResourceNat();
  /** p2p control packets for gateways whose connection is still being set up. */
  private readonly pendingControl = new PendingPeerPackets();
  private systemDnsServers: readonly string[];
  /** name → resources matching it, most specific first; cleared when resources change. */
  private readonly proxyResourceCache = new Map<string, DnsResource[]>();
  /** Sees p2p control packets, which never pass the TUN (for packet capture). */
  controlTap: ((packet: Uint8Array, direction: 'to_tunnel' | 'from_tunnel') => void) | undefined;

  constructor(
    private readonly node: PeerNode,
    options: {
      readonly internetResourceEnabled?: boolean;
      /** The system's resolvers (before we pointed the OS at our sentinels). */
      readonly systemDnsServers?: readonly string[];
      readonly proxyIps?: ProxyIpAllocator;
      readonly random?: () => number;
    } = {},
  ) {
    this.internetEnabled = options.internetResourceEnabled ?? false;
    this.systemDnsServers = options.systemDnsServers ?? [];
    this.dns = new ClientDns({
      ...(options.proxyIps ? { proxyIps: options.proxyIps } : {}),
      ...(options.random ? { random: options.random } : {}),
    });
  }

  // ===========================================================================================
  // Portal.

  handlePortalMessage(message: ClientIngressMessage, now: number): void {
    switch (message.event) {
      case 'init': {
        this.actor = message.payload.actor;
        this.iface = message.payload.interface;
        this.setAddresses(message.payload.interface);
        this.replaceResources(message.payload.resources, now);
        this.relays = [...message.payload.relays];
        this.emitInterface();
        for (const resourceId of this.reauthorize) {
          if (this.resources.has(resourceId) && !this.authorized.has(resourceId))
            this.requestAuthorization(resourceId, now);
        }
        this.reauthorize.clear();
        return;
      }
      case 'config_changed':
        this.iface = message.payload.interface;
        this.setAddresses(message.payload.interface);
        this.emitInterface();
        return;
      case 'resource_created_or_updated':
        this.upsertResource(message.payload, now);
        this.emitInterface();
        this.events.push({ type: 'resources_changed' });
        return;
      case 'resource_deleted':
        this.removeResource(message.payload, now);
        this.emitInterface();
        this.events.push({ type: 'resources_changed' });
        return;
      case 'relays_presence': {
        const gone = new Set(message.payload.disconnected_ids);
        const connected = message.payload.connected;
        const ids = new Set(connected.map((relay) => relay.id));
        this.relays = [
          ...this.relays.filter((relay) => !gone.has(relay.id) && !ids.has(relay.id)),
          ...connected,
        ];
        return;
      }
      case 'authorization_created':
        this.authorizationCreated(message.payload, now);
        return;
      case 'authorization_creation_failed': {
        const entry = this.resources.get(message.payload.resource_id);
        if (entry) this.flowFailures.set(entry.resource.id, { reason: message.payload.reason, at: now });
        if (message.payload.reason === 'offline') {
          this.pending.get(message.payload.resource_id)?.buffer.clear();
          this.pending.delete(message.payload.resource_id);
          if (entry) {
            for (const site of entry.siteIds) this.offlineSites.set(site, now + OFFLINE_SITE_RESET_MS);
            this.events.push({ type: 'site_offline', siteIds: entry.siteIds });
          }
        }
        // Other reasons: the pending entry stays; the next packet ≥ 2 s later asks again (§5.13).
        return;
      }
      case 'ice_candidates':
      case 'invalidate_ice_candidates': {
        const gatewayId = message.payload.gateway_id;
        if (!this.node.hasConnection(gatewayId)) {
          this.drop('candidates_for_unknown_gateway');
          return;
        }
        for (const candidate of message.payload.candidates) {
          if (message.event === 'ice_candidates') this.node.addRemoteCandidate(gatewayId, candidate, now);
          else this.node.removeRemoteCandidate(gatewayId, candidate, now);
        }
        return;
      }
      default:
        // Client-to-client events and `disconnect` are handled elsewhere (the session, §8).
        return;
    }
  }

  /** The relays the portal handed out (the driver gives them to the node's TURN allocations). */
  currentRelays(): readonly Relay[] {
    return this.relays;
  }

  /**
   * After a session reset: every connection is gone (the node closed them), so every
   * authorization is forgotten; the next packet to a resource asks the portal again.
   */
  resetConnections(): void {
    // Flows in which we only receive (a download) send nothing that would ask again: re-request
    // what was authorized as soon as the portal is back (its `init`).
    for (const resourceId of this.authorized.keys()) this.reauthorize.add(resourceId);
    for (const gateway of this.gateways.values()) {
      gateway.buffer.clear();
      this.pendingControl.clear(gateway.id);
    }
    this.gateways.clear();
    this.authorized.clear();
    this.pending.clear();
    this.dnsNat.clear();
  }

  /** The system's resolvers changed (the driver watches them): new upstreams for forwarded names. */
  setSystemDnsServers(servers: readonly string[]): void {
    this.systemDnsServers = [...servers];
    this.emitInterface();
  }

  /**
   * Shutting down: every connected gateway hears Goodbye (docs/protocol.md §1.4) so it drops our state
   * at once instead of waiting for the connection to time out.
   */
  shutdown(now: number): void {
    for (const gateway of this.gateways.values()) this.sayGoodbye(gateway.id, now);
  }

  setInternetResourceEnabled(enabled: boolean, now: number): void {
    if (enabled === this.internetEnabled) return;
    this.internetEnabled = enabled;
    const internet = [...this.resources.values()].find((entry) => entry.resource.type === 'internet');
    if (internet && !enabled) this.forgetAuthorization(internet.resource.id, now);
    this.rebuildRoutes();
    this.emitInterface();
  }

  // ===========================================================================================
  // Packets.

  /** An IP packet the OS wrote into the TUN. */
  handleTunPacket(packet: Uint8Array, now: number): void {
    const parsed = parseIpPacket(packet);
    if (isPacketError(parsed)) {
      this.drop('invalid_packet');
      return;
    }
    const dst = parsed.dst;
    if (isMulticast(dst)) {
      this.drop('multicast');
      return;
    }
    if (parsed.version === 6 && isP2pControl(parsed.bytes)) {
      // Only ever made by a peer; the OS has no business sending one (docs/protocol.md §1.2).
      this.drop('control_from_tun');
      return;
    }
    const own = parsed.version === 4 ? this.ipv4 : this.ipv6;
    if (!own || !equalBytes(parsed.src, own)) {
      this.drop('wrong_source');
      return;
    }
    if (this.dns.inSentinelRange(dst)) {
      this.dns.handlePacket(parsed, now);
      this.drainDns(now);
      return;
    }
    const flow = flowOf(parsed.protocol, parsed.bytes, parsed.payloadOffset);
    // A gateway's own tunnel address goes straight to that gateway (§6.1 step 3).
    for (const gateway of this.gateways.values()) {
      if (equalBytes(dst, parsed.version === 4 ? gateway.ipv4 : gateway.ipv6)) {
        this.sendToGateway(gateway, parsed.bytes, now);
        return;
      }
    }
    if (inProxyRange(dst)) {
      this.routeToProxy(parsed, flow, now);
      return;
    }
    const route = this.routes.lookup(dst, flow.protocol);
    if (!route) {
      this.drop('no_route');
      return;
    }
    if (!filtersAllow(route.filters, flow)) {
      this.drop('filtered');
      this.replyUnreachable(parsed.bytes, 'prohibited');
      return;
    }
    const resourceId = route.value;
    const gatewayId = this.authorized.get(resourceId);
    const gateway = gatewayId === undefined ? undefined : this.gateways.get(gatewayId);
    if (gateway) {
      this.sendToGateway(gateway, parsed.bytes, now);
      return;
    }
    this.bufferForAuthorization(resourceId, parsed.bytes, now);
  }

  /** A packet decrypted from gateway `gatewayId`'s tunnel. */
  handleTunnelPacket(gatewayId: string, packet: Uint8Array, now: number): void {
    const gateway = this.gateways.get(gatewayId);
    if (!gateway) {
      this.drop('unknown_gateway');
      return;
    }
    // Control packets first, before any check meant for traffic (docs/protocol.md §1.3); never to the TUN.
    if (isP2pControl(packet)) {
      this.handleControl(gateway, packet, now);
      return;
    }
    const parsed = parseIpPacket(packet);
    if (isPacketError(parsed)) {
      this.drop('invalid_packet');
      return;
    }
    // ICMP errors about what we sent through this gateway (prohibited, unreachable, too big) come
    // from the address we tried to reach, which need not be one of its resources.
    const icmpError =
      l4ProtocolOf(parsed.protocol) === 'icmp' &&
      isIcmpError(parsed.bytes[parsed.payloadOffset], parsed.version);
    if (!icmpError && !this.sourceAllowed(gateway, parsed.src)) {
      this.drop('source_not_allowed');
      return;
    }
    this.stats.packetsFromGateways++;
    this.stats.bytesFromGateways += parsed.totalLength;
    this.tunOut.push(parsed.bytes);
  }

  // ===========================================================================================
  // Time and the node.

  handleTimeout(now: number): void {
    for (const [site, until] of this.offlineSites) if (until <= now) this.offlineSites.delete(site);
    const dnsAt = this.dns.pollTimeout();
    if (dnsAt !== undefined && dnsAt <= now) {
      this.dns.handleTimeout(now);
      this.drainDns(now);
    }
    this.drainNode(now);
  }

  pollTimeout(): number | undefined {
    let next = this.dns.pollTimeout();
    for (const until of this.offlineSites.values()) if (next === undefined || until < next) next = until;
    return next;
  }

  /** A query for an upstream resolver, to send outside the tunnel (the driver's sockets). */
  pollDnsForward(): DnsForward | undefined {
    return this.dns.pollForward();
  }

  /** An upstream resolver's answer (`from` as named in the forward, e.g. `1.1.1.1:53`). */
  handleUpstreamDnsResponse(bytes: Uint8Array, from: string, now: number): void {
    this.dns.handleUpstreamResponse(bytes, from, now);
    this.drainDns(now);
  }

  /** Handles what the node reported; call after feeding it input or time. */
  drainNode(now: number): void {
    const candidates = new Map<string, { add: string[]; remove: string[] }>();
    for (let event = this.node.pollEvent(); event; event = this.node.pollEvent()) {
      this.handleNodeEvent(event, candidates, now);
    }
    // One message per gateway and kind, as Firezone batches them (§5.4).
    for (const [gatewayId, batch] of candidates) {
      if (batch.add.length > 0)
        this.portalOut.push({
          event: 'new_gateway_ice_candidates',
          payload: { gateway_id: gatewayId, candidates: batch.add },
        });
      if (batch.remove.length > 0)
        this.portalOut.push({
          event: 'invalidate_gateway_ice_candidates',
          payload: { gateway_id: gatewayId, candidates: batch.remove },
        });
    }
  }

  pollPortalMessage(): PortalOutput | undefined {
    return this.portalOut.shift();
  }

  pollTunPacket(): Uint8Array | undefined {
    return this.tunOut.shift();
  }

  pollEvent(): ClientEvent | undefined {
    return this.events.shift();
  }

  // ===========================================================================================
  // Views for status and the UI.

  resourceList(): { resource: ClientResource; gatewayId: string | undefined; siteOffline: boolean }[] {
    return [...this.resources.values()].map((entry) => ({
      resource: entry.resource,
      gatewayId: this.authorized.get(entry.resource.id),
      siteOffline: entry.siteIds.some((site) => this.offlineSites.has(site)),
    }));
  }

  /** Each resource's flow: connected through a gateway, being set up, failed, or idle. */
  flowView(resourceId: string): FlowView {
    const gatewayId = this.authorized.get(resourceId);
    if (gatewayId !== undefined && this.gateways.get(gatewayId)?.connected)
      return { state: 'connected', gatewayId };
    const pending = this.pending.get(resourceId);
    if (gatewayId !== undefined || pending) {
      // A recent failure wins over a retry in the background: the user sees why.
      const failure = this.flowFailures.get(resourceId);
      if (failure && (!pending || failure.at >= pending.lastRequest)) return { state: 'failed', failure };
      return { state: 'connecting', since: this.attemptSince.get(resourceId) ?? 0 };
    }
    const failure = this.flowFailures.get(resourceId);
    return failure ? { state: 'failed', failure } : { state: 'idle' };
  }

  gatewayList(): { id: string; connected: boolean; resources: string[]; buffered: number }[] {
    return [...this.gateways.values()].map((g) => ({
      id: g.id,
      connected: g.connected,
      resources: [...g.resources],
      buffered: g.buffer.length,
    }));
  }

  /** The DNS-resource NAT entries (domain, gateway, state) for status and troubleshooting. */
  dnsNatList(): DnsNatEntryView[] {
    return this.dnsNat.list();
  }

  /** Every counter of dropped or refused input, by reason (core, DNS, NAT state machine). */
  dropCounts(): Record<string, number> {
    const out: Record<string, number> = Object.fromEntries(this.drops);
    for (const [reason, n] of this.dns.dropCounts()) out[reason] = n;
    for (const [reason, n] of this.dnsNat.counters) out[`dns_nat_${reason}`] = n;
    const stats = this.dns.resolver.stats;
    if (stats.droppedMalformed) out.dns_malformed = stats.droppedMalformed;
    if (stats.formerr) out.dns_formerr = stats.formerr;
    if (stats.overloaded) out.dns_overloaded = stats.overloaded;
    if (stats.unmatchedUpstream) out.dns_unmatched_upstream = stats.unmatchedUpstream;
    return out;
  }

  /** DNS counters for status: answered here, forwarded, failed. */
  dnsStats(): { sentinels: readonly string[]; localAnswers: number; forwarded: number; failures: number } {
    const stats = this.dns.resolver.stats;
    return {
      sentinels: this.dns.sentinels,
      localAnswers: stats.localAnswers,
      forwarded: stats.forwarded,
      failures: stats.upstreamFailures,
    };
  }

  /** Who the portal says we are signed in as (our dev portal tells; Firezone's does not). */
  get signedInAs(): { name: string; email: string | null } | undefined {
    return this.actor;
  }

  get tunnelAddresses(): { ipv4: string; ipv6: string } | undefined {
    return this.iface ? { ipv4: this.iface.ipv4, ipv6: this.iface.ipv6 } : undefined;
  }

  // ===========================================================================================
  // Internals.

  private handleNodeEvent(
    event: NodeEvent,
    candidates: Map<string, { add: string[]; remove: string[] }>,
    now: number,
  ): void {
    switch (event.type) {
      case 'new_ice_candidate':
      case 'invalidate_ice_candidate': {
        const batch = candidates.get(event.connection) ?? { add: [], remove: [] };
        (event.type === 'new_ice_candidate' ? batch.add : batch.remove).push(event.candidate);
        candidates.set(event.connection, batch);
        return;
      }
      case 'connection_established': {
        const gateway = this.gateways.get(event.connection);
        if (!gateway) return;
        gateway.connected = true;
        for (const resourceId of gateway.resources) this.attemptSince.delete(resourceId);
        this.events.push({ type: 'connection', gatewayId: gateway.id, state: 'connected' });
        // AssignedIps first: the packets behind them need the gateway's NAT.
        for (const packet of this.pendingControl.take(gateway.id)) this.sendControl(gateway.id, packet, now);
        for (const packet of gateway.buffer.drain()) this.sendToGateway(gateway, packet, now);
        return;
      }
      case 'connection_failed':
        for (const resourceId of this.gateways.get(event.connection)?.resources ?? []) {
          this.flowFailures.set(resourceId, { reason: 'handshake_timeout', at: now });
        }
        this.events.push({
          type: 'connection',
          gatewayId: event.connection,
          state: 'failed',
          reason: event.reason,
        });
        this.forgetGateway(event.connection, now);
        return;
      case 'no_relays':
        this.portalOut.push({ event: 'no_relays', payload: {} });
        return;
    }
  }

  private authorizationCreated(payload: AuthorizationCreated, now: number): void {
    const pending = this.pending.get(payload.resource_id);
    // Late or duplicate grants are dropped (§3.4): only a request we are waiting for counts.
    if (!pending || !this.resources.has(payload.resource_id)) {
      this.drop('stale_authorization');
      return;
    }
    this.pending.delete(payload.resource_id);
    this.flowFailures.delete(payload.resource_id);
    this.knownGateways.add(payload.gateway_id);
    let gateway = this.gateways.get(payload.gateway_id);
    if (!gateway) {
      gateway = {
        id: payload.gateway_id,
        ipv4: parseCidr(payload.gateway_ipv4).bytes,
        ipv6: parseCidr(payload.gateway_ipv6).bytes,
        siteId: payload.site_id,
        resources: new Set(),
        buffer: new PacketBuffer(PENDING_CONNECTION_BUFFER),
        connected: false,
      };
      this.gateways.set(gateway.id, gateway);
    }
    gateway.resources.add(payload.resource_id);
    this.authorized.set(payload.resource_id, gateway.id);
    if (gateway.connected) this.attemptSince.delete(payload.resource_id);
    this.node.upsertConnection(
      gateway.id,
      {
        role: 'controlling',
        remotePublicKey: Buffer.from(payload.gateway_public_key, 'base64'),
        presharedKey: Buffer.from(payload.preshared_key, 'base64'),
        localCredentials: payload.client_ice_credentials,
        remoteCredentials: payload.gateway_ice_credentials,
      },
      now,
    );
    gateway.connected = this.node.isConnected(gateway.id);
    if (!gateway.connected)
      this.events.push({ type: 'connection', gatewayId: gateway.id, state: 'connecting' });
    // Routed again rather than sent: packets to DNS-resource proxies pass the NAT state machine.
    for (const packet of pending.buffer.drain()) this.handleTunPacket(packet, now);
    this.drainNode(now);
  }

  private bufferForAuthorization(resourceId: string, packet: Uint8Array, now: number): void {
    let pending = this.pending.get(resourceId);
    if (!pending) {
      pending = { lastRequest: -Infinity, buffer: new PacketBuffer(PENDING_AUTHORIZATION_BUFFER) };
      this.pending.set(resourceId, pending);
    }
    if (!pending.buffer.push(packet)) this.drop('pending_buffer_full');
    // At most one request per resource every 2 s while packets keep coming (§4.6 step 3).
    if (now - pending.lastRequest < AUTHORIZATION_RETRY_MS) return;
    this.requestAuthorization(resourceId, now);
  }

  private requestAuthorization(resourceId: string, now: number): void {
    let pending = this.pending.get(resourceId);
    if (!pending) {
      pending = { lastRequest: -Infinity, buffer: new PacketBuffer(PENDING_AUTHORIZATION_BUFFER) };
      this.pending.set(resourceId, pending);
    }
    pending.lastRequest = now;
    if (!this.attemptSince.has(resourceId)) this.attemptSince.set(resourceId, now);
    this.portalOut.push({
      event: 'request_authorization',
      payload: { resource_id: resourceId, connected_gateway_ids: this.preferredGateways(resourceId, now) },
    });
  }

  /** §5.12: the resource's gateway first, then connected ones, then every other known, by id. */
  private preferredGateways(resourceId: string, now: number): string[] {
    const current = this.authorized.get(resourceId);
    const connected = [...this.gateways.values()]
      .filter((g) => g.connected)
      .map((g) => g.id)
      .sort();
    const others = [...this.knownGateways]
      .filter((id) => id !== current && !connected.includes(id) && !this.recentlyFailed(id, now))
      .sort();
    return [...(current ? [current] : []), ...connected.filter((id) => id !== current), ...others];
  }

  /** A gateway whose connection failed lately is not offered as preferred (so another is tried). */
  private recentlyFailed(gatewayId: string, now: number): boolean {
    const until = this.failedGateways.get(gatewayId);
    if (until === undefined) return false;
    if (until > now) return true;
    this.failedGateways.delete(gatewayId);
    return false;
  }

  private sendToGateway(gateway: GatewayState, packet: Uint8Array, now: number): void {
    const outcome = this.node.encapsulate(gateway.id, packet, now);
    if (outcome === 'sent') {
      this.stats.packetsToGateways++;
      this.stats.bytesToGateways += packet.length;
      return;
    }
    if (outcome === 'connecting') {
      if (!gateway.buffer.push(packet)) this.drop('connection_buffer_full');
      return;
    }
    this.drop('unknown_gateway');
  }

  private sourceAllowed(gateway: GatewayState, src: Uint8Array): boolean {
    if (equalBytes(src, src.length === 4 ? gateway.ipv4 : gateway.ipv6)) return true;
    for (const resourceId of gateway.resources) {
      const entry = this.resources.get(resourceId);
      if (!entry) continue;
      const resource = entry.resource;
      if (resource.type === 'internet') return true;
      if (resource.type === 'cidr' && contains(parseCidr(resource.address), src)) return true;
      if (resource.type === 'dns' && inProxyRange(src)) {
        const record = this.dns.proxyRecord(src);
        if (record && this.proxyResources(record.name).some((r) => r.id === resourceId)) return true;
      }
    }
    return false;
  }

  private replyUnreachable(original: Uint8Array, reason: 'prohibited' | 'unreachable'): void {
    const out = new Uint8Array(1280);
    const written = writeIcmpUnreachable(out, 0, original, reason);
    if (typeof written === 'number') this.tunOut.push(out.subarray(0, written));
  }

  private setAddresses(iface: ClientInterface): void {
    this.ipv4 = parseCidr(iface.ipv4).bytes;
    this.ipv6 = parseCidr(iface.ipv6).bytes;
  }

  private replaceResources(list: readonly ClientResource[], now: number): void {
    const next = new Set(list.map((resource) => resource.id));
    for (const id of [...this.resources.keys()]) if (!next.has(id)) this.removeResource(id, now);
    for (const resource of list) this.upsertResource(resource, now);
    this.events.push({ type: 'resources_changed' });
  }

  private upsertResource(resource: ClientResource, now: number): void {
    if (resource.type !== 'cidr' && resource.type !== 'internet' && resource.type !== 'dns') return;
    const previous = this.resources.get(resource.id);
    if (previous && JSON.stringify(previous.resource) !== JSON.stringify(resource)) {
      // Address, site or filters changed: remove, then add (§3.4), so no old grant carries over.
      this.removeResource(resource.id, now);
    }
    const siteIds = 'sites' in resource ? resource.sites.map((site) => site.id) : [];
    this.resources.set(resource.id, { resource, siteIds });
    this.rebuildRoutes();
  }

  private removeResource(id: string, now: number): void {
    if (!this.resources.delete(id)) return;
    this.pending.delete(id);
    this.flowFailures.delete(id);
    this.attemptSince.delete(id);
    this.dnsNat.clearByResource(id);
    this.forgetAuthorization(id, now);
    this.rebuildRoutes();
  }

  /** Drops `resourceId`'s gateway; the connection goes when no resource uses it any more. */
  private forgetAuthorization(resourceId: string, now: number): void {
    const gatewayId = this.authorized.get(resourceId);
    this.authorized.delete(resourceId);
    if (gatewayId === undefined) return;
    const gateway = this.gateways.get(gatewayId);
    if (!gateway) return;
    gateway.resources.delete(resourceId);
    this.dnsNat.clearByResource(resourceId);
    if (gateway.resources.size === 0) {
      this.sayGoodbye(gatewayId, now);
      this.node.closeConnection(gatewayId, now);
      this.pendingControl.clear(gatewayId);
      this.dnsNat.clearByGateway(gatewayId);
      this.gateways.delete(gatewayId);
    }
  }

  /** The connection to `gatewayId` failed: every authorization through it goes (§5.7). */
  private forgetGateway(gatewayId: string, now: number): void {
    const gateway = this.gateways.get(gatewayId);
    if (!gateway) return;
    this.failedGateways.set(gatewayId, now + FAILED_GATEWAY_AVOID_MS);
    for (const resourceId of gateway.resources) this.authorized.delete(resourceId);
    gateway.buffer.clear();
    this.pendingControl.clear(gatewayId);
    this.dnsNat.clearByGateway(gatewayId);
    this.gateways.delete(gatewayId);
    this.node.closeConnection(gatewayId, now);
    // Ask again at once, maybe for another gateway: a flow in which we only receive (a download)
    // would otherwise send nothing that triggers a new request.
    for (const resourceId of gateway.resources) {
      if (this.resources.has(resourceId)) this.requestAuthorization(resourceId, now);
    }
  }

  private rebuildRoutes(): void {
    this.proxyResourceCache.clear();
    this.routes.clear();
    for (const { resource } of this.resources.values()) {
      if (resource.type === 'cidr') {
        this.routes.insert(resource.id, resource.address, resource.filters, resource.id);
      } else if (resource.type === 'internet' && this.internetEnabled) {
        this.routes.insert(resource.id, INTERNET_V4, [], resource.id);
        this.routes.insert(resource.id, INTERNET_V6, [], resource.id);
      }
    }
  }

  /** The TUN's addresses and routes; emitted when they change. */
  private emitInterface(): void {
    if (!this.iface) return;
    const dnsServers = this.configureDns();
    const routes = new Set<string>([...CLIENT_TUNNEL_ROUTES, ...DNS_ROUTES]);
    for (const entry of this.routes.entries()) {
      // The Internet resource never claims the tunnel ranges (§6.3): they are routed anyway.
      if (TUNNEL_RANGES.some((range) => sameNetwork(range, entry.network))) continue;
      routes.add(`${formatIp(entry.network.bytes)}/${entry.network.prefix}`);
    }
    const upstream = this.iface.upstream_do53.length
      ? this.iface.upstream_do53.map((entry) => entry.ip)
      : this.iface.upstream_dns.map((entry) => entry.address);
    const event: ClientEvent = {
      type: 'interface',
      ipv4: this.iface.ipv4,
      ipv6: this.iface.ipv6,
      routes: [...routes].sort(),
      upstreamDns: upstream,
      dnsServers,
      searchDomain: this.iface.search_domain,
    };
    const json = JSON.stringify(event);
    if (json === this.lastInterfaceJson) return;
    this.lastInterfaceJson = json;
    this.events.push(event);
  }

  // -------------------------------------------------------------------------------------------
  // DNS resources (docs/protocol.md §1.5, §2.3, §6.1 step 8).

  /** A packet to a proxy address: the resource its name belongs to, then the NAT state machine. */
  private routeToProxy(parsed: IpPacket, flow: FlowKey, now: number): void {
    const record = this.dns.proxyRecord(parsed.dst);
    const candidates = record ? this.proxyResources(record.name) : [];
    // Of the matching resources, one whose filters open the protocol wins, then the most specific.
    const resource =
      candidates.find((r) => filtersMentionProtocol(r.filters, flow.protocol)) ?? candidates[0];
    if (!record || !resource) {
      this.drop('unknown_proxy_ip');
      this.replyUnreachable(parsed.bytes, 'unreachable');
      return;
    }
    if (!filtersAllow(resource.filters, flow)) {
      this.drop('filtered');
      this.replyUnreachable(parsed.bytes, 'prohibited');
      return;
    }
    const gatewayId = this.authorized.get(resource.id);
    const gateway = gatewayId === undefined ? undefined : this.gateways.get(gatewayId);
    if (!gateway) {
      this.bufferForAuthorization(resource.id, parsed.bytes, now);
      return;
    }
    const key = { gatewayId: gateway.id, domain: record.name, resourceId: resource.id };
    // No entry yet (the name was answered before the grant, or in an earlier session; proxies
    // are stable for the process): create it now, so the gateway learns the name first.
    if (this.dnsNat.stateOf(key) === undefined)
      this.dnsNat.update({ ...key, proxyIps: proxyIpsFor(record, resource) }, now);
    const verdict = this.dnsNat.handleOutgoing(key, parsed.bytes, now);
    if (verdict === 'forward') this.sendToGateway(gateway, parsed.bytes, now);
    else if (verdict === 'dropped') this.drop('dns_nat_buffer_full');
    this.drainControl(now);
  }

  /** The DNS resources a name belongs to, most specific first (cached until resources change). */
  private proxyResources(name: string): DnsResource[] {
    let list = this.proxyResourceCache.get(name);
    if (!list) {
      list = [];
      for (const spec of this.dns.resourcesFor(name)) {
        const entry = this.resources.get(spec.id);
        if (entry?.resource.type === 'dns') list.push(entry.resource);
      }
      this.proxyResourceCache.set(name, list);
    }
    return list;
  }

  /** Answers, forwards and `resolved` events of the DNS layer. */
  private drainDns(now: number): void {
    for (let packet = this.dns.pollTunPacket(); packet; packet = this.dns.pollTunPacket())
      this.tunOut.push(packet);
    for (let event = this.dns.pollEvent(); event; event = this.dns.pollEvent()) this.onDnsEvent(event, now);
    this.drainControl(now);
  }

  private onDnsEvent(event: StubEvent, now: number): void {
    if (event.type === 'proxy_ips_exhausted') {
      this.events.push({ type: 'proxy_ips_exhausted', name: event.name });
      return;
    }
    // A local lookup refreshes the gateway's resolution of the name (§1.5 step 4) without
    // interrupting traffic that is already confirmed.
    this.dnsNat.recreate(event.name);
    const gatewayId = this.authorized.get(event.resourceId);
    if (gatewayId === undefined || !this.gateways.has(gatewayId)) return;
    this.dnsNat.update(
      { gatewayId, domain: event.name, resourceId: event.resourceId, proxyIps: event.proxyIps },
      now,
    );
  }

  /** Sends what the NAT state machine queued and routes again what it released. */
  private drainControl(now: number): void {
    for (let out = this.dnsNat.pollControlPacket(); out; out = this.dnsNat.pollControlPacket())
      this.sendControl(out.gatewayId, out.packet, now);
    for (let packet = this.dnsNat.pollReinject(); packet; packet = this.dnsNat.pollReinject())
      this.handleTunPacket(packet, now);
  }

  private sendControl(gatewayId: string, packet: Uint8Array, now: number): void {
    this.controlTap?.(packet, 'to_tunnel');
    const outcome = this.node.encapsulate(gatewayId, packet, now);
    if (outcome === 'connecting' && !this.pendingControl.push(gatewayId, packet))
      this.drop('control_pending_full');
  }

  /** Goodbye to a gateway we are done with, if a tunnel is up to carry it (§1.4). */
  private sayGoodbye(gatewayId: string, now: number): void {
    if (!this.node.isConnected(gatewayId)) return;
    const goodbye = buildGoodbye();
    this.controlTap?.(goodbye, 'to_tunnel');
    this.node.encapsulate(gatewayId, goodbye, now);
  }

  private handleControl(gateway: GatewayState, packet: Uint8Array, now: number): void {
    this.controlTap?.(packet, 'from_tunnel');
    const event = decodeP2pControl(packet);
    if (isP2pControlError(event)) {
      this.drop('invalid_control');
      return;
    }
    switch (event.kind) {
      case 'domain_status':
        this.dnsNat.handleDomainStatus(gateway.id, event);
        this.drainControl(now);
        return;
      case 'goodbye':
        this.gatewayGoodbye(gateway, now);
        return;
      case 'assigned_ips':
        this.drop('unexpected_control');
        return;
      default:
        // Forward compatible: kinds we do not know are ignored (§1.3).
        this.drop('unknown_control_kind');
    }
  }

  /**
   * The gateway dropped us (shutdown, last grant gone): the connection and its authorizations go
   * at once, with no timeout; the next packet to one of its resources asks the portal again.
   */
  private gatewayGoodbye(gateway: GatewayState, now: number): void {
    for (const resourceId of gateway.resources) this.authorized.delete(resourceId);
    gateway.buffer.clear();
    this.pendingControl.clear(gateway.id);
    this.dnsNat.clearByGateway(gateway.id);
    this.gateways.delete(gateway.id);
    this.node.closeConnection(gateway.id, now);
    this.events.push({ type: 'gateway_goodbye', gatewayId: gateway.id });
  }

  /** Resolver settings from the portal's interface and the resources; returns the sentinels. */
  private configureDns(): readonly string[] {
    const iface = this.iface;
    const dnsResources: DnsResource[] = [];
    for (const { resource } of this.resources.values())
      if (resource.type === 'dns') dnsResources.push(resource);
    return this.dns.configure({
      portalUpstreams: iface ? iface.upstream_do53.map((entry) => entry.ip) : [],
      systemUpstreams: this.systemDnsServers,
      searchDomain: iface?.search_domain ?? null,
      resources: dnsResources,
    });
  }

  private drop(reason: ClientDropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }
}

function flowOf(protocol: number, bytes: Uint8Array, l4: number): FlowKey {
  const kind = l4ProtocolOf(protocol);
  const port =
    (kind === 'tcp' || kind === 'udp') && bytes.length >= l4 + 4 ? (bytes[l4 + 2]! << 8) | bytes[l4 + 3]! : 0;
  return { protocol: kind, port };
}

/** ICMP error types: v4 3, 4, 5, 11, 12; v6 1–4. */
function isIcmpError(type: number | undefined, version: 4 | 6): boolean {
  if (type === undefined) return false;
  return version === 4
    ? type === 3 || type === 4 || type === 5 || type === 11 || type === 12
    : type >= 1 && type <= 4;
}

function isMulticast(dst: Uint8Array): boolean {
  return dst.length === 4 ? (dst[0]! & 0xf0) === 0xe0 || (dst[0] === 255 && dst[3] === 255) : dst[0] === 0xff;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameNetwork(a: Cidr, b: Cidr): boolean {
  return a.prefix === b.prefix && equalBytes(a.bytes, b.bytes);
}

function inProxyRange(address: Uint8Array): boolean {
  return address.length === 4
    ? address[0] === 100 && (address[1]! & 0xe0) === 96
    : contains(PROXY_V6, address);
}

/** The proxy addresses a resource uses for a name: 4 of each family its `ip_stack` allows. */
function proxyIpsFor(record: ProxyIpRecord, resource: DnsResource): string[] {
  if (resource.ip_stack === 'ipv4_only') return [...record.ipv4];
  if (resource.ip_stack === 'ipv6_only') return [...record.ipv6];
  return [...record.ipv4, ...record.ipv6];
}
