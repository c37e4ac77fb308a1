/**
 * A simulated deployment: the portal (SimPortal with the example catalog), a client and one or
 * more gateways of site HQ, optionally behind NAT routers, and simulated resources behind the
 * gateways, all on one seeded virtual network and clock.
 */
import { buildIcmpEcho, buildUdpPacket, isPacketError, parseIpPacket } from '../src-engine/packet/index.js';
import { EXAMPLE_IDS, exampleCatalog } from '../src-portal/sim/example-catalog.js';
import { SimPortal } from '../src-portal/sim/sim-portal.js';
import type { Catalog } from '../src-portal/signalling/catalog.js';
import { SimNetwork, type Impairment, type NatType } from './network.js';
import { SimClient, SimGateway } from './hosts.js';
import { Random } from './random.js';

export interface WorldOptions {
  readonly seed: string;
  readonly gateways?: number;
  readonly clientNat?: NatType | 'none';
  readonly siteNat?: NatType | 'none';
  readonly clientImpairment?: Impairment;
  readonly latencyMs?: number;
  readonly catalog?: (catalog: Catalog) => Catalog;
}

export interface World {
  readonly random: Random;
  readonly portal: SimPortal;
  readonly net: SimNetwork;
  readonly client: SimClient;
  readonly gateways: SimGateway[];
  readonly lanResource: string;
  /** Runs the whole system for `ms` of virtual time. */
  run(ms: number): void;
}

/** The resource hosts of the LAN resource (10.20.0.0/16): answer ICMP echo and UDP echo (port 7). */
export function echoResource(packet: Uint8Array): Uint8Array | undefined {
  const p = parseIpPacket(packet);
  if (isPacketError(p)) return undefined;
  const bytes = p.bytes;
  if (p.protocol === 1 && bytes[p.payloadOffset] === 8) {
    const id = (bytes[p.payloadOffset + 4]! << 8) | bytes[p.payloadOffset + 5]!;
    const seq = (bytes[p.payloadOffset + 6]! << 8) | bytes[p.payloadOffset + 7]!;
    return buildIcmpEcho({
      src: Uint8Array.from(p.dst),
      dst: Uint8Array.from(p.src),
      echo: 'reply',
      identifier: id,
      sequence: seq,
      payload: bytes.subarray(p.payloadOffset + 8),
    }) as Uint8Array;
  }
  if (p.protocol === 17) {
    const srcPort = (bytes[p.payloadOffset]! << 8) | bytes[p.payloadOffset + 1]!;
    const dstPort = (bytes[p.payloadOffset + 2]! << 8) | bytes[p.payloadOffset + 3]!;
    if (dstPort !== 7) return undefined;
    return buildUdpPacket({
      src: Uint8Array.from(p.dst),
      dst: Uint8Array.from(p.src),
      srcPort: dstPort,
      dstPort: srcPort,
      payload: bytes.subarray(p.payloadOffset + 8),
    }) as Uint8Array;
  }
  return undefined;
}

export function buildWorld(options: WorldOptions): World {
  const random = new Random(options.seed);
  const base = exampleCatalog();
  const catalog = options.catalog ? options.catalog(base) : { ...base, relays: [] };
  const portal = new SimPortal({ catalog, seed: options.seed, latencyMs: 20 });
  const net = new SimNetwork(random, options.latencyMs ?? 10);
  portal.addParticipant(net);

  const clientRouter = options.clientNat && options.clientNat !== 'none' ? 'client-router' : undefined;
  if (clientRouter)
    net.addRouter(clientRouter, '198.51.100.1', options.clientNat as NatType, options.clientImpairment ?? {});
  const siteRouter = options.siteNat && options.siteNat !== 'none' ? 'site-router' : undefined;
  if (siteRouter) net.addRouter(siteRouter, '203.0.113.1', options.siteNat as NatType);

  const gateways: SimGateway[] = [];
  for (let i = 0; i < (options.gateways ?? 1); i++) {
    const gateway = new SimGateway(
      `gateway-${i + 1}`,
      siteRouter ? `192.168.10.${11 + i}` : `203.0.113.${11 + i}`,
      net,
      portal,
      random,
      portal.mintGatewayToken('HQ'),
      echoResource,
      siteRouter,
    );
    gateways.push(gateway);
  }
  const client = new SimClient(
    'client-laptop',
    clientRouter ? '192.168.1.2' : '198.51.100.2',
    net,
    portal,
    random,
    portal.mintClientToken('alice@acme.test'),
    clientRouter ? { router: clientRouter } : {},
  );
  for (const gateway of gateways) gateway.start();
  client.start();
  return {
    random,
    portal,
    net,
    client,
    gateways,
    lanResource: EXAMPLE_IDS.lan,
    run: (ms) => portal.advanceBy(ms),
  };
}

/** Moves the client to a new address behind its router (a new DHCP lease, another Wi-Fi). */
export function roamClient(w: World, newIp: string, router: string | undefined): void {
  const old = w.client.address.address;
  w.net.detach(old);
  w.client.moveTo(newIp, router);
}
