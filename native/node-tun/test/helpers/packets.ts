/** Small IPv4/IPv6/UDP/ICMP builders and parsers for the TUN tests. */
import { isIPv4 } from 'node:net';

function ipv4Bytes(address: string): number[] {
  if (!isIPv4(address)) throw new Error(`not an IPv4 address: ${address}`);
  return address.split('.').map(Number);
}

function ipv6Bytes(address: string): number[] {
  const [head = '', tail] = address.split('::');
  const part = (s: string | undefined): string[] => (s === undefined || s === '' ? [] : s.split(':'));
  const h = part(head);
  const t = part(tail);
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const v = parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
}

/** The ones' complement sum used by IP, UDP and ICMP checksums. */
export function checksum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < data.length; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (data.length % 2 === 1) sum += data[data.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Header(src: string, dst: string, protocol: number, payloadLength: number): Uint8Array {
  const h = new Uint8Array(20);
  const total = 20 + payloadLength;
  h.set([0x45, 0, total >> 8, total & 0xff, 0, 0, 0x40, 0, 64, protocol, 0, 0]);
  h.set(ipv4Bytes(src), 12);
  h.set(ipv4Bytes(dst), 16);
  const c = checksum(h);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  return h;
}

/** An IPv4 UDP datagram (UDP checksum 0: allowed for IPv4). */
export function ipv4Udp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  payload: Uint8Array,
): Uint8Array {
  const udp = new Uint8Array(8 + payload.length);
  const len = udp.length;
  udp.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, len >> 8, len & 0xff, 0, 0]);
  udp.set(payload, 8);
  const packet = new Uint8Array(20 + len);
  packet.set(ipv4Header(src, dst, 17, len));
  packet.set(udp, 20);
  return packet;
}

/** An IPv6 UDP datagram with its (mandatory) checksum. */
export function ipv6Udp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  payload: Uint8Array,
): Uint8Array {
  const len = 8 + payload.length;
  const packet = new Uint8Array(40 + len);
  packet.set([0x60, 0, 0, 0, len >> 8, len & 0xff, 17, 64]);
  packet.set(ipv6Bytes(src), 8);
  packet.set(ipv6Bytes(dst), 24);
  packet.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, len >> 8, len & 0xff, 0, 0], 40);
  packet.set(payload, 48);
  const pseudo = new Uint8Array(40 + len);
  pseudo.set(packet.subarray(8, 40));
  pseudo.set([0, 0, len >> 8, len & 0xff, 0, 0, 0, 17], 32);
  pseudo.set(packet.subarray(40), 40);
  const c = checksum(pseudo) || 0xffff;
  packet[46] = c >> 8;
  packet[47] = c & 0xff;
  return packet;
}

export interface ParsedIpv4 {
  version: 4;
  src: string;
  dst: string;
  protocol: number;
  totalLength: number;
  headerOk: boolean;
  payload: Uint8Array;
}

export function parseIpv4(p: Uint8Array): ParsedIpv4 | undefined {
  if (p.length < 20 || p[0]! >> 4 !== 4) return undefined;
  const ihl = (p[0]! & 0x0f) * 4;
  return {
    version: 4,
    src: Array.from(p.subarray(12, 16)).join('.'),
    dst: Array.from(p.subarray(16, 20)).join('.'),
    protocol: p[9]!,
    totalLength: (p[2]! << 8) | p[3]!,
    headerOk: checksum(p.subarray(0, ihl)) === 0,
    payload: p.subarray(ihl),
  };
}

/** Turns an IPv4 ICMP echo request into the echo reply (in place) and returns it. */
export function echoReply(p: Uint8Array): Uint8Array {
  const ip = parseIpv4(p);
  if (ip === undefined || ip.protocol !== 1 || ip.payload[0] !== 8)
    throw new Error('not an ICMP echo request');
  const ihl = (p[0]! & 0x0f) * 4;
  const src = p.slice(12, 16);
  p.copyWithin(12, 16, 20);
  p.set(src, 16);
  p[10] = 0;
  p[11] = 0;
  const hc = checksum(p.subarray(0, ihl));
  p[10] = hc >> 8;
  p[11] = hc & 0xff;
  const icmp = p.subarray(ihl);
  icmp[0] = 0;
  icmp[2] = 0;
  icmp[3] = 0;
  const ic = checksum(icmp);
  icmp[2] = ic >> 8;
  icmp[3] = ic & 0xff;
  return p;
}
