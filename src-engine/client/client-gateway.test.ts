/**
 * The client and gateway cores together, over an in-memory peer network, with this test playing
 * the portal: first packet → request_authorization → create_authorization → candidates →
 * connection → buffered packets flushed; filters, revocation, expiry and failover.
 */
import { describe, expect, it } from 'vitest';
import { buildIcmpEcho, buildTcpPacket, buildUdpPacket } from '../packet/index.js';
import { MemoryPeerNetwork } from '../tunnel/memory-node.js';
import { GatewayState } from '../gateway/gateway-state.js';
import {
  CLIENT_ID,
  CREDS,
  SITE,
  portalFromClient,
  CLIENT_V4,
  GW,
  KEY,
  LAN,
  OTHER,
  WEB,
  clientMessage,
  gatewayInit,
  gatewayMessage,
  ip,
  parsed,
  resources,
  udpTo,
  world,
} from './test-world.js';

describe('client and gateway cores', () => {
  it('routes the resource CIDRs, the tunnel, proxy and sentinel ranges into the TUN on init', () => {
    const w = world();
    const events = [];
    for (let e = w.client.pollEvent(); e; e = w.client.pollEvent()) events.push(e);
    const iface = events.find((e) => e.type === 'interface');
    expect(iface).toMatchObject({
      ipv4: CLIENT_V4,
      routes: [
        '10.20.0.0/16',
        '10.30.0.0/24',
        '100.64.0.0/11',
        '100.96.0.0/11',
        'fd00:2021:1111:8000:100:100:111:0/120',
        'fd00:2021:1111:8000::/107',
        'fd00:2021:1111::/107',
      ],
      upstreamDns: ['10.9.9.9'],
      // One sentinel per upstream of the portal (10.9.9.9 is IPv4).
      dnsServers: ['100.100.111.1'],
    });
  });

  it('asks for access on the first packet, buffers, connects and delivers what it buffered', () => {
    const w = world();
    w.client.handleTunPacket(udpTo('10.20.1.5', 53, 1), w.now);
    w.client.handleTunPacket(udpTo('10.20.1.5', 53, 2), w.now);
    expect(w.client.pollPortalMessage()).toMatchObject({
      event: 'request_authorization',
      payload: { resource_id: LAN, connected_gateway_ids: [] },
    });
    expect(w.client.pollPortalMessage()).toBeUndefined(); // one request per 2 s
    portalFromClient(w, 'request_authorization', { resource_id: LAN, connected_gateway_ids: [] });
    w.pump();
    expect(w.gateways[0]!.tun.map((p) => p[p.length - 1])).toEqual([1, 2]);
    // The reply comes back through the gateway's TUN to the client.
    const reply = buildUdpPacket({
      src: ip('10.20.1.5'),
      dst: ip(CLIENT_V4),
      srcPort: 53,
      dstPort: 5000,
      payload: new Uint8Array([9]),
    }) as Uint8Array;
    w.gateways[0]!.state.handleTunPacket(reply, w.now);
    w.pump();
    expect(w.clientTun).toHaveLength(1);
    expect(parsed(w.clientTun[0]!).src).toEqual(ip('10.20.1.5'));
    // A second resource of the same site: reuses the tunnel, names its gateway as preferred.
    w.client.handleTunPacket(
      buildTcpPacket({
        src: ip(CLIENT_V4),
        dst: ip('10.30.0.7'),
        srcPort: 40000,
        dstPort: 443,
        flags: 0x02,
      }) as Uint8Array,
      w.now,
    );
    const request = w.client.pollPortalMessage();
    expect(request?.payload).toMatchObject({ resource_id: WEB, connected_gateway_ids: [GW[0]] });
  });

  it('answers prohibited for ports the filters close, on the client and on the gateway', () => {
    const w = world();
    w.client.handleTunPacket(
      buildTcpPacket({
        src: ip(CLIENT_V4),
        dst: ip('10.30.0.7'),
        srcPort: 40000,
        dstPort: 22,
        flags: 0x02,
      }) as Uint8Array,
      w.now,
    );
    const icmp = parsed(w.client.pollTunPacket()!);
    expect([icmp.protocol, icmp.payload[0], icmp.payload[1]]).toEqual([1, 3, 13]);
    expect(w.client.drops.get('filtered')).toBe(1);
    expect(w.client.pollPortalMessage()).toBeUndefined();

    // The gateway enforces it too, whatever a client sends.
    w.client.handleTunPacket(udpTo('10.20.1.5', 53), w.now);
    w.pump();
    const g = w.gateways[0]!;
    const sneaky = buildTcpPacket({
      src: ip(CLIENT_V4),
      dst: ip('10.30.0.7'),
      srcPort: 40000,
      dstPort: 22,
      flags: 0x02,
    }) as Uint8Array;
    g.state.handleTunnelPacket(CLIENT_ID, sneaky, w.now);
    expect(g.state.drops.get('not_authorized')).toBe(1);
    w.pump();
    const back = parsed(w.clientTun.at(-1)!);
    expect([back.protocol, back.payload[0], back.payload[1]]).toEqual([1, 3, 13]);
  });

  it('drops spoofed sources and packets to resources of no authorization on the gateway', () => {
    const w = world();
    w.client.handleTunPacket(udpTo('10.20.1.5', 53), w.now);
    w.pump();
    const g = w.gateways[0]!;
    const spoofed = buildUdpPacket({
      src: ip('100.64.0.99'),
      dst: ip('10.20.1.5'),
      srcPort: 1,
      dstPort: 53,
    }) as Uint8Array;
    g.state.handleTunnelPacket(CLIENT_ID, spoofed, w.now);
    expect(g.state.drops.get('spoofed_source')).toBe(1);
    g.state.handleTunnelPacket(CLIENT_ID, udpTo('10.99.0.1', 53), w.now);
    expect(g.state.drops.get('not_authorized')).toBe(1);
    g.state.handleTunnelPacket(OTHER, udpTo('10.20.1.5', 53), w.now);
    expect(g.state.drops.get('unknown_client')).toBe(1);
    expect(g.tun).toHaveLength(1);
  });

  it('stops forwarding at once on reject_access and when the authorization expires', () => {
    const w = world();
    w.client.handleTunPacket(udpTo('10.20.1.5', 53), w.now);
    w.pump();
    const g = w.gateways[0]!;
    g.state.handlePortalMessage(
      gatewayMessage('reject_access', { client_id: CLIENT_ID, resource_id: LAN }),
      w.now,
    );
    g.state.handleTunnelPacket(CLIENT_ID, udpTo('10.20.1.5', 53), w.now);
    expect(g.state.drops.get('unknown_client')).toBe(1);
    expect(g.state.clientList()).toEqual([]);

    const w2 = world();
    w2.client.handleTunPacket(udpTo('10.20.1.5', 53), w2.now);
    w2.pump();
    const g2 = w2.gateways[0]!;
    expect(g2.state.pollTimeout()).toBe(Math.floor(w2.now / 1000) * 1000 + 3_600_000);
    w2.now += 3_600_001;
    g2.state.handleTimeout(w2.now);
    g2.state.handleTunnelPacket(CLIENT_ID, udpTo('10.20.1.5', 53), w2.now);
    expect(g2.tun).toHaveLength(1);
  });

  it('keeps only the authorizations a reconnect init lists', () => {
    const w = world();
    w.client.handleTunPacket(udpTo('10.20.1.5', 53), w.now);
    w.pump();
    const g = w.gateways[0]!;
    g.state.handlePortalMessage(gatewayInit(0), w.now);
    expect(g.state.clientList()).toEqual([]);
  });

  it('moves to another gateway of the site when the connection fails', () => {
    const w = world();
    w.client.handleTunPacket(udpTo('10.20.1.5', 53, 1), w.now);
    w.pump();
    expect(w.gateways[0]!.tun).toHaveLength(1);
    // Gateway 0 dies: the node reports the failure; the portal now only has gateway 1.
    w.net.down.add(GW[0]!);
    w.alive.delete(GW[0]!);
    w.clientNode.fail(GW[0]!, 'ICE timeout');
    w.client.drainNode(w.now);
    // The failure itself asks again at once, without naming the failed gateway as preferred.
    w.client.handleTunPacket(udpTo('10.20.1.5', 53, 2), w.now);
    const request = w.client.pollPortalMessage();
    expect(request).toMatchObject({
      event: 'request_authorization',
      payload: { connected_gateway_ids: [] },
    });
    portalFromClient(w, request!.event, request!.payload);
    w.pump();
    expect(w.gateways[1]!.tun.map((p) => p[p.length - 1])).toEqual([2]);
  });

  it('forgets a resource removed by the portal: no route, no flow', () => {
    const w = world();
    w.client.handleTunPacket(udpTo('10.20.1.5', 53), w.now);
    w.pump();
    w.client.handlePortalMessage(clientMessage('resource_deleted', LAN), w.now);
    w.client.handleTunPacket(udpTo('10.20.1.5', 53), w.now);
    expect(w.client.drops.get('no_route')).toBe(1);
    expect(w.client.gatewayList()).toEqual([]);
    expect(w.clientNode.hasConnection(GW[0]!)).toBe(false);
  });

  it('ignores a late or unrequested authorization and candidates for unknown gateways', () => {
    const w = world();
    w.client.handlePortalMessage(
      clientMessage('authorization_created', {
        resource_id: LAN,
        gateway_id: GW[0],
        gateway_public_key: KEY(10),
        gateway_ipv4: '100.64.0.10',
        gateway_ipv6: 'fd00:2021:1111::10',
        site_id: SITE,
        preshared_key: KEY(7),
        client_ice_credentials: CREDS.client,
        gateway_ice_credentials: CREDS.gateway,
      }),
      w.now,
    );
    w.client.handlePortalMessage(
      clientMessage('ice_candidates', {
        gateway_id: GW[1],
        candidates: ['candidate:1 1 udp 1 10.0.0.1 1 typ host'],
      }),
      w.now,
    );
    expect(w.client.drops.get('stale_authorization')).toBe(1);
    expect(w.client.drops.get('candidates_for_unknown_gateway')).toBe(1);
    expect(w.clientNode.hasConnection(GW[0]!)).toBe(false);
  });

  it('bounds the packets buffered for an authorization and asks again at most every 2 s', () => {
    const w = world();
    for (let i = 0; i < 200; i++) w.client.handleTunPacket(udpTo('10.20.1.5', 53, i % 256), w.now + i);
    const requests = [];
    for (let m = w.client.pollPortalMessage(); m; m = w.client.pollPortalMessage()) requests.push(m);
    expect(requests).toHaveLength(1);
    expect(w.client.drops.get('pending_buffer_full')).toBe(200 - 128);
    w.client.handleTunPacket(udpTo('10.20.1.5', 53, 1), w.now + 2_000);
    expect(w.client.pollPortalMessage()?.event).toBe('request_authorization');
  });

  it('drops packets with a source other than its own address and multicast', () => {
    const w = world();
    w.client.handleTunPacket(
      buildUdpPacket({ src: ip('192.168.1.2'), dst: ip('10.20.1.5'), srcPort: 1, dstPort: 2 }) as Uint8Array,
      w.now,
    );
    w.client.handleTunPacket(
      buildUdpPacket({
        src: ip(CLIENT_V4),
        dst: ip('224.0.0.251'),
        srcPort: 5353,
        dstPort: 5353,
      }) as Uint8Array,
      w.now,
    );
    w.client.handleTunPacket(
      buildIcmpEcho({
        src: ip(CLIENT_V4),
        dst: ip('8.8.8.8'),
        echo: 'request',
        identifier: 1,
        sequence: 1,
      }) as Uint8Array,
      w.now,
    );
    w.client.handleTunPacket(new Uint8Array([0x45, 0, 0]), w.now);
    expect(Object.fromEntries(w.client.drops)).toEqual({
      wrong_source: 1,
      multicast: 1,
      no_route: 1,
      invalid_packet: 1,
    });
  });

  it('serves many clients at once, each only for its own authorizations', () => {
    const net = new MemoryPeerNetwork();
    const gatewayId = GW[0]!;
    const gatewayNode = net.node(gatewayId, Buffer.alloc(32, 10));
    const gateway = new GatewayState(gatewayNode);
    const now = 1_000_000;
    gateway.handlePortalMessage(gatewayInit(0), now);
    const clients = Array.from({ length: 50 }, (_, i) => {
      const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      const v4 = `100.64.1.${i + 1}`;
      const node = net.node(id, Buffer.alloc(32, 100 + i));
      // Even clients may reach LAN, odd ones Web.
      const resource = resources[i % 2]!;
      gateway.handlePortalMessage(
        gatewayMessage('create_authorization', {
          ref: `ref-${i}`,
          resource: {
            id: resource.id,
            type: 'cidr',
            address: resource.address,
            name: resource.name,
            filters: resource.filters,
          },
          client: {
            id,
            public_key: Buffer.alloc(32, 100 + i).toString('base64'),
            preshared_key: KEY(7),
            ipv4: v4,
            ipv6: `fd00:2021:1111::1:${i + 1}`,
          },
          client_ice_credentials: CREDS.client,
          gateway_ice_credentials: CREDS.gateway,
          expires_at: Math.floor(now / 1000) + 3600,
          flow_logs_ingest_token: 'x.y.z',
        }),
        now,
      );
      return { id, v4, node };
    });
    expect(gateway.clientList()).toHaveLength(50);
    const g = { tun: [] as Uint8Array[] };
    for (const [i, c] of clients.entries()) {
      const lan = buildUdpPacket({
        src: ip(c.v4),
        dst: ip('10.20.1.5'),
        srcPort: 1,
        dstPort: 53,
      }) as Uint8Array;
      const web = buildTcpPacket({
        src: ip(c.v4),
        dst: ip('10.30.0.7'),
        srcPort: 40000,
        dstPort: 443,
        flags: 0x02,
      }) as Uint8Array;
      gateway.handleTunnelPacket(c.id, lan, now);
      gateway.handleTunnelPacket(c.id, web, now);
      for (let p = gateway.pollTunPacket(); p; p = gateway.pollTunPacket()) g.tun.push(p);
      expect(g.tun).toHaveLength(i + 1);
    }
    expect(gateway.drops.get('not_authorized')).toBe(50);
    // Replies: from LAN to a LAN client is let through, to a Web-only client it is not.
    const reply = (to: string): Uint8Array =>
      buildUdpPacket({ src: ip('10.20.1.5'), dst: ip(to), srcPort: 53, dstPort: 1 }) as Uint8Array;
    gateway.handleTunPacket(reply(clients[4]!.v4), now);
    expect(gateway.drops.get('source_not_authorized')).toBeUndefined();
    gateway.handleTunPacket(reply(clients[5]!.v4), now);
    expect(gateway.drops.get('source_not_authorized')).toBe(1);
  });
});
