/**
 * Test support: the client and gateway cores together over an in-memory peer network, with the
 * test playing the portal (it grants every request, on the gateway `pick()` names) and, for DNS
 * resources, the gateway's resolver (`resolved` maps names to addresses).
 */
import { buildUdpPacket, isPacketError, parseIpAddress, parseIpPacket } from '../packet/index.js';
import {
  CLIENT_INGRESS,
  GATEWAY_INGRESS,
  parseMessage,
  type ClientIngressMessage,
  type GatewayIngressMessage,
} from '../portal/messages/index.js';
import { MemoryPeerNetwork, type MemoryPeerNode } from '../tunnel/memory-node.js';
import { GatewayState, type ResolveRequest } from '../gateway/gateway-state.js';
import { ClientState } from './client-state.js';

export const ip = (text: string): Uint8Array => parseIpAddress(text)!;
export const CLIENT_ID = '6b3e2d8a-3f62-4d39-a0a4-3b5d0c2f5e11';
export const GW = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'];
export const SITE = '33333333-3333-4333-8333-333333333333';
export const LAN = '44444444-4444-4444-8444-444444444444';
export const WEB = '55555555-5555-4555-8555-555555555555';
export const OTHER = '66666666-6666-4666-8666-666666666666';
export const CLIENT_V4 = '100.64.0.2';
export const CLIENT_V6 = 'fd00:2021:1111::2';
export const KEY = (n: number): string => Buffer.alloc(32, n).toString('base64');
export const CREDS = {
  client: { username: 'abcd', password: 'p'.repeat(22) },
  gateway: { username: 'efgh', password: 'q'.repeat(22) },
};

export function clientMessage(event: string, payload: unknown): ClientIngressMessage {
  const outcome = parseMessage(CLIENT_INGRESS, event, payload);
  if (outcome.kind !== 'message') throw new Error(`bad test message ${event}: ${JSON.stringify(outcome)}`);
  return outcome.message as ClientIngressMessage;
}

export function gatewayMessage(event: string, payload: unknown): GatewayIngressMessage {
  const outcome = parseMessage(GATEWAY_INGRESS, event, payload);
  if (outcome.kind !== 'message') throw new Error(`bad test message ${event}: ${JSON.stringify(outcome)}`);
  return outcome.message as GatewayIngressMessage;
}

export const site = { id: SITE, name: 'HQ' };

export interface TestResource {
  readonly id: string;
  readonly type: 'cidr' | 'dns';
  readonly address: string;
  readonly name: string;
  readonly address_description: null;
  readonly sites: { id: string; name: string }[];
  readonly filters: { protocol: string; port_range_start?: number; port_range_end?: number }[];
  readonly ip_stack?: 'dual' | 'ipv4_only' | 'ipv6_only';
}
export const resources: TestResource[] = [
  {
    id: LAN,
    type: 'cidr',
    address: '10.20.0.0/16',
    name: 'LAN',
    address_description: null,
    sites: [site],
    filters: [],
  },
  {
    id: WEB,
    type: 'cidr',
    address: '10.30.0.0/24',
    name: 'Web',
    address_description: null,
    sites: [site],
    filters: [{ protocol: 'tcp', port_range_start: 443, port_range_end: 443 }],
  },
];

export interface World {
  now: number;
  net: MemoryPeerNetwork;
  client: ClientState;
  clientNode: MemoryPeerNode;
  gateways: { id: string; state: GatewayState; node: MemoryPeerNode; tun: Uint8Array[] }[];
  clientTun: Uint8Array[];
  requests: Record<string, unknown>[];
  /** Which gateway the portal picks (index into the live ones). */
  pick: () => number;
  /** Grants as the portal would hold them: resource → gateway id. */
  alive: Set<string>;
  /** The resources the portal lists. */
  resources: readonly TestResource[];
  /** Resolve requests held for the test (manual mode), with the gateway that asked. */
  pending: { gateway: number; request: ResolveRequest }[];
  /** The gateway's resolver: name → addresses (absent: no address). */
  resolved: Map<string, { ipv4: string[]; ipv6: string[] }>;
  pump(): void;
}

export function world(
  options: {
    readonly resources?: readonly TestResource[];
    /**
     * The test moves tunnel packets (the nodes' inboxes) and answers the gateways' resolve
     * requests itself (`World.pending`), in any order, or not at all; `pump` leaves them.
     */
    readonly manualTunnel?: boolean;
  } = {},
): World {
  const manual = options.manualTunnel ?? false;
  const listed = options.resources ?? resources;
  const net = new MemoryPeerNetwork();
  const clientNode = net.node(CLIENT_ID, Buffer.alloc(32, 1));
  const w: World = {
    now: 1_000_000,
    net,
    client: new ClientState(clientNode),
    clientNode,
    gateways: GW.map((id, i) => {
      const node = net.node(id, Buffer.alloc(32, 10 + i));
      return { id, state: new GatewayState(node), node, tun: [] };
    }),
    clientTun: [],
    requests: [],
    resources: listed,
    resolved: new Map(),
    pending: [],
    pick: () => 0,
    alive: new Set(GW),
    pump() {
      for (let round = 0; round < 20; round++) {
        let busy = false;
        w.client.drainNode(w.now);
        for (let out = w.client.pollPortalMessage(); out; out = w.client.pollPortalMessage()) {
          busy = true;
          portalFromClient(w, out.event, out.payload);
        }
        for (const g of w.gateways) {
          g.state.drainNode(w.now);
          for (let out = g.state.pollPortalMessage(); out; out = g.state.pollPortalMessage()) {
            busy = true;
            portalFromGateway(w, g.id, out.event, out.payload);
          }
          for (let p = g.state.pollTunPacket(); p; p = g.state.pollTunPacket()) g.tun.push(p);
          for (let r = g.state.pollResolveRequest(); r; r = g.state.pollResolveRequest()) {
            if (manual) {
              w.pending.push({ gateway: w.gateways.indexOf(g), request: r });
              continue;
            }
            busy = true;
            g.state.handleDomainResolved(r, w.resolved.get(r.domain) ?? { ipv4: [], ipv6: [] }, w.now);
          }
          if (manual) continue;
          for (let item = g.node.inbox.shift(); item; item = g.node.inbox.shift()) {
            busy = true;
            g.state.handleTunnelPacket(item[0], item[1], w.now);
          }
        }
        for (
          let item = manual ? undefined : w.clientNode.inbox.shift();
          item;
          item = w.clientNode.inbox.shift()
        ) {
          busy = true;
          w.client.handleTunnelPacket(item[0], item[1], w.now);
        }
        for (let p = w.client.pollTunPacket(); p; p = w.client.pollTunPacket()) w.clientTun.push(p);
        if (!busy) return;
      }
    },
  };
  for (const [i, g] of w.gateways.entries()) {
    g.state.handlePortalMessage(gatewayInit(i), w.now);
  }
  w.client.handlePortalMessage(
    clientMessage('init', {
      interface: { ipv4: CLIENT_V4, ipv6: CLIENT_V6, upstream_do53: [{ ip: '10.9.9.9' }] },
      resources: listed,
      relays: [],
      authorizations: [],
      flow_logs: { api_url: 'https://example.invalid', upload_interval_secs: 0, upload_batch_size: 0 },
    }),
    w.now,
  );
  return w;
}

/** The portal's `init` for gateway `i` (0-based), with the authorizations it still lists. */
export function gatewayInit(i: number, authorizations: unknown[] = []): GatewayIngressMessage {
  return gatewayMessage('init', {
    interface: { ipv4: `100.64.0.${10 + i}`, ipv6: `fd00:2021:1111::${10 + i}` },
    config: { ipv4_masquerade_enabled: true, ipv6_masquerade_enabled: true },
    relays: [],
    account_slug: 'acme',
    authorizations,
    flow_logs: { api_url: 'https://example.invalid', upload_interval_secs: 0, upload_batch_size: 0 },
  });
}

export function portalFromClient(w: World, event: string, payload: Record<string, unknown>): void {
  if (event === 'request_authorization') {
    w.requests.push(payload);
    const live = GW.filter((id) => w.alive.has(id));
    const gatewayId = live[w.pick() % live.length]!;
    const index = GW.indexOf(gatewayId);
    const resource = w.resources.find((r) => r.id === payload.resource_id)!;
    w.gateways[index]!.state.handlePortalMessage(
      gatewayMessage('create_authorization', {
        ref: `ref-${w.requests.length}`,
        resource: {
          id: resource.id,
          type: resource.type,
          address: resource.address,
          name: resource.name,
          filters: resource.filters,
        },
        client: {
          id: CLIENT_ID,
          public_key: KEY(1),
          preshared_key: KEY(7),
          ipv4: CLIENT_V4,
          ipv6: CLIENT_V6,
        },
        client_ice_credentials: CREDS.client,
        gateway_ice_credentials: CREDS.gateway,
        expires_at: Math.floor(w.now / 1000) + 3600,
        flow_logs_ingest_token: 'x.y.z',
      }),
      w.now,
    );
    // The gateway acks (in its outputs): the portal then tells the client.
    w.client.handlePortalMessage(
      clientMessage('authorization_created', {
        resource_id: resource.id,
        gateway_id: gatewayId,
        gateway_public_key: KEY(10 + index),
        gateway_ipv4: `100.64.0.${10 + index}`,
        gateway_ipv6: `fd00:2021:1111::${10 + index}`,
        site_id: SITE,
        preshared_key: KEY(7),
        client_ice_credentials: CREDS.client,
        gateway_ice_credentials: CREDS.gateway,
      }),
      w.now,
    );
  } else if (event === 'new_gateway_ice_candidates') {
    const index = GW.indexOf(payload.gateway_id as string);
    w.gateways[index]!.state.handlePortalMessage(
      gatewayMessage('ice_candidates', { client_id: CLIENT_ID, candidates: payload.candidates }),
      w.now,
    );
  }
}

export function portalFromGateway(
  w: World,
  gatewayId: string,
  event: string,
  payload: Record<string, unknown>,
): void {
  if (event === 'broadcast_ice_candidates') {
    w.client.handlePortalMessage(
      clientMessage('ice_candidates', { gateway_id: gatewayId, candidates: payload.candidates }),
      w.now,
    );
  }
}

export function udpTo(dst: string, port: number, byte = 1): Uint8Array {
  return buildUdpPacket({
    src: ip(CLIENT_V4),
    dst: ip(dst),
    srcPort: 5000,
    dstPort: port,
    payload: new Uint8Array([byte]),
  }) as Uint8Array;
}

export function parsed(packet: Uint8Array) {
  const p = parseIpPacket(packet);
  if (isPacketError(p)) throw p;
  return p;
}
