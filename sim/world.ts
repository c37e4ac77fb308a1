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
import { SimClient, SimGateway, SimRelay } from './hosts.js';
import { Random } from './random.js';

export interface WorldOptions {
  readonly seed: string;
  readonly gateways?: number;
  readonly clientNat?: NatType | 'none';
  readonly siteNat?: NatType | 'none';
  readonly clientImpairment?: Impairment;
  readonly latencyMs?: number;
  /**
   * A TURN relay at RELAY_ADDRESS, the catalog's relay pointing at it (default true). Without it
   * the catalog has no relay and only direct paths exist.
   */
  readonly relay?: boolean;
  /** One-way delay of every frame between a client or gateway and the portal (default 20 ms). */
  readonly portalLatencyMs?: number;
  readonly catalog?: (catalog: Catalog) => Catalog;
}

/** Where the simulated relay listens: a public address, as coturn's `listening-ip`/`listening-port`. */
export const RELAY_ADDRESS = { address: '192.0.2.20', port: 3478 } as const;

export interface World {
  readonly random: Random;
  readonly portal: SimPortal;
  readonly net: SimNetwork;
  readonly client: SimClient;
  readonly gateways: SimGateway[];
  /** The relay, when the world has one. */
  readonly relay: SimRelay | undefined;
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
  const withRelay = options.relay ?? true;
  const example = exampleCatalog();
  // The example's relay, moved to the simulated relay's address; its secret is the relay's.
  const base: Catalog = {
    ...example,
    relays: withRelay
      ? example.relays.map((r) => ({
          ...r,
          addresses: [{ ip: RELAY_ADDRESS.address, port: RELAY_ADDRESS.port }],
        }))
      : [],
  };
  const catalog = options.catalog ? options.catalog(base) : base;
  const portal = new SimPortal({ catalog, seed: options.seed, latencyMs: options.portalLatencyMs ?? 20 });
  const net = new SimNetwork(random, options.latencyMs ?? 10);
  portal.addParticipant(net);

  // Its own generator, so adding the relay leaves the other hosts' random draws as they were.
  const relayEntry = catalog.relays.find((r) =>
    r.addresses.some((a) => a.ip === RELAY_ADDRESS.address && a.port === RELAY_ADDRESS.port),
  );
  const relay =
    withRelay && relayEntry
      ? new SimRelay(
          'relay-1',
          RELAY_ADDRESS,
          relayEntry.secret,
          net,
          portal,
          new Random(`${options.seed}|relay`),
        )
      : undefined;

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
    relay,
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
