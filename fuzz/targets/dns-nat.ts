/**
 * DNS resources over a lossy tunnel with the real client and gateway cores (the test plays the
 * portal and the gateway's resolver): a tunnel that delivers, drops, duplicates and reorders every
 * packet (AssignedIps, DomainStatus and traffic alike), with the gateway's name lookups answered
 * late and out of order. Whatever happened, once the network is quiet and traffic flows again,
 * the gateway's proxy table equals the client's assignment. Shared with
 * src-engine/client/dns-resources.property.test.ts.
 */
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { buildUdpPacket, isPacketError, parseIpPacket } from '../../src-engine/packet/index.js';
import {
  CLIENT_ID,
  CLIENT_V4,
  GW,
  ip,
  site,
  world,
  type TestResource,
  type World,
} from '../../src-engine/client/test-world.js';
import type { FuzzTarget } from '../target.js';

const NAMES = ['wiki.corp.test', 'a.apps.corp.test', 'b.apps.corp.test'];
const RESOURCES: TestResource[] = [
  {
    id: '77777777-7777-4777-8777-777777777771',
    type: 'dns',
    address: 'wiki.corp.test',
    name: 'Wiki',
    address_description: null,
    sites: [site],
    filters: [],
  },
  {
    id: '77777777-7777-4777-8777-777777777772',
    type: 'dns',
    address: '*.apps.corp.test',
    name: 'Apps',
    address_description: null,
    sites: [site],
    filters: [],
  },
];

type Mode = 'deliver' | 'drop' | 'duplicate';
type Action =
  | { readonly type: 'query'; readonly name: number }
  | { readonly type: 'send'; readonly name: number }
  | { readonly type: 'toGateway'; readonly index: number; readonly mode: Mode }
  | { readonly type: 'toClient'; readonly index: number; readonly mode: Mode }
  | { readonly type: 'resolve'; readonly index: number }
  | { readonly type: 'advance'; readonly ms: number };

const mode = fc.constantFrom<Mode>('deliver', 'deliver', 'drop', 'duplicate');
export const dnsNatActionArb: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ type: fc.constant('query' as const), name: fc.nat(NAMES.length - 1) }),
  fc.record({ type: fc.constant('send' as const), name: fc.nat(NAMES.length - 1) }),
  fc.record({ type: fc.constant('toGateway' as const), index: fc.nat(7), mode }),
  fc.record({ type: fc.constant('toClient' as const), index: fc.nat(7), mode }),
  fc.record({ type: fc.constant('resolve' as const), index: fc.nat(3) }),
  fc.record({ type: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3_000 }) }),
);

/** The client's answer for `name` (its sentinel, UDP), as the OS would ask. */
function query(w: World, name: string): string[] {
  const message = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name, class: 'IN' }] });
  const packet = buildUdpPacket({
    src: ip(CLIENT_V4),
    dst: ip('100.100.111.1'),
    srcPort: 40000,
    dstPort: 53,
    payload: message,
  });
  if (isPacketError(packet)) throw packet;
  w.client.handleTunPacket(packet, w.now);
  w.pump();
  const reply = parseIpPacket(w.clientTun.pop()!);
  if (isPacketError(reply) || reply.transport?.kind !== 'udp') throw new Error('no DNS reply');
  const decoded = dnsPacket.decode(Buffer.from(reply.transport.payload));
  return (decoded.answers ?? []).map((a) => String((a as { data: unknown }).data));
}

function send(w: World, proxy: string): void {
  const packet = buildUdpPacket({
    src: ip(CLIENT_V4),
    dst: ip(proxy),
    srcPort: 5000,
    dstPort: 7,
    payload: new Uint8Array([1]),
  });
  if (isPacketError(packet)) throw packet;
  w.client.handleTunPacket(packet, w.now);
  w.pump();
}

/** Takes item `index` (wrapped) of a queue and delivers it, drops it, or delivers it twice. */
function move(
  queue: [string, Uint8Array][],
  index: number,
  how: Mode,
  deliver: (item: [string, Uint8Array]) => void,
): void {
  if (queue.length === 0) return;
  const [item] = queue.splice(index % queue.length, 1);
  if (how === 'drop') return;
  deliver(item!);
  if (how === 'duplicate') deliver(item!);
}

/** Runs `actions`, then a quiet period, and checks the tables (throws on a violation). */
export function runDnsNatActions(actions: readonly Action[]): void {
  const w = world({ resources: RESOURCES, manualTunnel: true });
  for (const name of NAMES) w.resolved.set(name, { ipv4: ['10.40.0.5'], ipv6: ['fd00:40::5'] });
  const gateway = w.gateways[0]!;
  const proxies = new Map<string, string>();
  const toGateway = (item: [string, Uint8Array]): void =>
    gateway.state.handleTunnelPacket(item[0], item[1], w.now);
  const toClient = (item: [string, Uint8Array]): void => w.client.handleTunnelPacket(item[0], item[1], w.now);
  const resolve = (index: number): void => {
    if (w.pending.length === 0) return;
    const [{ gateway: g, request }] = w.pending.splice(index % w.pending.length, 1) as [
      (typeof w.pending)[number],
    ];
    w.gateways[g]!.state.handleDomainResolved(request, w.resolved.get(request.domain) ?? null, w.now);
  };

  for (const a of actions) {
    switch (a.type) {
      case 'query': {
        const answers = query(w, NAMES[a.name]!);
        proxies.set(NAMES[a.name]!, answers[0]!);
        break;
      }
      case 'send': {
        const proxy = proxies.get(NAMES[a.name]!);
        if (proxy) send(w, proxy);
        break;
      }
      case 'toGateway':
        move(gateway.node.inbox, a.index, a.mode, toGateway);
        break;
      case 'toClient':
        move(w.clientNode.inbox, a.index, a.mode, toClient);
        break;
      case 'resolve':
        resolve(a.index);
        break;
      case 'advance':
        w.now += a.ms;
        w.client.handleTimeout(w.now);
        break;
    }
    w.pump();
  }

  // Quiet: everything delivered in order and resolved; traffic (which drives the re-sends, at
  // most every 2 s) to every name the client handed out.
  for (let round = 0; round < 4; round++) {
    w.now += 2_100;
    for (const proxy of proxies.values()) send(w, proxy);
    for (
      let i = 0;
      i < 50 && (gateway.node.inbox.length || w.clientNode.inbox.length || w.pending.length);
      i++
    ) {
      while (gateway.node.inbox.length) toGateway(gateway.node.inbox.shift()!);
      w.pump();
      while (w.pending.length) resolve(0);
      w.pump();
      while (w.clientNode.inbox.length) toClient(w.clientNode.inbox.shift()!);
      w.pump();
    }
  }

  const entries = w.client.dnsNatList();
  // Every name in use is confirmed by the gateway it goes through …
  assert.deepEqual(new Set(entries.map((e) => e.domain)), new Set(proxies.keys()), 'names in use differ');
  for (const entry of entries) assert.equal(entry.state, 'confirmed', `${entry.domain} is not confirmed`);
  // … and the gateway maps exactly the client's proxy addresses, each to its own name.
  const expected = entries.flatMap((e) => e.proxyIps.map((proxy) => `${proxy} ${e.domain}`)).sort();
  const gatewayView = gateway.state.clientList().find((c) => c.id === CLIENT_ID);
  const actual = (gatewayView?.dnsNames ?? []).map((n) => `${n.proxy} ${n.domain}`).sort();
  assert.deepEqual(actual, expected, 'the gateway table differs from the client assignment');
  assert.equal(GW[0], gateway.id);
}

export const dnsNatTarget: FuzzTarget = {
  name: 'dns-nat',
  invariants: [
    'the real client and gateway cores over a tunnel that delivers, drops, duplicates and reorders AssignedIps, DomainStatus and traffic, with name lookups answered late and out of order',
    "after a quiet period with traffic, every name in use is confirmed and the gateway's DNS-resource NAT table equals the client's assignment",
  ],
  batchRuns: 50,
  ciRuns: 60,
  create: () => ({
    property: fc.property(fc.array(dnsNatActionArb, { minLength: 1, maxLength: 60 }), (actions) =>
      runDnsNatActions(actions),
    ),
  }),
};
