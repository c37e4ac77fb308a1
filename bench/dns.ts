/**
 * The client's stub resolver (`src-engine/dns/`): time from a query's bytes going in to the
 * reply's bytes coming out, for a DNS-resource name (answered locally: match, proxy addresses,
 * encode) and for a forwarded name (against an in-process fake upstream that answers at once, so
 * the number is our own overhead: ID mapping, bookkeeping, the answer's checks and ID restore).
 * Then the resource matcher's lookup time with 10 and with 10,000 resources: the lookup walks the
 * name's labels, so the ratio should stay close to 1.
 *
 * Last line: `dns resource_p50_us=<a> forwarded_p50_us=<b> matcher_10k_over_10=<r>`; `run()` also
 * returns the numbers (`DnsResult`) for `bench/report.ts`.
 */
import * as dnsPacket from 'dns-packet';
import { ResourceMatcher, type DnsResourceSpec } from '../src-engine/dns/matcher.js';
import { ProxyIpAllocator } from '../src-engine/dns/proxy-ips.js';
import { StubResolver } from '../src-engine/dns/stub-resolver.js';
import { printTable } from './table.js';

const QUERIES = 20_000;
const WARMUP = 2_000;
const UPSTREAM = '192.0.2.53:53';
const MATCHER_ROUNDS = 11;
const LOOKUPS_PER_ROUND = 50_000;

export interface DnsResult {
  queries: number;
  /** µs from query bytes in to reply bytes out. */
  resource: { p50Us: number; p99Us: number };
  forwarded: { p50Us: number; p99Us: number };
  matcher: { ns10: number; ns10k: number; ratio10kOver10: number };
}

function query(name: string, id: number): Uint8Array {
  return Uint8Array.from(
    dnsPacket.encode({
      type: 'query',
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name, type: 'A' }],
    }),
  );
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function resources(count: number): DnsResourceSpec[] {
  const kinds = ['', '*.', '?.', '**.'];
  return Array.from({ length: count }, (_, i) => ({
    id: `res-${String(i).padStart(6, '0')}`,
    address: `${kinds[i % 4]}svc${i}.site${i % 97}.corp.example`,
  }));
}

/** µs per query, from bytes in to reply out; `upstream` answers forwards at once when given. */
function timeQueries(resolver: StubResolver, name: string, upstream?: Uint8Array): number[] {
  const samples: number[] = [];
  const queries = Array.from({ length: 256 }, (_, i) => query(name, i));
  for (let i = 0; i < WARMUP + QUERIES; i++) {
    const bytes = queries[i % queries.length]!;
    const start = process.hrtime.bigint();
    resolver.handleQuery(bytes, 'udp', i);
    let replied = false;
    for (let out = resolver.pollOutput(); out !== undefined; out = resolver.pollOutput()) {
      if (out.type === 'reply') {
        replied = true;
      } else if (upstream !== undefined) {
        const answer = upstream.slice();
        answer[0] = out.bytes[0]!;
        answer[1] = out.bytes[1]!;
        resolver.handleUpstreamResponse(answer, out.upstream, i);
      }
    }
    while (resolver.pollEvent() !== undefined);
    const end = process.hrtime.bigint();
    if (!replied) throw new Error(`no reply for ${name}`);
    if (i >= WARMUP) samples.push(Number(end - start) / 1000);
  }
  return samples.sort((a, b) => a - b);
}

/** ns per lookup over the probe names, median of several rounds. */
function timeMatcher(matcher: ResourceMatcher, probes: readonly string[]): number {
  const rounds: number[] = [];
  let sink = 0;
  for (let round = 0; round < MATCHER_ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < LOOKUPS_PER_ROUND; i++) sink += matcher.match(probes[i % probes.length]!).length;
    rounds.push(Number(process.hrtime.bigint() - start) / LOOKUPS_PER_ROUND);
  }
  if (sink < 0) console.log(sink);
  return rounds.sort((a, b) => a - b)[Math.floor(rounds.length / 2)]!;
}

export async function run(): Promise<DnsResult> {
  const resolver = new StubResolver({
    resources: resources(1_000),
    upstreams: [UPSTREAM],
    proxyIps: new ProxyIpAllocator(),
  });
  const resourceName = 'app.svc1.site1.corp.example'; // matches `*.svc1.site1.corp.example`
  if (resolver.resourcesFor(resourceName).length === 0) throw new Error('bench resource does not match');
  const forwardedName = 'www.example.org';
  const upstreamAnswer = Uint8Array.from(
    dnsPacket.encode({
      type: 'response',
      id: 0,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: [{ name: forwardedName, type: 'A' }],
      answers: [
        { type: 'CNAME', name: forwardedName, ttl: 300, data: 'edge.example.net' },
        { type: 'A', name: 'edge.example.net', ttl: 60, data: '192.0.2.10' },
        { type: 'A', name: 'edge.example.net', ttl: 60, data: '192.0.2.11' },
      ],
    }),
  );

  const local = timeQueries(resolver, resourceName);
  const forwarded = timeQueries(resolver, forwardedName, upstreamAnswer);
  if (resolver.outstanding !== 0) throw new Error('forwarded queries left unanswered');

  // Probes: names under the first 10 resources (which both matchers hold), and misses.
  const small = new ResourceMatcher(resources(10));
  const large = new ResourceMatcher(resources(10_000));
  const probes = [
    ...Array.from({ length: 10 }, (_, i) => `svc${i}.site${i}.corp.example`),
    ...Array.from({ length: 10 }, (_, i) => `a.svc${i}.site${i}.corp.example`),
    ...Array.from({ length: 10 }, (_, i) => `a.b.svc${i}.site${i}.corp.example`),
    'www.example.org',
    'corp.example',
    'nope.site3.corp.example',
  ];
  for (const name of probes) {
    const a = small.match(name).map((r) => r.id);
    const b = large.match(name).map((r) => r.id);
    if (a.join() !== b.join()) throw new Error(`matchers disagree on ${name}`);
  }
  timeMatcher(small, probes); // warm-up
  timeMatcher(large, probes);
  const ns10 = timeMatcher(small, probes);
  const ns10k = timeMatcher(large, probes);
  const ratio = ns10k / ns10;

  const fmt = (us: number): string => us.toFixed(1);
  console.log(`stub resolver, ${QUERIES} UDP A queries each (µs from query bytes in to reply bytes out):`);
  printTable(
    ['path', 'p50 µs', 'p99 µs'],
    [
      ['resource name (local answer)', fmt(percentile(local, 50)), fmt(percentile(local, 99))],
      [
        'forwarded (fake upstream, answers at once)',
        fmt(percentile(forwarded, 50)),
        fmt(percentile(forwarded, 99)),
      ],
    ],
  );
  console.log(`\nresource matcher, ${probes.length} probe names, median of ${MATCHER_ROUNDS} rounds:`);
  printTable(
    ['resources', 'ns/lookup'],
    [
      ['10', ns10.toFixed(0)],
      ['10,000', ns10k.toFixed(0)],
    ],
  );
  console.log(
    `dns resource_p50_us=${fmt(percentile(local, 50))} forwarded_p50_us=${fmt(percentile(forwarded, 50))} matcher_10k_over_10=${ratio.toFixed(2)}`,
  );
  return {
    queries: QUERIES,
    resource: { p50Us: percentile(local, 50), p99Us: percentile(local, 99) },
    forwarded: { p50Us: percentile(forwarded, 50), p99Us: percentile(forwarded, 99) },
    matcher: { ns10: ns10, ns10k: ns10k, ratio10kOver10: ratio },
  };
}
