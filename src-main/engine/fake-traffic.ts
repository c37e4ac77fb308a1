// The simulated engine's traffic as real packets, for packet capture: what apps on this machine
// and the resources behind the tunnel would exchange. A DNS lookup of a DNS resource answered with
// its proxy address, the p2p control packets that tell the gateway about that address
// (AssignedIps out, DomainStatus back), then pings to the proxy address and NTP to a CIDR
// resource. Built with the engine's own packet builders, so a capture of the simulation opens in
// Wireshark and tcpdump just like one of the real engine.

import type { PacketDirection } from '../../src-engine/capture/packet-tap.js';
import {
  buildAssignedIps,
  buildDomainStatus,
  isP2pControlError,
  type P2pControlError,
} from '../../src-engine/p2p-control/codec.js';
import { parseIpv4Address } from '../../src-engine/packet/address.js';
import { buildIcmpEcho, buildUdpPacket } from '../../src-engine/packet/build.js';
import { isPacketError, type PacketError } from '../../src-engine/packet/errors.js';
import type { FakeScenario } from './fake-scenario.js';

export interface FakePacket {
  readonly packet: Uint8Array;
  readonly direction: PacketDirection;
}

/** The first DNS sentinel (docs/protocol.md §2.1). */
const DNS_SENTINEL = '100.100.111.1';
/** The proxy addresses the simulation hands out for its DNS resource (4 IPv4 + 4 IPv6). */
const PROXY_IPS = [
  '100.96.0.1',
  '100.96.0.2',
  '100.96.0.3',
  '100.96.0.4',
  'fd00:2021:1111:8000::1',
  'fd00:2021:1111:8000::2',
  'fd00:2021:1111:8000::3',
  'fd00:2021:1111:8000::4',
];
const NTP_PORT = 123;
const ICMP_PAYLOAD = new TextEncoder().encode('fz-desktop simulated ping ------'); // 32 bytes

function must<T>(value: T | PacketError | P2pControlError): T {
  if (isPacketError(value)) throw new Error(`simulated packet: ${value.message}`);
  if (isP2pControlError(value)) throw new Error(`simulated control packet: ${value.detail}`);
  return value;
}

function ipv4(text: string): Uint8Array {
  const bytes = parseIpv4Address(text);
  if (!bytes) throw new Error(`simulated packet: bad IPv4 address ${text}`);
  return bytes;
}

/** A DNS message: one A question, and the answer when `answer` is given (RFC 1035 §4.1). */
export function dnsMessage(id: number, name: string, answer?: Uint8Array): Uint8Array {
  const labels = name.split('.').filter(Boolean);
  const question = [
    ...labels.flatMap((l) => [l.length, ...new TextEncoder().encode(l)]),
    0,
    ...[0, 1], // QTYPE A
    ...[0, 1], // QCLASS IN
  ];
  const header = [
    id >> 8,
    id & 0xff,
    ...(answer ? [0x81, 0x80] : [0x01, 0x00]), // QR RD RA / RD
    ...[0, 1], // QDCOUNT
    ...[0, answer ? 1 : 0], // ANCOUNT
    ...[0, 0, 0, 0], // NSCOUNT, ARCOUNT
  ];
  const record = answer
    ? [0xc0, 12, ...[0, 1], ...[0, 1], ...[0, 0, 0, 1], ...[0, 4], ...answer] // TTL 1 s
    : [];
  return Uint8Array.from([...header, ...question, ...record]);
}

/** An NTP client request (mode 3) or server reply (mode 4) with no timestamps: 48 bytes. */
function ntpMessage(reply: boolean): Uint8Array {
  const bytes = new Uint8Array(48);
  bytes[0] = reply ? 0x24 : 0x23; // LI 0, version 4, mode 4 / 3
  if (reply) bytes[1] = 2; // stratum
  return bytes;
}

/** A host inside the first IPv4 CIDR resource: its address for a /32, else the network + 1. */
function cidrHost(scenario: FakeScenario): Uint8Array | null {
  for (const r of scenario.resources) {
    if (r.type !== 'cidr') continue;
    const [net = '', prefix = '32'] = r.address.split('/');
    const bytes = parseIpv4Address(net);
    if (!bytes) continue;
    if (Number(prefix) < 32) bytes[3] = (bytes[3] ?? 0) + 1;
    return bytes;
  }
  return null;
}

/** Generates the packets; `opening()` once when a capture starts, then `next()` per tick. */
export class FakeTraffic {
  readonly #local: Uint8Array;
  readonly #dns: { readonly resource: string; readonly domain: string } | null;
  readonly #cidrHost: Uint8Array | null;
  #sequence = 0;
  #id: number;
  #port: number;

  constructor(scenario: FakeScenario, random: () => number) {
    this.#local = ipv4(scenario.interface.ipv4);
    const dns = scenario.resources.find((r) => r.type === 'dns' && !/[*?]/.test(r.address));
    this.#dns = dns ? { resource: dns.id, domain: dns.address } : null;
    this.#cidrHost = cidrHost(scenario);
    this.#id = Math.floor(random() * 0xffff);
    this.#port = 49152 + Math.floor(random() * 16000);
  }

  /** A lookup of the DNS resource, its answer, and the p2p control exchange about it. */
  opening(): FakePacket[] {
    if (!this.#dns) return [];
    const { resource, domain } = this.#dns;
    const sentinel = ipv4(DNS_SENTINEL);
    const id = this.#id;
    const port = this.#port;
    return [
      {
        direction: 'to_tunnel',
        packet: must(
          buildUdpPacket({
            src: this.#local,
            dst: sentinel,
            srcPort: port,
            dstPort: 53,
            payload: dnsMessage(id, domain),
          }),
        ),
      },
      {
        direction: 'from_tunnel',
        packet: must(
          buildUdpPacket({
            src: sentinel,
            dst: this.#local,
            srcPort: 53,
            dstPort: port,
            payload: dnsMessage(id, domain, ipv4(PROXY_IPS[0]!)),
          }),
        ),
      },
      { direction: 'to_tunnel', packet: must(buildAssignedIps({ resource, domain, proxyIps: PROXY_IPS })) },
      {
        direction: 'from_tunnel',
        packet: must(buildDomainStatus({ resource, domain, status: 'Active' })),
      },
    ];
  }

  /** A ping to the DNS resource's proxy address and an NTP exchange with a CIDR resource. */
  next(): FakePacket[] {
    const sequence = (this.#sequence = (this.#sequence + 1) & 0xffff);
    const out: FakePacket[] = [];
    if (this.#dns) {
      const proxy = ipv4(PROXY_IPS[0]!);
      const echo = { identifier: this.#id, sequence, payload: ICMP_PAYLOAD };
      out.push(
        {
          direction: 'to_tunnel',
          packet: must(buildIcmpEcho({ ...echo, src: this.#local, dst: proxy, echo: 'request' })),
        },
        {
          direction: 'from_tunnel',
          packet: must(buildIcmpEcho({ ...echo, src: proxy, dst: this.#local, echo: 'reply', ttl: 62 })),
        },
      );
    }
    if (this.#cidrHost && sequence % 2 === 1) {
      const port = this.#port + 1;
      out.push(
        {
          direction: 'to_tunnel',
          packet: must(
            buildUdpPacket({
              src: this.#local,
              dst: this.#cidrHost,
              srcPort: port,
              dstPort: NTP_PORT,
              payload: ntpMessage(false),
            }),
          ),
        },
        {
          direction: 'from_tunnel',
          packet: must(
            buildUdpPacket({
              src: this.#cidrHost,
              dst: this.#local,
              srcPort: NTP_PORT,
              dstPort: port,
              ttl: 62,
              payload: ntpMessage(true),
            }),
          ),
        },
      );
    }
    return out;
  }
}
