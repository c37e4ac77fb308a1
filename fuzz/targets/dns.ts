/**
 * DNS: the stub resolver with random and mutated queries (UDP and TCP) and random and mutated
 * upstream answers, and the TCP deframer with random streams and valid framed messages split at
 * random points.
 */
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { MAX_UDP_RESPONSE } from '../../src-engine/dns/constants.js';
import { ProxyIpAllocator } from '../../src-engine/dns/proxy-ips.js';
import { StubResolver, type DnsTransport } from '../../src-engine/dns/stub-resolver.js';
import { frameTcpMessage, TcpDnsDeframer } from '../../src-engine/dns/tcp-framing.js';
import { mutatedArb, sameBytes, timed } from '../lib/bytes.js';
import type { FuzzTarget } from '../target.js';

const UPSTREAMS = ['1.1.1.1:53', '9.9.9.9:53'];
const NAMES = ['wiki.corp.example', 'a.lab.example', 'wiki', 'example.org', '1.0.96.100.in-addr.arpa'];
const TYPES: dnsPacket.RecordType[] = ['A', 'AAAA', 'PTR', 'SRV', 'TXT', 'MX'];

function newResolver(): StubResolver<number> {
  return new StubResolver<number>({
    resources: [
      { id: 'r1', address: '*.corp.example' },
      { id: 'r2', address: '?.lab.example', ip_stack: 'ipv6_only' },
    ],
    upstreams: UPSTREAMS,
    searchDomain: 'corp.example',
    proxyIps: new ProxyIpAllocator(),
  });
}

const validQuery = fc
  .record({
    id: fc.integer({ min: 0, max: 0xffff }),
    name: fc.constantFrom(...NAMES),
    type: fc.constantFrom(...TYPES),
    edns: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
  })
  .map(({ id, name, type, edns }) =>
    Uint8Array.from(
      dnsPacket.encode({
        type: 'query',
        id,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ name, type }],
        additionals:
          edns === undefined
            ? []
            : [
                {
                  type: 'OPT',
                  name: '.',
                  udpPayloadSize: edns,
                  extendedRcode: 0,
                  ednsVersion: 0,
                  flags: 0,
                  flag_do: false,
                  options: [],
                },
              ],
      }),
    ),
  );

const transport = fc.constantFrom<DnsTransport>('udp', 'tcp');

/** One query in: exactly one reply or forward out, or one counted drop; replies well-formed. */
function checkOneQuery(r: StubResolver<number>, bytes: Uint8Array, via: DnsTransport, now: number): void {
  const dropped = r.stats.droppedMalformed;
  timed(250, 'handleQuery', () => r.handleQuery(bytes, via, now, 1));
  const outputs = [];
  for (let o = r.pollOutput(); o !== undefined; o = r.pollOutput()) outputs.push(o);
  assert.equal(outputs.length + (r.stats.droppedMalformed - dropped), 1, 'not exactly one outcome per query');
  for (const o of outputs) {
    if (o.type === 'reply') {
      assert.ok(o.bytes.length >= 12);
      if (o.transport === 'udp') assert.ok(o.bytes.length <= MAX_UDP_RESPONSE, 'UDP reply too long');
      assert.equal((o.bytes[0]! << 8) | o.bytes[1]!, (bytes[0]! << 8) | bytes[1]!, 'reply id differs');
      assert.equal(o.bytes[2]! & 0x80, 0x80, 'reply without QR');
    } else {
      assert.ok(UPSTREAMS.includes(o.upstream));
    }
  }
}

type Case =
  | { readonly kind: 'query'; readonly bytes: Uint8Array; readonly via: DnsTransport }
  | {
      readonly kind: 'upstream';
      readonly name: string;
      readonly edits: readonly [number, number][];
      readonly random: Uint8Array;
      readonly from: string;
    }
  | { readonly kind: 'tcp'; readonly chunks: readonly Uint8Array[] }
  | { readonly kind: 'framed'; readonly queries: readonly Uint8Array[]; readonly cuts: readonly number[] };

const caseArb: fc.Arbitrary<Case> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('query' as const),
      bytes: fc.oneof(fc.uint8Array({ maxLength: 600 }), mutatedArb(validQuery, 6), validQuery),
      via: transport,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('upstream' as const),
      name: fc.constantFrom(...NAMES.slice(3)),
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      random: fc.uint8Array({ maxLength: 300 }),
      from: fc.constantFrom(...UPSTREAMS, 'elsewhere:53'),
    }),
  },
  fc.record({
    kind: fc.constant('tcp' as const),
    chunks: fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }),
  }),
  fc.record({
    kind: fc.constant('framed' as const),
    queries: fc.array(validQuery, { minLength: 1, maxLength: 4 }),
    cuts: fc.array(fc.nat(), { maxLength: 6 }),
  }),
);

export const dnsTarget: FuzzTarget = {
  name: 'dns',
  invariants: [
    'random, valid and mutated queries over UDP and TCP: the stub resolver never throws and gives exactly one reply or forward per query, or counts a drop',
    'replies carry the query id and QR, and UDP replies stay within 1212 bytes; forwards go to configured upstreams',
    'random and mutated upstream answers never throw and never reach a client unmatched (replies = counted upstream answers)',
    'the TCP deframer never throws on random streams, bounds its buffer, and returns valid framed queries intact however the stream is split',
  ],
  batchRuns: 300,
  ciRuns: 1500,
  create: () => {
    const resolver = newResolver();
    let now = 0;
    return {
      property: fc.property(caseArb, (c) => {
        now += 7;
        switch (c.kind) {
          case 'query':
            checkOneQuery(resolver, c.bytes, c.via, now);
            break;
          case 'upstream': {
            const query = dnsPacket.encode({
              type: 'query',
              id: 1,
              questions: [{ name: c.name, type: 'MX' }],
            });
            resolver.handleQuery(Uint8Array.from(query), 'udp', now);
            let forwarded: Uint8Array | undefined;
            for (let o = resolver.pollOutput(); o !== undefined; o = resolver.pollOutput()) {
              if (o.type === 'forward') forwarded = o.bytes;
            }
            assert.ok(forwarded !== undefined, 'a query for a non-resource name was not forwarded');
            const answer = forwarded.slice();
            answer[2] = answer[2]! | 0x80;
            for (const [at, value] of c.edits) answer[at % answer.length] = value;
            const before = resolver.stats.upstreamAnswers;
            resolver.handleUpstreamResponse(answer, c.from, now);
            resolver.handleUpstreamResponse(c.random, c.from, now);
            let replies = 0;
            for (let o = resolver.pollOutput(); o !== undefined; o = resolver.pollOutput()) replies++;
            assert.equal(
              replies,
              resolver.stats.upstreamAnswers - before,
              'a reply without a counted answer',
            );
            break;
          }
          case 'tcp': {
            const deframer = new TcpDnsDeframer();
            const r = newResolver();
            for (const chunk of c.chunks) {
              for (const message of deframer.push(chunk)) checkOneQuery(r, message, 'tcp', now);
            }
            assert.ok(deframer.buffered <= 65537, 'the deframer buffers more than one message');
            break;
          }
          case 'framed': {
            const stream = Uint8Array.from(c.queries.flatMap((q) => [...frameTcpMessage(q)]));
            const cuts = [...new Set(c.cuts.map((n) => n % (stream.length + 1)))].sort((a, b) => a - b);
            const deframer = new TcpDnsDeframer();
            const out: Uint8Array[] = [];
            let from = 0;
            for (const cut of [...cuts, stream.length]) {
              out.push(...deframer.push(stream.slice(from, cut)));
              from = cut;
            }
            assert.equal(out.length, c.queries.length, 'framed messages lost or invented');
            out.forEach((m, i) => assert.ok(sameBytes(m, c.queries[i]!), `message ${i} changed`));
            assert.equal(deframer.buffered, 0);
            break;
          }
        }
        resolver.handleTimeout(now);
        while (resolver.pollOutput() !== undefined);
        while (resolver.pollEvent() !== undefined);
      }),
    };
  },
};
