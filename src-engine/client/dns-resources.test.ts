/**
 * DNS resources end to end over the in-memory peer network: the client answers a query on its
 * sentinel with proxy addresses, the first packet to one asks for access, AssignedIps travels
 * inside the tunnel, the gateway resolves the name and NATs the flow to the real address and
 * back, and everything the p2p control protocol must refuse is refused and counted.
 */
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { buildIcmpEcho, buildUdpPacket, formatIp, isPacketError } from '../packet/index.js';
import {
  buildGoodbye,
  encodeP2pControl,
  isP2pControlError,
  type P2pControlError,
} from '../p2p-control/index.js';
import {
  CLIENT_ID,
  CLIENT_V4,
  site,
  ip,
  parsed,
  world,
  type TestResource,
  type World,
} from './test-world.js';

const WIKI = '77777777-7777-4777-8777-777777777777';
const APPS = '88888888-8888-4888-8888-888888888888';
const SENTINEL = '100.100.111.1';

const dnsResources: TestResource[] = [
  {
    id: WIKI,
    type: 'dns',
    address: 'wiki.corp.test',
    name: 'Wiki',
    address_description: null,
    sites: [site],
    filters: [],
  },
  {
    id: APPS,
    type: 'dns',
    address: '*.apps.corp.test',
    name: 'Apps',
    address_description: null,
    sites: [site],
    filters: [{ protocol: 'tcp', port_range_start: 80, port_range_end: 80 }, { protocol: 'udp' }],
    ip_stack: 'ipv4_only',
  },
];

function dnsWorld(): World {
  const w = world({ resources: dnsResources });
  w.resolved.set('wiki.corp.test', { ipv4: ['10.40.0.5'], ipv6: [] });
  w.resolved.set('a.apps.corp.test', { ipv4: ['10.40.0.6'], ipv6: [] });
  w.resolved.set('b.apps.corp.test', { ipv4: ['10.40.0.6'], ipv6: [] });
  return w;
}

/** Asks the client's sentinel for `name` and returns the answers' data. */
function query(w: World, name: string, type: 'A' | 'AAAA' = 'A', id = 7): string[] {
  const message = dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  });
  const packet = buildUdpPacket({
    src: ip(CLIENT_V4),
    dst: ip(SENTINEL),
    srcPort: 40000 + id,
    dstPort: 53,
    payload: message,
  });
  if (isPacketError(packet)) throw packet;
  w.client.handleTunPacket(packet, w.now);
  w.pump();
  const reply = w.clientTun.pop();
  if (!reply) throw new Error(`no DNS reply for ${name}`);
  const p = parsed(reply);
  expect(formatIp(p.src)).toBe(SENTINEL);
  const udp = p.transport;
  if (udp?.kind !== 'udp') throw new Error('the reply is not UDP');
  expect(udp.srcPort).toBe(53);
  expect(udp.dstPort).toBe(40000 + id);
  const decoded = dnsPacket.decode(Buffer.from(udp.payload));
  expect(decoded.id).toBe(id);
  return (decoded.answers ?? []).map((a) => String((a as { data: unknown }).data));
}

function udpFrom(dst: string, payload: number, srcPort = 5000, dstPort = 53): Uint8Array {
  const packet = buildUdpPacket({
    src: ip(CLIENT_V4),
    dst: ip(dst),
    srcPort,
    dstPort,
    payload: new Uint8Array([payload]),
  });
  if (isPacketError(packet)) throw packet;
  return packet;
}

function connect(w: World): void {
  // Enough rounds for authorization, candidates, handshake and the control exchange.
  for (let i = 0; i < 5; i++) w.pump();
}

describe('DNS resources through client, tunnel and gateway', () => {
  it('answers A with 4 proxy addresses, AAAA with 4 of the v6 range; the same again', () => {
    const w = dnsWorld();
    const a = query(w, 'wiki.corp.test');
    expect(a).toHaveLength(4);
    for (const address of a) expect(address).toMatch(/^100\.(9[6-9]|1[01]\d|12[0-7])\./);
    const aaaa = query(w, 'wiki.corp.test', 'AAAA', 8);
    expect(aaaa).toHaveLength(4);
    for (const address of aaaa) expect(address).toMatch(/^fd00:2021:1111:8000::/);
    expect(query(w, 'WIKI.corp.test', 'A', 9)).toEqual(a);
    // An ipv4_only resource has no AAAA (NODATA).
    expect(query(w, 'a.apps.corp.test', 'AAAA', 10)).toEqual([]);
  });

  it('the first packet to a proxy asks for access, the gateway maps the name, the flow is NATed both ways', () => {
    const w = dnsWorld();
    const [proxy] = query(w, 'wiki.corp.test');
    w.client.handleTunPacket(udpFrom(proxy!, 1), w.now);
    w.client.handleTunPacket(udpFrom(proxy!, 2), w.now);
    connect(w);
    expect(w.requests.map((r) => r.resource_id)).toEqual([WIKI]);
    // Both packets held until DomainStatus Active, then delivered to the real address, in order.
    const gateway = w.gateways[0]!;
    const delivered = gateway.tun.map(parsed);
    expect(delivered.map((p) => formatIp(p.dst))).toEqual(['10.40.0.5', '10.40.0.5']);
    expect(delivered.map((p) => p.payload[8])).toEqual([1, 2]);
    expect(w.client.dnsNatList()).toEqual([
      expect.objectContaining({ domain: 'wiki.corp.test', resourceId: WIKI, state: 'confirmed' }),
    ]);
    // The reply from the resource goes back from the proxy address.
    const sent = delivered[0]!;
    const udp = sent.transport;
    if (udp?.kind !== 'udp') throw new Error('not UDP');
    const reply = buildUdpPacket({
      src: ip('10.40.0.5'),
      dst: ip(CLIENT_V4),
      srcPort: 53,
      dstPort: udp.srcPort,
      payload: new Uint8Array([9]),
    });
    if (isPacketError(reply)) throw reply;
    gateway.state.handleTunPacket(reply, w.now);
    w.pump();
    const back = w.clientTun.map(parsed).find((p) => p.payload[8] === 9);
    expect(back && formatIp(back.src)).toBe(proxy);
    expect(back?.transport?.kind === 'udp' && back.transport.dstPort).toBe(5000);
  });

  it('a wildcard resource: two names on the same real address keep apart by port', () => {
    const w = dnsWorld();
    const [a] = query(w, 'a.apps.corp.test');
    const [b] = query(w, 'b.apps.corp.test', 'A', 11);
    expect(a).not.toBe(b);
    w.client.handleTunPacket(udpFrom(a!, 1, 6000, 7), w.now);
    w.client.handleTunPacket(udpFrom(b!, 2, 6000, 7), w.now);
    connect(w);
    const out = w.gateways[0]!.tun.map(parsed);
    expect(out.map((p) => formatIp(p.dst))).toEqual(['10.40.0.6', '10.40.0.6']);
    const ports = out.map((p) => (p.transport?.kind === 'udp' ? p.transport.srcPort : -1));
    expect(new Set(ports).size).toBe(2);
  });

  it('filters apply per proxy address: a closed port gets ICMP prohibited from the client', () => {
    const w = dnsWorld();
    const [a] = query(w, 'a.apps.corp.test');
    // ICMP is not in the Apps filters.
    const before = w.clientTun.length;
    const ping = buildIcmpEcho({
      src: ip(CLIENT_V4),
      dst: ip(a!),
      echo: 'request',
      identifier: 1,
      sequence: 1,
    });
    if (isPacketError(ping)) throw ping;
    w.client.handleTunPacket(ping, w.now);
    w.pump();
    expect(w.clientTun.length).toBe(before + 1);
    const icmp = parsed(w.clientTun.at(-1)!);
    expect(icmp.payload[0]).toBe(3);
    expect(icmp.payload[1]).toBe(13);
    expect(w.client.dropCounts().filtered).toBe(1);
  });

  it('a family without an address is answered with ICMP unreachable by the gateway', () => {
    const w = dnsWorld();
    query(w, 'wiki.corp.test');
    const [v6] = query(w, 'wiki.corp.test', 'AAAA', 12);
    const packet = buildUdpPacket({
      src: ip('fd00:2021:1111::2'),
      dst: ip(v6!),
      srcPort: 5000,
      dstPort: 53,
      payload: new Uint8Array([1]),
    });
    if (isPacketError(packet)) throw packet;
    w.client.handleTunPacket(packet, w.now);
    connect(w);
    expect(w.gateways[0]!.tun).toHaveLength(0);
    const icmp = w.clientTun.map(parsed).find((p) => p.version === 6 && p.protocol === 58);
    expect(icmp?.payload[0]).toBe(1); // destination unreachable
    expect(icmp?.payload[1]).toBe(3); // address unreachable
    expect(w.gateways[0]!.state.drops.get('no_dns_target')).toBe(1);
  });

  it('refuses AssignedIps for a domain outside the pattern, proxies outside the ranges, bad JSON; tables unchanged', () => {
    const w = dnsWorld();
    const [proxy] = query(w, 'wiki.corp.test');
    w.client.handleTunPacket(udpFrom(proxy!, 1), w.now);
    connect(w);
    const gateway = w.gateways[0]!;
    const namesBefore = gateway.state.clientList()[0]!.dnsNames;
    const send = (packet: Uint8Array): void => gateway.state.handleTunnelPacket(CLIENT_ID, packet, w.now);
    const assigned = (domain: string, proxyIps: string[]): Uint8Array | P2pControlError =>
      encodeP2pControl(
        0,
        new TextEncoder().encode(JSON.stringify({ resource: WIKI, domain, proxy_ips: proxyIps })),
      );
    const outside = assigned('evil.corp.test', [proxy!, proxy!, proxy!, proxy!]);
    const badRange = assigned('wiki.corp.test', ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
    const notJson = encodeP2pControl(0, new TextEncoder().encode('{nope'));
    const unknown = encodeP2pControl(42, new Uint8Array());
    for (const packet of [outside, badRange, notJson, unknown]) {
      if (isP2pControlError(packet)) throw new Error(packet.detail);
      send(packet);
    }
    w.pump();
    expect(gateway.state.drops.get('assigned_ips_refused')).toBe(1);
    expect(gateway.state.drops.get('invalid_control')).toBe(2);
    expect(gateway.state.drops.get('unknown_control_kind')).toBe(1);
    expect(gateway.state.clientList()[0]!.dnsNames).toEqual(namesBefore);
    // From a peer that is no client of this gateway: dropped before decoding.
    gateway.state.handleTunnelPacket('99999999-9999-4999-8999-999999999999', buildGoodbye(), w.now);
    expect(gateway.state.drops.get('unknown_client')).toBe(1);
    // A control packet the OS wrote into the client's TUN never leaves it.
    w.client.handleTunPacket(buildGoodbye(), w.now);
    expect(w.client.dropCounts().control_from_tun).toBe(1);
  });

  it('Goodbye: a client shutting down is forgotten by the gateway at once, and the other way round', () => {
    const w = dnsWorld();
    const [proxy] = query(w, 'wiki.corp.test');
    w.client.handleTunPacket(udpFrom(proxy!, 1), w.now);
    connect(w);
    expect(w.gateways[0]!.state.clientList()).toHaveLength(1);
    w.client.shutdown(w.now);
    w.pump();
    expect(w.gateways[0]!.state.clientList()).toHaveLength(0);

    const w2 = dnsWorld();
    const [proxy2] = query(w2, 'wiki.corp.test');
    w2.client.handleTunPacket(udpFrom(proxy2!, 1), w2.now);
    connect(w2);
    expect(w2.client.gatewayList()).toHaveLength(1);
    w2.gateways[0]!.state.shutdown(w2.now);
    w2.pump();
    expect(w2.client.gatewayList()).toHaveLength(0);
    expect(w2.client.resourceList().find((r) => r.resource.id === WIKI)?.gatewayId).toBeUndefined();
    expect(w2.client.dnsNatList()).toEqual([]);
  });

  it('a new DNS query refreshes a confirmed mapping without holding traffic', () => {
    const w = dnsWorld();
    const [proxy] = query(w, 'wiki.corp.test');
    w.client.handleTunPacket(udpFrom(proxy!, 1), w.now);
    connect(w);
    w.resolved.set('wiki.corp.test', { ipv4: ['10.40.0.9'], ipv6: [] });
    w.now += 3_000;
    query(w, 'wiki.corp.test', 'A', 13);
    // Traffic flows at once (not held), and the gateway re-resolved the name.
    w.client.handleTunPacket(udpFrom(proxy!, 2, 5001), w.now);
    connect(w);
    const names = w.gateways[0]!.state.clientList()[0]!.dnsNames;
    expect(names.find((n) => n.proxy === proxy)?.target).toBe('10.40.0.9');
    expect(w.client.dnsNatList()[0]?.state).toBe('confirmed');
  });
});
