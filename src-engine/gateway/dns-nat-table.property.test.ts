/**
 * DnsNatTable against a plain reference model of its rules, over random sequences of client
 * packets (both families, TCP/UDP/ICMP, several proxy IPs sharing real IPs, re-resolution, all
 * TCP flags that matter), resource replies, ICMP errors and time jumps across every timeout.
 * At every step: the live sessions form a bijection (no outside tuple with two inside tuples, no
 * inside tuple with two outside tuples) equal to the model's; each outbound packet gets the
 * inside port the port rule prescribes; each reply to a live session goes back to exactly the
 * outside tuple that created it, and replies to ended or unknown tuples are `expired` or
 * `no_session` as the model says; every translated packet has valid checksums.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildIcmpEcho,
  buildIcmpError,
  buildTcpPacket,
  buildUdpPacket,
  formatIp,
  isPacketError,
  parseIpAddress,
  parseIpPacket,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  verifyIpv4HeaderChecksum,
  verifyTransportChecksum,
  type IpPacket,
} from '../packet/index.js';
import {
  DNS_NAT_CLOSED_TIMEOUT_MS,
  DNS_NAT_EXPIRED_MEMORY_MS,
  DNS_NAT_ICMP_TIMEOUT_MS,
  DNS_NAT_TCP_TIMEOUT_MS,
  DNS_NAT_UDP_TIMEOUT_MS,
  DNS_NAT_UNANSWERED_TIMEOUT_MS,
  DnsNatTable,
  type DnsNatProtocol,
} from './dns-nat-table.js';

const CLIENT = { 4: '100.64.0.5', 6: 'fd00:2021:1111::5' } as const;
/** Proxy IPs 0-2 are IPv4, 3-5 IPv6. */
const PROXIES = [
  '100.96.0.1',
  '100.96.0.2',
  '100.96.0.3',
  'fd00:2021:1111:8000::1',
  'fd00:2021:1111:8000::2',
  'fd00:2021:1111:8000::3',
];
/** Real IPs 0-1 are IPv4, 2-3 IPv6. */
const REALS = ['203.0.113.10', '203.0.113.11', '2001:db8::10', '2001:db8::11'];
/** Few ports, so that collisions and the wrap-around happen often. */
const PORTS = [0, 1, 2, 1000, 1001, 65534, 65535];
const SERVER_PORT = 443;
const PROTOCOLS: readonly DnsNatProtocol[] = ['tcp', 'udp', 'icmp'];
const TCP_FLAGS = [TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK, TCP_FIN | TCP_ACK, TCP_RST, TCP_RST | TCP_ACK];

function familyOfProxy(proxy: number): 4 | 6 {
  return proxy < 3 ? 4 : 6;
}

function ip(text: string): Uint8Array {
  return parseIpAddress(text)!;
}

function parse(bytes: Uint8Array | Error): IpPacket {
  if (bytes instanceof Error) throw bytes;
  const p = parseIpPacket(bytes, { maxSize: 65535, verifyChecksums: true });
  if (isPacketError(p)) throw new Error(`${p.code}: ${p.message}`);
  return p;
}

function checksumsOk(p: IpPacket): boolean {
  return (p.version === 6 || verifyIpv4HeaderChecksum(p.buffer)) && verifyTransportChecksum(p.buffer, p);
}

function build(
  proto: DnsNatProtocol,
  src: string,
  dst: string,
  srcPort: number,
  dstPort: number,
  flags: number,
  echo: 'request' | 'reply',
): IpPacket {
  const fields = { src: ip(src), dst: ip(dst), payload: Uint8Array.of(1, 2, 3) };
  if (proto === 'udp') return parse(buildUdpPacket({ ...fields, srcPort, dstPort }));
  if (proto === 'tcp') return parse(buildTcpPacket({ ...fields, srcPort, dstPort, flags }));
  return parse(
    buildIcmpEcho({ ...fields, echo, identifier: echo === 'request' ? srcPort : dstPort, sequence: 1 }),
  );
}

/** Source (outbound) or destination (inbound) port, or the echo identifier. */
function keyPort(p: IpPacket, outbound: boolean): number {
  const t = p.transport!;
  if (t.kind === 'udp' || t.kind === 'tcp') return outbound ? t.srcPort : t.dstPort;
  return t.identifier!;
}

interface ModelSession {
  readonly proto: DnsNatProtocol;
  readonly proxy: number;
  readonly clientPort: number;
  readonly real: number;
  readonly insidePort: number;
  lastSeen: number;
  answered: boolean;
  finOut: boolean;
  finIn: boolean;
}

function modelExpiry(s: ModelSession): number {
  let timeout: number;
  if (!s.answered) timeout = DNS_NAT_UNANSWERED_TIMEOUT_MS;
  else if (s.proto === 'tcp')
    timeout = s.finOut && s.finIn ? DNS_NAT_CLOSED_TIMEOUT_MS : DNS_NAT_TCP_TIMEOUT_MS;
  else timeout = s.proto === 'udp' ? DNS_NAT_UDP_TIMEOUT_MS : DNS_NAT_ICMP_TIMEOUT_MS;
  return s.lastSeen + timeout;
}

const insideText = (proto: DnsNatProtocol, real: number, port: number): string => `${proto}/${real}/${port}`;

/** The rules, written the slow and obvious way with strings and arrays. */
class Model {
  sessions: ModelSession[] = [];
  /** Inside tuple text → remembered until. */
  readonly ended = new Map<string, number>();

  constructor(readonly maxSessions: number) {}

  advance(now: number): void {
    for (const s of this.sessions.filter((s) => modelExpiry(s) <= now)) this.end(s, modelExpiry(s));
  }

  end(s: ModelSession, at: number): void {
    this.sessions = this.sessions.filter((other) => other !== s);
    this.ended.set(insideText(s.proto, s.real, s.insidePort), at + DNS_NAT_EXPIRED_MEMORY_MS);
  }

  byOutside(proto: DnsNatProtocol, proxy: number, port: number): ModelSession | undefined {
    return this.sessions.find((s) => s.proto === proto && s.proxy === proxy && s.clientPort === port);
  }

  byInside(proto: DnsNatProtocol, real: number, port: number): ModelSession | undefined {
    return this.sessions.find((s) => s.proto === proto && s.real === real && s.insidePort === port);
  }

  endedRecently(proto: DnsNatProtocol, real: number, port: number, now: number): boolean {
    const until = this.ended.get(insideText(proto, real, port));
    return until !== undefined && now < until;
  }

  /** Own port first, then upwards with wrap-around over 1..65535 (0..65535 for ICMP). */
  choosePort(proto: DnsNatProtocol, real: number, port: number): number {
    const min = proto === 'icmp' ? 0 : 1;
    const used = new Set(
      this.sessions.filter((s) => s.proto === proto && s.real === real).map((s) => s.insidePort),
    );
    let candidate = Math.max(port, min);
    while (used.has(candidate)) candidate = candidate === 65535 ? min : candidate + 1;
    return candidate;
  }
}

type Action =
  | {
      readonly type: 'out';
      readonly proto: DnsNatProtocol;
      readonly proxy: number;
      readonly port: number;
      readonly target: number;
      readonly flags: number;
    }
  | {
      readonly type: 'in';
      /** Pick a live session (by index) or, when none or `stray`, a tuple from the pools. */
      readonly pick: number;
      readonly stray: boolean;
      readonly proto: DnsNatProtocol;
      readonly real: number;
      readonly port: number;
      readonly flags: number;
    }
  | { readonly type: 'icmpError'; readonly pick: number; readonly stray: boolean; readonly port: number }
  | { readonly type: 'advance'; readonly ms: number }
  | { readonly type: 'tick' };

const protoArb = fc.constantFrom(...PROTOCOLS);
const portArb = fc.constantFrom(...PORTS);
const flagsArb = fc.constantFrom(...TCP_FLAGS);
const T = [
  DNS_NAT_CLOSED_TIMEOUT_MS,
  DNS_NAT_UNANSWERED_TIMEOUT_MS,
  DNS_NAT_UDP_TIMEOUT_MS,
  DNS_NAT_EXPIRED_MEMORY_MS,
  DNS_NAT_TCP_TIMEOUT_MS,
];
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      type: fc.constant('out' as const),
      proto: protoArb,
      proxy: fc.nat(5),
      port: portArb,
      // Mostly the first real IP of the family, so that proxies share it; sometimes the second
      // (re-resolution, or another domain).
      target: fc.constantFrom(0, 0, 0, 1),
      flags: flagsArb,
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant('in' as const),
      pick: fc.nat(50),
      stray: fc.nat(4).map((n) => n === 0),
      proto: protoArb,
      real: fc.nat(3),
      port: portArb,
      flags: flagsArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('icmpError' as const),
      pick: fc.nat(50),
      stray: fc.nat(3).map((n) => n === 0),
      port: portArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('advance' as const),
      ms: fc.oneof(
        fc.integer({ min: 0, max: 3000 }),
        fc.constantFrom(...T.flatMap((t) => [t - 1, t, t + 1])),
        fc.integer({ min: 0, max: DNS_NAT_TCP_TIMEOUT_MS + 1000 }),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('tick' as const) }) },
);

class Harness {
  readonly nat: DnsNatTable;
  readonly model: Model;
  now = 10_000;
  readonly seen = new Map<string, number>();

  constructor(maxSessions: number) {
    this.nat = new DnsNatTable({ maxSessions });
    this.model = new Model(maxSessions);
  }

  count(what: string): void {
    this.seen.set(what, (this.seen.get(what) ?? 0) + 1);
  }

  apply(action: Action): void {
    switch (action.type) {
      case 'advance':
        this.now += action.ms;
        return;
      case 'tick':
        this.nat.handleTimeout(this.now);
        this.model.advance(this.now);
        return;
      case 'out':
        return this.outbound(action);
      case 'in':
        return this.inbound(action);
      case 'icmpError':
        return this.icmpError(action);
    }
  }

  private outbound(a: Extract<Action, { type: 'out' }>): void {
    const { model, now } = this;
    model.advance(now);
    const family = familyOfProxy(a.proxy);
    const real = (family === 4 ? 0 : 2) + a.target;
    const packet = build(a.proto, CLIENT[family], PROXIES[a.proxy]!, a.port, SERVER_PORT, a.flags, 'request');
    const result = this.nat.translateOutbound(packet, ip(REALS[real]!), now);

    let s = model.byOutside(a.proto, a.proxy, a.port);
    if (s !== undefined && s.real !== real) {
      model.end(s, now);
      s = undefined;
    }
    if (s === undefined) {
      if (model.sessions.length >= model.maxSessions) {
        expect(result).toBe('table_full');
        this.count('table_full');
        return;
      }
      const insidePort = model.choosePort(a.proto, real, a.port);
      s = {
        proto: a.proto,
        proxy: a.proxy,
        clientPort: a.port,
        real,
        insidePort,
        lastSeen: now,
        answered: false,
        finOut: false,
        finIn: false,
      };
      model.sessions.push(s);
      model.ended.delete(insideText(a.proto, real, insidePort));
      if (insidePort !== a.port) this.count('port_changed');
    }
    expect(result).toBe('translated');
    expect(formatIp(packet.dst)).toBe(REALS[real]);
    expect(formatIp(packet.src)).toBe(CLIENT[family]);
    expect(keyPort(packet, true)).toBe(s.insidePort);
    expect(checksumsOk(packet)).toBe(true);

    s.lastSeen = now;
    if (a.proto === 'tcp') {
      if ((a.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
        s.answered = false;
        s.finOut = false;
        s.finIn = false;
      }
      if ((a.flags & TCP_FIN) !== 0) s.finOut = true;
      if ((a.flags & TCP_RST) !== 0) {
        model.end(s, now);
        this.count('rst_out');
      }
    }
  }

  private inbound(a: Extract<Action, { type: 'in' }>): void {
    const { model, now } = this;
    model.advance(now);
    // Aim at a live session most of the time, else at any tuple (ended ones included).
    const live = model.sessions;
    const target = !a.stray && live.length > 0 ? live[a.pick % live.length]! : undefined;
    const proto = target?.proto ?? a.proto;
    const real = target?.real ?? a.real;
    const port = target?.insidePort ?? a.port;
    const family = real < 2 ? 4 : 6;
    const packet = build(proto, REALS[real]!, CLIENT[family], SERVER_PORT, port, a.flags, 'reply');
    const result = this.nat.translateInbound(packet, now);

    const s = model.byInside(proto, real, port);
    if (s === undefined) {
      const expected = model.endedRecently(proto, real, port, now) ? 'expired' : 'no_session';
      expect(result).toBe(expected);
      this.count(expected);
      return;
    }
    // Back to exactly the outside tuple that created the session.
    expect(result).toBe('translated');
    expect(formatIp(packet.src)).toBe(PROXIES[s.proxy]);
    expect(formatIp(packet.dst)).toBe(CLIENT[family]);
    expect(keyPort(packet, false)).toBe(s.clientPort);
    expect(checksumsOk(packet)).toBe(true);
    this.count('reply_translated');

    s.lastSeen = now;
    s.answered = true;
    if (proto === 'tcp') {
      if ((a.flags & TCP_FIN) !== 0) s.finIn = true;
      if (s.finIn && s.finOut) this.count('closed_both');
      if ((a.flags & TCP_RST) !== 0) {
        model.end(s, now);
        this.count('rst_in');
      }
    }
  }

  /** An ICMP error about a packet the table sent (or a stray one): never changes a session. */
  private icmpError(a: Extract<Action, { type: 'icmpError' }>): void {
    const { model, now } = this;
    model.advance(now);
    const live = model.sessions;
    const target = !a.stray && live.length > 0 ? live[a.pick % live.length]! : undefined;
    const proto = target?.proto ?? 'udp';
    const real = target?.real ?? a.pick % REALS.length;
    const port = target?.insidePort ?? a.port;
    const family = real < 2 ? 4 : 6;
    // What the resource received from us: client → real from the inside port.
    const sent = build(proto, CLIENT[family], REALS[real]!, port, SERVER_PORT, TCP_ACK, 'request');
    const error = parse(buildIcmpError(sent, family === 4 ? 3 : 1, family === 4 ? 1 : 3));
    const result = this.nat.translateInboundIcmpError(error, now);

    const s = model.byInside(proto, real, port);
    if (s === undefined) {
      expect(result).toBe(model.endedRecently(proto, real, port, now) ? 'expired' : 'no_session');
      return;
    }
    if (!(result instanceof Uint8Array)) throw new Error(`expected an error packet, got ${result}`);
    const rebuilt = parse(result);
    expect(formatIp(rebuilt.src)).toBe(PROXIES[s.proxy]);
    expect(formatIp(rebuilt.dst)).toBe(CLIENT[family]);
    const icmp = rebuilt.transport!;
    if (icmp.kind === 'udp' || icmp.kind === 'tcp') throw new Error('not ICMP');
    const quoted = parse(icmp.body.slice());
    expect(formatIp(quoted.dst)).toBe(PROXIES[s.proxy]);
    expect(keyPort(quoted, true)).toBe(s.clientPort);
    this.count('icmp_error_translated');
  }

  /**
   * The table's live sessions form a bijection and equal the model's. Every action but `advance`
   * called the table with `now`, so both are at the same time, without a handleTimeout.
   */
  check(): void {
    const listed = [...this.nat.sessions()];
    const outside = listed.map((s) => `${s.protocol}/${formatIp(s.proxyIp)}/${s.clientPort}`);
    const inside = listed.map((s) => `${s.protocol}/${formatIp(s.realIp)}/${s.insidePort}`);
    expect(new Set(outside).size).toBe(listed.length);
    expect(new Set(inside).size).toBe(listed.length);
    const actual = listed.map(
      (s) => `${s.protocol}/${formatIp(s.proxyIp)}/${s.clientPort}>${formatIp(s.realIp)}/${s.insidePort}`,
    );
    const expected = this.model.sessions.map(
      (s) => `${s.proto}/${PROXIES[s.proxy]}/${s.clientPort}>${REALS[s.real]}/${s.insidePort}`,
    );
    expect(actual.sort()).toEqual(expected.sort());
    expect(this.nat.size).toBe(this.model.sessions.length);
    for (const s of listed) expect(s.expiresAt).toBeGreaterThan(this.now);
  }
}

describe('DnsNatTable against a reference model', () => {
  it('keeps a bijection equal to the model and translates every reply back to its creator', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }),
        fc.array(actionArb, { minLength: 5, maxLength: 80, size: 'max' }),
        (maxSessions, actions) => {
          const h = new Harness(maxSessions);
          for (const action of actions) {
            h.apply(action);
            if (action.type !== 'advance') h.check();
          }
          for (const [what, n] of h.seen) seen.set(what, (seen.get(what) ?? 0) + n);
        },
      ),
      { numRuns: 300 },
    );
    // The runs reach every case the property speaks about.
    for (const what of [
      'table_full',
      'port_changed',
      'rst_out',
      'rst_in',
      'closed_both',
      'expired',
      'no_session',
      'reply_translated',
      'icmp_error_translated',
    ]) {
      expect(seen.get(what) ?? 0, what).toBeGreaterThan(0);
    }
  });

  it('frees every IPv6 address id once sessions and memories are gone', () => {
    fc.assert(
      fc.property(fc.array(actionArb, { minLength: 5, maxLength: 60 }), (actions) => {
        const h = new Harness(8);
        for (const action of actions) h.apply(action);
        h.nat.handleTimeout(h.now + DNS_NAT_TCP_TIMEOUT_MS + DNS_NAT_EXPIRED_MEMORY_MS);
        expect(h.nat.size).toBe(0);
        expect(h.nat.rememberedCount).toBe(0);
        expect(h.nat.ipv6AddressCount).toBe(0);
        expect(h.nat.pollTimeout()).toBeUndefined();
      }),
      { numRuns: 100 },
    );
  });
});
