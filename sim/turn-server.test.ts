// The simulation's TURN relay against our TurnClient (and raw requests where the client would
// never send what a rule is about), on a tiny in-memory network with virtual time.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ATTR_ADDRESS_ERROR_CODE,
  METHOD_ALLOCATE,
  METHOD_CHANNEL_BIND,
  METHOD_CREATE_PERMISSION,
  METHOD_DATA,
  METHOD_REFRESH,
  METHOD_SEND,
  TRANSPORT_UDP,
} from '../src-engine/ice/constants.js';
import type { StunAttribute } from '../src-engine/ice/stun/attributes.js';
import { longTermKey } from '../src-engine/ice/stun/credentials.js';
import type { RandomSource } from '../src-engine/ice/stun/header.js';
import {
  decodeMessage,
  encodeMessage,
  errorCodeOf,
  getAttribute,
  getAttributes,
  verifyIntegrity,
  type StunMessage,
} from '../src-engine/ice/stun/message.js';
import { attribute, messageInit, transportAddress } from '../src-engine/ice/stun/test-arbitraries.js';
import { decodeChannelData, encodeChannelData } from '../src-engine/ice/turn/channel-data.js';
import { TurnClient, type TurnClientOptions } from '../src-engine/ice/turn/client.js';
import type { TurnEvent } from '../src-engine/ice/turn/events.js';
import {
  formatTransportAddress,
  sameTransportAddress,
  type TransportAddress,
} from '../src-engine/ice/transport-address.js';
import { turnRestCredentials } from '../src-engine/portal/credentials.js';
import { Random } from './random.js';
import { TurnServer, turnPassword, type TurnServerOptions, type TurnServerTransmit } from './turn-server.js';

/** The simulation's clock counts unix milliseconds (SimPortal starts at 2026-01-01). */
const T0 = Date.UTC(2026, 0, 1);
const SECRET = 'sim-relay-secret';
const RELAY: TransportAddress = { address: '203.0.113.50', port: 3478 };
const RELAY_V6: TransportAddress = { address: '2001:db8::50', port: 3478 };
const PORTS = { min: 50_000, max: 50_999 };
const EXPIRY = Math.floor(T0 / 1000) + 86_400;

function seeded(seed: string): RandomSource {
  const random = new Random(seed);
  return (out) => void random.fill(out);
}

function newServer(options: Partial<TurnServerOptions> = {}, seed = 'relay'): TurnServer {
  return new TurnServer({
    addresses: [RELAY],
    secret: SECRET,
    realm: 'firezone',
    relayPortRange: PORTS,
    lifetimeDefaultS: 600,
    lifetimeMaxS: 3600,
    nonceLifetimeMs: 600_000,
    random: seeded(seed),
    ...options,
  });
}

function restCredentials(user: string, expiry = EXPIRY): { username: string; password: string } {
  return turnRestCredentials(SECRET, user, expiry);
}

// ---------------------------------------------------------------------------------------------
// A tiny network: every datagram takes 5 ms; hosts may sit behind a one-to-one NAT mapping.

interface Host {
  readonly client: TurnClient;
  readonly local: TransportAddress;
  /** The address the relay sees (the NAT mapping), or `local`. */
  readonly mapped: TransportAddress;
  readonly events: TurnEvent[];
  readonly received: { peer: TransportAddress; payload: Uint8Array; channel: number | undefined }[];
  attached: boolean;
}

interface InFlight {
  readonly at: number;
  readonly seq: number;
  readonly from: TransportAddress;
  readonly to: TransportAddress;
  readonly payload: Uint8Array;
}

class Net {
  now = T0;
  readonly hosts: Host[] = [];
  /** Plain UDP endpoints: what reached them. */
  readonly peers = new Map<string, { from: TransportAddress; payload: Uint8Array }[]>();
  /** Everything the relay sent, in order. */
  readonly fromRelay: TurnServerTransmit[] = [];
  private queue: InFlight[] = [];
  private seq = 0;

  constructor(readonly server: TurnServer) {}

  addClient(
    local: TransportAddress,
    options: Partial<TurnClientOptions> & { mapped?: TransportAddress; user?: string } = {},
  ): Host {
    const { mapped, user, ...rest } = options;
    const credentials = restCredentials(user ?? `device-${this.hosts.length}`);
    const client = new TurnClient(
      {
        servers: this.server.addresses,
        credentials: { ...credentials, expiresAt: EXPIRY * 1000 },
        random: seeded(`client-${formatTransportAddress(local)}-${this.hosts.length}`),
        ...rest,
      },
      this.now,
    );
    const host: Host = { client, local, mapped: mapped ?? local, events: [], received: [], attached: true };
    this.hosts.push(host);
    this.flush();
    return host;
  }

  addPeer(address: TransportAddress): { from: TransportAddress; payload: Uint8Array }[] {
    const inbox: { from: TransportAddress; payload: Uint8Array }[] = [];
    this.peers.set(formatTransportAddress(address), inbox);
    return inbox;
  }

  /** A datagram from `from` (a host's local address or a plain peer). */
  send(from: TransportAddress, to: TransportAddress, payload: Uint8Array): void {
    const host = this.hosts.find((h) => sameTransportAddress(h.local, from));
    this.queue.push({
      at: this.now + 5,
      seq: this.seq++,
      from: host ? host.mapped : from,
      to,
      payload: Uint8Array.from(payload),
    });
  }

  /** What a driver does with `TurnClient.encapsulate` / `sendIndication`. */
  sendVia(host: Host, transmit: { to: TransportAddress; payload: Uint8Array } | undefined): void {
    expect(transmit).toBeDefined();
    this.send(host.local, transmit!.to, transmit!.payload);
  }

  run(ms: number): void {
    const end = this.now + ms;
    for (let guard = 0; ; guard++) {
      if (guard > 100_000) throw new Error('the loop does not settle');
      this.flush();
      const next = this.nextTimeout();
      if (next === undefined || next > end) break;
      this.now = Math.max(this.now, next);
      this.step();
    }
    this.now = end;
    this.step();
  }

  /** Runs until `done` holds (checked every 100 ms), at most `maxMs`. */
  runUntil(done: () => boolean, maxMs: number): void {
    for (let t = 0; t < maxMs && !done(); t += 100) this.run(100);
  }

  private step(): void {
    while (this.queue.length > 0 && this.queue[0]!.at <= this.now) this.deliver(this.queue.shift()!);
    const serverAt = this.server.pollTimeout();
    if (serverAt !== undefined && serverAt <= this.now) this.server.handleTimeout(this.now);
    for (const h of this.hosts) {
      const at = h.client.pollTimeout();
      if (h.attached && at !== undefined && at <= this.now) h.client.handleTimeout(this.now);
    }
    this.flush();
  }

  private nextTimeout(): number | undefined {
    const times = [
      this.queue[0]?.at,
      this.server.pollTimeout(),
      ...this.hosts.filter((h) => h.attached).map((h) => h.client.pollTimeout()),
    ].filter((t): t is number => t !== undefined);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  private flush(): void {
    for (const h of this.hosts) {
      for (let t = h.client.pollTransmit(); t; t = h.client.pollTransmit()) {
        if (h.attached) this.send(h.local, t.to, t.payload);
      }
      for (let e = h.client.pollEvent(); e; e = h.client.pollEvent()) h.events.push(e);
    }
    for (let t = this.server.pollTransmit(); t; t = this.server.pollTransmit()) {
      this.fromRelay.push(t);
      this.queue.push({ at: this.now + 5, seq: this.seq++, from: t.from, to: t.to, payload: t.payload });
    }
    this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
  }

  private deliver(d: InFlight): void {
    if (d.to.address === RELAY.address || d.to.address === RELAY_V6.address) {
      this.server.handleInput(d.payload, d.from, d.to, this.now);
      return;
    }
    const host = this.hosts.find((h) => h.attached && sameTransportAddress(h.mapped, d.to));
    if (host) {
      const result = host.client.handleInput(d.payload, d.from, this.now, host.local);
      if (result.type === 'data') {
        host.received.push({
          peer: result.peer,
          payload: Uint8Array.from(result.payload),
          channel: result.channel,
        });
      }
      return;
    }
    this.peers.get(formatTransportAddress(d.to))?.push({ from: d.from, payload: d.payload });
  }
}

function allocatedNet(
  serverOptions: Partial<TurnServerOptions> = {},
  clientOptions: Partial<TurnClientOptions> = {},
): { net: Net; host: Host } {
  const net = new Net(newServer(serverOptions));
  const host = net.addClient({ address: '10.0.0.2', port: 5000 }, { ...clientOptions });
  net.run(1_000);
  expect(host.client.state).toBe('allocated');
  return { net, host };
}

function failure(host: Host): unknown {
  const e = host.events.find((x) => x.type === 'allocation_failed');
  return e?.type === 'allocation_failed' ? e.reason : undefined;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

// ---------------------------------------------------------------------------------------------
// Raw requests, for what our client never sends.

class Raw {
  now = T0;
  private nonce: string | undefined;
  private counter = 0;
  readonly key: Uint8Array;
  /** What the relay sent elsewhere (to peers) while we talked to it. */
  readonly others: TurnServerTransmit[] = [];

  constructor(
    readonly server: TurnServer,
    readonly from: TransportAddress = { address: '192.0.2.10', port: 7000 },
    readonly credentials = restCredentials('raw'),
    readonly to: TransportAddress = RELAY,
  ) {
    this.key = longTermKey(credentials.username, 'firezone', credentials.password);
  }

  tid(): Uint8Array {
    const id = new Uint8Array(12);
    id[0] = 0xaa;
    id[11] = ++this.counter;
    return id;
  }

  encode(method: number, attributes: StunAttribute[], transactionId = this.tid()): Uint8Array {
    const auth = this.nonce === undefined ? [] : this.authAttributes();
    return encodeMessage(
      { method, class: 'request', transactionId, attributes: [...attributes, ...auth] },
      { integrity: this.nonce === undefined ? undefined : { key: this.key }, fingerprint: true },
    );
  }

  private authAttributes(): StunAttribute[] {
    return [
      { type: 'USERNAME', value: this.credentials.username },
      { type: 'REALM', value: 'firezone' },
      { type: 'NONCE', value: this.nonce! },
    ];
  }

  /** Sends bytes; returns the one answer to us. */
  exchange(payload: Uint8Array): StunMessage {
    this.server.handleInput(payload, this.from, this.to, this.now);
    const answers: StunMessage[] = [];
    for (let t = this.server.pollTransmit(); t; t = this.server.pollTransmit()) {
      if (sameTransportAddress(t.to, this.from)) {
        const d = decodeMessage(t.payload);
        if (!d.ok) throw new Error('relay sent undecodable STUN');
        answers.push(d.message);
      } else this.others.push(t);
    }
    expect(answers).toHaveLength(1);
    const answer = answers[0]!;
    const code = errorCodeOf(answer)?.code;
    // Learn the nonce of a challenge, as a client does.
    if (code === 401 || code === 438) this.nonce = getAttribute(answer, 'NONCE')?.value ?? this.nonce;
    return answer;
  }

  /** A request with credentials, taking the 401/438 challenge once as a client would. */
  request(method: number, attributes: StunAttribute[]): StunMessage {
    let answer = this.exchange(this.encode(method, attributes));
    const code = errorCodeOf(answer)?.code;
    if (code === 401 || code === 438) answer = this.exchange(this.encode(method, attributes));
    return answer;
  }

  allocate(extra: StunAttribute[] = []): StunMessage {
    return this.request(METHOD_ALLOCATE, [
      { type: 'REQUESTED-TRANSPORT', protocol: TRANSPORT_UDP },
      ...extra,
    ]);
  }

  /** Error code of the answer, checking that signed answers verify with our key. */
  code(answer: StunMessage): number | 'ok' {
    if (answer.integrityOffset !== undefined) expect(verifyIntegrity(answer, this.key)).toBe('ok');
    return answer.class === 'success' ? 'ok' : (errorCodeOf(answer)?.code ?? -1);
  }

  /** A datagram from `peer` to `relayed`; returns what the relay sent to us. */
  fromPeer(peer: TransportAddress, relayed: TransportAddress, payload: Uint8Array): Uint8Array[] {
    this.server.handleInput(payload, peer, relayed, this.now);
    const out: Uint8Array[] = [];
    for (let t = this.server.pollTransmit(); t; t = this.server.pollTransmit()) {
      if (sameTransportAddress(t.to, this.from)) out.push(t.payload);
      else this.others.push(t);
    }
    return out;
  }
}

function relayedOf(answer: StunMessage): TransportAddress[] {
  return getAttributes(answer, 'XOR-RELAYED-ADDRESS').map((a) => a.address);
}

const P1: TransportAddress = { address: '198.51.100.20', port: 6000 };
const P2: TransportAddress = { address: '198.51.100.21', port: 6001 };
const P_V6: TransportAddress = { address: '2001:db8::99', port: 6000 };

// ---------------------------------------------------------------------------------------------

describe('TurnServer: Binding and allocation with our TurnClient', () => {
  it('answers Binding with the address it saw (through a NAT, the mapping)', () => {
    const net = new Net(newServer());
    const mapped = { address: '198.51.100.7', port: 40_000 };
    const host = net.addClient({ address: '10.0.0.2', port: 5000 }, { mapped });
    net.run(1_000);
    expect(host.client.srflx).toEqual(mapped);
    expect(host.events).toContainEqual({
      type: 'srflx_candidate',
      address: mapped,
      base: host.local,
      server: RELAY,
    });
    expect(net.server.stats.bindings).toBe(1);
  });

  it('challenges with 401 (REALM, NONCE), then allocates: relayed, mapped address, lifetime, integrity', () => {
    const { net, host } = allocatedNet();
    const server = net.server;
    expect(server.stats.challenges).toBe(1);
    expect(server.errors.get(401)).toBe(1);
    expect(server.stats.allocations).toBe(1);
    const challenge = decodeMessage(net.fromRelay[1]!.payload);
    expect(challenge.ok && errorCodeOf(challenge.message)?.code).toBe(401);
    if (challenge.ok) {
      expect(getAttribute(challenge.message, 'REALM')?.value).toBe('firezone');
      expect(getAttribute(challenge.message, 'NONCE')?.value).toMatch(/^[0-9a-z]+\.[0-9a-f]{24}$/);
    }
    const success = decodeMessage(net.fromRelay[2]!.payload);
    expect(success.ok).toBe(true);
    if (success.ok) {
      const m = success.message;
      const { username, password } = restCredentials('device-0');
      expect(verifyIntegrity(m, longTermKey(username, 'firezone', password))).toBe('ok');
      expect(getAttribute(m, 'XOR-MAPPED-ADDRESS')?.address).toEqual(host.local);
      expect(getAttribute(m, 'LIFETIME')?.seconds).toBe(600);
      expect(m.hasFingerprint).toBe(true);
    }
    const [relayed] = host.client.relayed;
    expect(relayed?.address).toBe(RELAY.address);
    expect(relayed!.port).toBeGreaterThanOrEqual(PORTS.min);
    expect(relayed!.port).toBeLessThanOrEqual(PORTS.max);
    expect(host.events).toContainEqual({
      type: 'relay_candidates',
      addresses: [relayed],
      lifetimeSeconds: 600,
    });
    const allocation = server.allocationOf(host.local)!;
    expect(allocation.relayed).toEqual([relayed]);
    expect(allocation.username).toBe(restCredentials('device-0').username);
    expect(allocation.server).toEqual(RELAY);
    expect(server.serves(relayed!)).toBe(true);
  });

  it("accepts the portal's TURN REST credentials and Firezone relay credentials, as configured", () => {
    const username = `${EXPIRY}:salt-1`;
    const firezone = { username, password: turnPassword('firezone', SECRET, username) };
    expect(firezone.password).not.toMatch(/=$/);
    expect(turnPassword('coturn', SECRET, username)).toBe(
      turnRestCredentials(SECRET, 'salt-1', EXPIRY).password,
    );

    const both = new Net(newServer());
    const a = both.addClient({ address: '10.0.0.2', port: 5000 }, { credentials: firezone });
    both.run(1_000);
    expect(a.client.state).toBe('allocated');

    const coturnOnly = new Net(newServer({ passwordSchemes: ['coturn'] }));
    const b = coturnOnly.addClient({ address: '10.0.0.2', port: 5000 }, { credentials: firezone });
    coturnOnly.run(1_000);
    expect(failure(b)).toEqual({ kind: 'unauthorized', code: 401, reason: 'Unauthorized' });
  });

  it('a wrong password ends in allocation_failed unauthorized', () => {
    const net = new Net(newServer());
    const username = restCredentials('x').username;
    const host = net.addClient(
      { address: '10.0.0.2', port: 5000 },
      { credentials: { username, password: 'nope' } },
    );
    net.run(20_000);
    expect(host.client.state).toBe('failed');
    expect(failure(host)).toEqual({ kind: 'unauthorized', code: 401, reason: 'Unauthorized' });
    expect(net.server.stats.unauthorized).toBe(1);
    expect(net.server.allocationCount).toBe(0);
  });

  it('rejects expired usernames and usernames without an expiry', () => {
    const past = Math.floor(T0 / 1000) - 60;
    for (const credentials of [restCredentials('old', past), { username: 'no-expiry', password: 'p' }]) {
      const net = new Net(newServer());
      const host = net.addClient({ address: '10.0.0.2', port: 5000 }, { credentials });
      net.run(1_000);
      expect(failure(host)).toEqual({ kind: 'unauthorized', code: 401, reason: 'Unauthorized' });
    }
    // The expiry is read on the wall clock the relay is given.
    const net = new Net(newServer({ wallClock: (now) => now + 2 * 86_400_000 }));
    const host = net.addClient({ address: '10.0.0.2', port: 5000 });
    net.run(1_000);
    expect(failure(host)).toMatchObject({ kind: 'unauthorized' });
    expect(net.server.stats.expiredCredentials).toBe(1);
  });

  it('gives a dual-stack client an IPv4 and an IPv6 relayed address when it has both families', () => {
    const net = new Net(newServer({ addresses: [RELAY, RELAY_V6] }));
    const host = net.addClient({ address: '10.0.0.2', port: 5000 }, { dualStack: true, servers: [RELAY] });
    net.run(1_000);
    expect(host.client.relayed.map((r) => r.address)).toEqual([RELAY.address, RELAY_V6.address]);
    expect(net.server.serves(host.client.relayed[1]!)).toBe(true);
  });

  it('grants only IPv4 with ADDRESS-ERROR-CODE 440 when it has no IPv6 address', () => {
    const { net, host } = allocatedNet({}, { dualStack: true });
    expect(host.client.relayed.map((r) => r.address)).toEqual([RELAY.address]);
    const success = net.fromRelay
      .map((t) => decodeMessage(t.payload))
      .find((d) => d.ok && d.message.class === 'success' && d.message.method === METHOD_ALLOCATE);
    const attr = success?.ok
      ? success.message.attributes.find((a) => a.type === 'unknown' && a.code === ATTR_ADDRESS_ERROR_CODE)
      : undefined;
    expect(attr?.type === 'unknown' && [...attr.value.subarray(0, 4)]).toEqual([2, 0, 4, 40]);
  });

  it('refreshes keep the allocation past its lifetime; free() (Refresh 0) deletes it', () => {
    const { net, host } = allocatedNet();
    net.run(1_300_000);
    expect(host.client.state).toBe('allocated');
    expect(net.server.stats.refreshes).toBeGreaterThanOrEqual(4);
    expect(net.server.allocationOf(host.local)!.expiresAt).toBeGreaterThan(net.now);
    const relayed = host.client.relayed[0]!;
    host.client.free(net.now);
    net.run(100);
    expect(net.server.allocationCount).toBe(0);
    expect(net.server.stats.deallocations).toBe(1);
    expect(net.server.serves(relayed)).toBe(false);
  });

  it('lets an allocation expire when nobody refreshes it', () => {
    const { net, host } = allocatedNet();
    const relayed = host.client.relayed[0]!;
    host.attached = false;
    net.run(599_000);
    expect(net.server.allocationCount).toBe(1);
    net.run(2_000);
    expect(net.server.allocationCount).toBe(0);
    expect(net.server.stats.expirations).toBe(1);
    expect(net.server.pollTimeout()).toBeUndefined();
    net.server.handleInput(bytes('late'), P1, relayed, net.now);
    expect(net.server.drops.get('unknown_destination')).toBe(1);
  });

  it('answers a second Allocate on a 5-tuple with 437 and a retransmission with the same response', () => {
    const raw = new Raw(newServer());
    const first = raw.encode(METHOD_ALLOCATE, [{ type: 'REQUESTED-TRANSPORT', protocol: TRANSPORT_UDP }]);
    expect(raw.code(raw.exchange(first))).toBe(401);
    const allocate = raw.encode(METHOD_ALLOCATE, [{ type: 'REQUESTED-TRANSPORT', protocol: TRANSPORT_UDP }]);
    raw.server.handleInput(allocate, raw.from, raw.to, raw.now);
    const original = raw.server.pollTransmit()!.payload;
    raw.server.handleInput(allocate, raw.from, raw.to, raw.now + 1_000);
    expect(raw.server.pollTransmit()!.payload).toEqual(original);
    expect(raw.server.stats.allocateReplays).toBe(1);
    // A new transaction: signed 437 with credentials, unsigned 437 without (as coturn).
    const again = raw.allocate();
    expect(raw.code(again)).toBe(437);
    expect(again.integrityOffset).toBeDefined();
    const bare = raw.exchange(
      encodeMessage({
        method: METHOD_ALLOCATE,
        class: 'request',
        transactionId: raw.tid(),
        attributes: [{ type: 'REQUESTED-TRANSPORT', protocol: TRANSPORT_UDP }],
      }),
    );
    expect(raw.code(bare)).toBe(437);
    expect(bare.integrityOffset).toBeUndefined();
    expect(raw.server.allocationCount).toBe(1);
  });

  it('a restarted client on the same 5-tuple meets 437, clears the old allocation and allocates', () => {
    const { net, host } = allocatedNet();
    host.attached = false;
    const again = net.addClient(host.local, { user: 'device-0' });
    net.run(3_000);
    expect(again.client.state).toBe('allocated');
    expect(again.client.stats.allocationMismatches).toBeGreaterThanOrEqual(1);
    expect(net.server.stats.mismatches).toBeGreaterThanOrEqual(1);
    expect(net.server.stats.deallocations).toBe(1);
    expect(net.server.allocationCount).toBe(1);
  });
});

describe('TurnServer: requests our client never sends', () => {
  it('checks REQUESTED-TRANSPORT and the address family attributes', () => {
    const raw = (options: Partial<TurnServerOptions> = {}): Raw => new Raw(newServer(options));
    const missing = raw();
    expect(missing.code(missing.request(METHOD_ALLOCATE, []))).toBe(400);
    const v4Only = raw();
    expect(v4Only.code(v4Only.allocate())).toBe('ok');
    const tcp = raw();
    expect(tcp.code(tcp.request(METHOD_ALLOCATE, [{ type: 'REQUESTED-TRANSPORT', protocol: 6 }]))).toBe(442);
    const v6Only = raw();
    expect(v6Only.code(v6Only.allocate([{ type: 'REQUESTED-ADDRESS-FAMILY', family: 'ipv6' }]))).toBe(440);
    const v6 = raw({ addresses: [RELAY, RELAY_V6] });
    const answer = v6.allocate([{ type: 'REQUESTED-ADDRESS-FAMILY', family: 'ipv6' }]);
    expect(relayedOf(answer).map((r) => r.address)).toEqual([RELAY_V6.address]);
    const both = raw({ addresses: [RELAY, RELAY_V6] });
    expect(
      both.code(
        both.allocate([
          { type: 'REQUESTED-ADDRESS-FAMILY', family: 'ipv4' },
          { type: 'ADDITIONAL-ADDRESS-FAMILY', family: 'ipv6' },
        ]),
      ),
    ).toBe(400);
    const unknown = raw();
    const evenPort: StunAttribute = { type: 'unknown', code: 0x0018, value: new Uint8Array(4) };
    const answer420 = unknown.allocate([evenPort]);
    expect(unknown.code(answer420)).toBe(420);
    expect(getAttribute(answer420, 'UNKNOWN-ATTRIBUTES')?.types).toEqual([0x0018]);
  });

  it('clamps lifetimes: Allocate to [default, max], Refresh to max', () => {
    const short = new Raw(newServer());
    expect(getAttribute(short.allocate([{ type: 'LIFETIME', seconds: 60 }]), 'LIFETIME')?.seconds).toBe(600);
    const long = new Raw(newServer());
    expect(getAttribute(long.allocate([{ type: 'LIFETIME', seconds: 7200 }]), 'LIFETIME')?.seconds).toBe(
      3600,
    );
    expect(
      getAttribute(long.request(METHOD_REFRESH, [{ type: 'LIFETIME', seconds: 99_999 }]), 'LIFETIME')
        ?.seconds,
    ).toBe(3600);
    expect(getAttribute(long.request(METHOD_REFRESH, []), 'LIFETIME')?.seconds).toBe(600);
    expect(long.server.allocations[0]!.expiresAt).toBe(T0 + 600_000);
  });

  it('answers requests without allocation with 437, with other credentials 441, unknown methods 400', () => {
    const server = newServer();
    const raw = new Raw(server);
    expect(raw.code(raw.request(METHOD_REFRESH, [{ type: 'LIFETIME', seconds: 600 }]))).toBe(437);
    expect(raw.code(raw.request(METHOD_CREATE_PERMISSION, [{ type: 'XOR-PEER-ADDRESS', address: P1 }]))).toBe(
      437,
    );
    expect(raw.code(raw.allocate())).toBe('ok');
    const other = new Raw(server, raw.from, restCredentials('someone-else'));
    expect(other.code(other.request(METHOD_REFRESH, []))).toBe(441);
    expect(raw.code(raw.request(0x00a, []))).toBe(400);
    const noUser = encodeMessage(
      { method: METHOD_REFRESH, class: 'request', transactionId: raw.tid(), attributes: [] },
      { integrity: { key: raw.key } },
    );
    expect(raw.code(raw.exchange(noUser))).toBe(400);
  });

  it('ChannelBind: valid numbers only, one peer per channel and one channel per peer, 443 across families', () => {
    const raw = new Raw(newServer());
    const relayed = relayedOf(raw.allocate())[0]!;
    const bind = (channel: number, peer: TransportAddress): number | 'ok' =>
      raw.code(
        raw.request(METHOD_CHANNEL_BIND, [
          { type: 'CHANNEL-NUMBER', channel },
          { type: 'XOR-PEER-ADDRESS', address: peer },
        ]),
      );
    expect(bind(0x4000, P1)).toBe('ok');
    expect(bind(0x4000, P2)).toBe(400);
    expect(bind(0x4001, P1)).toBe(400);
    expect(bind(0x3fff, P2)).toBe(400);
    expect(bind(0x5000, P2)).toBe(400);
    expect(bind(0x4000, P1)).toBe('ok'); // refresh
    expect(bind(0x4fff, P_V6)).toBe(443);
    expect(raw.server.stats.channelBinds).toBe(2);
    // The binding installed P1's permission: its data arrives as ChannelData on 0x4000.
    const [cd] = raw.fromPeer(P1, relayed, bytes('via channel'));
    const decoded = decodeChannelData(cd!);
    expect(decoded.ok && [decoded.channel, text(decoded.payload)]).toEqual([0x4000, 'via channel']);
    // ChannelData from the client goes to the peer from the relayed address.
    raw.server.handleInput(encodeChannelData(0x4000, bytes('out')), raw.from, raw.to, raw.now);
    expect(raw.server.pollTransmit()).toEqual({ from: relayed, to: P1, payload: bytes('out') });
    raw.server.handleInput(encodeChannelData(0x4002, bytes('x')), raw.from, raw.to, raw.now);
    expect(raw.server.drops.get('unbound_channel')).toBe(1);
    // After 10 minutes (the allocation refreshed) the channel is free for another peer.
    raw.now += 400_000;
    expect(raw.code(raw.request(METHOD_REFRESH, []))).toBe('ok');
    raw.now += 201_000;
    expect(bind(0x4000, P2)).toBe('ok');
    expect(raw.server.allocations[0]!.channels.get(0x4000)?.peer).toEqual(P2);
  });

  it('CreatePermission: per IP, 300 s, all-or-nothing across families; Send needs it', () => {
    const raw = new Raw(newServer());
    const relayed = relayedOf(raw.allocate())[0]!;
    const send = (peer: TransportAddress, data: string): void =>
      raw.server.handleInput(
        encodeMessage({
          method: METHOD_SEND,
          class: 'indication',
          transactionId: raw.tid(),
          attributes: [
            { type: 'XOR-PEER-ADDRESS', address: peer },
            { type: 'DATA', data: bytes(data) },
          ],
        }),
        raw.from,
        raw.to,
        raw.now,
      );
    send(P1, 'too early');
    expect(raw.server.pollTransmit()).toBeUndefined();
    expect(raw.server.drops.get('no_permission')).toBe(1);
    expect(raw.fromPeer(P1, relayed, bytes('too early'))).toEqual([]);
    expect(raw.server.drops.get('peer_no_permission')).toBe(1);

    expect(raw.code(raw.request(METHOD_CREATE_PERMISSION, []))).toBe(400);
    const mixed = raw.request(METHOD_CREATE_PERMISSION, [
      { type: 'XOR-PEER-ADDRESS', address: P1 },
      { type: 'XOR-PEER-ADDRESS', address: P_V6 },
    ]);
    expect(raw.code(mixed)).toBe(443);
    expect(raw.server.allocations[0]!.permissions.size).toBe(0);
    expect(raw.code(raw.request(METHOD_CREATE_PERMISSION, [{ type: 'XOR-PEER-ADDRESS', address: P1 }]))).toBe(
      'ok',
    );
    expect(raw.server.pollTimeout()).toBe(T0 + 300_000);

    send({ ...P1, port: 9999 }, 'any port of the IP');
    expect(raw.server.pollTransmit()).toEqual({
      from: relayed,
      to: { ...P1, port: 9999 },
      payload: bytes('any port of the IP'),
    });
    const [indication] = raw.fromPeer(P1, relayed, bytes('hello'));
    const d = decodeMessage(indication!);
    expect(d.ok && d.message.method === METHOD_DATA && d.message.class).toBe('indication');
    if (d.ok) {
      expect(getAttribute(d.message, 'XOR-PEER-ADDRESS')?.address).toEqual(P1);
      expect(text(getAttribute(d.message, 'DATA')!.data)).toBe('hello');
    }
    raw.now = T0 + 300_000;
    raw.server.handleTimeout(raw.now);
    expect(raw.server.allocations[0]!.permissions.size).toBe(0);
    expect(raw.fromPeer(P1, relayed, bytes('late'))).toEqual([]);
    expect(raw.server.drops.get('peer_no_permission')).toBe(2);
  });
});

describe('TurnServer: relaying between two of our clients', () => {
  function twoClients(): { net: Net; a: Host; b: Host } {
    const net = new Net(newServer());
    const a = net.addClient(
      { address: '10.0.0.2', port: 5000 },
      { mapped: { address: '198.51.100.7', port: 40_000 } },
    );
    const b = net.addClient(
      { address: '10.1.0.2', port: 5000 },
      { mapped: { address: '192.0.2.77', port: 41_000 } },
    );
    net.run(1_000);
    expect([a.client.state, b.client.state]).toEqual(['allocated', 'allocated']);
    return { net, a, b };
  }

  it('carries data both ways through Send and Data indications once both have permissions', () => {
    const { net, a, b } = twoClients();
    const ra = a.client.relayed[0]!;
    const rb = b.client.relayed[0]!;
    a.client.createPermission(rb, net.now);
    net.run(100);
    expect(a.events).toContainEqual({ type: 'permission_created', ip: RELAY.address });
    // B has no permission for A's relayed address yet: the relay drops it.
    net.sendVia(a, a.client.sendIndication(rb, bytes('first'), net.now));
    net.run(100);
    expect(b.received).toEqual([]);
    expect(net.server.drops.get('peer_no_permission')).toBe(1);

    b.client.createPermission(ra, net.now);
    net.run(100);
    net.sendVia(a, a.client.sendIndication(rb, bytes('a→b'), net.now));
    net.run(100);
    expect(b.received).toEqual([{ peer: ra, payload: bytes('a→b'), channel: undefined }]);
    net.sendVia(b, b.client.sendIndication(ra, bytes('b→a'), net.now));
    net.run(100);
    expect(a.received).toEqual([{ peer: rb, payload: bytes('b→a'), channel: undefined }]);
    expect(net.server.stats.dataIndicationsToClients).toBe(2);
    expect(net.server.stats.toPeers).toBe(3);
  });

  it('carries data both ways as ChannelData once both have bound channels, and keeps them for an hour', () => {
    const { net, a, b } = twoClients();
    const ra = a.client.relayed[0]!;
    const rb = b.client.relayed[0]!;
    const ca = a.client.bindChannel(rb, net.now)!;
    const cb = b.client.bindChannel(ra, net.now)!;
    net.run(100);
    expect(a.events).toContainEqual({ type: 'channel_bound', peer: rb, channel: ca });
    for (let i = 0; i < 4; i++) {
      net.sendVia(a, a.client.encapsulate(rb, bytes(`a${i}`), net.now));
      net.sendVia(b, b.client.encapsulate(ra, bytes(`b${i}`), net.now));
      net.run(900_000); // the clients refresh allocation, permissions and channels meanwhile
    }
    expect(b.received).toEqual([0, 1, 2, 3].map((i) => ({ peer: ra, payload: bytes(`a${i}`), channel: cb })));
    expect(a.received).toEqual([0, 1, 2, 3].map((i) => ({ peer: rb, payload: bytes(`b${i}`), channel: ca })));
    expect(net.server.stats.channelDataToClients).toBe(8);
    expect(net.server.stats.channelBinds).toBeGreaterThan(2);
    expect(net.server.drops.size).toBe(0);
  });

  it('relays to plain UDP peers and their answers back', () => {
    const { net, a } = twoClients();
    const peer = { address: '198.51.100.200', port: 9000 };
    const inbox = net.addPeer(peer);
    const channel = a.client.bindChannel(peer, net.now)!;
    net.run(100);
    net.sendVia(a, a.client.encapsulate(peer, bytes('ping'), net.now));
    net.run(100);
    expect(inbox.map((d) => [d.from, text(d.payload)])).toEqual([[a.client.relayed[0], 'ping']]);
    net.send(peer, a.client.relayed[0]!, bytes('pong'));
    net.run(100);
    expect(a.received).toEqual([{ peer, payload: bytes('pong'), channel }]);
  });
});

describe('TurnServer: nonces and restarts', () => {
  it('answers an old nonce with 438 and the client carries on with the new one', () => {
    const { net, host } = allocatedNet({ nonceLifetimeMs: 60_000 });
    net.run(400_000);
    expect(host.client.state).toBe('allocated');
    expect(net.server.stats.staleNonces).toBeGreaterThanOrEqual(1);
    expect(host.client.stats.staleNonceRetries).toBeGreaterThanOrEqual(1);
    expect(host.client.stats.refreshes).toBe(1);
    expect(net.server.allocationOf(host.local)!.expiresAt).toBeGreaterThan(T0 + 700_000);
  });

  it('restart(): the client sees its allocation lost (438, then 437) and allocates again', () => {
    const { net, host } = allocatedNet();
    const peer = { address: '198.51.100.200', port: 9000 };
    net.addPeer(peer);
    host.client.bindChannel(peer, net.now);
    net.run(1_000);
    net.server.restart();
    expect(net.server.allocationCount).toBe(0);
    net.sendVia(host, host.client.encapsulate(peer, bytes('into the void'), net.now));
    net.run(100);
    expect(net.server.drops.get('no_allocation')).toBe(1);
    net.runUntil(() => host.events.some((e) => e.type === 'allocation_lost'), 400_000);
    expect(host.events.find((e) => e.type === 'allocation_lost')).toEqual({
      type: 'allocation_lost',
      reason: { kind: 'allocation_mismatch' },
    });
    net.run(1_000);
    expect(host.client.state).toBe('allocated');
    expect(host.events.filter((e) => e.type === 'relay_candidates')).toHaveLength(2);
    expect(net.server.stats.staleNonces).toBeGreaterThanOrEqual(1);
    expect(net.server.stats.restarts).toBe(1);
    expect(net.server.allocationCount).toBe(1);
  });

  it('is deterministic for a seed', () => {
    const trace = (): string[] => {
      const { net } = allocatedNet();
      net.run(700_000);
      return net.fromRelay.map(
        (t) => `${formatTransportAddress(t.to)} ${Buffer.from(t.payload).toString('hex')}`,
      );
    };
    expect(trace()).toEqual(trace());
  });
});

describe('TurnServer: untrusted input', () => {
  function busyServer(): {
    server: TurnServer;
    raw: Raw;
    relayed: TransportAddress;
    client: TransportAddress;
    samples: Uint8Array[];
  } {
    const raw = new Raw(newServer());
    const samples: Uint8Array[] = [];
    const relayed = relayedOf(raw.allocate())[0]!;
    raw.request(METHOD_CHANNEL_BIND, [
      { type: 'CHANNEL-NUMBER', channel: 0x4000 },
      { type: 'XOR-PEER-ADDRESS', address: P1 },
    ]);
    samples.push(
      raw.encode(METHOD_REFRESH, [{ type: 'LIFETIME', seconds: 600 }]),
      raw.encode(METHOD_CREATE_PERMISSION, [{ type: 'XOR-PEER-ADDRESS', address: P2 }]),
      raw.encode(METHOD_ALLOCATE, [{ type: 'REQUESTED-TRANSPORT', protocol: TRANSPORT_UDP }]),
      encodeChannelData(0x4000, bytes('channel data')),
      encodeMessage({
        method: METHOD_SEND,
        class: 'indication',
        transactionId: raw.tid(),
        attributes: [
          { type: 'XOR-PEER-ADDRESS', address: P1 },
          { type: 'DATA', data: bytes('send') },
        ],
      }),
    );
    return { server: raw.server, raw, relayed, client: raw.from, samples };
  }

  it('never throws on random bytes, mutated messages or random STUN, and only sends from its own addresses', () => {
    const { server, raw, relayed, client, samples } = busyServer();
    const own = (a: TransportAddress): boolean =>
      sameTransportAddress(a, RELAY) || sameTransportAddress(a, relayed);
    const datagram = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc
        .tuple(
          fc.constantFrom(...samples),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        )
        .map(([base, flips]) => {
          const m = Uint8Array.from(base);
          for (const [pos, x] of flips) m[pos % m.length]! ^= x;
          return m;
        }),
      // Authenticated TURN requests and indications with random attributes: past the credential checks.
      fc
        .tuple(
          fc.constantFrom(METHOD_ALLOCATE, METHOD_REFRESH, METHOD_CREATE_PERMISSION, METHOD_CHANNEL_BIND),
          fc.array(attribute, { maxLength: 6 }),
        )
        .map(([method, attributes]) => {
          try {
            return raw.encode(method, attributes);
          } catch {
            return new Uint8Array(0);
          }
        }),
      fc.tuple(messageInit, fc.boolean()).map(([init, signed]) => {
        try {
          return encodeMessage(init, {
            integrity: signed ? { key: new Uint8Array(16) } : undefined,
            fingerprint: true,
          });
        } catch {
          return new Uint8Array(0); // values no message can carry
        }
      }),
    );
    fc.assert(
      fc.property(
        datagram,
        fc.oneof({ arbitrary: fc.constant(client), weight: 4 }, fc.constant(P1), transportAddress),
        fc.constantFrom(
          RELAY,
          relayed,
          { address: RELAY.address, port: 1 },
          { address: 'not an ip', port: 1 },
        ),
        (payload, from, to) => {
          expect(() => server.handleInput(payload, from, to, T0 + 1_000)).not.toThrow();
          for (let t = server.pollTransmit(); t; t = server.pollTransmit()) expect(own(t.from)).toBe(true);
        },
      ),
      { numRuns: 2_000 },
    );
    // The random requests got past authentication into the methods' own checks.
    expect(server.stats.refreshes + server.stats.permissions).toBeGreaterThan(0);
    expect(server.errors.get(400)).toBeGreaterThan(0);
    expect([...server.drops.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
});
