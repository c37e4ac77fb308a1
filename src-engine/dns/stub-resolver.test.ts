import * as dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { parseIpAddress } from '../packet/address.js';
import { ProxyIpAllocator } from './proxy-ips.js';
import { ipToReverseName } from './ptr.js';
import { StubResolver, type StubEvent, type StubOutput, type StubResolverOptions } from './stub-resolver.js';
import { frameTcpMessage, TcpDnsDeframer } from './tcp-framing.js';

const R1 = '00000000-0000-4000-8000-000000000001';
const R2 = '00000000-0000-4000-8000-000000000002';
const UP_A = '1.1.1.1:53';
const UP_B = '9.9.9.9:53';

type Ctx = { readonly port: number };

function resolver(options: StubResolverOptions = {}): StubResolver<Ctx> {
  let seed = 1;
  return new StubResolver<Ctx>({
    resources: [{ id: R1, address: '*.corp.example' }],
    upstreams: [UP_A, UP_B],
    proxyIps: new ProxyIpAllocator(),
    random: () => (seed = (seed * 48271) % 0x7fffffff) / 0x7fffffff,
    ...options,
  });
}

interface QueryOptions {
  readonly id?: number;
  readonly type?: dnsPacket.RecordType;
  readonly edns?: number;
}

function query(name: string, { id = 0x1234, type = 'A', edns }: QueryOptions = {}): Uint8Array {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
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
  });
}

/** A raw question type (dns-packet has no name for HTTPS, 65). */
function queryOfType(name: string, qtype: number, id = 7): Uint8Array {
  const bytes = query(name, { id });
  const at = bytes.length - 4;
  bytes[at] = qtype >> 8;
  bytes[at + 1] = qtype & 0xff;
  return bytes;
}

function drain(r: StubResolver<Ctx>): StubOutput<Ctx>[] {
  const out: StubOutput<Ctx>[] = [];
  for (let o = r.pollOutput(); o !== undefined; o = r.pollOutput()) out.push(o);
  return out;
}

function events(r: StubResolver<Ctx>): StubEvent[] {
  const out: StubEvent[] = [];
  for (let e = r.pollEvent(); e !== undefined; e = r.pollEvent()) out.push(e);
  return out;
}

/** A decoded reply; dns-packet decodes `rcode` and `opcode` but does not declare them. */
type Reply = dnsPacket.DecodedPacket & {
  readonly rcode: string;
  readonly opcode: string;
  readonly bytes: Uint8Array;
  readonly context: Ctx | undefined;
};

function onlyReply(r: StubResolver<Ctx>): Reply {
  const outputs = drain(r);
  expect(outputs).toHaveLength(1);
  const out = outputs[0]!;
  if (out.type !== 'reply') throw new Error(`expected a reply, got ${out.type}`);
  return Object.assign(
    dnsPacket.decode(Buffer.from(out.bytes)) as dnsPacket.DecodedPacket & { rcode: string; opcode: string },
    {
      bytes: out.bytes,
      context: out.context,
    },
  );
}

function onlyForward(r: StubResolver<Ctx>) {
  const outputs = drain(r);
  expect(outputs).toHaveLength(1);
  const out = outputs[0]!;
  if (out.type !== 'forward') throw new Error(`expected a forward, got ${out.type}`);
  return out;
}

/** An upstream's answer to a forwarded query: same ID and question, some A records. */
function upstreamAnswer(forwarded: Uint8Array, records = 1, nameOverride?: string): Uint8Array {
  const q = dnsPacket.decode(Buffer.from(forwarded));
  const name = nameOverride ?? q.questions![0]!.name;
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: [{ ...q.questions![0]!, name }],
    answers: Array.from({ length: records }, (_, i) => ({
      type: 'A' as const,
      name,
      ttl: 300,
      data: `192.0.2.${i % 250}`,
    })),
  });
}

const answerData = (p: dnsPacket.DecodedPacket): unknown[] =>
  (p.answers ?? []).map((a) => ('data' in a ? a.data : undefined));

describe('StubResolver: local answers for DNS resources', () => {
  it('answers A and AAAA with the name’s 4 proxy addresses, TTL 1 s, ID and question echoed', () => {
    const r = resolver();
    r.handleQuery(query('Wiki.Corp.Example', { id: 0xbeef }), 'udp', 0, { port: 5353 });
    const a = onlyReply(r);
    expect(a.id).toBe(0xbeef);
    expect(a.type).toBe('response');
    expect(a.rcode).toBe('NOERROR');
    expect(a.flag_rd && a.flag_ra && !a.flag_tc).toBe(true);
    expect(a.questions).toEqual([{ name: 'Wiki.Corp.Example', type: 'A', class: 'IN' }]);
    expect(answerData(a)).toEqual(['100.96.0.1', '100.96.0.2', '100.96.0.3', '100.96.0.4']);
    expect(a.answers!.every((x) => x.type === 'A' && x.ttl === 1 && x.name === 'Wiki.Corp.Example')).toBe(
      true,
    );
    expect(a.context).toEqual({ port: 5353 });

    r.handleQuery(query('wiki.corp.example.', { type: 'AAAA' }), 'udp', 0);
    expect(answerData(onlyReply(r))).toEqual([
      'fd00:2021:1111:8000::',
      'fd00:2021:1111:8000::1',
      'fd00:2021:1111:8000::2',
      'fd00:2021:1111:8000::3',
    ]);
    expect(r.stats.localAnswers).toBe(2);
    expect(r.stats.forwarded).toBe(0);
  });

  it('keeps a name’s addresses across queries and across resolvers sharing the allocator', () => {
    const proxyIps = new ProxyIpAllocator();
    const first = resolver({ proxyIps });
    first.handleQuery(query('a.corp.example'), 'udp', 0);
    first.handleQuery(query('b.corp.example'), 'udp', 0);
    first.handleQuery(query('A.corp.example'), 'udp', 0);
    const [a, b, again] = drain(first).map((o) => answerData(dnsPacket.decode(Buffer.from(o.bytes))));
    expect(b).not.toEqual(a);
    expect(again).toEqual(a);
    const second = resolver({ proxyIps });
    second.handleQuery(query('b.corp.example'), 'udp', 1);
    expect(answerData(onlyReply(second))).toEqual(b);
  });

  it('answers per ip_stack: NOERROR without records for a family no matching resource has', () => {
    const r = resolver({
      resources: [
        { id: R1, address: 'v4.corp.example', ip_stack: 'ipv4_only' },
        { id: R2, address: 'v6.corp.example', ip_stack: 'ipv6_only' },
      ],
    });
    r.handleQuery(query('v4.corp.example', { type: 'AAAA' }), 'udp', 0);
    const noData = onlyReply(r);
    expect(noData.rcode).toBe('NOERROR');
    expect(noData.answers).toEqual([]);
    r.handleQuery(query('v4.corp.example', { type: 'A' }), 'udp', 0);
    expect(onlyReply(r).answers).toHaveLength(4);
    r.handleQuery(query('v6.corp.example', { type: 'A' }), 'udp', 0);
    expect(onlyReply(r).answers).toEqual([]);
    r.handleQuery(query('v6.corp.example', { type: 'AAAA' }), 'udp', 0);
    expect(onlyReply(r).answers).toHaveLength(4);
  });

  it('answers a family when any one matching resource has it', () => {
    const r = resolver({
      resources: [
        { id: R1, address: '*.corp.example', ip_stack: 'ipv4_only' },
        { id: R2, address: 'db.corp.example', ip_stack: 'ipv6_only' },
      ],
    });
    r.handleQuery(query('db.corp.example', { type: 'A' }), 'udp', 0);
    expect(onlyReply(r).answers).toHaveLength(4);
    r.handleQuery(query('db.corp.example', { type: 'AAAA' }), 'udp', 0);
    expect(onlyReply(r).answers).toHaveLength(4);
  });

  it('reports every resolution once per matching resource, with that resource’s families', () => {
    const r = resolver({
      resources: [
        { id: R1, address: '*.corp.example', ip_stack: 'ipv4_only' },
        { id: R2, address: 'db.corp.example' },
      ],
    });
    r.handleQuery(query('DB.corp.example.', { type: 'AAAA' }), 'udp', 0);
    drain(r);
    const v4 = ['100.96.0.1', '100.96.0.2', '100.96.0.3', '100.96.0.4'];
    const v6 = [
      'fd00:2021:1111:8000::',
      'fd00:2021:1111:8000::1',
      'fd00:2021:1111:8000::2',
      'fd00:2021:1111:8000::3',
    ];
    expect(events(r)).toEqual([
      { type: 'resolved', name: 'db.corp.example', resourceId: R2, proxyIps: [...v4, ...v6] },
      { type: 'resolved', name: 'db.corp.example', resourceId: R1, proxyIps: v4 },
    ]);
    r.handleQuery(query('db.corp.example'), 'udp', 1);
    expect(events(r)).toHaveLength(2); // every query refreshes the NAT (docs/protocol.md §1.5 step 4)
  });

  it('answers HTTPS with NOERROR and no records, and NXDOMAIN for the Firefox DoH canary', () => {
    const r = resolver();
    r.handleQuery(queryOfType('wiki.corp.example', 65), 'udp', 0);
    const https = onlyReply(r);
    expect(https.rcode).toBe('NOERROR');
    expect(https.answers).toEqual([]);
    expect(events(r)).toEqual([]);
    r.handleQuery(query('use-application-dns.net'), 'udp', 0);
    expect(onlyReply(r).rcode).toBe('NXDOMAIN');
  });

  it('answers PTR for proxy addresses and forwards other PTR queries', () => {
    const r = resolver();
    r.handleQuery(query('wiki.corp.example'), 'udp', 0);
    drain(r);
    r.handleQuery(query('3.0.96.100.in-addr.arpa', { type: 'PTR' }), 'udp', 0);
    const v4 = onlyReply(r);
    expect(v4.answers).toMatchObject([{ type: 'PTR', ttl: 1, data: 'wiki.corp.example' }]);
    const v6name = ipToReverseName(parseIpAddress('fd00:2021:1111:8000::2')!);
    r.handleQuery(query(v6name, { type: 'PTR' }), 'udp', 0);
    expect(onlyReply(r).answers).toMatchObject([{ type: 'PTR', data: 'wiki.corp.example' }]);
    r.handleQuery(query('9.0.96.100.in-addr.arpa', { type: 'PTR' }), 'udp', 0);
    expect(onlyForward(r).upstream).toBe(UP_A);
    r.handleQuery(query('1.2.0.192.in-addr.arpa', { type: 'PTR' }), 'udp', 0);
    expect(onlyForward(r).upstream).toBe(UP_A);
  });

  it('tries a single-label name under the search domain first, answering with a CNAME', () => {
    const r = resolver({
      resources: [{ id: R1, address: 'wiki.corp.example' }],
      searchDomain: 'Corp.Example.',
    });
    r.handleQuery(query('Wiki'), 'udp', 0);
    const reply = onlyReply(r);
    expect(reply.answers![0]).toMatchObject({
      type: 'CNAME',
      name: 'Wiki',
      ttl: 1,
      data: 'wiki.corp.example',
    });
    expect(reply.answers!.slice(1)).toHaveLength(4);
    expect(reply.answers!.slice(1).every((a) => a.type === 'A' && a.name === 'wiki.corp.example')).toBe(true);
    expect(events(r)).toMatchObject([{ type: 'resolved', name: 'wiki.corp.example', resourceId: R1 }]);
    // No resource under the search domain, or more than one label: the name as it is.
    r.handleQuery(query('intranet'), 'udp', 0);
    expect(onlyForward(r).upstream).toBe(UP_A);
    r.handleQuery(query('wiki.other'), 'udp', 0);
    expect(onlyForward(r).upstream).toBe(UP_A);
    r.setSearchDomain(null);
    r.handleQuery(query('wiki'), 'udp', 0);
    expect(onlyForward(r).upstream).toBe(UP_A);
  });

  it('sends SRV/TXT for resource names onwards, naming the most specific resource', () => {
    const r = resolver({
      resources: [
        { id: R1, address: '*.corp.example' },
        { id: R2, address: 'ldap.corp.example' },
      ],
    });
    r.handleQuery(query('ldap.corp.example', { type: 'SRV' }), 'udp', 0);
    expect(onlyForward(r).resourceId).toBe(R2);
    r.handleQuery(query('x.corp.example', { type: 'TXT' }), 'udp', 0);
    expect(onlyForward(r).resourceId).toBe(R1);
    r.handleQuery(query('x.corp.example', { type: 'MX' }), 'udp', 0);
    expect(onlyForward(r).resourceId).toBeUndefined();
  });

  it('applies new resources at once', () => {
    const r = resolver();
    expect(
      r.setResources([
        { id: R2, address: 'new.example' },
        { id: R1, address: 'a.*.bad' },
      ]),
    ).toEqual([{ id: R1, address: 'a.*.bad' }]);
    r.handleQuery(query('wiki.corp.example'), 'udp', 0);
    expect(onlyForward(r).upstream).toBe(UP_A);
    r.handleQuery(query('new.example'), 'udp', 0);
    expect(onlyReply(r).answers).toHaveLength(4);
    expect(r.resourcesFor('NEW.example')).toEqual([{ id: R2, address: 'new.example' }]);
  });

  it('answers SERVFAIL and reports it when the proxy ranges are exhausted', () => {
    const proxyIps = new ProxyIpAllocator({ ipv4Range: '10.0.0.0/29', ipv6Range: 'fd00::/125', skip: [] });
    const r = resolver({ proxyIps });
    r.handleQuery(query('a.corp.example'), 'udp', 0);
    expect(onlyReply(r).rcode).toBe('NOERROR');
    events(r);
    r.handleQuery(query('b.corp.example'), 'udp', 0);
    expect(onlyReply(r).rcode).toBe('SERVFAIL');
    expect(events(r)).toEqual([{ type: 'proxy_ips_exhausted', name: 'b.corp.example', family: 'ipv4' }]);
  });
});

describe('StubResolver: forwarding', () => {
  it('forwards with a fresh ID and gives the answer back under the client’s ID', () => {
    const r = resolver();
    const q = query('example.org', { id: 0x4242 });
    r.handleQuery(q, 'udp', 0, { port: 40000 });
    const fwd = onlyForward(r);
    expect(fwd.upstream).toBe(UP_A);
    expect(fwd.transport).toBe('udp');
    expect(fwd.bytes.subarray(2)).toEqual(q.subarray(2));
    expect(r.outstanding).toBe(1);
    const answer = upstreamAnswer(fwd.bytes, 2);
    r.handleUpstreamResponse(answer, UP_A, 10);
    const reply = onlyReply(r);
    expect(reply.id).toBe(0x4242);
    expect(reply.context).toEqual({ port: 40000 });
    expect(reply.bytes.subarray(2)).toEqual(answer.subarray(2));
    expect(r.outstanding).toBe(0);
    expect(r.pollTimeout()).toBeUndefined();
    expect(r.stats).toMatchObject({ forwarded: 1, upstreamAnswers: 1 });
  });

  it('drops answers with an unknown ID, from the wrong server or for another question', () => {
    const r = resolver();
    r.handleQuery(query('example.org'), 'udp', 0);
    const fwd = onlyForward(r);
    const good = upstreamAnswer(fwd.bytes);
    const otherId = good.slice();
    otherId[1] = otherId[1]! ^ 1;
    r.handleUpstreamResponse(otherId, UP_A, 1);
    r.handleUpstreamResponse(good, UP_B, 1); // not asked yet
    r.handleUpstreamResponse(upstreamAnswer(fwd.bytes, 1, 'evil.example'), UP_A, 1);
    r.handleUpstreamResponse(fwd.bytes, UP_A, 1); // a query, not a response
    r.handleUpstreamResponse(new Uint8Array(3), UP_A, 1);
    expect(drain(r)).toEqual([]);
    expect(r.stats.unmatchedUpstream).toBe(5);
    // The question matches whatever the case (0x20 randomisation).
    r.handleUpstreamResponse(upstreamAnswer(fwd.bytes, 1, 'EXAMPLE.org'), UP_A, 2);
    expect(onlyReply(r).rcode).toBe('NOERROR');
    r.handleUpstreamResponse(good, UP_A, 3); // duplicate: nothing in flight any more
    expect(drain(r)).toEqual([]);
  });

  it('moves on to the next upstream after 5 s and answers SERVFAIL when all have timed out', () => {
    const r = resolver();
    r.handleQuery(query('slow.example', { id: 77 }), 'tcp', 1000, { port: 1 });
    const first = onlyForward(r);
    expect(first.upstream).toBe(UP_A);
    expect(first.transport).toBe('tcp');
    expect(r.pollTimeout()).toBe(6000);
    r.handleTimeout(5999);
    expect(drain(r)).toEqual([]);
    r.handleTimeout(6000);
    const second = onlyForward(r);
    expect(second.upstream).toBe(UP_B);
    expect(second.bytes).toEqual(first.bytes);
    expect(r.pollTimeout()).toBe(11000);
    r.handleTimeout(11000);
    const fail = onlyReply(r);
    expect(fail.rcode).toBe('SERVFAIL');
    expect(fail.id).toBe(77);
    expect(fail.context).toEqual({ port: 1 });
    expect(r.stats).toMatchObject({ upstreamTimeouts: 2, upstreamFailures: 1 });
    expect(r.outstanding).toBe(0);
  });

  it('takes a late answer from an earlier upstream, then prefers the one that answered', () => {
    const r = resolver();
    r.handleQuery(query('a.example'), 'udp', 0);
    const first = onlyForward(r);
    r.handleTimeout(5000);
    expect(onlyForward(r).upstream).toBe(UP_B);
    r.handleUpstreamResponse(upstreamAnswer(first.bytes), UP_A, 5100);
    expect(onlyReply(r).rcode).toBe('NOERROR');

    r.handleQuery(query('b.example'), 'udp', 6000);
    const b = onlyForward(r);
    r.handleTimeout(11000);
    const retry = onlyForward(r);
    r.handleUpstreamResponse(upstreamAnswer(retry.bytes), UP_B, 11001);
    drain(r);
    expect(b.upstream).toBe(UP_A);
    r.handleQuery(query('c.example'), 'udp', 12000);
    expect(onlyForward(r).upstream).toBe(UP_B);
  });

  it('answers SERVFAIL when no upstream is configured', () => {
    const r = resolver({ upstreams: [] });
    r.handleQuery(query('example.org'), 'udp', 0);
    expect(onlyReply(r).rcode).toBe('SERVFAIL');
    r.setUpstreams([UP_B]);
    r.handleQuery(query('example.org'), 'udp', 0);
    expect(onlyForward(r).upstream).toBe(UP_B);
  });

  it('keeps many queries in flight, answered in any order, and bounds them', () => {
    const r = resolver();
    const forwards = [];
    for (let i = 0; i < 1024; i++) {
      r.handleQuery(query(`n${i}.example`, { id: i }), 'udp', i);
      forwards.push(onlyForward(r));
    }
    expect(new Set(forwards.map((f) => (f.bytes[0]! << 8) | f.bytes[1]!)).size).toBe(1024);
    r.handleQuery(query('one-too-many.example', { id: 5000 }), 'udp', 2000);
    const refused = onlyReply(r);
    expect(refused.rcode).toBe('SERVFAIL');
    expect(refused.id).toBe(5000);
    expect(r.stats.overloaded).toBe(1);
    // Answer the last first: nothing waits for anything else.
    for (const i of [1023, 0, 511]) {
      r.handleUpstreamResponse(upstreamAnswer(forwards[i]!.bytes), UP_A, 3000);
      const reply = onlyReply(r);
      expect(reply.id).toBe(i);
      expect(reply.questions![0]!.name).toBe(`n${i}.example`);
    }
    // Local answers never wait behind forwarded ones.
    r.handleQuery(query('wiki.corp.example'), 'udp', 3000);
    expect(onlyReply(r).answers).toHaveLength(4);
    expect(r.outstanding).toBe(1021);
    expect(r.pollTimeout()).toBe(5001);
  });
});

describe('StubResolver: sizes and transports', () => {
  const long = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.corp.example`;

  it('truncates UDP answers over 512 bytes without EDNS, over the EDNS size with it, never over 1212', () => {
    const r = resolver();
    r.handleQuery(query(long), 'udp', 0);
    const truncated = onlyReply(r);
    expect(truncated.flag_tc).toBe(true);
    expect(truncated.answers).toEqual([]);
    expect(truncated.questions).toEqual([{ name: long, type: 'A', class: 'IN' }]);
    expect(truncated.bytes.length).toBeLessThanOrEqual(512);
    expect(r.stats.truncated).toBe(1);

    r.handleQuery(query(long, { edns: 1232 }), 'udp', 0);
    const full = onlyReply(r);
    expect(full.flag_tc).toBe(false);
    expect(full.answers).toHaveLength(4);
    expect(full.additionals).toMatchObject([{ type: 'OPT', udpPayloadSize: 1212 }]);
    expect(full.bytes.length).toBeGreaterThan(512);

    r.handleQuery(query(long, { edns: 100 }), 'udp', 0); // below 512 counts as 512
    expect(onlyReply(r).flag_tc).toBe(true);
  });

  it('truncates forwarded answers to the client’s limit over UDP, never over TCP', () => {
    const r = resolver();
    r.handleQuery(query('big.example', { edns: 4096 }), 'udp', 0);
    const udp = onlyForward(r);
    const big = upstreamAnswer(udp.bytes, 80); // 80 × 27 bytes: over 1212
    expect(big.length).toBeGreaterThan(1212);
    r.handleUpstreamResponse(big, UP_A, 1);
    const cut = onlyReply(r);
    expect(cut.flag_tc).toBe(true);
    expect(cut.answers).toEqual([]);
    expect(cut.bytes.length).toBeLessThanOrEqual(1212);

    r.handleQuery(query('big.example', { edns: 4096 }), 'tcp', 2);
    const tcp = onlyForward(r);
    r.handleUpstreamResponse(upstreamAnswer(tcp.bytes, 80), UP_A, 3);
    const whole = onlyReply(r);
    expect(whole.flag_tc).toBe(false);
    expect(whole.answers).toHaveLength(80);
  });

  it('serves a TCP stream through the framing helpers', () => {
    const r = resolver();
    const deframer = new TcpDnsDeframer();
    const stream = new Uint8Array([
      ...frameTcpMessage(query(long, { id: 1 })),
      ...frameTcpMessage(query('x.corp.example', { id: 2 })),
    ]);
    for (const message of [
      ...deframer.push(stream.subarray(0, 100)),
      ...deframer.push(stream.subarray(100)),
    ]) {
      r.handleQuery(message, 'tcp', 0);
    }
    const replies = drain(r);
    expect(replies.map((o) => o.transport)).toEqual(['tcp', 'tcp']);
    const back = new TcpDnsDeframer().push(
      new Uint8Array(replies.flatMap((o) => [...frameTcpMessage(o.bytes)])),
    );
    expect(back.map((b) => dnsPacket.decode(Buffer.from(b)).answers!.length)).toEqual([4, 4]);
  });
});

describe('StubResolver: malformed queries', () => {
  it('drops what has no header, and responses', () => {
    const r = resolver();
    r.handleQuery(new Uint8Array(11), 'udp', 0);
    const response = query('example.org');
    response[2] = response[2]! | 0x80;
    r.handleQuery(response, 'udp', 0);
    expect(drain(r)).toEqual([]);
    expect(r.stats.droppedMalformed).toBe(2);
  });

  it('answers FORMERR with the query’s ID when the header is readable', () => {
    const r = resolver();
    const cases: Uint8Array[] = [];
    const garbage = new Uint8Array(30).fill(0xff);
    garbage[2] = 0x01;
    garbage[3] = 0;
    cases.push(garbage);
    const noQuestion = query('example.org').subarray(0, 12).slice();
    noQuestion[5] = 0;
    cases.push(noQuestion);
    const twoQuestions = dnsPacket.encode({
      type: 'query',
      id: 9,
      questions: [
        { name: 'a.example', type: 'A' },
        { name: 'b.example', type: 'A' },
      ],
    });
    cases.push(twoQuestions);
    cases.push(query('example.org').subarray(0, 20)); // cut inside the name
    for (const bytes of cases) {
      r.handleQuery(bytes, 'udp', 0);
      const reply = onlyReply(r);
      expect(reply.rcode).toBe('FORMERR');
      expect(reply.id).toBe((bytes[0]! << 8) | bytes[1]!);
      expect(reply.bytes).toHaveLength(12);
    }
    expect(r.stats.formerr).toBe(cases.length);
  });

  it('answers NOTIMP to other opcodes', () => {
    const r = resolver();
    const notify = query('example.org');
    notify[2] = (notify[2]! & 0x87) | (4 << 3);
    r.handleQuery(notify, 'udp', 0);
    const reply = onlyReply(r);
    expect(reply.rcode).toBe('NOTIMP');
    expect(reply.opcode).toBe('NOTIFY');
  });

  it('forwards names it cannot read as plain text rather than matching them', () => {
    const r = resolver({ resources: [{ id: R1, address: 'wiki.corp.example' }] });
    // One label "wiki.corp" then "example": decodes to the same text as the resource name.
    const bytes = query('xxxxxxxxx.example');
    bytes.set(new TextEncoder().encode('wiki.corp'), 13);
    r.handleQuery(bytes, 'udp', 0);
    expect(onlyForward(r).upstream).toBe(UP_A);
  });
});
