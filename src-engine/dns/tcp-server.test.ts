import * as dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, parseIpv4Address, parseIpv6Address } from '../packet/address.js';
import { buildTcpPacket, buildUdpPacket } from '../packet/build.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../packet/constants.js';
import { isPacketError } from '../packet/errors.js';
import { parseIpPacket, type IpPacket } from '../packet/parse.js';
import { tcpMssOption, type TcpHeader } from '../packet/tcp.js';
import { frameTcpMessage, TcpDnsDeframer } from './tcp-framing.js';
import { DnsTcpServer, type ConnId, type DnsTcpServerOptions } from './tcp-server.js';

const SENTINEL4 = parseIpv4Address('100.100.111.1')!;
const SENTINEL4B = parseIpv4Address('100.100.111.2')!;
const CLIENT4 = parseIpv4Address('100.64.0.7')!;
const SENTINEL6 = parseIpv6Address('fd00:2021:1111:8000:100:100:111:1')!;
const CLIENT6 = parseIpv6Address('fd00:2021:1111::7')!;

const ISS = 0x8000_0000;

/** An outgoing segment, parsed back with checksums verified. */
interface Seg {
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly flags: number;
  readonly seq: number;
  readonly ack: number;
  readonly window: number;
  readonly payload: Uint8Array;
  readonly mss: number | undefined;
  readonly ipLength: number;
}

function decodeSeg(bytes: Uint8Array): Seg {
  const packet = parseIpPacket(bytes, { verifyChecksums: true });
  if (isPacketError(packet)) throw packet;
  const tcp = packet.transport as TcpHeader;
  expect(tcp.kind).toBe('tcp');
  const options = tcp.options;
  return {
    src: formatIp(packet.src),
    dst: formatIp(packet.dst),
    srcPort: tcp.srcPort,
    dstPort: tcp.dstPort,
    flags: tcp.flags,
    seq: tcp.sequenceNumber,
    ack: tcp.acknowledgmentNumber,
    window: tcp.window,
    payload: tcp.payload.slice(),
    mss: options.length >= 4 && options[0] === 2 ? (options[2]! << 8) | options[3]! : undefined,
    ipLength: packet.totalLength,
  };
}

function drain(server: DnsTcpServer): Seg[] {
  const out: Seg[] = [];
  for (let b = server.pollPacket(); b; b = server.pollPacket()) out.push(decodeSeg(b));
  return out;
}

function queries(server: DnsTcpServer): { connection: ConnId; message: Uint8Array }[] {
  const out = [];
  for (let q = server.pollQuery(); q; q = server.pollQuery()) out.push(q);
  return out;
}

function server(options: DnsTcpServerOptions = {}): DnsTcpServer {
  return new DnsTcpServer({ random: () => ISS / 0x1_0000_0000, ...options });
}

const add = (a: number, n: number): number => (a + n) >>> 0;

function dnsQuery(name: string, id = 0x1234): Uint8Array {
  return new Uint8Array(
    dnsPacket.encode({
      type: 'query',
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name, type: 'A', class: 'IN' }],
    }),
  );
}

function dnsReply(query: Uint8Array, answers = 1): Uint8Array {
  const decoded = dnsPacket.decode(Buffer.from(query));
  return new Uint8Array(
    dnsPacket.encode({
      type: 'response',
      id: decoded.id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: decoded.questions,
      answers: Array.from({ length: answers }, (_, i) => ({
        type: 'A' as const,
        name: decoded.questions![0]!.name,
        ttl: 1,
        data: `100.96.${i >> 8}.${i & 0xff}`,
      })),
    }),
  );
}

interface ClientOptions {
  readonly v6?: boolean;
  readonly port?: number;
  readonly sentinel?: Uint8Array;
  readonly isn?: number;
}

/** A hand-written TCP client: builds segments with the packet builders and feeds them in. */
class Client {
  readonly v6: boolean;
  readonly port: number;
  readonly sentinel: Uint8Array;
  readonly isn: number;
  /** Next sequence number to send. */
  seq: number;
  /** Next sequence number expected from the server. */
  rcvNxt = 0;
  readonly stream = new TcpDnsDeframer();

  constructor(
    readonly server: DnsTcpServer,
    options: ClientOptions = {},
  ) {
    this.v6 = options.v6 ?? false;
    this.port = options.port ?? 40000;
    this.sentinel = options.sentinel ?? (this.v6 ? SENTINEL6 : SENTINEL4);
    this.isn = options.isn ?? 1000;
    this.seq = this.isn;
  }

  packet(
    flags: number,
    extra: {
      seq?: number;
      ack?: number;
      payload?: Uint8Array;
      window?: number;
      options?: Uint8Array;
      dstPort?: number;
    } = {},
  ): IpPacket {
    const bytes = buildTcpPacket({
      src: this.v6 ? CLIENT6 : CLIENT4,
      dst: this.sentinel,
      srcPort: this.port,
      dstPort: extra.dstPort ?? 53,
      flags,
      sequenceNumber: extra.seq ?? this.seq,
      acknowledgmentNumber: flags & TCP_ACK ? (extra.ack ?? this.rcvNxt) : 0,
      window: extra.window ?? 65535,
      options: extra.options,
      payload: extra.payload,
    });
    if (isPacketError(bytes)) throw bytes;
    const packet = parseIpPacket(bytes, { maxSize: 65535 });
    if (isPacketError(packet)) throw packet;
    return packet;
  }

  send(flags: number, now: number, extra: Parameters<Client['packet']>[1] = {}): void {
    this.server.handlePacket(this.packet(flags, extra), now);
  }

  /** SYN, SYN-ACK, ACK; returns the SYN-ACK. */
  connect(now: number, options?: Uint8Array, window = 65535): Seg {
    this.send(TCP_SYN, now, { options, window });
    const out = drain(this.server);
    expect(out).toHaveLength(1);
    const synAck = out[0]!;
    expect(synAck.flags).toBe(TCP_SYN | TCP_ACK);
    this.seq = add(this.seq, 1);
    this.rcvNxt = add(synAck.seq, 1);
    this.send(TCP_ACK, now, { window });
    expect(drain(this.server)).toEqual([]);
    return synAck;
  }

  /** Sends data in order and advances our sequence number. */
  write(bytes: Uint8Array, now: number, window = 65535): void {
    this.send(TCP_ACK | TCP_PSH, now, { payload: bytes, window });
    this.seq = add(this.seq, bytes.length);
  }

  fin(now: number): void {
    this.send(TCP_ACK | TCP_FIN, now);
    this.seq = add(this.seq, 1);
  }

  /** Takes in-order server segments into the stream (and FIN into rcvNxt); returns the messages. */
  receive(segments: readonly Seg[]): Uint8Array[] {
    const messages: Uint8Array[] = [];
    for (const s of segments) {
      if (s.seq !== this.rcvNxt) continue;
      messages.push(...this.stream.push(s.payload));
      this.rcvNxt = add(this.rcvNxt, s.payload.length + (s.flags & TCP_FIN ? 1 : 0));
    }
    return messages;
  }

  ack(now: number, window = 65535): void {
    this.send(TCP_ACK, now, { window });
  }
}

/** A query written by `client`, polled from the server; returns its connection. */
function ask(
  client: Client,
  name: string,
  now: number,
  id = 0x1234,
  window = 65535,
): { connection: ConnId; query: Uint8Array } {
  const query = dnsQuery(name, id);
  client.write(frameTcpMessage(query), now, window);
  const got = queries(client.server);
  expect(got).toHaveLength(1);
  expect(got[0]!.message).toEqual(query);
  return { connection: got[0]!.connection, query };
}

describe('DnsTcpServer: handshake and queries', () => {
  it('answers a SYN with a SYN-ACK carrying our MSS and a random ISN', () => {
    const s = server();
    const c = new Client(s);
    const synAck = c.connect(0, tcpMssOption(1460));
    expect(synAck).toMatchObject({
      src: '100.100.111.1',
      dst: '100.64.0.7',
      srcPort: 53,
      dstPort: 40000,
      seq: ISS,
      ack: 1001,
      mss: 1240,
    });
    expect(s.connectionCount).toBe(1);
    expect(s.stats.connectionsAccepted).toBe(1);
  });

  it('uses the default CSPRNG for the ISN when no random source is given', () => {
    const seqs = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const s = new DnsTcpServer();
      seqs.add(new Client(s).connect(0).seq);
    }
    expect(seqs.size).toBeGreaterThan(1);
  });

  it('passes one query up and sends the reply on the same segment as the ACK', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    const { connection, query } = ask(c, 'example.com', 10);
    expect(s.sendReply(connection, dnsReply(query), 12)).toBe(true);
    const out = drain(s);
    expect(out).toHaveLength(1);
    expect(out[0]!.flags).toBe(TCP_ACK | TCP_PSH);
    expect(out[0]!.ack).toBe(c.seq);
    const [reply] = c.receive(out);
    const decoded = dnsPacket.decode(Buffer.from(reply!));
    expect(decoded.id).toBe(0x1234);
    expect(decoded.answers![0]).toMatchObject({ type: 'A', data: '100.96.0.0' });
    expect(s.stats).toMatchObject({ queries: 1, replies: 1 });
  });

  it('ACKs a query at once when polled before the reply, then sends the reply', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    const { connection, query } = ask(c, 'example.com', 10);
    const acks = drain(s);
    expect(acks).toHaveLength(1);
    expect(acks[0]).toMatchObject({ flags: TCP_ACK, ack: c.seq, seq: c.rcvNxt });
    expect(acks[0]!.payload.length).toBe(0);
    s.sendReply(connection, dnsReply(query), 20);
    expect(c.receive(drain(s))).toHaveLength(1);
  });

  it('takes two pipelined queries in one segment, and a query split over three segments', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    const q1 = dnsQuery('one.example', 1);
    const q2 = dnsQuery('two.example', 2);
    c.write(new Uint8Array([...frameTcpMessage(q1), ...frameTcpMessage(q2)]), 1);
    const both = queries(s);
    expect(both.map((q) => q.message)).toEqual([q1, q2]);
    expect(both[0]!.connection).toBe(both[1]!.connection);

    const q3 = frameTcpMessage(dnsQuery('three.example', 3));
    c.write(q3.subarray(0, 1), 2);
    expect(queries(s)).toEqual([]);
    c.write(q3.subarray(1, 10), 3);
    expect(queries(s)).toEqual([]);
    c.write(q3.subarray(10), 4);
    expect(queries(s).map((q) => q.message)).toEqual([q3.subarray(2)]);
    // Every data segment was acknowledged.
    const acks = drain(s);
    expect(acks.at(-1)!.ack).toBe(c.seq);

    for (const q of [q1, q2]) s.sendReply(both[0]!.connection, dnsReply(q), 5);
    const replies = c.receive(drain(s)).map((r) => dnsPacket.decode(Buffer.from(r)).id);
    expect(replies).toEqual([1, 2]);
  });

  it('cuts a reply larger than the MSS into MSS-sized segments (536 without the option)', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    const { connection, query } = ask(c, 'big.example', 1);
    const reply = dnsReply(query, 100);
    expect(reply.length).toBeGreaterThan(1200);
    s.sendReply(connection, reply, 2);
    const out = drain(s);
    const sizes = out.map((seg) => seg.payload.length);
    expect(sizes.slice(0, -1).every((n) => n === 536)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(reply.length + 2);
    expect(out.map((seg) => seg.flags & TCP_PSH)).toEqual([...sizes.slice(1).map(() => 0), TCP_PSH]);
    expect(c.receive(out)).toEqual([reply]);
  });

  it("follows the peer's MSS option, capped to what fits in 1280 bytes", () => {
    for (const [option, expected] of [
      [100, 100],
      [9000, 1240],
    ] as const) {
      const s = server();
      const c = new Client(s);
      c.connect(0, tcpMssOption(option));
      const { connection, query } = ask(c, 'big.example', 1);
      s.sendReply(connection, dnsReply(query, 200), 2);
      const out = drain(s);
      expect(Math.max(...out.map((seg) => seg.payload.length))).toBe(expected);
      expect(Math.max(...out.map((seg) => seg.ipLength))).toBeLessThanOrEqual(1280);
      expect(c.receive(out)).toHaveLength(1);
    }
  });

  it("never sends beyond the peer's window, and goes on when it opens", () => {
    const s = server();
    const c = new Client(s);
    c.connect(0, undefined, 1000);
    const { connection, query } = ask(c, 'big.example', 1, 1, 1000);
    const reply = dnsReply(query, 200);
    s.sendReply(connection, reply, 2);
    const first = drain(s);
    expect(first.reduce((n, seg) => n + seg.payload.length, 0)).toBe(1000);
    c.receive(first);
    c.ack(3, 1000);
    const second = drain(s);
    expect(second.reduce((n, seg) => n + seg.payload.length, 0)).toBe(1000);
    c.receive(second);
    c.ack(4, 65535);
    expect(c.receive(drain(s))).toEqual([reply]);
  });

  it('probes a zero window with one byte on the retransmission timer', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0, undefined, 0);
    const { connection, query } = ask(c, 'x.example', 1, 1, 0);
    drain(s);
    s.sendReply(connection, dnsReply(query), 2);
    expect(drain(s)).toEqual([]);
    expect(s.pollTimeout()).toBe(1002);
    s.handleTimeout(1002);
    const probe = drain(s);
    expect(probe).toHaveLength(1);
    expect(probe[0]!.payload.length).toBe(1);
    c.receive(probe);
    c.ack(1003, 65535);
    expect(c.receive(drain(s))).toHaveLength(1);
  });

  it('handles sequence numbers that wrap around 2^32', () => {
    const s = server({ random: () => 0.999999999 });
    const c = new Client(s, { isn: 0xffff_fff0 });
    const synAck = c.connect(0);
    expect(synAck.seq).toBeGreaterThan(0xffff_ff00);
    const { connection, query } = ask(c, 'wrap.example', 1);
    const reply = dnsReply(query, 60);
    s.sendReply(connection, reply, 2);
    expect(c.receive(drain(s))).toEqual([reply]);
    c.ack(3);
    expect(s.pollTimeout()).toBe(3 + 30_000);
  });

  it('works over IPv6 with a 1220-byte MSS by default', () => {
    const s = server();
    const c = new Client(s, { v6: true });
    const synAck = c.connect(0);
    expect(synAck).toMatchObject({ src: 'fd00:2021:1111:8000:100:100:111:1', mss: 1220 });
    const { connection, query } = ask(c, 'six.example', 1);
    const reply = dnsReply(query, 150);
    s.sendReply(connection, reply, 2);
    const out = drain(s);
    expect(out[0]!.payload.length).toBe(1220);
    expect(out.every((seg) => seg.ipLength <= 1280 && seg.dst === 'fd00:2021:1111::7')).toBe(true);
    expect(c.receive(out)).toEqual([reply]);
  });

  it('drops out-of-order data with a duplicate ACK and takes it once in order', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    const framed = frameTcpMessage(dnsQuery('ooo.example'));
    c.send(TCP_ACK | TCP_PSH, 1, { seq: add(c.seq, 5), payload: framed.subarray(5) });
    expect(queries(s)).toEqual([]);
    const dup = drain(s);
    expect(dup).toHaveLength(1);
    expect(dup[0]!.ack).toBe(c.seq);
    // A retransmission overlapping what we already have is trimmed.
    c.send(TCP_ACK | TCP_PSH, 2, { payload: framed.subarray(0, 5) });
    c.send(TCP_ACK | TCP_PSH, 3, { payload: framed });
    c.seq = add(c.seq, framed.length);
    expect(queries(s).map((q) => q.message)).toEqual([framed.subarray(2)]);
    expect(drain(s).at(-1)!.ack).toBe(c.seq);
  });
});

describe('DnsTcpServer: retransmission', () => {
  it('retransmits a lost SYN-ACK with backoff and answers a retransmitted SYN', () => {
    const s = server();
    const c = new Client(s);
    c.send(TCP_SYN, 0);
    expect(drain(s)).toHaveLength(1); // lost
    expect(s.pollTimeout()).toBe(1000);
    s.handleTimeout(999);
    expect(drain(s)).toEqual([]);
    s.handleTimeout(1000);
    const again = drain(s);
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ flags: TCP_SYN | TCP_ACK, seq: ISS, ack: 1001 });
    expect(s.pollTimeout()).toBe(3000);
    c.send(TCP_SYN, 1500);
    expect(drain(s)).toMatchObject([{ flags: TCP_SYN | TCP_ACK, seq: ISS }]);
    expect(s.stats.connectionsAccepted).toBe(1);
    c.seq = add(c.seq, 1);
    c.rcvNxt = add(ISS, 1);
    c.ack(1600);
    expect(s.pollTimeout()).toBe(1600 + 30_000);
  });

  it('gives up after 5 retransmissions and resets', () => {
    const s = server();
    new Client(s).send(TCP_SYN, 0);
    drain(s);
    const times: number[] = [];
    for (let t = s.pollTimeout(); t !== undefined && times.length < 10; t = s.pollTimeout()) {
      times.push(t);
      s.handleTimeout(t);
      drain(s);
    }
    expect(times).toEqual([1000, 3000, 7000, 15_000, 31_000, 63_000]);
    expect(s.connectionCount).toBe(0);
    expect(s.stats).toMatchObject({ retransmits: 5, connectionsAborted: 1 });
  });

  it('retransmits lost reply data, all of it, until acknowledged', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    const { connection, query } = ask(c, 'lost.example', 100);
    const reply = dnsReply(query, 60);
    s.sendReply(connection, reply, 100);
    const lost = drain(s);
    expect(lost.length).toBeGreaterThan(1);
    expect(s.pollTimeout()).toBe(1100);
    s.handleTimeout(1100);
    const again = drain(s);
    expect(again.map((seg) => [seg.seq, seg.payload])).toEqual(lost.map((seg) => [seg.seq, seg.payload]));
    expect(c.receive(again)).toEqual([reply]);
    c.ack(1200);
    expect(s.pollTimeout()).toBe(1200 + 30_000);
    expect(s.stats.retransmits).toBe(lost.length);
  });

  it('after a partial ACK retransmits the rest only', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    const { connection, query } = ask(c, 'partial.example', 0);
    s.sendReply(connection, dnsReply(query, 60), 0);
    const out = drain(s);
    c.receive(out.slice(0, 1));
    c.ack(500);
    expect(drain(s)).toEqual([]);
    expect(s.pollTimeout()).toBe(1500);
    s.handleTimeout(1500);
    const again = drain(s);
    expect(again[0]!.seq).toBe(out[1]!.seq);
    expect(again).toHaveLength(out.length - 1);
  });
});

describe('DnsTcpServer: closing and resets', () => {
  it('on the peer FIN before the reply: ACKs, then sends the reply with our FIN', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    const { connection, query } = ask(c, 'fin.example', 1);
    c.fin(2);
    const ack = drain(s);
    expect(ack).toHaveLength(1);
    expect(ack[0]).toMatchObject({ flags: TCP_ACK, ack: c.seq });
    expect(s.sendReply(connection, dnsReply(query), 3)).toBe(true);
    const out = drain(s);
    expect(out).toHaveLength(1);
    expect(out[0]!.flags).toBe(TCP_ACK | TCP_PSH | TCP_FIN);
    expect(c.receive(out)).toHaveLength(1);
    expect(s.sendReply(connection, dnsReply(query), 3)).toBe(false);
    c.ack(4);
    expect(s.connectionCount).toBe(0);
    expect(s.stats.connectionsClosed).toBe(1);
    expect(drain(s)).toEqual([]);
    expect(s.sendReply(connection, dnsReply(query), 5)).toBe(false);
  });

  it('on the peer FIN with nothing pending: FIN-ACK at once; a lost FIN is retransmitted', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    c.fin(1);
    const out = drain(s);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ flags: TCP_ACK | TCP_FIN, ack: c.seq });
    s.handleTimeout(1001);
    expect(drain(s)).toMatchObject([{ flags: TCP_ACK | TCP_FIN, seq: out[0]!.seq }]);
    c.receive(out);
    c.ack(1100);
    expect(s.connectionCount).toBe(0);
  });

  it('resets on an exact RST, challenges an inexact one', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    c.send(TCP_RST, 1, { seq: add(c.seq, 10) });
    expect(s.connectionCount).toBe(1);
    expect(drain(s)).toMatchObject([{ flags: TCP_ACK, ack: c.seq }]);
    c.send(TCP_RST, 2);
    expect(s.connectionCount).toBe(0);
    expect(drain(s)).toEqual([]);
    expect(s.stats.connectionsReset).toBe(1);
  });

  it('drops queries of a reset connection and refuses replies to it', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    const query = dnsQuery('gone.example');
    c.write(frameTcpMessage(query), 1);
    c.send(TCP_RST, 2);
    expect(queries(s)).toEqual([]);
    expect(s.sendReply(1, dnsReply(query), 3)).toBe(false);
  });

  it('sends a challenge ACK for a SYN on an established connection', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    c.send(TCP_SYN, 1, { seq: 5 });
    expect(drain(s)).toMatchObject([{ flags: TCP_ACK, ack: c.seq }]);
    expect(s.connectionCount).toBe(1);
  });

  it('refuses the 11th connection to one sentinel with a RST, not to another', () => {
    const s = server();
    for (let i = 0; i < 10; i++) new Client(s, { port: 50000 + i }).connect(0);
    const eleventh = new Client(s, { port: 50010, isn: 77 });
    eleventh.send(TCP_SYN, 1);
    expect(drain(s)).toMatchObject([{ flags: TCP_RST | TCP_ACK, seq: 0, ack: 78, dstPort: 50010 }]);
    expect(s.stats.connectionsRefused).toBe(1);
    new Client(s, { port: 50010, sentinel: SENTINEL4B }).connect(1);
    expect(s.connectionCount).toBe(11);
    // Once one of the ten goes, the sentinel takes a new one.
    new Client(s, { port: 50000 }).send(TCP_RST, 2, { seq: 1001 });
    expect(s.connectionCount).toBe(10);
    new Client(s, { port: 50010 }).connect(3);
  });

  it('closes an idle connection after 30 s with a FIN', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    expect(s.pollTimeout()).toBe(30_000);
    s.handleTimeout(29_999);
    expect(drain(s)).toEqual([]);
    s.handleTimeout(30_000);
    const fin = drain(s);
    expect(fin).toMatchObject([{ flags: TCP_ACK | TCP_FIN }]);
    expect(s.stats.idleTimeouts).toBe(1);
    c.receive(fin);
    c.ack(30_001);
    expect(s.connectionCount).toBe(1); // FIN-WAIT-2
    c.fin(30_002);
    expect(drain(s)).toMatchObject([{ flags: TCP_ACK, ack: c.seq }]);
    expect(s.connectionCount).toBe(0);
  });

  it('forgets a FIN-WAIT-2 connection whose peer never closes, and resets data after our FIN', () => {
    const s = server();
    const a = new Client(s, { port: 1 });
    a.connect(0);
    s.close(1, 0);
    a.receive(drain(s));
    a.ack(1);
    s.handleTimeout(1 + 30_000);
    expect(s.connectionCount).toBe(0);

    const b = new Client(s, { port: 2 });
    b.connect(100);
    s.close(2, 100);
    b.receive(drain(s));
    b.write(frameTcpMessage(dnsQuery('late.example')), 101);
    expect(drain(s)).toMatchObject([{ flags: TCP_RST | TCP_ACK }]);
    expect(s.connectionCount).toBe(0);
    expect(queries(s)).toEqual([]);
  });

  it('sends our FIN after 30 s when a query is never answered after the peer FIN', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    ask(c, 'never.example', 1);
    c.fin(2);
    drain(s);
    expect(s.pollTimeout()).toBe(30_002);
    s.handleTimeout(30_002);
    expect(drain(s)).toMatchObject([{ flags: TCP_ACK | TCP_FIN }]);
  });

  it('resets segments for unknown connections (RFC 9293 §3.5.2) and ignores unknown RSTs', () => {
    const s = server();
    const c = new Client(s, { isn: 500 });
    c.send(TCP_ACK, 0, { ack: 123456 });
    expect(drain(s)).toMatchObject([{ flags: TCP_RST, seq: 123456, srcPort: 53, dstPort: 40000 }]);
    c.send(TCP_FIN, 0, { payload: new Uint8Array(3) });
    expect(drain(s)).toMatchObject([{ flags: TCP_RST | TCP_ACK, seq: 0, ack: 504 }]);
    c.send(TCP_RST, 0);
    c.send(TCP_RST | TCP_ACK, 0);
    expect(drain(s)).toEqual([]);
    expect(s.connectionCount).toBe(0);
    expect(s.stats.resetsSent).toBe(2);
  });

  it('resets a SYN-RECEIVED connection on an ACK of something never sent, keeping it', () => {
    const s = server();
    const c = new Client(s);
    c.send(TCP_SYN, 0);
    drain(s);
    c.send(TCP_ACK, 1, { seq: 1001, ack: 42 });
    expect(drain(s)).toMatchObject([{ flags: TCP_RST, seq: 42 }]);
    expect(s.connectionCount).toBe(1);
  });

  it('replaces a half-open connection when a SYN with another ISN comes in', () => {
    const s = server();
    new Client(s, { isn: 1 }).send(TCP_SYN, 0);
    drain(s);
    new Client(s, { isn: 9000 }).send(TCP_SYN, 1);
    expect(drain(s)).toMatchObject([{ flags: TCP_SYN | TCP_ACK, ack: 9001 }]);
    expect(s.connectionCount).toBe(1);
  });

  it('handles both FINs crossing (CLOSING)', () => {
    const s = server();
    const c = new Client(s);
    c.connect(0);
    expect(s.close(1, 1)).toBe(true);
    expect(s.close(1, 1)).toBe(false);
    const ourFin = drain(s);
    expect(ourFin).toMatchObject([{ flags: TCP_ACK | TCP_FIN }]);
    c.fin(2); // sent before our FIN arrived: does not acknowledge it
    expect(drain(s)).toMatchObject([{ flags: TCP_ACK, ack: c.seq }]);
    expect(s.connectionCount).toBe(1);
    c.receive(ourFin);
    c.ack(3);
    expect(s.connectionCount).toBe(0);
    expect(s.stats.connectionsClosed).toBe(1);
  });

  it('ignores data on a SYN; the peer sends it again after the handshake', () => {
    const s = server();
    const c = new Client(s);
    c.send(TCP_SYN, 0, { payload: frameTcpMessage(dnsQuery('tfo.example')) });
    expect(drain(s)).toMatchObject([{ flags: TCP_SYN | TCP_ACK, ack: 1001 }]);
    expect(queries(s)).toEqual([]);
  });

  it('resets a connection whose unacknowledged replies exceed the bound', () => {
    const s = server({ maxReplyBytes: 1000 });
    const c = new Client(s);
    c.connect(0, undefined, 0);
    const { connection, query } = ask(c, 'a.example', 1, 1, 0);
    const reply = dnsReply(query);
    let sent = 0;
    while (s.sendReply(connection, reply, 2)) sent++;
    expect(sent).toBe(Math.floor(1000 / (reply.length + 2)));
    expect(s.connectionCount).toBe(0);
    expect(drain(s).at(-1)!.flags).toBe(TCP_RST | TCP_ACK);
  });

  it('resets a connection whose buffered request bytes exceed the bound', () => {
    const s = server({ maxRequestBytes: 300 });
    const c = new Client(s);
    c.connect(0);
    const framed = frameTcpMessage(new Uint8Array(1000));
    c.write(framed.subarray(0, 250), 1);
    expect(s.connectionCount).toBe(1);
    c.write(framed.subarray(250, 400), 2);
    expect(s.connectionCount).toBe(0);
    expect(drain(s).at(-1)!.flags).toBe(TCP_RST | TCP_ACK);
    expect(s.stats.connectionsAborted).toBe(1);
  });

  it('drops what is not TCP, and with verifyChecksums a bad checksum', () => {
    const s = server({ verifyChecksums: true });
    const udp = buildUdpPacket({ src: CLIENT4, dst: SENTINEL4, srcPort: 1, dstPort: 53 });
    if (isPacketError(udp)) throw udp;
    s.handlePacket(parseIpPacket(udp) as IpPacket, 0);
    const bad = new Client(s).packet(TCP_SYN);
    bad.buffer[bad.payloadOffset + 16]! ^= 0xff;
    s.handlePacket(bad, 0);
    expect(s.stats.dropped).toBe(2);
    expect(s.connectionCount).toBe(0);
    expect(drain(s)).toEqual([]);
  });
});

describe('DnsTcpServer: fuzz', () => {
  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.nat(100_000), (bytes, now) => {
        const s = server();
        const packet = parseIpPacket(bytes);
        if (!isPacketError(packet)) s.handlePacket(packet, now);
        s.handleTimeout(now + 1);
        for (let b = s.pollPacket(); b; b = s.pollPacket()) decodeSeg(b);
      }),
    );
  });

  it('never throws on mutated conversations and only emits valid packets', () => {
    const flagsArb = fc.integer({ min: 0, max: 0xff });
    const stepArb = fc.record({
      port: fc.integer({ min: 1, max: 3 }),
      flags: fc.oneof(flagsArb, fc.constantFrom(TCP_SYN, TCP_ACK, TCP_ACK | TCP_PSH, TCP_ACK | TCP_FIN)),
      seqDelta: fc.oneof(fc.constant(0), fc.integer({ min: -70_000, max: 70_000 })),
      ackDelta: fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 3 }), fc.nat()),
      payload: fc.oneof(
        fc.constant(new Uint8Array(0)),
        fc.uint8Array({ maxLength: 40 }),
        fc.constant(frameTcpMessage(dnsQuery('fuzz.example'))),
      ),
      window: fc.oneof(fc.constant(65535), fc.integer({ min: 0, max: 0xffff })),
      advance: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40_000 })),
      reply: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 40 }), fc.boolean(), (steps, v6) => {
        const s = server({ maxConnectionsPerAddress: 2, maxRequestBytes: 200 });
        const clients = new Map<number, Client>();
        let now = 0;
        for (const step of steps) {
          let c = clients.get(step.port);
          if (!c) clients.set(step.port, (c = new Client(s, { v6, port: step.port })));
          c.send(step.flags, now, {
            seq: add(c.seq, step.seqDelta),
            ack: add(c.rcvNxt, step.ackDelta),
            payload: step.payload,
            window: step.window,
          });
          if (step.flags & TCP_SYN) c.seq = add(c.seq, 1);
          c.seq = add(c.seq, step.payload.length);
          for (const q of queries(s)) {
            if (step.reply) s.sendReply(q.connection, new Uint8Array(q.message.length + 700), now);
          }
          now += step.advance;
          if (step.advance > 0) s.handleTimeout(now);
          const timeout = s.pollTimeout();
          if (timeout !== undefined) expect(timeout).toBeGreaterThanOrEqual(0);
          for (const seg of drain(s)) {
            if (seg.flags & TCP_SYN) c.rcvNxt = add(seg.seq, 1);
            expect(seg.srcPort).toBe(53);
            expect(seg.ipLength).toBeLessThanOrEqual(1280);
          }
          expect(s.connectionCount).toBeLessThanOrEqual(2);
        }
        // Every connection ends eventually, by itself.
        for (let i = 0; i < 20 && s.connectionCount > 0; i++) {
          now = s.pollTimeout() ?? now;
          s.handleTimeout(now);
          drain(s);
        }
        expect(s.connectionCount).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
