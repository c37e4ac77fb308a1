/**
 * The gateway's tunnel logic as a sans-IO core (PROTOCOL.md §4.2–4.4): portal messages, packets
 * decrypted from clients and packets read from the TUN in; portal messages, packets for the TUN,
 * packets for clients (through the `PeerNode`) out. It forwards only what an authorization allows:
 * the (client, resource) pair is authorized and unexpired, the destination lies inside the
 * resource, and the resource's filters open the protocol and port. Anything else is answered with
 * ICMP "administratively prohibited" into the tunnel and counted. It reads no clock.
 */
import { isPacketError, parseIpPacket, writeIcmpUnreachable } from '../packet/index.js';
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
  | 'candidates_for_unknown_client';

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
  private readonly byAddress = new Map<string, string>();
  private readonly portalOut: GatewayPortalOutput[] = [];
  private readonly tunOut: Uint8Array[] = [];
  private readonly events: GatewayEvent[] = [];
  private ipv4: Uint8Array | undefined;
  private ipv6: Uint8Array | undefined;
  private nextTick: number | undefined;

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
          client = { id: p.client.id, ipv4, ipv6, authorizations: new Map(), routes: new RoutingTable() };
          this.clients.set(client.id, client);
        } else if (!equalBytes(client.ipv4, ipv4) || !equalBytes(client.ipv6, ipv6)) {
          // A renumbered client: its old addresses point nowhere any more.
          this.unindex(client);
          client.ipv4 = ipv4;
          client.ipv6 = ipv6;
        }
        this.byAddress.set(key(ipv4), client.id);
        this.byAddress.set(key(ipv6), client.id);
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
    const clientId = this.byAddress.get(key(parsed.dst));
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
    this.drainNode(now);
  }

  pollTimeout(): number | undefined {
    return this.nextTick;
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

  clientList(): { id: string; resources: string[]; connected: boolean }[] {
    return [...this.clients.values()].map((client) => ({
      id: client.id,
      resources: [...client.authorizations.keys()],
      connected: this.node.isConnected(client.id),
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
    this.node.closeConnection(client.id, now);
    this.unindex(client);
    this.clients.delete(client.id);
    this.events.push({ type: 'client_removed', clientId: client.id, reason });
  }

  private unindex(client: ClientPeer): void {
    if (this.byAddress.get(key(client.ipv4)) === client.id) this.byAddress.delete(key(client.ipv4));
    if (this.byAddress.get(key(client.ipv6)) === client.id) this.byAddress.delete(key(client.ipv6));
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
      // DNS resources route by proxy IP, installed by the p2p control protocol.
    }
    client.routes = routes;
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

function key(address: Uint8Array): string {
  return Buffer.from(address.buffer, address.byteOffset, address.length).toString('hex');
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
