/**
 * Untrusted bytes in every entry point: random datagrams and mutated valid queries/answers into
 * the stub resolver, random streams into the TCP deframer. Nothing may throw; every query gets
 * exactly one reply or forward, or is dropped and counted; UDP replies stay within 1212 bytes.
 */
import * as dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_UDP_RESPONSE } from './constants.js';
import { ProxyIpAllocator } from './proxy-ips.js';
import { StubResolver, type DnsTransport } from './stub-resolver.js';
import { TcpDnsDeframer } from './tcp-framing.js';

const UPSTREAMS = ['1.1.1.1:53', '9.9.9.9:53'];

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

const NAMES = ['wiki.corp.example', 'a.lab.example', 'wiki', 'example.org', '1.0.96.100.in-addr.arpa'];
const TYPES: dnsPacket.RecordType[] = ['A', 'AAAA', 'PTR', 'SRV', 'TXT', 'MX'];

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

/** Bit flips, overwritten bytes, truncation and trailing junk. */
const mutated = (base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> =>
  fc
    .tuple(
      base,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
      fc.uint8Array({ maxLength: 16 }),
    )
    .map(([bytes, edits, cut, junk]) => {
      const out = bytes.slice();
      for (const [at, value] of edits) if (out.length > 0) out[at % out.length] = value;
      const kept = cut === undefined ? out : out.subarray(0, cut % (out.length + 1));
      return Uint8Array.from([...kept, ...junk]);
    });

const transport = fc.constantFrom<DnsTransport>('udp', 'tcp');

function checkOneQuery(r: StubResolver<number>, bytes: Uint8Array, via: DnsTransport, now: number): void {
  const dropped = r.stats.droppedMalformed;
  // (No time limit here: speed is the benchmarks' business; under load a timed check flakes.)
  expect(() => r.handleQuery(bytes, via, now, 1)).not.toThrow();
  const outputs = [];
  for (let o = r.pollOutput(); o !== undefined; o = r.pollOutput()) outputs.push(o);
  expect(outputs.length + (r.stats.droppedMalformed - dropped)).toBe(1);
  for (const o of outputs) {
    if (o.type === 'reply') {
      expect(o.bytes.length).toBeGreaterThanOrEqual(12);
      if (o.transport === 'udp') expect(o.bytes.length).toBeLessThanOrEqual(MAX_UDP_RESPONSE);
      expect((o.bytes[0]! << 8) | o.bytes[1]!).toBe((bytes[0]! << 8) | bytes[1]!);
      expect(o.bytes[2]! & 0x80).toBe(0x80);
    } else {
      expect(UPSTREAMS).toContain(o.upstream);
    }
  }
}

describe('stub resolver fuzzing', () => {
  // A fresh resolver per case: with one shared across cases, a forward that times out during a
  // later case would count as that case's second outcome (and shrinking would replay history).
  it('random bytes as queries never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), transport, (bytes, via) => {
        const r = newResolver();
        checkOneQuery(r, bytes, via, 7);
        r.handleTimeout(7);
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated valid queries never throw', () => {
    fc.assert(
      fc.property(mutated(validQuery), transport, (bytes, via) => {
        const r = newResolver();
        checkOneQuery(r, bytes, via, 7);
        r.handleTimeout(7);
      }),
      { numRuns: 3000 },
    );
  });

  it('random and mutated upstream answers never throw and never reach a client unmatched', () => {
    const r = newResolver();
    const forwarded: Uint8Array[] = [];
    let now = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...NAMES.slice(3)),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom(...UPSTREAMS, 'elsewhere:53'),
        (name, edits, random, from) => {
          now += 11;
          r.handleQuery(
            Uint8Array.from(dnsPacket.encode({ type: 'query', id: 1, questions: [{ name, type: 'MX' }] })),
            'udp',
            now,
          );
          for (let o = r.pollOutput(); o !== undefined; o = r.pollOutput()) {
            if (o.type === 'forward') forwarded.push(o.bytes);
          }
          const base = forwarded[forwarded.length - 1]!.slice();
          base[2] = base[2]! | 0x80;
          for (const [at, value] of edits) base[at % base.length] = value;
          const before = r.stats.upstreamAnswers;
          expect(() => r.handleUpstreamResponse(base, from, now)).not.toThrow();
          expect(() => r.handleUpstreamResponse(random, from, now)).not.toThrow();
          let replies = 0;
          for (let o = r.pollOutput(); o !== undefined; o = r.pollOutput()) replies++;
          expect(replies).toBe(r.stats.upstreamAnswers - before);
          r.handleTimeout(now);
          while (r.pollOutput() !== undefined);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('random TCP streams never throw the deframer', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (chunks) => {
        const deframer = new TcpDnsDeframer();
        const r = newResolver();
        for (const chunk of chunks) {
          for (const message of deframer.push(chunk)) checkOneQuery(r, message, 'tcp', 0);
        }
        expect(deframer.buffered).toBeLessThanOrEqual(65537);
      }),
    );
  });
});
