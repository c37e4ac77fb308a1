/**
 * The whole exchange: the deterministic simulation (sim/world.ts) runs the real client, gateway
 * and portal cores with ICE and WireGuard over a seeded network with NAT, loss, duplication and
 * reordering. Fuzzed: the world's seed, NAT types and impairment, and what applications send
 * (to resources, to resources of a site without a gateway, to addresses no resource covers).
 *
 * A reference model of the example catalog's policies for alice says which packets may reach a
 * resource: only those to the HQ LAN (10.20.0.0/16, no filters); the Lab hosts are granted but
 * their site has no gateway; the Internet resource is off on the client. Invariants: no packet
 * reaches a resource unless granted; every flow that was attempted ends connected or failed with
 * a reason after a quiet period; the client's DNS-resource NAT entries are all known to the
 * gateway they go through.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  buildIcmpEcho,
  buildUdpPacket,
  formatIp,
  isPacketError,
  parseIpAddress,
  parseIpPacket,
} from '../../src-engine/packet/index.js';
import { EXAMPLE_IDS } from '../../src-portal/sim/example-catalog.js';
import type { NatType } from '../../sim/network.js';
import { buildWorld, type World } from '../../sim/world.js';
import type { FuzzTarget } from '../target.js';

/** Virtual time the applications keep trying before flows are judged (ICE and WireGuard retries under 25 % loss take tens of seconds). */
const QUIET_MS = 60_000;

type Destination = 'lan' | 'lab' | 'nowhere';
const ADDRESSES: Record<Destination, (n: number) => string> = {
  lan: (n) => `10.20.${n % 4}.${1 + (n % 250)}`,
  lab: (n) => `172.16.5.${1 + (n % 250)}`,
  nowhere: (n) => (n % 2 ? `10.99.0.${1 + (n % 250)}` : `192.0.2.${1 + (n % 250)}`),
};
const RESOURCE_OF: Partial<Record<Destination, string>> = { lan: EXAMPLE_IDS.lan, lab: EXAMPLE_IDS.labHosts };

/** The reference policy: may a packet to `dst` reach a resource behind a gateway? */
function granted(dst: string): boolean {
  const b = parseIpAddress(dst);
  return b !== null && b.length === 4 && b[0] === 10 && b[1] === 20;
}

interface Send {
  readonly to: Destination;
  readonly n: number;
  readonly proto: 'icmp' | 'udp';
  readonly waitMs: number;
}

interface Scenario {
  readonly seed: number;
  readonly clientNat: NatType | 'none';
  readonly siteNat: NatType | 'none';
  readonly loss: number;
  readonly duplicate: number;
  readonly jitterMs: number;
  readonly sends: readonly Send[];
}

const nat = fc.constantFrom<NatType | 'none'>('none', 'cone', 'symmetric');
const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.nat(),
  clientNat: nat,
  siteNat: nat,
  loss: fc.constantFrom(0, 0, 0.1, 0.25),
  duplicate: fc.constantFrom(0, 0.05),
  jitterMs: fc.constantFrom(0, 30),
  sends: fc.array(
    fc.record({
      to: fc.constantFrom<Destination>('lan', 'lan', 'lab', 'nowhere'),
      n: fc.nat(1000),
      proto: fc.constantFrom('icmp' as const, 'udp' as const),
      waitMs: fc.integer({ min: 0, max: 1500 }),
    }),
    { minLength: 1, maxLength: 12 },
  ),
});

function packet(w: World, to: string, proto: 'icmp' | 'udp', seq: number): Uint8Array | undefined {
  const src = w.client.state.tunnelAddresses?.ipv4;
  if (src === undefined) return undefined;
  const fields = { src: parseIpAddress(src)!, dst: parseIpAddress(to)! };
  const built =
    proto === 'icmp'
      ? buildIcmpEcho({
          ...fields,
          echo: 'request',
          identifier: 9,
          sequence: seq,
          payload: new Uint8Array(16),
        })
      : buildUdpPacket({ ...fields, srcPort: 40000, dstPort: 7, payload: new Uint8Array([seq & 0xff]) });
  return isPacketError(built) ? undefined : built;
}

/** Packets that reached the site, with the first that the policy does not grant. */
function checkForwarded(w: World): void {
  const tunnel = w.client.state.tunnelAddresses?.ipv4;
  for (const g of w.gateways) {
    for (const bytes of g.forwarded) {
      const p = parseIpPacket(bytes);
      if (isPacketError(p)) assert.fail(`the gateway forwarded an unparsable packet: ${p.message}`);
      const dst = formatIp(p.dst);
      assert.ok(granted(dst), `a packet to ${dst} reached the site without a policy granting it`);
      assert.equal(formatIp(p.src), tunnel, 'a forwarded packet does not come from the client');
    }
  }
}

function runScenario(s: Scenario): void {
  const w = buildWorld({
    seed: `fuzz-exchange-${s.seed}`,
    clientNat: s.clientNat,
    siteNat: s.siteNat,
    clientImpairment: { loss: s.loss, duplicate: s.duplicate, jitterMs: s.jitterMs },
  });
  w.run(2_000);
  const attempted = new Set<string>();
  let seq = 0;
  for (const send of s.sends) {
    const dst = ADDRESSES[send.to](send.n);
    const p = packet(w, dst, send.proto, ++seq);
    if (p) {
      w.client.send(p);
      // The Lab hosts' filter admits ICMP only: other traffic is refused by the client itself.
      const resource = send.to === 'lab' && send.proto !== 'icmp' ? undefined : RESOURCE_OF[send.to];
      if (resource) attempted.add(resource);
    }
    w.run(send.waitMs);
    checkForwarded(w);
  }
  // Quiet period: the applications keep trying once a second, as they would.
  for (let t = 0; t < QUIET_MS; t += 1_000) {
    for (const send of s.sends) {
      if (send.to === 'nowhere') continue;
      const p = packet(w, ADDRESSES[send.to](send.n), send.proto, ++seq);
      if (p) w.client.send(p);
    }
    w.run(1_000);
  }
  checkForwarded(w);
  for (const resource of attempted) {
    const view = w.client.state.flowView(resource);
    assert.ok(
      view.state === 'connected' || (view.state === 'failed' && view.failure.reason.length > 0),
      `the flow to ${resource} neither connected nor failed with a reason: ${JSON.stringify(view)}`,
    );
  }
  // A granted, reachable resource connects (the simulation always has a relay to fall back to).
  if (attempted.has(EXAMPLE_IDS.lan)) {
    assert.equal(
      w.client.state.flowView(EXAMPLE_IDS.lan).state,
      'connected',
      'the HQ LAN flow did not connect',
    );
  }
  // DNS-resource NAT: every entry the client holds is known to its gateway.
  for (const entry of w.client.state.dnsNatList()) {
    if (entry.state !== 'confirmed') continue;
    const gateway = w.gateways.find((g) => g.link.device?.id === entry.gatewayId);
    const view = gateway?.state.clientList().flatMap((c) => c.dnsNames) ?? [];
    for (const proxy of entry.proxyIps) {
      assert.ok(
        view.some((n) => n.proxy === proxy && n.domain === entry.domain),
        `the gateway does not map ${proxy} to ${entry.domain}`,
      );
    }
  }
}

export const exchangeTarget: FuzzTarget = {
  name: 'exchange',
  invariants: [
    'the whole simulated system (portal, client, gateway, relay; ICE, WireGuard, portal session) with fuzzed seed, NAT types, loss, duplication, jitter and application traffic',
    "no packet reaches a resource unless the reference policy grants it (HQ LAN only; Lab hosts have no gateway; other addresses are no resource), and forwarded packets come from the client's tunnel address",
    'every attempted flow ends connected or failed with a reason after a quiet period; the HQ LAN flow connects',
    "the client's confirmed DNS-resource NAT entries are mapped by the gateway they go through",
  ],
  batchRuns: 10,
  ciRuns: 40,
  create: () => ({ property: fc.property(scenarioArb, runScenario) }),
};
