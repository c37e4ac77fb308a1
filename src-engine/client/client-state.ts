/**
 * The client's tunnel logic as a sans-IO core (PROTOCOL.md §3.4–3.5, §4.6, §5.7, §5.12–5.13, §6):
 * portal messages and TUN packets in; portal messages, TUN packets, interface changes and
 * connection set-ups (through the `PeerNode`) out. It owns the resource list, the routing table
 * of CIDR and Internet resources, the per-resource authorization state and the packets that wait
 * for an authorization or a connection. It reads no clock: every call takes `now` (ms).
 */
import { formatIp, isPacketError, parseIpPacket, writeIcmpUnreachable } from '../packet/index.js';
import type { Relay } from '../portal/messages/common.js';
import type {
  AuthorizationCreated,
  ClientIngressMessage,
  ClientInterface,
  ClientResource,
} from '../portal/messages/index.js';
import { filtersAllow, l4ProtocolOf, type FlowKey } from '../tunnel/filters.js';
import { PacketBuffer } from '../tunnel/packet-buffer.js';
import type { NodeEvent, PeerNode } from '../tunnel/peer-node.js';
import { contains, RoutingTable } from '../tunnel/routing-table.js';
import { parseCidr, type Cidr } from '../datapath/allowed-ips.js';
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
      readonly searchDomain: string | null;
    }
  | { readonly type: 'resources_changed' }
  | {
      readonly type: 'connection';
      readonly gatewayId: string;
      readonly state: 'connecting' | 'connected' | 'failed';
      readonly reason?: string;
    }
  | { readonly type: 'site_offline'; readonly siteIds: readonly string[] };

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
  | 'candidates_for_unknown_gateway';

interface ResourceEntry {
  readonly resource: ClientResource;
  /** Sites of the resource (one today). */
  readonly siteIds: readonly string[];
}

interface Pending {
  lastRequest: number;
  readonly buffer: PacketBuffer;
}

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

  constructor(
    private readonly node: PeerNode,
    options: { readonly internetResourceEnabled?: boolean } = {},
  ) {
    this.internetEnabled = options.internetResourceEnabled ?? false;
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
    for (const gateway of this.gateways.values()) gateway.buffer.clear();
    this.gateways.clear();
    this.authorized.clear();
    this.pending.clear();
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
    const own = parsed.version === 4 ? this.ipv4 : this.ipv6;
    if (!own || !equalBytes(parsed.src, own)) {
      this.drop('wrong_source');
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
  handleTunnelPacket(gatewayId: string, packet: Uint8Array): void {
    const gateway = this.gateways.get(gatewayId);
    if (!gateway) {
      this.drop('unknown_gateway');
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
    this.drainNode(now);
  }

  pollTimeout(): number | undefined {
    let next: number | undefined;
    for (const until of this.offlineSites.values()) if (next === undefined || until < next) next = until;
    return next;
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

  gatewayList(): { id: string; connected: boolean; resources: string[]; buffered: number }[] {
    return [...this.gateways.values()].map((g) => ({
      id: g.id,
      connected: g.connected,
      resources: [...g.resources],
      buffered: g.buffer.length,
    }));
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
        this.events.push({ type: 'connection', gatewayId: gateway.id, state: 'connected' });
        for (const packet of gateway.buffer.drain()) this.sendToGateway(gateway, packet, now);
        return;
      }
      case 'connection_failed':
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
    for (const packet of pending.buffer.drain()) this.sendToGateway(gateway, packet, now);
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
    if (gateway.resources.size === 0) {
      this.node.closeConnection(gatewayId, now);
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
    this.gateways.delete(gatewayId);
    this.node.closeConnection(gatewayId, now);
    // Ask again at once, maybe for another gateway: a flow in which we only receive (a download)
    // would otherwise send nothing that triggers a new request.
    for (const resourceId of gateway.resources) {
      if (this.resources.has(resourceId)) this.requestAuthorization(resourceId, now);
    }
  }

  private rebuildRoutes(): void {
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
    const routes = new Set<string>(CLIENT_TUNNEL_ROUTES);
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
      searchDomain: this.iface.search_domain,
    };
    const json = JSON.stringify(event);
    if (json === this.lastInterfaceJson) return;
    this.lastInterfaceJson = json;
    this.events.push(event);
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
