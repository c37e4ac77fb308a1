/**
 * The gateway's tunnel logic as a sans-IO core (docs/protocol.md §4.2–4.4): portal messages, packets
 * decrypted from clients and packets read from the TUN in; portal messages, packets for the TUN,
 * packets for clients (through the `PeerNode`) out. It forwards only what an authorization allows:
 * the (client, resource) pair is authorized and unexpired, the destination lies inside the
 * resource, and the resource's filters open the protocol and port. Anything else is answered with
 * ICMP "administratively prohibited" into the tunnel and counted. It reads no clock.
 */
import {
  addressKey,
  formatIp,
  isPacketError,
  parseIpAddress,
  parseIpPacket,
  writeIcmpUnreachable,
  type IpPacket,
} from '../packet/index.js';
import {
  buildDomainStatus,
  buildGoodbye,
  decodeP2pControl,
  isP2pControl,
  isP2pControlError,
  type AssignedIps,
  type NatStatus,
} from '../p2p-control/index.js';
import { parsePattern, patternMatches } from '../dns/matcher.js';
import { PROXY_IPV4_RANGE, PROXY_IPV6_RANGE } from '../dns/constants.js';
import { DnsNatTable } from './dns-nat-table.js';
import { parseCidr, type Cidr } from '../datapath/allowed-ips.js';
import type { Filter } from '../portal/messages/common.js';
import type { GatewayIngressMessage } from '../portal/messages/index.js';
import { filtersAllow, l4ProtocolOf, type FlowKey } from '../tunnel/filters.js';
import type { NodeEvent, PeerNode } from '../tunnel/peer-node.js';
import { contains, RoutingTable } from '../tunnel/routing-table.js';
import { INTERNET_EXCLUDED, TUNNEL_RANGES_GATEWAY } from './constants.js';

export interface GatewayPortalOutput {
  readonly event: string;
  readonly payload: Record<string, unknown>;
}

export type GatewayEvent =
  | {
      readonly type: 'interface';
      readonly ipv4: string;
      readonly ipv6: string;
      readonly routes: readonly string[];
    }
  | { readonly type: 'client_connected'; readonly clientId: string }
  /** A DNS-resource name was (re)mapped for a client (docs/protocol.md §1.6). */
  | {
      readonly type: 'domain_status';
      readonly clientId: string;
      readonly domain: string;
      readonly status: NatStatus;
      readonly reason?: string;
    }
  | { readonly type: 'client_removed'; readonly clientId: string; readonly reason: string };

export type GatewayDropReason =
  | 'invalid_packet'
  | 'unknown_client'
  | 'spoofed_source'
  | 'icmp_error_from_client'
  | 'tunnel_range_destination'
  | 'not_authorized'
  | 'filtered'
  | 'internet_forbidden_destination'
  | 'no_client_for_destination'
  | 'source_not_authorized'
  | 'multicast'
  | 'candidates_for_unknown_client'
  /** p2p control: undecodable or bad fields (proxy addresses outside the ranges), a kind a gateway never receives, an unknown kind. */
  | 'invalid_control'
  | 'unexpected_control'
  | 'unknown_control_kind'
  /** AssignedIps for a resource the client may not use, or a domain outside its pattern. */
  | 'assigned_ips_refused'
  /** To a proxy address whose name resolved to nothing of that family (ICMP unreachable sent). */
  | 'no_dns_target'
  | 'nat_failed'
  | 'expired_nat_session'
  /** A p2p control packet the kernel routed into the TUN (docs/protocol.md §1.2). */
  | 'control_from_tun';

/** What the driver must resolve for a client's `AssignedIps` (A and AAAA, 10 s overall). */
export interface ResolveRequest {
  readonly clientId: string;
  readonly resourceId: string;
  readonly domain: string;
  readonly proxyIps: readonly string[];
}

/** One proxy address of a client, and where it leads now. */
interface ProxyTarget {
  /** The proxy address as text (for routes and status). */
  readonly proxy: string;
  readonly resourceId: string;
  readonly domain: string;
  /** The resolved address of the proxy's family, or null: answered with ICMP unreachable. */
  readonly target: Uint8Array | null;
}

interface GatewayResource {
  readonly id: string;
  readonly type: 'cidr' | 'dns' | 'internet';
  readonly address: string | undefined;
  readonly network: Cidr | undefined;
  filters: readonly Filter[];
}

interface Authorization {
  readonly resource: GatewayResource;
  /** Unix ms; Infinity when the portal said `null`. */
  expiresAt: number;
}

interface ClientPeer {
  readonly id: string;
  ipv4: Uint8Array;
  ipv6: Uint8Array;
  readonly authorizations: Map<string, Authorization>;
  routes: RoutingTable<string>;
  /** addressKey of the proxy address → target, installed by AssignedIps (looked up per packet). */
  readonly proxyTargets: Map<number | string, ProxyTarget>;
  readonly nat: DnsNatTable;
}

export interface GatewayStats {
  packetsFromClients: number;
  packetsToClients: number;
  prohibited: number;
}

export class GatewayState {
  readonly drops = new Map<GatewayDropReason, number>();
  readonly stats: GatewayStats = { packetsFromClients: 0, packetsToClients: 0, prohibited: 0 };
  private readonly clients = new Map<string, ClientPeer>();
  /** Tunnel address (text) → client id, for packets from the TUN. */
  private readonly byAddress = new Map<number | string, string>();
  private readonly portalOut: GatewayPortalOutput[] = [];
  private readonly tunOut: Uint8Array[] = [];
  private readonly events: GatewayEvent[] = [];
  private ipv4: Uint8Array | undefined;
  private ipv6: Uint8Array | undefined;
  private nextTick: number | undefined;
  private readonly resolveOut: ResolveRequest[] = [];

  constructor(private readonly node: PeerNode) {}

  // ===========================================================================================
  // Portal.

  handlePortalMessage(message: GatewayIngressMessage, now: number): void {
    switch (message.event) {
      case 'init': {
        const { interface: iface, authorizations } = message.payload;
        this.ipv4 = parseCidr(iface.ipv4).bytes;
        this.ipv6 = parseCidr(iface.ipv6).bytes;
        this.events.push({
          type: 'interface',
          ipv4: iface.ipv4,
          ipv6: iface.ipv6,
          routes: [...TUNNEL_RANGES_GATEWAY],
        });
        // Keep only what the portal still lists, with its expiry (§4.2): a grant withdrawn while
        // we were away must not survive the reconnect.
        const listed = new Map<string, number>();
        for (const a of authorizations) {
          listed.set(
            `${a.client_id}|${a.resource_id}`,
            a.expires_at === null ? Infinity : a.expires_at * 1000,
          );
        }
        for (const client of [...this.clients.values()]) {
          for (const [resourceId, authorization] of [...client.authorizations]) {
            const expiry = listed.get(`${client.id}|${resourceId}`);
            if (expiry === undefined) client.authorizations.delete(resourceId);
            else authorization.expiresAt = expiry;
          }
          this.afterAuthorizationChange(client, now, 'not listed in init');
        }
        this.scheduleTick(now);
        return;
      }
      case 'create_authorization': {
        const p = message.payload;
        let client = this.clients.get(p.client.id);
        const ipv4 = parseCidr(p.client.ipv4).bytes;
        const ipv6 = parseCidr(p.client.ipv6).bytes;
        if (!client) {
          client = {
            id: p.client.id,
            ipv4,
            ipv6,
            authorizations: new Map(),
            routes: new RoutingTable(),
            proxyTargets: new Map(),
            nat: new DnsNatTable(),
          };
          this.clients.set(client.id, client);
        } else if (!equalBytes(client.ipv4, ipv4) || !equalBytes(client.ipv6, ipv6)) {
          // A renumbered client: its old addresses point nowhere any more, nor do its NAT sessions.
          this.unindex(client);
          client.ipv4 = ipv4;
          client.ipv6 = ipv6;
          client.nat.clear();
          client.proxyTargets.clear();
        }
        this.byAddress.set(addressKey(ipv4), client.id);
        this.byAddress.set(addressKey(ipv6), client.id);
        const resource = gatewayResource(p.resource);
        client.authorizations.set(resource.id, {
          resource,
          expiresAt: p.expires_at === null || p.expires_at === undefined ? Infinity : p.expires_at * 1000,
        });
        this.rebuildRoutes(client);
        this.node.upsertConnection(
          client.id,
          {
            role: 'controlled',
            remotePublicKey: Buffer.from(p.client.public_key, 'base64'),
            presharedKey: Buffer.from(p.client.preshared_key, 'base64'),
            localCredentials: p.gateway_ice_credentials,
            remoteCredentials: p.client_ice_credentials,
          },
          now,
        );
        this.portalOut.push({ event: 'authorization_created', payload: { ref: p.ref } });
        this.scheduleTick(now);
        this.drainNode(now);
        return;
      }
      case 'reject_access': {
        const client = this.clients.get(message.payload.client_id);
        if (!client) return;
        client.authorizations.delete(message.payload.resource_id);
        this.rebuildRoutes(client);
        this.afterAuthorizationChange(client, now, 'access rejected');
        return;
      }
      case 'resource_updated': {
        const updated = gatewayResource(message.payload);
        for (const client of this.clients.values()) {
          const authorization = client.authorizations.get(updated.id);
          // Type changes are refused (§4.2): the portal revokes and re-authorizes instead.
          if (!authorization || authorization.resource.type !== updated.type) continue;
          authorization.resource.filters = updated.filters;
          this.rebuildRoutes(client);
        }
        return;
      }
      case 'ice_candidates':
      case 'invalidate_ice_candidates': {
        const id = message.payload.client_id;
        if (!this.node.hasConnection(id)) {
          this.drop('candidates_for_unknown_client');
          return;
        }
        for (const candidate of message.payload.candidates) {
          if (message.event === 'ice_candidates') this.node.addRemoteCandidate(id, candidate, now);
          else this.node.removeRemoteCandidate(id, candidate, now);
        }
        return;
      }
      default:
        return;
    }
  }

  // ===========================================================================================
  // Packets.

  /** A packet decrypted from client `clientId`'s tunnel (§4.4 inbound). */
  handleTunnelPacket(clientId: string, packet: Uint8Array, now: number): void {
    const client = this.clients.get(clientId);
    if (!client) {
      this.drop('unknown_client');
      return;
    }
    // Control packets first, before the checks meant for traffic (docs/protocol.md §1.3); never to the TUN.
    if (isP2pControl(packet)) {
      this.handleControl(client, packet, now);
      return;
    }
    const parsed = parseIpPacket(packet);
    if (isPacketError(parsed)) {
      this.drop('invalid_packet');
      return;
    }
    if (!equalBytes(parsed.src, parsed.version === 4 ? client.ipv4 : client.ipv6)) {
      this.drop('spoofed_source');
      return;
    }
    const dst = parsed.dst;
    if (isMulticast(dst)) {
      this.drop('multicast');
      return;
    }
    const flow = flowOf(parsed.protocol, parsed.bytes, parsed.payloadOffset);
    if (flow.protocol === 'icmp' && isIcmpError(parsed.bytes, parsed.payloadOffset, parsed.version)) {
      this.drop('icmp_error_from_client');
      return;
    }
    const own = parsed.version === 4 ? this.ipv4 : this.ipv6;
    if (own && equalBytes(dst, own)) {
      // Traffic for the gateway itself (its in-tunnel DNS, §0): delivered as is.
      this.deliver(parsed.bytes);
      return;
    }
    if (TUNNEL_RANGES_GATEWAY_CIDRS.some((range) => contains(range, dst))) {
      this.drop('tunnel_range_destination');
      this.prohibit(client, parsed.bytes, now);
      return;
    }
    const route = client.routes.lookup(dst, flow.protocol);
    if (!route) {
      this.drop('not_authorized');
      this.prohibit(client, parsed.bytes, now);
      return;
    }
    const authorization = client.authorizations.get(route.value);
    if (!authorization || authorization.expiresAt <= now) {
      this.drop('not_authorized');
      this.prohibit(client, parsed.bytes, now);
      return;
    }
    if (!filtersAllow(route.filters, flow)) {
      this.drop('filtered');
      this.prohibit(client, parsed.bytes, now);
      return;
    }
    if (
      authorization.resource.type === 'internet' &&
      INTERNET_EXCLUDED.some((range) => contains(range, dst))
    ) {
      this.drop('internet_forbidden_destination');
      this.reply(client, parsed.bytes, 'unreachable', now);
      return;
    }
    if (authorization.resource.type === 'dns' && !this.translateToResource(client, parsed, now)) return;
    this.stats.packetsFromClients++;
    this.deliver(parsed.bytes);
  }

  /** A packet the kernel routed into our TUN, towards a client (§4.4 outbound). */
  handleTunPacket(packet: Uint8Array, now: number): void {
    const parsed = parseIpPacket(packet);
    if (isPacketError(parsed)) {
      this.drop('invalid_packet');
      return;
    }
    if (parsed.version === 6 && isP2pControl(parsed.bytes)) {
      this.drop('control_from_tun');
      return;
    }
    const clientId = this.byAddress.get(addressKey(parsed.dst));
    const client = clientId === undefined ? undefined : this.clients.get(clientId);
    if (!client) {
      this.drop('no_client_for_destination');
      return;
    }
    const own = parsed.version === 4 ? this.ipv4 : this.ipv6;
    const fromSelf = own !== undefined && equalBytes(parsed.src, own);
    const flow = flowOf(parsed.protocol, parsed.bytes, parsed.payloadOffset);
    const icmpError =
      flow.protocol === 'icmp' && isIcmpError(parsed.bytes, parsed.payloadOffset, parsed.version);
    // Replies of DNS-resource flows go back to the proxy address the client used (§1.6 step 7).
    if (client.nat.size > 0 || client.nat.rememberedCount > 0) {
      if (icmpError) {
        const rebuilt = client.nat.translateInboundIcmpError(parsed, now);
        if (rebuilt instanceof Uint8Array) {
          if (this.node.encapsulate(client.id, rebuilt, now) === 'sent') this.stats.packetsToClients++;
          return;
        }
        if (rebuilt === 'expired') {
          this.drop('expired_nat_session');
          return;
        }
      } else {
        const verdict = client.nat.translateInbound(parsed, now);
        if (verdict === 'translated') {
          if (this.node.encapsulate(client.id, parsed.bytes, now) === 'sent') this.stats.packetsToClients++;
          return;
        }
        if (verdict === 'expired') {
          this.drop('expired_nat_session');
          return;
        }
      }
    }
    if (!fromSelf && !icmpError && !this.sourceAuthorized(client, parsed.src, now)) {
      this.drop('source_not_authorized');
      return;
    }
    if (this.node.encapsulate(client.id, parsed.bytes, now) === 'sent') this.stats.packetsToClients++;
  }

  // ===========================================================================================
  // Time and the node.

  handleTimeout(now: number): void {
    if (this.nextTick !== undefined && this.nextTick <= now) {
      this.nextTick = undefined;
      for (const client of [...this.clients.values()]) {
        let changed = false;
        for (const [resourceId, authorization] of [...client.authorizations]) {
          if (authorization.expiresAt <= now) {
            client.authorizations.delete(resourceId);
            changed = true;
          }
        }
        if (changed) {
          this.rebuildRoutes(client);
          this.afterAuthorizationChange(client, now, 'authorization expired');
        }
      }
      this.scheduleTick(now);
    }
    for (const client of this.clients.values()) {
      const at = client.nat.pollTimeout();
      if (at !== undefined && at <= now) client.nat.handleTimeout(now);
    }
    this.drainNode(now);
  }

  pollTimeout(): number | undefined {
    let next = this.nextTick;
    for (const client of this.clients.values()) {
      const at = client.nat.pollTimeout();
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  /** A name the driver must resolve for a client's AssignedIps (then `handleDomainResolved`). */
  pollResolveRequest(): ResolveRequest | undefined {
    return this.resolveOut.shift();
  }

  /**
   * The driver resolved `request.domain` (A and AAAA; an empty list when a family has no
   * address), or gave up (`null`: the 10 s timeout). Installs the proxy ⇄ real mapping and
   * answers DomainStatus (§1.6 step 4).
   */
  handleDomainResolved(
    request: ResolveRequest,
    result: { readonly ipv4: readonly string[]; readonly ipv6: readonly string[] } | null,
    now: number,
  ): void {
    const client = this.clients.get(request.clientId);
    if (!client) return;
    // The grant may have gone while the name was being resolved.
    if (this.refusal(client, request.resourceId, request.domain, now) !== undefined) {
      this.sendDomainStatus(client, request.resourceId, request.domain, 'Inactive', now, 'not authorized');
      return;
    }
    if (result === null) {
      this.sendDomainStatus(
        client,
        request.resourceId,
        request.domain,
        'Inactive',
        now,
        'resolution timed out',
      );
      return;
    }
    const proxies = request.proxyIps.map((ip) => parseIpAddress(ip)!).sort(compareBytes);
    // A proxy address now standing for another name means the client restarted and renumbered:
    // everything it had is stale (Firezone wipes the table too).
    const domain = request.domain.toLowerCase();
    if (
      proxies.some((ip) => {
        const existing = client.proxyTargets.get(addressKey(ip));
        return existing !== undefined && existing.domain !== domain;
      })
    ) {
      client.nat.clear();
      client.proxyTargets.clear();
    }
    const v4 = result.ipv4.map((ip) => parseIpAddress(ip)).filter((ip): ip is Uint8Array => ip?.length === 4);
    const v6 = result.ipv6
      .map((ip) => parseIpAddress(ip))
      .filter((ip): ip is Uint8Array => ip?.length === 16);
    let i4 = 0;
    let i6 = 0;
    for (const proxy of proxies) {
      const pool = proxy.length === 4 ? v4 : v6;
      const index = proxy.length === 4 ? i4++ : i6++;
      const target = pool.length === 0 ? null : pool[index % pool.length]!;
      client.proxyTargets.set(addressKey(proxy), {
        proxy: formatIp(proxy),
        resourceId: request.resourceId,
        domain,
        target,
      });
    }
    this.rebuildRoutes(client);
    this.sendDomainStatus(client, request.resourceId, request.domain, 'Active', now);
  }

  /** Shutting down: every connected client hears Goodbye and forgets us at once (§1.4). */
  shutdown(now: number): void {
    for (const client of this.clients.values()) this.sayGoodbye(client.id, now);
  }

  drainNode(now: number): void {
    const batches = new Map<string, { add: string[]; remove: string[] }>();
    for (let event = this.node.pollEvent(); event; event = this.node.pollEvent()) {
      this.handleNodeEvent(event, batches, now);
    }
    for (const [clientId, batch] of batches) {
      if (batch.add.length > 0)
        this.portalOut.push({
          event: 'broadcast_ice_candidates',
          payload: { client_ids: [clientId], candidates: batch.add },
        });
      if (batch.remove.length > 0)
        this.portalOut.push({
          event: 'broadcast_invalidated_ice_candidates',
          payload: { client_ids: [clientId], candidates: batch.remove },
        });
    }
  }

  pollPortalMessage(): GatewayPortalOutput | undefined {
    return this.portalOut.shift();
  }

  pollTunPacket(): Uint8Array | undefined {
    return this.tunOut.shift();
  }

  pollEvent(): GatewayEvent | undefined {
    return this.events.shift();
  }

  clientList(): {
    id: string;
    resources: string[];
    connected: boolean;
    dnsNames: { proxy: string; domain: string; target: string | null }[];
    natSessions: number;
  }[] {
    return [...this.clients.values()].map((client) => ({
      id: client.id,
      resources: [...client.authorizations.keys()],
      connected: this.node.isConnected(client.id),
      dnsNames: [...client.proxyTargets.values()].map((t) => ({
        proxy: t.proxy,
        domain: t.domain,
        target: t.target ? formatIp(t.target) : null,
      })),
      natSessions: client.nat.size,
    }));
  }

  // ===========================================================================================
  // Internals.

  private handleNodeEvent(
    event: NodeEvent,
    batches: Map<string, { add: string[]; remove: string[] }>,
    _now: number,
  ): void {
    switch (event.type) {
      case 'new_ice_candidate':
      case 'invalidate_ice_candidate': {
        const batch = batches.get(event.connection) ?? { add: [], remove: [] };
        (event.type === 'new_ice_candidate' ? batch.add : batch.remove).push(event.candidate);
        batches.set(event.connection, batch);
        return;
      }
      case 'connection_established':
        this.events.push({ type: 'client_connected', clientId: event.connection });
        return;
      case 'connection_failed':
        // The client's authorizations stay: it may come back believing they hold (§4.4).
        return;
      case 'no_relays':
        this.portalOut.push({ event: 'no_relays', payload: {} });
        return;
    }
  }

  /** A client with no authorization left loses its connection and peer state (§4.2, §4.4). */
  private afterAuthorizationChange(client: ClientPeer, now: number, reason: string): void {
    if (client.authorizations.size > 0) return;
    this.sayGoodbye(client.id, now);
    this.node.closeConnection(client.id, now);
    this.unindex(client);
    this.clients.delete(client.id);
    this.events.push({ type: 'client_removed', clientId: client.id, reason });
  }

  private unindex(client: ClientPeer): void {
    if (this.byAddress.get(addressKey(client.ipv4)) === client.id)
      this.byAddress.delete(addressKey(client.ipv4));
    if (this.byAddress.get(addressKey(client.ipv6)) === client.id)
      this.byAddress.delete(addressKey(client.ipv6));
  }

  private rebuildRoutes(client: ClientPeer): void {
    const routes = new RoutingTable<string>();
    for (const { resource } of client.authorizations.values()) {
      if (resource.type === 'cidr' && resource.network) {
        routes.insert(resource.id, resource.network, resource.filters, resource.id);
      } else if (resource.type === 'internet') {
        routes.insert(resource.id, '0.0.0.0/0', resource.filters, resource.id);
        routes.insert(resource.id, '::/0', resource.filters, resource.id);
      }
    }
    // DNS resources route by proxy address, installed by AssignedIps, with the resource's filters.
    for (const [proxyKey, target] of [...client.proxyTargets]) {
      const authorization = client.authorizations.get(target.resourceId);
      if (!authorization || authorization.resource.type !== 'dns') {
        client.proxyTargets.delete(proxyKey);
        continue;
      }
      const bits = target.proxy.includes(':') ? 128 : 32;
      routes.insert(
        target.resourceId,
        `${target.proxy}/${bits}`,
        authorization.resource.filters,
        target.resourceId,
      );
    }
    client.routes = routes;
  }

  // -------------------------------------------------------------------------------------------
  // The p2p control protocol and the DNS-resource NAT (docs/protocol.md §1.3, §1.6).

  private handleControl(client: ClientPeer, packet: Uint8Array, now: number): void {
    const event = decodeP2pControl(packet);
    if (isP2pControlError(event)) {
      this.drop('invalid_control');
      return;
    }
    switch (event.kind) {
      case 'assigned_ips':
        this.handleAssignedIps(client, event, now);
        return;
      case 'goodbye':
        // The client is gone: its state goes now, not after a timeout (§1.4).
        this.node.closeConnection(client.id, now);
        this.unindex(client);
        this.clients.delete(client.id);
        this.events.push({ type: 'client_removed', clientId: client.id, reason: 'goodbye' });
        return;
      case 'domain_status':
        this.drop('unexpected_control');
        return;
      default:
        this.drop('unknown_control_kind');
    }
  }

  private handleAssignedIps(client: ClientPeer, event: AssignedIps, now: number): void {
    const proxies = event.proxyIps.map((ip) => parseIpAddress(ip));
    if (
      proxies.length === 0 ||
      proxies.length > 8 ||
      proxies.some((ip) => ip === null || !contains(ip.length === 4 ? PROXY_V4 : PROXY_V6, ip))
    ) {
      this.drop('invalid_control');
      return;
    }
    const refusal = this.refusal(client, event.resource, event.domain, now);
    if (refusal !== undefined) {
      this.drop('assigned_ips_refused');
      this.sendDomainStatus(client, event.resource, event.domain, 'Inactive', now, refusal);
      return;
    }
    // Every AssignedIps is resolved again: a repeated one is how the client refreshes the name.
    this.resolveOut.push({
      clientId: client.id,
      resourceId: event.resource,
      domain: event.domain,
      proxyIps: event.proxyIps,
    });
  }

  /** Why `client` may not map `domain` of `resourceId` (undefined: it may). */
  private refusal(client: ClientPeer, resourceId: string, domain: string, now: number): string | undefined {
    const authorization = client.authorizations.get(resourceId);
    if (!authorization || authorization.expiresAt <= now) return 'not authorized';
    const resource = authorization.resource;
    if (resource.type !== 'dns' || resource.address === undefined) return 'not a DNS resource';
    const pattern = parsePattern(resource.address);
    if (!pattern || !patternMatches(pattern, domain)) return 'domain outside the resource';
    return undefined;
  }

  private sendDomainStatus(
    client: ClientPeer,
    resource: string,
    domain: string,
    status: NatStatus,
    now: number,
    reason?: string,
  ): void {
    this.events.push({
      type: 'domain_status',
      clientId: client.id,
      domain,
      status,
      ...(reason ? { reason } : {}),
    });
    const packet = buildDomainStatus({ resource, domain, status });
    // Never buffered: if the tunnel is not up, the client's 2 s re-send covers it (§1.6).
    if (!isP2pControlError(packet)) this.node.encapsulate(client.id, packet, now);
  }

  private sayGoodbye(clientId: string, now: number): void {
    if (this.node.isConnected(clientId)) this.node.encapsulate(clientId, buildGoodbye(), now);
  }

  /**
   * A client packet to one of its proxy addresses: rewritten to the resolved address (§1.6
   * step 5), or answered with ICMP unreachable when the name has no address of that family.
   */
  private translateToResource(client: ClientPeer, parsed: IpPacket, now: number): boolean {
    const target = client.proxyTargets.get(addressKey(parsed.dst))?.target;
    if (!target || target.length !== parsed.dst.length) {
      this.drop('no_dns_target');
      this.reply(client, parsed.bytes, 'unreachable', now);
      return false;
    }
    if (client.nat.translateOutbound(parsed, target, now) !== 'translated') {
      this.drop('nat_failed');
      return false;
    }
    return true;
  }

  private sourceAuthorized(client: ClientPeer, src: Uint8Array, now: number): boolean {
    for (const authorization of client.authorizations.values()) {
      if (authorization.expiresAt <= now) continue;
      const resource = authorization.resource;
      if (resource.type === 'internet') return true;
      if (resource.network && contains(resource.network, src)) return true;
    }
    return false;
  }

  private prohibit(client: ClientPeer, original: Uint8Array, now: number): void {
    this.stats.prohibited++;
    this.reply(client, original, 'prohibited', now);
  }

  private reply(
    client: ClientPeer,
    original: Uint8Array,
    reason: 'prohibited' | 'unreachable',
    now: number,
  ): void {
    const out = new Uint8Array(1280);
    const written = writeIcmpUnreachable(out, 0, original, reason);
    if (typeof written === 'number') this.node.encapsulate(client.id, out.subarray(0, written), now);
  }

  private deliver(packet: Uint8Array): void {
    this.tunOut.push(packet);
  }

  private scheduleTick(now: number): void {
    let soonest = Infinity;
    for (const client of this.clients.values()) {
      for (const authorization of client.authorizations.values()) {
        soonest = Math.min(soonest, authorization.expiresAt);
      }
    }
    this.nextTick = soonest === Infinity ? undefined : Math.max(soonest, now);
  }

  private drop(reason: GatewayDropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }
}

const TUNNEL_RANGES_GATEWAY_CIDRS = TUNNEL_RANGES_GATEWAY.map(parseCidr);
const PROXY_V4 = parseCidr(PROXY_IPV4_RANGE);
const PROXY_V6 = parseCidr(PROXY_IPV6_RANGE);

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function gatewayResource(view: {
  id: string;
  type: string;
  address?: string;
  filters?: readonly Filter[];
}): GatewayResource {
  const type = view.type === 'internet' ? 'internet' : view.type === 'dns' ? 'dns' : 'cidr';
  return {
    id: view.id,
    type,
    address: view.address,
    network: type === 'cidr' && view.address !== undefined ? parseCidr(view.address) : undefined,
    filters: view.filters ?? [],
  };
}

function flowOf(protocol: number, bytes: Uint8Array, l4: number): FlowKey {
  const kind = l4ProtocolOf(protocol);
  const port =
    (kind === 'tcp' || kind === 'udp') && bytes.length >= l4 + 4 ? (bytes[l4 + 2]! << 8) | bytes[l4 + 3]! : 0;
  return { protocol: kind, port };
}

/** ICMP error types: v4 3, 4, 5, 11, 12; v6 1–4. */
function isIcmpError(bytes: Uint8Array, l4: number, version: 4 | 6): boolean {
  const type = bytes[l4];
  if (type === undefined) return false;
  return version === 4 ? [3, 4, 5, 11, 12].includes(type) : type >= 1 && type <= 4;
}

function isMulticast(dst: Uint8Array): boolean {
  return dst.length === 4 ? (dst[0]! & 0xf0) === 0xe0 : dst[0] === 0xff;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
