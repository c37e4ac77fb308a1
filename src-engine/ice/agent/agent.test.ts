import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { METHOD_BINDING } from '../constants.js';
import type { StunAttribute } from '../stun/attributes.js';
import { shortTermKey } from '../stun/credentials.js';
import {
  decodeMessage,
  encodeMessage,
  getAttribute,
  verifyIntegrity,
  type StunMessage,
} from '../stun/message.js';
import type { TransportAddress } from '../transport-address.js';
import { IceAgent, ufragOf, type IceAgentOptions, type IceCredentials, type IceRole } from './agent.js';
import type { LocalCandidateKind } from './candidate.js';
import { checkTimeoutMs, CONTROLLING_TIMERS, CONTROLLED_TIMERS } from './constants.js';
import { addr, CREDS_A, CREDS_B, eventsOf, Network, SeededRandom, type NodeRecord } from './test-support.js';

interface Side {
  readonly role: IceRole;
  readonly hosts: readonly TransportAddress[];
  readonly relays?: readonly TransportAddress[];
  /** NAT for each host: inside → outside; the srflx candidate is signalled unless `hideSrflx`. */
  readonly nat?: ReadonlyMap<string, TransportAddress>;
  readonly hideSrflx?: boolean;
  readonly creds?: { readonly local: IceCredentials; readonly remote: IceCredentials };
  readonly options?: Partial<IceAgentOptions>;
}

const A_HOST = addr('198.51.100.1', 1000);
const B_HOST = addr('203.0.113.1', 2000);
const A_RELAY = addr('192.0.2.100', 50000);
const B_RELAY = addr('192.0.2.200', 50001);

function makeNode(
  net: Network,
  name: string,
  side: Side,
  defaults: { local: IceCredentials; remote: IceCredentials },
) {
  const creds = side.creds ?? defaults;
  const agent = new IceAgent({
    role: side.role,
    local: creds.local,
    remote: creds.remote,
    now: net.now,
    random: net.random.bytes,
    ...side.options,
  });
  const node = net.addNode(name, agent);
  const lines: string[] = [];
  const add = (kind: LocalCandidateKind, address: TransportAddress, base: TransportAddress): void => {
    const line = agent.addLocalCandidate({ kind, address, base }, net.now);
    if (line === undefined) throw new Error('candidate rejected');
    lines.push(line);
  };
  for (const host of side.hosts) {
    net.attach(node, host);
    add('host', host, host);
    const outside = side.nat?.get(`${host.address}:${host.port}`);
    if (outside !== undefined) {
      net.nat(host, outside);
      if (side.hideSrflx !== true) add('srflx', outside, host);
    }
  }
  for (const relay of side.relays ?? []) {
    net.attach(node, relay);
    add('relay', relay, relay);
  }
  return { node, lines };
}

function setup(
  a: Side,
  b: Side,
  options: { seed?: number; loss?: number; latencyMs?: number; jitterMs?: number } = {},
) {
  const net = new Network(new SeededRandom(options.seed ?? 1), {
    loss: options.loss,
    latencyMs: options.latencyMs ?? 20,
    jitterMs: options.jitterMs,
  });
  const A = makeNode(net, 'a', a, { local: CREDS_A, remote: CREDS_B });
  const B = makeNode(net, 'b', b, { local: CREDS_B, remote: CREDS_A });
  return { net, a: A.node, b: B.node, aLines: A.lines, bLines: B.lines };
}

/** Both sides signal all their candidates through a portal 50 ms away. */
function signal(net: Network, from: string[], to: NodeRecord, delay = 50): void {
  net.schedule(net.now + delay, () => {
    for (const line of from) to.agent.addRemoteCandidate(line, net.now);
  });
}

function exchange(s: ReturnType<typeof setup>): void {
  signal(s.net, s.aLines, s.b);
  signal(s.net, s.bLines, s.a, 70);
}

function connected(...nodes: NodeRecord[]): () => boolean {
  return () => nodes.every((n) => n.agent.state === 'connected');
}

function lastNominated(node: NodeRecord) {
  const all = eventsOf(node, 'nominated');
  return all[all.length - 1];
}

const HOST_A: Side = { role: 'controlling', hosts: [A_HOST] };
const HOST_B: Side = { role: 'controlled', hosts: [B_HOST] };

describe('IceAgent on a simulated network', () => {
  it('connects host to host, and both sides select the same path', () => {
    const s = setup(HOST_A, HOST_B);
    exchange(s);
    const t = s.net.run(30_000, connected(s.a, s.b));
    expect(t).toBeLessThan(1_000);
    expect(lastNominated(s.a)).toMatchObject({
      local: A_HOST,
      remote: B_HOST,
      localKind: 'host',
      remoteKind: 'host',
    });
    expect(lastNominated(s.b)).toMatchObject({
      local: B_HOST,
      remote: A_HOST,
      localKind: 'host',
      remoteKind: 'host',
    });
    const snap = s.a.agent.snapshot();
    expect(snap.nominated?.rttMs).toBe(40);
    expect(snap.stats.checksSent).toBeGreaterThan(0);
    expect(s.b.agent.snapshot().stats.requestsReceived).toBeGreaterThan(0);
    // It stays connected on consent checks.
    s.net.run(120_000);
    expect(s.a.agent.state).toBe('connected');
    expect(s.b.agent.state).toBe('connected');
    expect(eventsOf(s.a, 'nominated')).toHaveLength(1);
    expect(s.a.agent.stats.consentChecksSent).toBeGreaterThan(15);
  });

  it('connects through the relays when nothing else gets through', () => {
    const relays = new Set(['192.0.2.100', '192.0.2.200']);
    const s = setup({ ...HOST_A, relays: [A_RELAY] }, { ...HOST_B, relays: [B_RELAY] });
    s.net.block = (_from, to) => !relays.has(to.address);
    exchange(s);
    s.net.run(60_000, connected(s.a, s.b));
    expect(lastNominated(s.a)).toMatchObject({
      local: A_RELAY,
      remote: B_RELAY,
      localKind: 'relay',
      remoteKind: 'relay',
    });
    expect(lastNominated(s.b)).toMatchObject({
      local: B_RELAY,
      remote: A_RELAY,
      localKind: 'relay',
      remoteKind: 'relay',
    });
  });

  it('discovers a peer-reflexive candidate behind a NAT that rewrites the source', () => {
    const inside = addr('10.0.0.2', 5000);
    const outside = addr('203.0.113.77', 40000);
    const s = setup(HOST_A, {
      role: 'controlled',
      hosts: [inside],
      nat: new Map([['10.0.0.2:5000', outside]]),
      hideSrflx: true,
    });
    exchange(s);
    s.net.run(30_000, connected(s.a, s.b));
    expect(lastNominated(s.a)).toMatchObject({ local: A_HOST, remote: outside, remoteKind: 'prflx' });
    expect(lastNominated(s.b)).toMatchObject({ local: inside, remote: A_HOST, localKind: 'host' });
    expect(s.a.agent.stats.peerReflexiveCandidates).toBe(1);
  });

  it('punches through a NAT on both sides using srflx candidates', () => {
    const aIn = addr('10.1.0.2', 5000);
    const bIn = addr('10.2.0.2', 6000);
    const s = setup(
      { role: 'controlling', hosts: [aIn], nat: new Map([['10.1.0.2:5000', addr('198.51.100.9', 30000)]]) },
      { role: 'controlled', hosts: [bIn], nat: new Map([['10.2.0.2:6000', addr('203.0.113.9', 31000)]]) },
    );
    exchange(s);
    s.net.run(30_000, connected(s.a, s.b));
    expect(lastNominated(s.a)).toMatchObject({
      local: aIn,
      remote: addr('203.0.113.9', 31000),
      remoteKind: 'srflx',
    });
    expect(lastNominated(s.b)?.local).toEqual(bIn);
  });

  it('resolves a role conflict when both sides start controlling (RFC 8445 §7.3.1.1)', () => {
    const s = setup(
      { ...HOST_A, options: { tieBreaker: 5n } },
      { role: 'controlling', hosts: [B_HOST], options: { tieBreaker: 9n } },
    );
    exchange(s);
    s.net.run(30_000, connected(s.a, s.b));
    expect(s.a.agent.role).toBe('controlled');
    expect(s.b.agent.role).toBe('controlling');
    expect(s.a.agent.stats.roleConflicts + s.b.agent.stats.roleConflicts).toBeGreaterThan(0);
    expect(lastNominated(s.a)?.remote).toEqual(B_HOST);
    expect(lastNominated(s.b)?.remote).toEqual(A_HOST);
  });

  it('resolves a role conflict when both sides start controlled', () => {
    const s = setup(
      { role: 'controlled', hosts: [A_HOST], options: { tieBreaker: 7n } },
      {
        ...HOST_B,
        options: { tieBreaker: 3n },
      },
    );
    exchange(s);
    s.net.run(30_000, connected(s.a, s.b));
    expect(s.a.agent.role).toBe('controlling');
    expect(s.b.agent.role).toBe('controlled');
  });

  it.each([1, 2, 3, 4, 5, 6])('connects with 20 percent loss and jitter (seed %i)', (seed) => {
    const s = setup(
      { ...HOST_A, relays: [A_RELAY] },
      { ...HOST_B, relays: [B_RELAY] },
      { seed, loss: 0.2, latencyMs: 30, jitterMs: 60 },
    );
    exchange(s);
    s.net.run(60_000, connected(s.a, s.b));
    expect(s.a.agent.state, `seed ${seed}`).toBe('connected');
    expect(s.b.agent.state, `seed ${seed}`).toBe('connected');
  });

  it('loses consent when the path dies: disconnected after 30 s, failed 2 s later', () => {
    const s = setup(HOST_A, HOST_B);
    exchange(s);
    s.net.run(30_000, connected(s.a, s.b));
    const cut = s.net.now;
    s.net.block = () => true;
    s.net.run(cut + 60_000);
    for (const node of [s.a, s.b]) {
      const [disconnected] = eventsOf(node, 'disconnected');
      const [failed] = eventsOf(node, 'failed');
      expect(disconnected!.at - cut).toBeGreaterThan(25_000);
      expect(disconnected!.at - cut).toBeLessThanOrEqual(30_000);
      expect(failed).toMatchObject({ reason: 'consent lost' });
      expect(failed!.at - disconnected!.at).toBe(2_000);
      expect(node.agent.pollTimeout()).toBeUndefined();
    }
  });

  it('recovers (connected) when the path comes back within 2 s of losing consent', () => {
    const s = setup(HOST_A, HOST_B);
    exchange(s);
    s.net.run(30_000, connected(s.a, s.b));
    s.net.block = () => true;
    s.net.run(s.net.now + 60_000, () => s.a.agent.state === 'disconnected');
    s.net.block = () => false;
    s.net.run(s.net.now + 60_000);
    expect(eventsOf(s.a, 'connected')).toHaveLength(1);
    expect(eventsOf(s.a, 'failed')).toHaveLength(0);
    expect(s.a.agent.state).toBe('connected');
    expect(s.b.agent.state).toBe('connected');
  });

  it('moves to a relay pair that still answers when consent on the direct path is lost', () => {
    const relays = new Set(['192.0.2.100', '192.0.2.200']);
    const s = setup({ ...HOST_A, relays: [A_RELAY] }, { ...HOST_B, relays: [B_RELAY] });
    exchange(s);
    s.net.run(30_000, connected(s.a, s.b));
    expect(lastNominated(s.a)?.localKind).toBe('host');
    s.net.block = (_from, to) => !relays.has(to.address);
    s.net.run(s.net.now + 60_000);
    // On losing consent every valid pair is checked again; the relay pair answers within the
    // 2 s grace, so the controlling agent nominates it and both sides follow.
    for (const node of [s.a, s.b]) {
      expect(eventsOf(node, 'disconnected')).toHaveLength(1);
      expect(eventsOf(node, 'connected')).toHaveLength(1);
      expect(node.agent.state).toBe('connected');
      expect(lastNominated(node)).toMatchObject({ localKind: 'relay', remoteKind: 'relay' });
    }
  });

  it('re-nominates a better pair that becomes valid after the first nomination', () => {
    const relays = new Set(['192.0.2.100', '192.0.2.200']);
    const s = setup({ ...HOST_A, relays: [A_RELAY] }, { ...HOST_B, relays: [B_RELAY] });
    let direct = false;
    s.net.block = (_from, to) => !direct && !relays.has(to.address);
    exchange(s);
    s.net.run(30_000, connected(s.a, s.b));
    expect(lastNominated(s.a)?.localKind).toBe('relay');
    direct = true;
    // The controlling agent keeps checking the pairs above the selected one (still retransmitting).
    s.net.run(s.net.now + 20_000);
    expect(lastNominated(s.a)).toMatchObject({ local: A_HOST, remote: B_HOST });
    expect(lastNominated(s.b)).toMatchObject({ local: B_HOST, remote: A_HOST });
    expect(s.a.agent.state).toBe('connected');
  });

  it('fails with "no candidates received" 10 s after creation', () => {
    const s = setup(HOST_A, HOST_B);
    s.net.run(60_000);
    for (const node of [s.a, s.b]) {
      expect(node.events).toEqual([
        { at: 10_000, event: { type: 'failed', reason: 'no candidates received' } },
      ]);
    }
  });

  it('fails the controlling side after its check timeout when the peer never answers', () => {
    const s = setup(HOST_A, HOST_B);
    s.net.block = () => true;
    exchange(s);
    s.net.run(60_000, () => s.a.agent.state === 'failed');
    const [failed] = eventsOf(s.a, 'failed');
    expect(failed?.reason).toBe('all candidate pairs failed');
    expect(failed!.at).toBe(70 + checkTimeoutMs(CONTROLLING_TIMERS));
    expect(checkTimeoutMs(CONTROLLING_TIMERS)).toBe(15_250);
    expect(s.a.agent.stats.retransmissions).toBe(CONTROLLING_TIMERS.maxRetransmits - 1);
  });

  it('drops and counts wrong credentials, and never nominates', () => {
    const wrong = (c: IceCredentials): IceCredentials => ({ ufrag: c.ufrag, pwd: 'x'.repeat(22) });
    const s = setup(
      { ...HOST_A, creds: { local: CREDS_A, remote: wrong(CREDS_B) } },
      { ...HOST_B, creds: { local: CREDS_B, remote: wrong(CREDS_A) } },
    );
    exchange(s);
    s.net.run(
      checkTimeoutMs(CONTROLLED_TIMERS) + 60_000,
      () => s.a.agent.state === 'failed' && s.b.agent.state === 'failed',
    );
    for (const node of [s.a, s.b]) {
      expect(eventsOf(node, 'nominated')).toHaveLength(0);
      expect(eventsOf(node, 'failed')).toHaveLength(1);
      expect(node.agent.stats.dropped.bad_integrity).toBeGreaterThan(0);
      expect(node.agent.stats.dropped.response_bad_integrity).toBeGreaterThan(0);
      expect(node.agent.stats.requestsReceived).toBe(0);
    }
  });

  it('ends failed on both sides when only one side has the wrong password', () => {
    // B signs its checks with a wrong password for A: A answers 401 (unauthenticated), which B
    // ignores. A's own checks are fine, so A validates and nominates the path (RFC-correct: B
    // consents), but B never validates it, gives up after its check timeout, stops answering,
    // and A then loses consent.
    const s = setup(HOST_A, {
      ...HOST_B,
      creds: { local: CREDS_B, remote: { ...CREDS_A, pwd: 'y'.repeat(22) } },
    });
    exchange(s);
    const limit = checkTimeoutMs(CONTROLLED_TIMERS) + 60_000;
    s.net.run(limit, () => s.a.agent.state === 'failed' && s.b.agent.state === 'failed');
    expect(eventsOf(s.b, 'nominated')).toHaveLength(0);
    expect(eventsOf(s.b, 'failed')).toMatchObject([{ reason: 'no response from peer' }]);
    expect(eventsOf(s.a, 'failed')).toMatchObject([{ reason: 'consent lost' }]);
    expect(s.a.agent.stats.dropped.bad_integrity).toBeGreaterThan(0);
    expect(s.b.agent.stats.dropped.response_bad_integrity).toBeGreaterThan(0);
  });

  it('reconnects after an ICE restart with new credentials', () => {
    const s = setup(HOST_A, HOST_B);
    exchange(s);
    s.net.run(30_000, connected(s.a, s.b));
    const newA = { ufrag: 'nwaa', pwd: 'n'.repeat(22) };
    const newB = { ufrag: 'nwbb', pwd: 'm'.repeat(22) };
    s.net.schedule(s.net.now + 1, () => {
      expect(s.a.agent.restart(newA, newB, s.net.now)).toBe(true);
      signal(s.net, s.a.agent.localCandidates(), s.b);
    });
    s.net.schedule(s.net.now + 30, () => {
      expect(s.b.agent.restart(newB, newA, s.net.now)).toBe(true);
      signal(s.net, s.b.agent.localCandidates(), s.a);
    });
    const before = eventsOf(s.a, 'nominated').length;
    s.net.run(s.net.now + 30_000, () => eventsOf(s.a, 'nominated').length > before && connected(s.a, s.b)());
    expect(s.a.agent.state).toBe('connected');
    expect(s.b.agent.state).toBe('connected');
    expect(s.a.agent.localUfrag).toBe('nwaa');
    expect(eventsOf(s.b, 'nominated').length).toBe(2);
    expect(s.a.agent.restart({ ufrag: 'x', pwd: 'short' }, newB, s.net.now)).toBe(false);
  });

  it('comes back from failed on restart', () => {
    const s = setup(HOST_A, HOST_B);
    s.net.run(11_000);
    expect(s.a.agent.state).toBe('failed');
    expect(s.a.agent.addRemoteCandidate(s.bLines[0]!, s.net.now)).toBe(false);
    expect(s.a.agent.stats.dropped.agent_failed).toBe(1);
    const newA = { ufrag: 'nwaa', pwd: 'n'.repeat(22) };
    const newB = { ufrag: 'nwbb', pwd: 'm'.repeat(22) };
    s.a.agent.restart(newA, newB, s.net.now);
    s.b.agent.restart(newB, newA, s.net.now);
    expect(s.a.agent.state).toBe('checking');
    exchange(s);
    s.net.run(s.net.now + 30_000, connected(s.a, s.b));
    expect(s.a.agent.state).toBe('connected');
    expect(s.b.agent.state).toBe('connected');
  });

  it('follows the idle profile: consent every ~25 s, and back on activity', () => {
    const s = setup(HOST_A, HOST_B);
    exchange(s);
    s.net.run(30_000, connected(s.a, s.b));
    s.a.agent.setIdle(true, s.net.now);
    const sent = s.a.agent.stats.consentChecksSent;
    s.net.run(s.net.now + 100_000);
    const idleChecks = s.a.agent.stats.consentChecksSent - sent;
    expect(idleChecks).toBeGreaterThanOrEqual(3);
    expect(idleChecks).toBeLessThanOrEqual(5);
    s.a.agent.setIdle(false, s.net.now);
    expect(s.a.agent.snapshot().idle).toBe(false);
    s.net.run(s.net.now + 10_000);
    expect(s.a.agent.stats.consentChecksSent - sent - idleChecks).toBeGreaterThanOrEqual(2);
    expect(s.a.agent.state).toBe('connected');
  });

  it('handles candidate removal: losing the selected pair disconnects, a new path reconnects', () => {
    const s = setup({ ...HOST_A, relays: [A_RELAY] }, { ...HOST_B, relays: [B_RELAY] });
    exchange(s);
    s.net.run(30_000, connected(s.a, s.b));
    expect(lastNominated(s.a)?.localKind).toBe('host');
    s.a.agent.removeLocalCandidate({ kind: 'host', address: A_HOST }, s.net.now);
    s.net.run(s.net.now + 20_000);
    expect(eventsOf(s.a, 'disconnected')).toHaveLength(1);
    // The relay pairs answered within the last 30 s, so the agent re-nominates one of them.
    expect(s.a.agent.state).toBe('connected');
    expect(lastNominated(s.a)?.localKind).toBe('relay');
    expect(s.b.agent.removeRemoteCandidate(s.aLines[0]!, s.net.now)).toBe(true);
    expect(s.b.agent.removeRemoteCandidate('garbage', s.net.now)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Message-level behaviour

const PEER = addr('203.0.113.50', 7000);
const LOCAL = addr('198.51.100.1', 1000);

function controlledAgent(): IceAgent {
  const agent = new IceAgent({
    role: 'controlled',
    local: CREDS_B,
    remote: CREDS_A,
    now: 0,
    random: new SeededRandom(7).bytes,
  });
  agent.addLocalCandidate({ kind: 'host', address: LOCAL, base: LOCAL }, 0);
  return agent;
}

function request(attributes: StunAttribute[], key: Uint8Array | undefined, id = 1): Uint8Array {
  return encodeMessage(
    { method: METHOD_BINDING, class: 'request', transactionId: new Uint8Array(12).fill(id), attributes },
    { integrity: key && { key }, fingerprint: true },
  );
}

function check(extra: StunAttribute[] = [], username = `${CREDS_B.ufrag}:${CREDS_A.ufrag}`): StunAttribute[] {
  return [
    { type: 'USERNAME', value: username },
    { type: 'PRIORITY', priority: 1845501695 },
    { type: 'ICE-CONTROLLING', tieBreaker: 1n },
    ...extra,
  ];
}

function only(agent: IceAgent): { to: TransportAddress; from: TransportAddress; message: StunMessage } {
  const t = agent.pollTransmit();
  if (t === undefined) throw new Error('nothing sent');
  const decoded = decodeMessage(t.payload);
  if (!decoded.ok) throw new Error('undecodable');
  return { to: t.destination, from: t.source, message: decoded.message };
}

describe('IceAgent STUN handling', () => {
  const keyA = shortTermKey(CREDS_A.pwd);
  const keyB = shortTermKey(CREDS_B.pwd);

  it('answers a valid check with XOR-MAPPED-ADDRESS, our password and FINGERPRINT; learns a prflx candidate', () => {
    const agent = controlledAgent();
    const bytes = request(check(), keyB);
    expect(ufragOf(bytes)).toBe(CREDS_B.ufrag);
    expect(agent.handleStun(bytes, PEER, LOCAL, 5)).toBe(true);
    const reply = only(agent);
    expect(reply.to).toEqual(PEER);
    expect(reply.from).toEqual(LOCAL);
    expect(reply.message.class).toBe('success');
    expect(getAttribute(reply.message, 'XOR-MAPPED-ADDRESS')?.address).toEqual(PEER);
    expect(verifyIntegrity(reply.message, keyB)).toBe('ok');
    expect(reply.message.hasFingerprint).toBe(true);
    // The triggered check toward the new peer-reflexive candidate, signed with the peer's password.
    const triggered = only(agent);
    expect(triggered.to).toEqual(PEER);
    expect(getAttribute(triggered.message, 'USERNAME')?.value).toBe(`${CREDS_A.ufrag}:${CREDS_B.ufrag}`);
    expect(verifyIntegrity(triggered.message, keyA)).toBe('ok');
    expect(getAttribute(triggered.message, 'ICE-CONTROLLED')).toBeDefined();
    expect(getAttribute(triggered.message, 'USE-CANDIDATE')).toBeUndefined();
    expect(agent.ownsTransaction(triggered.message.transactionId)).toBe(true);
    expect(agent.stats.peerReflexiveCandidates).toBe(1);
    expect(agent.snapshot().remoteCandidates).toBe(1);
  });

  it('routes by ufrag: a request for another ufrag is not ours', () => {
    const agent = controlledAgent();
    expect(agent.handleStun(request(check([], 'zzzz:resc'), keyB), PEER, LOCAL, 1)).toBe(false);
    expect(agent.pollTransmit()).toBeUndefined();
  });

  it.each([
    ['no integrity', request(check(), undefined), 400, 'missing_integrity'],
    ['wrong password', request(check(), keyA), 401, 'bad_integrity'],
    ['wrong remote ufrag', request(check([], `${CREDS_B.ufrag}:nope`), keyB), 401, 'bad_username'],
    [
      'no PRIORITY',
      request([{ type: 'USERNAME', value: `${CREDS_B.ufrag}:${CREDS_A.ufrag}` }], keyB),
      400,
      'missing_priority',
    ],
    [
      'an unknown comprehension-required attribute',
      request(check([{ type: 'unknown', code: 0x7777, value: new Uint8Array(4) }]), keyB),
      420,
      'unknown_attributes',
    ],
  ] as const)('answers a request with %s by an error and counts it', (_name, bytes, code, reason) => {
    const agent = controlledAgent();
    expect(agent.handleStun(bytes, PEER, LOCAL, 1)).toBe(true);
    const reply = only(agent);
    expect(reply.message.class).toBe('error');
    expect(getAttribute(reply.message, 'ERROR-CODE')?.code).toBe(code);
    expect(agent.stats.dropped[reason]).toBe(1);
    expect(agent.pollTransmit()).toBeUndefined();
    expect(agent.snapshot().remoteCandidates).toBe(0);
  });

  it('answers 487 when its tie-breaker wins a role conflict', () => {
    const agent = new IceAgent({
      role: 'controlled',
      local: CREDS_B,
      remote: CREDS_A,
      now: 0,
      tieBreaker: 10n,
      random: new SeededRandom(1).bytes,
    });
    agent.addLocalCandidate({ kind: 'host', address: LOCAL, base: LOCAL }, 0);
    const bytes = request(
      [
        { type: 'USERNAME', value: `${CREDS_B.ufrag}:${CREDS_A.ufrag}` },
        { type: 'PRIORITY', priority: 1 },
        { type: 'ICE-CONTROLLED', tieBreaker: 3n },
      ],
      keyB,
    );
    agent.handleStun(bytes, PEER, LOCAL, 1);
    // 10 ≥ 3: we switch to controlling and accept (RFC 8445 §7.3.1.1, controlled vs controlled).
    expect(agent.role).toBe('controlling');
    expect(only(agent).message.class).toBe('success');
    // Now a controlling peer with a smaller tie-breaker gets 487.
    const conflict = request(
      check([], undefined).map((a) => (a.type === 'ICE-CONTROLLING' ? { ...a, tieBreaker: 2n } : a)),
      keyB,
      2,
    );
    while (agent.pollTransmit() !== undefined);
    agent.handleStun(conflict, PEER, LOCAL, 2);
    const reply = only(agent);
    expect(getAttribute(reply.message, 'ERROR-CODE')?.code).toBe(487);
    expect(verifyIntegrity(reply.message, keyB)).toBe('ok');
    expect(agent.stats.dropped.role_conflict).toBe(1);
  });

  it('ignores responses that are not ours, and unauthenticated ones to ours', () => {
    const agent = controlledAgent();
    agent.addRemoteCandidate('candidate:1 1 udp 2130706431 203.0.113.50 7000 typ host', 0);
    const sent = only(agent);
    const forged = encodeMessage(
      {
        method: METHOD_BINDING,
        class: 'error',
        transactionId: sent.message.transactionId,
        attributes: [{ type: 'ERROR-CODE', code: 400, reason: 'x' }],
      },
      { fingerprint: true },
    );
    expect(agent.handleStun(forged, PEER, LOCAL, 10)).toBe(true);
    expect(agent.stats.dropped.response_bad_integrity).toBe(1);
    expect(agent.ownsTransaction(sent.message.transactionId)).toBe(true);
    const stranger = encodeMessage(
      { method: METHOD_BINDING, class: 'success', transactionId: new Uint8Array(12).fill(9), attributes: [] },
      { integrity: { key: keyA }, fingerprint: true },
    );
    expect(agent.handleStun(stranger, PEER, LOCAL, 10)).toBe(false);
  });

  it('fails a pair whose answer comes from elsewhere (RFC 8445 §7.2.5.2.1)', () => {
    const agent = controlledAgent();
    agent.addRemoteCandidate('candidate:1 1 udp 2130706431 203.0.113.50 7000 typ host', 0);
    const sent = only(agent);
    const answer = encodeMessage(
      {
        method: METHOD_BINDING,
        class: 'success',
        transactionId: sent.message.transactionId,
        attributes: [{ type: 'XOR-MAPPED-ADDRESS', address: LOCAL }],
      },
      { integrity: { key: keyA }, fingerprint: true },
    );
    expect(agent.handleStun(answer, addr('203.0.113.51', 7000), LOCAL, 10)).toBe(true);
    expect(agent.stats.dropped.response_not_symmetric).toBe(1);
    expect(agent.snapshot().pairs.failed).toBe(1);
  });

  it('never throws on random datagrams, and only counts them', () => {
    const agent = controlledAgent();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (bytes, stunLike) => {
        if (stunLike && bytes.length >= 20) {
          // Make some look like STUN so the decoder and the agent get past the first checks.
          bytes[0] = 0;
          bytes[1] = 1;
          bytes[2] = 0;
          bytes[3] = (bytes.length - 20) & ~3;
          bytes.set([0x21, 0x12, 0xa4, 0x42], 4);
        }
        agent.handleStun(bytes, PEER, LOCAL, 1);
        expect(ufragOf(bytes) === undefined || typeof ufragOf(bytes) === 'string').toBe(true);
      }),
      { numRuns: 2000 },
    );
    expect(agent.state).toBe('checking');
  });

  it('rejects unusable credentials and candidates without throwing on input', () => {
    expect(
      () =>
        new IceAgent({
          role: 'controlling',
          local: { ufrag: 'ab', pwd: 'x'.repeat(22) },
          remote: CREDS_B,
          now: 0,
        }),
    ).toThrow(RangeError);
    const agent = controlledAgent();
    expect(agent.addRemoteCandidate('candidate:1 1 udp x 1.2.3.4 1 typ host', 0)).toBe(false);
    expect(
      agent.addLocalCandidate({ kind: 'host', address: addr('nope', 1), base: addr('nope', 1) }, 0),
    ).toBeUndefined();
    expect(agent.stats.dropped.invalid_candidate).toBe(2);
    expect(IceAgent.candidateProblem('candidate:1 1 udp x 1.2.3.4 1 typ host')).toBe('bad_priority');
  });

  it('signals local candidates highest priority first, with unique priorities per type', () => {
    const agent = controlledAgent();
    agent.addLocalCandidate({ kind: 'relay', address: A_RELAY, base: A_RELAY }, 0);
    agent.addLocalCandidate(
      { kind: 'host', address: addr('2001:db8::1', 1000), base: addr('2001:db8::1', 1000) },
      0,
    );
    agent.addLocalCandidate(
      { kind: 'host', address: addr('198.51.100.2', 1000), base: addr('198.51.100.2', 1000) },
      0,
    );
    const lines = agent.localCandidates();
    expect(lines.map((l) => l.split(' ')[7])).toEqual(['host', 'host', 'host', 'relay']);
    expect(lines[0]).toContain('2001:db8::1');
    const priorities = lines.map((l) => Number(l.split(' ')[3]));
    expect(new Set(priorities).size).toBe(4);
    expect([...priorities].sort((x, y) => y - x)).toEqual(priorities);
  });

  it('paces new checks by Ta when configured (RFC 8445 §14.2), and sends them all at once by default', () => {
    const remotes = [1, 2, 3].map(
      (i) => `candidate:${i} 1 udp ${2130706431 - i} 203.0.113.${i} 7000 typ host`,
    );
    const paced = new IceAgent({ role: 'controlling', local: CREDS_A, remote: CREDS_B, now: 0, taMs: 20 });
    paced.addLocalCandidate({ kind: 'host', address: LOCAL, base: LOCAL }, 0);
    for (const line of remotes) paced.addRemoteCandidate(line, 0);
    const times: number[] = [];
    for (let now = 0; now <= 100; now = paced.pollTimeout() ?? 1_000) {
      paced.handleTimeout(now);
      for (let t = paced.pollTransmit(); t !== undefined; t = paced.pollTransmit()) times.push(now);
    }
    expect(times).toEqual([0, 20, 40]);
    const eager = controlledAgent();
    for (const line of remotes) eager.addRemoteCandidate(line, 0);
    // Highest pair priority first.
    expect([only(eager), only(eager), only(eager)].map((t) => t.to.address)).toEqual([
      '203.0.113.1',
      '203.0.113.2',
      '203.0.113.3',
    ]);
  });

  it('pairs a srflx candidate only through its base (RFC 8445 §6.1.2.4) and caps the checklist', () => {
    const agent = new IceAgent({ role: 'controlling', local: CREDS_A, remote: CREDS_B, now: 0, maxPairs: 2 });
    agent.addLocalCandidate({ kind: 'host', address: LOCAL, base: LOCAL }, 0);
    agent.addLocalCandidate({ kind: 'srflx', address: addr('198.51.100.200', 4444), base: LOCAL }, 0);
    for (const i of [3, 2, 1])
      agent.addRemoteCandidate(`candidate:${i} 1 udp ${1000 * i} 203.0.113.${i} 7000 typ host`, 0);
    expect(agent.snapshot().localCandidates).toBe(2);
    expect(agent.snapshot().remoteCandidates).toBe(3);
    const pairs = agent.snapshot().pairs;
    expect(Object.values(pairs).reduce((a, b) => a + b, 0)).toBe(2);
    expect(agent.stats.dropped.pair_limit).toBe(1);
    // The two best remotes were kept and are checked from the host socket.
    const sent = [only(agent), only(agent)];
    expect(sent.map((t) => t.to.address).sort()).toEqual(['203.0.113.2', '203.0.113.3']);
    expect(sent.every((t) => t.from.address === LOCAL.address)).toBe(true);
  });

  it('starts pairs of one foundation Frozen and unfreezes them when one succeeds (RFC 8445 §6.1.2.6)', () => {
    const agent = controlledAgent();
    agent.addRemoteCandidate('candidate:same 1 udp 2000 203.0.113.50 7000 typ host', 0);
    agent.addRemoteCandidate('candidate:same 1 udp 1000 203.0.113.60 7000 typ host', 0);
    expect(agent.snapshot().pairs).toMatchObject({ in_progress: 1, frozen: 1 });
    const first = only(agent);
    expect(first.to).toEqual(PEER);
    expect(agent.pollTransmit()).toBeUndefined();
    const answer = encodeMessage(
      {
        method: METHOD_BINDING,
        class: 'success',
        transactionId: first.message.transactionId,
        attributes: [{ type: 'XOR-MAPPED-ADDRESS', address: LOCAL }],
      },
      { integrity: { key: keyA }, fingerprint: true },
    );
    expect(agent.handleStun(answer, PEER, LOCAL, 30)).toBe(true);
    expect(agent.snapshot().pairs).toMatchObject({ succeeded: 1, in_progress: 1, frozen: 0 });
    expect(only(agent).to).toEqual(addr('203.0.113.60', 7000));
    expect(agent.ownsTransaction(first.message.transactionId)).toBe(false);
  });
});
