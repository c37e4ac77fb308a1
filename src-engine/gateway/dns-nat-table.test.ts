import { describe, expect, it } from 'vitest';
import {
  buildIcmpEcho,
  buildIcmpError,
  buildTcpPacket,
  buildUdpPacket,
  formatIp,
  ipv4HeaderChecksum,
  isPacketError,
  parseIpAddress,
  parseIpPacket,
  rewriteDstAddress,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  transportChecksum,
  verifyIpv4HeaderChecksum,
  verifyTransportChecksum,
  type IpPacket,
} from '../packet/index.js';
import {
  DNS_NAT_CLOSED_TIMEOUT_MS,
  DNS_NAT_EXPIRED_MEMORY_MS,
  DNS_NAT_EXPIRED_MEMORY_SIZE,
  DNS_NAT_ICMP_ERROR_TTL,
  DNS_NAT_ICMP_TIMEOUT_MS,
  DNS_NAT_TCP_TIMEOUT_MS,
  DNS_NAT_UDP_TIMEOUT_MS,
  DNS_NAT_UNANSWERED_TIMEOUT_MS,
  DnsNatTable,
} from './dns-nat-table.js';

function ip(text: string): Uint8Array {
  const a = parseIpAddress(text);
  if (a === null) throw new Error(text);
  return a;
}

function parse(bytes: Uint8Array | Error): IpPacket {
  if (bytes instanceof Error) throw bytes;
  const p = parseIpPacket(bytes, { maxSize: 65535, verifyChecksums: true });
  if (isPacketError(p)) throw new Error(`${p.code}: ${p.message}`);
  return p;
}

/** Every checksum the packet carries is right (parsing with verifyChecksums checks them all). */
function checksumsOk(p: IpPacket): boolean {
  return (p.version === 6 || verifyIpv4HeaderChecksum(p.buffer)) && verifyTransportChecksum(p.buffer, p);
}

type Proto = 'tcp' | 'udp' | 'icmp';
const PAYLOAD = new TextEncoder().encode('hello, resource');

/** A packet of `proto` from source port `port` (for ICMP: an echo request with identifier `port`). */
function packet(
  proto: Proto,
  src: string,
  dst: string,
  port: number,
  dstPort: number,
  flags = TCP_ACK,
): IpPacket {
  const fields = { src: ip(src), dst: ip(dst), payload: PAYLOAD };
  if (proto === 'udp') return parse(buildUdpPacket({ ...fields, srcPort: port, dstPort }));
  if (proto === 'tcp') {
    return parse(buildTcpPacket({ ...fields, srcPort: port, dstPort, flags, sequenceNumber: 1234 }));
  }
  return parse(buildIcmpEcho({ ...fields, echo: 'request', identifier: port, sequence: 7 }));
}

/** The resource's answer to a packet it received: addresses and ports swapped. */
function reply(proto: Proto, translated: IpPacket, flags = TCP_ACK): IpPacket {
  const src = formatIp(translated.dst);
  const dst = formatIp(translated.src);
  const t = translated.transport!;
  if (proto === 'icmp') {
    const id = t.kind !== 'udp' && t.kind !== 'tcp' ? t.identifier! : -1;
    return parse(buildIcmpEcho({ src: ip(src), dst: ip(dst), echo: 'reply', identifier: id, sequence: 7 }));
  }
  const ports = t.kind === 'udp' || t.kind === 'tcp' ? [t.srcPort, t.dstPort] : [0, 0];
  return packet(proto, src, dst, ports[1]!, ports[0]!, flags);
}

function portOf(p: IpPacket, which: 'src' | 'dst'): number {
  const t = p.transport!;
  if (t.kind === 'udp' || t.kind === 'tcp') return which === 'src' ? t.srcPort : t.dstPort;
  return t.identifier!;
}

const FAMILIES = {
  4: {
    client: '100.64.0.5',
    proxyA: '100.96.0.1',
    proxyB: '100.96.0.2',
    real: '203.0.113.10',
    real2: '203.0.113.11',
  },
  6: {
    client: 'fd00:2021:1111::5',
    proxyA: 'fd00:2021:1111:8000::1',
    proxyB: 'fd00:2021:1111:8000::2',
    real: '2001:db8::10',
    real2: '2001:db8::11',
  },
} as const;

const T0 = 1_000_000;

describe.each([4, 6] as const)('IPv%i', (version) => {
  const f = FAMILIES[version];

  describe.each(['tcp', 'udp', 'icmp'] as const)('%s', (proto) => {
    it('translates out and back with valid checksums', () => {
      const nat = new DnsNatTable();
      const out = packet(proto, f.client, f.proxyA, 40000, 443);
      const original = out.bytes.slice();
      expect(nat.translateOutbound(out, ip(f.real), T0)).toBe('translated');
      expect(formatIp(out.dst)).toBe(f.real);
      expect(formatIp(out.src)).toBe(f.client);
      expect(portOf(out, 'src')).toBe(40000); // free, so kept
      expect(checksumsOk(out)).toBe(true);
      expect(out.bytes).not.toEqual(original);
      expect(nat.size).toBe(1);

      const back = reply(proto, out);
      expect(nat.translateInbound(back, T0 + 10)).toBe('translated');
      expect(formatIp(back.src)).toBe(f.proxyA);
      expect(formatIp(back.dst)).toBe(f.client);
      expect(portOf(back, 'dst')).toBe(40000);
      if (proto !== 'icmp') expect(portOf(back, 'src')).toBe(443);
      expect(checksumsOk(back)).toBe(true);
    });

    it('gives two domains with the same real IP and client port different inside ports', () => {
      const nat = new DnsNatTable();
      const a = packet(proto, f.client, f.proxyA, 5000, 80);
      const b = packet(proto, f.client, f.proxyB, 5000, 80);
      expect(nat.translateOutbound(a, ip(f.real), T0)).toBe('translated');
      expect(nat.translateOutbound(b, ip(f.real), T0)).toBe('translated');
      expect(portOf(a, 'src')).toBe(5000);
      expect(portOf(b, 'src')).toBe(5001);
      expect(checksumsOk(b)).toBe(true);
      expect(nat.size).toBe(2);

      // Replies in the other order still find their proxy IP.
      const replyB = reply(proto, b);
      const replyA = reply(proto, a);
      expect(nat.translateInbound(replyB, T0 + 1)).toBe('translated');
      expect(nat.translateInbound(replyA, T0 + 1)).toBe('translated');
      expect(formatIp(replyB.src)).toBe(f.proxyB);
      expect(portOf(replyB, 'dst')).toBe(5000);
      expect(formatIp(replyA.src)).toBe(f.proxyA);
      expect(portOf(replyA, 'dst')).toBe(5000);
      expect(checksumsOk(replyA) && checksumsOk(replyB)).toBe(true);

      // Later packets of each flow keep their mapping.
      const again = packet(proto, f.client, f.proxyB, 5000, 80);
      expect(nat.translateOutbound(again, ip(f.real), T0 + 2)).toBe('translated');
      expect(portOf(again, 'src')).toBe(5001);
    });

    it('wraps around when searching a free port', () => {
      const nat = new DnsNatTable();
      const a = packet(proto, f.client, f.proxyA, 65535, 80);
      const b = packet(proto, f.client, f.proxyB, 65535, 80);
      nat.translateOutbound(a, ip(f.real), T0);
      nat.translateOutbound(b, ip(f.real), T0);
      expect(portOf(a, 'src')).toBe(65535);
      // Ports wrap to 1 (0 is no source port); echo identifiers may be 0.
      expect(portOf(b, 'src')).toBe(proto === 'icmp' ? 0 : 1);
      expect(checksumsOk(b)).toBe(true);
      const back = reply(proto, b);
      expect(nat.translateInbound(back, T0)).toBe('translated');
      expect(portOf(back, 'dst')).toBe(65535);
      expect(formatIp(back.src)).toBe(f.proxyB);
    });

    it('skips ports taken by other sessions to the same real IP only', () => {
      const nat = new DnsNatTable();
      // proxy B already maps client port 7001 → 7001 on real; proxy A's 7000 → 7000 is free.
      nat.translateOutbound(packet(proto, f.client, f.proxyB, 7001, 80), ip(f.real), T0);
      nat.translateOutbound(packet(proto, f.client, f.proxyB, 7000, 80), ip(f.real2), T0);
      const a1 = packet(proto, f.client, f.proxyA, 7000, 80);
      nat.translateOutbound(a1, ip(f.real), T0);
      expect(portOf(a1, 'src')).toBe(7000);
      // proxy C's 7000 collides with 7000 and 7001 → 7002.
      const proxyC = version === 4 ? '100.96.0.3' : 'fd00:2021:1111:8000::3';
      const c = packet(proto, f.client, proxyC, 7000, 80);
      nat.translateOutbound(c, ip(f.real), T0);
      expect(portOf(c, 'src')).toBe(7002);
    });

    it('classifies a reply after the session ended as expired, then as no_session', () => {
      const nat = new DnsNatTable();
      const out = packet(proto, f.client, f.proxyA, 40000, 443);
      nat.translateOutbound(out, ip(f.real), T0);
      const end = T0 + DNS_NAT_UNANSWERED_TIMEOUT_MS;
      expect(nat.translateInbound(reply(proto, out), end)).toBe('expired');
      expect(nat.size).toBe(0);
      expect(nat.translateInbound(reply(proto, out), end + DNS_NAT_EXPIRED_MEMORY_MS - 1)).toBe('expired');
      expect(nat.translateInbound(reply(proto, out), end + DNS_NAT_EXPIRED_MEMORY_MS)).toBe('no_session');
      expect(nat.rememberedCount).toBe(0);
      expect(nat.ipv6AddressCount).toBe(0);
    });
  });

  it('answers an unknown flow with no_session', () => {
    const nat = new DnsNatTable();
    const stray = packet('udp', f.real, f.client, 53, 40000);
    const before = stray.bytes.slice();
    expect(nat.translateInbound(stray, T0)).toBe('no_session');
    expect(stray.bytes).toEqual(before);
    nat.translateOutbound(packet('udp', f.client, f.proxyA, 40000, 53), ip(f.real), T0);
    expect(nat.translateInbound(packet('udp', f.real, f.client, 53, 40001), T0)).toBe('no_session');
    expect(nat.translateInbound(packet('tcp', f.real, f.client, 53, 40000), T0)).toBe('no_session');
    expect(nat.translateInbound(packet('udp', f.real2, f.client, 53, 40000), T0)).toBe('no_session');
  });

  it('starts a new session when the proxy IP re-resolves to another real IP', () => {
    const nat = new DnsNatTable();
    const old = packet('udp', f.client, f.proxyA, 40000, 53);
    nat.translateOutbound(old, ip(f.real), T0);
    const moved = packet('udp', f.client, f.proxyA, 40000, 53);
    expect(nat.translateOutbound(moved, ip(f.real2), T0 + 5)).toBe('translated');
    expect(formatIp(moved.dst)).toBe(f.real2);
    expect(nat.size).toBe(1);
    expect(nat.translateInbound(reply('udp', old), T0 + 6)).toBe('expired');
    const back = reply('udp', moved);
    expect(nat.translateInbound(back, T0 + 6)).toBe('translated');
    expect(formatIp(back.src)).toBe(f.proxyA);
  });

  describe('ICMP errors', () => {
    it('rebuilds port unreachable about a UDP packet from the proxy IP, quote restored', () => {
      const nat = new DnsNatTable();
      // Another session holds 40000, so this flow's port is rewritten and must be restored.
      nat.translateOutbound(packet('udp', f.client, f.proxyB, 40000, 53), ip(f.real), T0);
      const out = packet('udp', f.client, f.proxyA, 40000, 53);
      const original = out.bytes.slice();
      nat.translateOutbound(out, ip(f.real), T0);
      expect(portOf(out, 'src')).toBe(40001);

      const [type, code] = version === 4 ? [3, 3] : [1, 4];
      const error = parse(buildIcmpError(out, type, code));
      expect(nat.translateInbound(error, T0 + 1)).toBe('icmp_error');
      const result = nat.translateInboundIcmpError(error, T0 + 1);
      expect(result).toBeInstanceOf(Uint8Array);
      const rebuilt = parse(result as Uint8Array);
      expect(formatIp(rebuilt.src)).toBe(f.proxyA);
      expect(formatIp(rebuilt.dst)).toBe(f.client);
      expect(rebuilt.ttl).toBe(DNS_NAT_ICMP_ERROR_TTL);
      const icmp = rebuilt.transport!;
      expect(icmp.kind).toBe(version === 4 ? 'icmpv4' : 'icmpv6');
      if (icmp.kind === 'udp' || icmp.kind === 'tcp') throw new Error('not ICMP');
      expect([icmp.type, icmp.code]).toEqual([type, code]);
      expect(checksumsOk(rebuilt)).toBe(true);
      // The quote is exactly what the client sent, checksums and all.
      expect(icmp.body).toEqual(original);
      expect(parse(icmp.body.slice()).bytes).toEqual(original);
      // The session is untouched: not answered, so still the 60 s rule.
      expect([...nat.sessions()].find((s) => s.insidePort === 40001)?.expiresAt).toBe(
        T0 + DNS_NAT_UNANSWERED_TIMEOUT_MS,
      );
    });

    it('restores an echo request quoted by Time Exceeded', () => {
      const nat = new DnsNatTable();
      nat.translateOutbound(packet('icmp', f.client, f.proxyB, 0x1980, 0), ip(f.real), T0);
      const out = packet('icmp', f.client, f.proxyA, 0x1980, 0);
      const original = out.bytes.slice();
      nat.translateOutbound(out, ip(f.real), T0);
      expect(portOf(out, 'src')).toBe(0x1981);
      const error = parse(buildIcmpError(out, version === 4 ? 11 : 3, 0));
      const rebuilt = parse(nat.translateInboundIcmpError(error, T0) as Uint8Array);
      expect(formatIp(rebuilt.src)).toBe(f.proxyA);
      const icmp = rebuilt.transport!;
      if (icmp.kind === 'udp' || icmp.kind === 'tcp') throw new Error('not ICMP');
      expect(icmp.body).toEqual(original);
    });

    it('keeps the MTU of a "too big" error and handles a quote cut after 8 transport bytes', () => {
      const nat = new DnsNatTable();
      nat.translateOutbound(packet('tcp', f.client, f.proxyB, 50000, 443), ip(f.real), T0);
      const out = packet('tcp', f.client, f.proxyA, 50000, 443);
      const original = out.bytes.slice();
      nat.translateOutbound(out, ip(f.real), T0);
      expect(portOf(out, 'src')).toBe(50001);

      // A router that quotes only the IP header and 8 bytes (RFC 792), with the MTU set.
      const cut = version === 4 ? 28 : 48;
      const full = buildIcmpError(out, version === 4 ? 3 : 2, version === 4 ? 4 : 0);
      if (isPacketError(full)) throw full;
      const headerLength = version === 4 ? 20 : 40;
      const bytes = full.slice(0, headerLength + 8 + cut);
      if (version === 4) {
        bytes[3] = bytes.length; // Total Length
        bytes[headerLength + 6] = 0x05; // next-hop MTU 1400 (RFC 1191)
        bytes[headerLength + 7] = 0x78;
        bytes[10] = 0;
        bytes[11] = 0;
        const c = ipv4HeaderChecksum(bytes);
        bytes[10] = c >>> 8;
        bytes[11] = c & 0xff;
      } else {
        bytes[5] = bytes.length - 40; // Payload Length
        bytes[headerLength + 6] = 0x05; // MTU 1400
        bytes[headerLength + 7] = 0x78;
      }
      const scope = {
        version,
        protocol: version === 4 ? 1 : 58,
        payloadOffset: headerLength,
        payloadLength: 8 + cut,
      };
      bytes[headerLength + 2] = 0;
      bytes[headerLength + 3] = 0;
      const c = transportChecksum(bytes, scope);
      bytes[headerLength + 2] = c >>> 8;
      bytes[headerLength + 3] = c & 0xff;
      const error = parse(bytes);

      const rebuilt = parse(nat.translateInboundIcmpError(error, T0) as Uint8Array);
      expect(checksumsOk(rebuilt)).toBe(true);
      expect(Array.from(rebuilt.bytes.subarray(headerLength + 4, headerLength + 8))).toEqual([
        0, 0, 0x05, 0x78,
      ]);
      const icmp = rebuilt.transport!;
      if (icmp.kind === 'udp' || icmp.kind === 'tcp') throw new Error('not ICMP');
      // The cut quote is the start of what the client sent, the quoted IPv4 header checksum
      // included (the TCP checksum lies beyond the cut).
      expect(icmp.body).toEqual(original.subarray(0, cut));
    });

    it('reports unknown, ended and unrelayed errors', () => {
      const nat = new DnsNatTable();
      const out = packet('udp', f.client, f.proxyA, 40000, 53);
      nat.translateOutbound(out, ip(f.real), T0);
      const unknown = packet('udp', f.client, f.real, 40001, 53);
      expect(
        nat.translateInboundIcmpError(parse(buildIcmpError(unknown, version === 4 ? 3 : 1, 3)), T0),
      ).toBe('no_session');
      const redirect = parse(buildIcmpError(out, version === 4 ? 5 : 137, 0));
      expect(nat.translateInboundIcmpError(redirect, T0)).toBe('unsupported_protocol');
      expect(nat.translateInboundIcmpError(packet('udp', f.real, f.client, 53, 40000), T0)).toBe(
        'unsupported_protocol',
      );
      // A quote whose source is not the address the error came to is refused.
      const misdirected = parse(buildIcmpError(out, version === 4 ? 3 : 1, 3));
      rewriteDstAddress(misdirected, ip(version === 4 ? '100.64.0.99' : 'fd00:2021:1111::99'));
      expect(nat.translateInboundIcmpError(misdirected, T0)).toBe('no_session');
      expect(
        nat.translateInboundIcmpError(parse(buildIcmpError(out, version === 4 ? 3 : 1, 3)), T0),
      ).toBeInstanceOf(Uint8Array);
      const late = parse(buildIcmpError(out, version === 4 ? 3 : 1, 3));
      expect(nat.translateInboundIcmpError(late, T0 + DNS_NAT_UNANSWERED_TIMEOUT_MS)).toBe('expired');
    });
  });
});

describe('lifetimes', () => {
  const f = FAMILIES[4];

  /** One answered session of `proto` (both first packets at T0); returns the translated first packet. */
  function answered(nat: DnsNatTable, proto: Proto): IpPacket {
    const out = packet(proto, f.client, f.proxyA, 40000, 443, proto === 'tcp' ? TCP_SYN : TCP_ACK);
    nat.translateOutbound(out, ip(f.real), T0);
    nat.translateInbound(reply(proto, out, TCP_SYN | TCP_ACK), T0);
    return out;
  }

  function aliveAt(nat: DnsNatTable, now: number): boolean {
    nat.handleTimeout(now);
    return nat.size === 1;
  }

  it('keeps a session nobody answered for 60 s after the last outbound packet', () => {
    const nat = new DnsNatTable();
    nat.translateOutbound(packet('udp', f.client, f.proxyA, 40000, 53), ip(f.real), T0);
    expect(nat.pollTimeout()).toBe(T0 + DNS_NAT_UNANSWERED_TIMEOUT_MS);
    nat.translateOutbound(packet('udp', f.client, f.proxyA, 40000, 53), ip(f.real), T0 + 30_000);
    expect(aliveAt(nat, T0 + 60_000)).toBe(true); // the timer fires early and re-arms
    expect(nat.pollTimeout()).toBe(T0 + 90_000);
    expect(aliveAt(nat, T0 + 89_999)).toBe(true);
    expect(aliveAt(nat, T0 + 90_000)).toBe(false);
    expect(nat.pollTimeout()).toBeUndefined();
  });

  it.each([
    ['udp', DNS_NAT_UDP_TIMEOUT_MS],
    ['icmp', DNS_NAT_ICMP_TIMEOUT_MS],
    ['tcp', DNS_NAT_TCP_TIMEOUT_MS],
  ] as const)('keeps an answered %s session for %i ms after the last packet', (proto, timeout) => {
    const nat = new DnsNatTable();
    const out = answered(nat, proto);
    expect(aliveAt(nat, T0 + timeout - 1)).toBe(true);
    expect(aliveAt(nat, T0 + timeout)).toBe(false);
    expect(nat.translateInbound(reply(proto, out), T0 + timeout)).toBe('expired');
  });

  it('counts inbound packets as activity', () => {
    const nat = new DnsNatTable();
    const out = answered(nat, 'udp');
    expect(nat.translateInbound(reply('udp', out), T0 + 100_000)).toBe('translated');
    expect(aliveAt(nat, T0 + 100_000 + DNS_NAT_UDP_TIMEOUT_MS - 1)).toBe(true);
    expect(aliveAt(nat, T0 + 100_000 + DNS_NAT_UDP_TIMEOUT_MS)).toBe(false);
  });

  it('ends TCP 5 s after the last packet once both sides sent FIN', () => {
    const nat = new DnsNatTable();
    answered(nat, 'tcp');
    const finOut = packet('tcp', f.client, f.proxyA, 40000, 443, TCP_FIN | TCP_ACK);
    nat.translateOutbound(finOut, ip(f.real), T0 + 1000);
    // One FIN is not enough: a half-closed connection may live on.
    expect(aliveAt(nat, T0 + 1000 + DNS_NAT_CLOSED_TIMEOUT_MS)).toBe(true);
    nat.translateInbound(reply('tcp', finOut, TCP_FIN | TCP_ACK), T0 + 7000);
    expect(nat.pollTimeout()).toBe(T0 + 7000 + DNS_NAT_CLOSED_TIMEOUT_MS);
    // The last ACK restarts the 5 s.
    nat.translateOutbound(packet('tcp', f.client, f.proxyA, 40000, 443, TCP_ACK), ip(f.real), T0 + 8000);
    expect(aliveAt(nat, T0 + 8000 + DNS_NAT_CLOSED_TIMEOUT_MS - 1)).toBe(true);
    expect(aliveAt(nat, T0 + 8000 + DNS_NAT_CLOSED_TIMEOUT_MS)).toBe(false);
  });

  it('treats a new SYN on a closing tuple as a new connection', () => {
    const nat = new DnsNatTable();
    const out = answered(nat, 'tcp');
    nat.translateOutbound(
      packet('tcp', f.client, f.proxyA, 40000, 443, TCP_FIN | TCP_ACK),
      ip(f.real),
      T0 + 1,
    );
    nat.translateInbound(reply('tcp', out, TCP_FIN | TCP_ACK), T0 + 2);
    nat.translateOutbound(packet('tcp', f.client, f.proxyA, 40000, 443, TCP_SYN), ip(f.real), T0 + 3);
    expect(aliveAt(nat, T0 + 3 + DNS_NAT_CLOSED_TIMEOUT_MS)).toBe(true);
    expect(aliveAt(nat, T0 + 3 + DNS_NAT_UNANSWERED_TIMEOUT_MS)).toBe(false);
  });

  it.each(['outbound', 'inbound'] as const)('ends TCP right after forwarding a RST (%s)', (direction) => {
    const nat = new DnsNatTable();
    const out = answered(nat, 'tcp');
    if (direction === 'outbound') {
      const rst = packet('tcp', f.client, f.proxyA, 40000, 443, TCP_RST);
      expect(nat.translateOutbound(rst, ip(f.real), T0 + 5)).toBe('translated');
      expect(formatIp(rst.dst)).toBe(f.real);
      expect(checksumsOk(rst)).toBe(true);
    } else {
      const rst = reply('tcp', out, TCP_RST | TCP_ACK);
      expect(nat.translateInbound(rst, T0 + 5)).toBe('translated');
      expect(formatIp(rst.src)).toBe(f.proxyA);
    }
    expect(nat.size).toBe(0);
    expect(nat.translateInbound(reply('tcp', out), T0 + 6)).toBe('expired');
    expect(nat.pollTimeout()).toBeUndefined();
  });

  it('remembers at most DNS_NAT_EXPIRED_MEMORY_SIZE ended tuples, forgetting the oldest', () => {
    const nat = new DnsNatTable();
    const count = DNS_NAT_EXPIRED_MEMORY_SIZE + 10;
    const first = packet('udp', f.client, f.proxyA, 1, 53);
    for (let port = 1; port <= count; port++) {
      const out = port === 1 ? first : packet('udp', f.client, f.proxyA, port, 53);
      nat.translateOutbound(out, ip(f.real), T0 + port);
    }
    expect(nat.size).toBe(count);
    nat.handleTimeout(T0 + count + DNS_NAT_UNANSWERED_TIMEOUT_MS);
    expect(nat.size).toBe(0);
    expect(nat.rememberedCount).toBe(DNS_NAT_EXPIRED_MEMORY_SIZE);
    const now = T0 + count + DNS_NAT_UNANSWERED_TIMEOUT_MS;
    expect(nat.translateInbound(reply('udp', first), now)).toBe('no_session');
    expect(nat.translateInbound(packet('udp', f.real, f.client, 53, count), now)).toBe('expired');
  });
});

describe('bounds and the rest', () => {
  const f = FAMILIES[6];

  it('refuses new sessions beyond maxSessions until expired ones are purged', () => {
    const nat = new DnsNatTable({ maxSessions: 2 });
    nat.translateOutbound(packet('udp', f.client, f.proxyA, 1000, 53), ip(f.real), T0);
    nat.translateOutbound(packet('udp', f.client, f.proxyA, 1001, 53), ip(f.real), T0 + 10_000);
    const third = packet('udp', f.client, f.proxyA, 1002, 53);
    const before = third.bytes.slice();
    expect(nat.translateOutbound(third, ip(f.real), T0 + 20_000)).toBe('table_full');
    expect(third.bytes).toEqual(before);
    // Existing sessions still work.
    expect(nat.translateOutbound(packet('udp', f.client, f.proxyA, 1000, 53), ip(f.real), T0 + 20_000)).toBe(
      'translated',
    );
    // 1001 expires at T0 + 70 s; no handleTimeout needed, the next call purges it first.
    expect(nat.translateOutbound(third, ip(f.real), T0 + 70_000)).toBe('translated');
    expect(nat.size).toBe(2);
  });

  it('clear() forgets sessions and remembered tuples', () => {
    const nat = new DnsNatTable();
    const out = packet('tcp', f.client, f.proxyA, 40000, 443);
    nat.translateOutbound(out, ip(f.real), T0);
    nat.translateOutbound(packet('tcp', f.client, f.proxyB, 40000, 443, TCP_RST), ip(f.real2), T0);
    expect(nat.size).toBe(1);
    expect(nat.rememberedCount).toBe(1);
    nat.clear();
    expect(nat.size).toBe(0);
    expect(nat.rememberedCount).toBe(0);
    expect(nat.ipv6AddressCount).toBe(0);
    expect(nat.pollTimeout()).toBeUndefined();
    expect([...nat.sessions()]).toEqual([]);
    expect(nat.translateInbound(reply('tcp', out), T0 + 1)).toBe('no_session');
    // And it works afterwards.
    expect(nat.translateOutbound(packet('tcp', f.client, f.proxyA, 40000, 443), ip(f.real), T0 + 2)).toBe(
      'translated',
    );
  });

  it('frees IPv6 address ids with their last holder', () => {
    const nat = new DnsNatTable();
    for (let i = 0; i < 20; i++) {
      const proxy = `fd00:2021:1111:8000::${i + 1}`;
      nat.translateOutbound(packet('udp', f.client, proxy, 3000, 53), ip(`2001:db8::${(i % 5) + 1}`), T0);
    }
    expect(nat.ipv6AddressCount).toBe(25);
    nat.handleTimeout(T0 + DNS_NAT_UNANSWERED_TIMEOUT_MS);
    expect(nat.ipv6AddressCount).toBe(5); // the remembered tuples hold the real IPs
    nat.handleTimeout(T0 + DNS_NAT_UNANSWERED_TIMEOUT_MS + DNS_NAT_EXPIRED_MEMORY_MS);
    expect(nat.ipv6AddressCount).toBe(0);
    expect(nat.rememberedCount).toBe(0);
  });

  it('leaves other protocols, other ICMP messages and fragments untouched', () => {
    const nat = new DnsNatTable();
    const v4 = FAMILIES[4];
    const gre = packet('udp', v4.client, v4.proxyA, 1, 2).bytes.slice();
    gre[9] = 47;
    gre[10] = 0;
    gre[11] = 0;
    const c = ipv4HeaderChecksum(gre);
    gre[10] = c >>> 8;
    gre[11] = c & 0xff;
    const grePacket = parse(gre);
    expect(nat.translateOutbound(grePacket, ip(v4.real), T0)).toBe('unsupported_protocol');
    expect(grePacket.bytes).toEqual(gre);

    const echoReply = parse(
      buildIcmpEcho({ src: ip(f.client), dst: ip(f.proxyA), echo: 'reply', identifier: 1, sequence: 1 }),
    );
    expect(nat.translateOutbound(echoReply, ip(f.real), T0)).toBe('unsupported_protocol');
    const echoRequest = parse(
      buildIcmpEcho({ src: ip(f.real), dst: ip(f.client), echo: 'request', identifier: 1, sequence: 1 }),
    );
    expect(nat.translateInbound(echoRequest, T0)).toBe('unsupported_protocol');

    const fragment = packet('udp', v4.client, v4.proxyA, 1, 2).bytes.slice();
    fragment[6]! |= 0x20; // More Fragments
    fragment[10] = 0;
    fragment[11] = 0;
    const c2 = ipv4HeaderChecksum(fragment);
    fragment[10] = c2 >>> 8;
    fragment[11] = c2 & 0xff;
    const fragmentPacket = parseIpPacket(fragment, { maxSize: 65535 });
    if (isPacketError(fragmentPacket)) throw fragmentPacket;
    expect(nat.translateOutbound(fragmentPacket, ip(v4.real), T0)).toBe('fragment');
    expect(nat.translateInbound(fragmentPacket, T0)).toBe('fragment');

    expect(nat.translateOutbound(packet('udp', v4.client, v4.proxyA, 1, 2), ip(f.real), T0)).toBe(
      'family_mismatch',
    );
    expect(nat.size).toBe(0);
  });

  it('lists live sessions', () => {
    const nat = new DnsNatTable();
    nat.translateOutbound(packet('icmp', f.client, f.proxyA, 9, 0), ip(f.real), T0);
    expect([...nat.sessions()]).toEqual([
      {
        protocol: 'icmp',
        proxyIp: ip(f.proxyA),
        clientPort: 9,
        realIp: ip(f.real),
        insidePort: 9,
        lastSeen: T0,
        expiresAt: T0 + DNS_NAT_UNANSWERED_TIMEOUT_MS,
      },
    ]);
  });

  it('keeps its timer heap small under churn', () => {
    const nat = new DnsNatTable();
    // Many short TCP connections reset by the client: each ends early and leaves a stale timer.
    for (let i = 0; i < 5000; i++) {
      const port = 1024 + (i % 3000);
      nat.translateOutbound(packet('tcp', f.client, f.proxyA, port, 443, TCP_SYN), ip(f.real), T0 + i);
      nat.translateOutbound(packet('tcp', f.client, f.proxyA, port, 443, TCP_RST), ip(f.real), T0 + i);
    }
    expect(nat.size).toBe(0);
    // Private, but it is the point of the test: stale entries do not pile up.
    expect((nat as unknown as { heapAt: number[] }).heapAt.length).toBeLessThanOrEqual(64);
  });
});
