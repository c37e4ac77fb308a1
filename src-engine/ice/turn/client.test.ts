// The TURN client against a scripted fake server, with virtual time.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHANNEL_REUSE_DELAY_MS,
  ERROR_ADDRESS_FAMILY_NOT_SUPPORTED,
  ERROR_FORBIDDEN,
  ERROR_STALE_NONCE,
  METHOD_ALLOCATE,
  METHOD_BINDING,
  METHOD_CHANNEL_BIND,
  METHOD_CREATE_PERMISSION,
  METHOD_REFRESH,
  MIN_CHANNEL_NUMBER,
  PERMISSION_REFRESH_MS,
  TRANSPORT_UDP,
} from '../constants.js';
import { longTermKey } from '../stun/credentials.js';
import { type RandomSource } from '../stun/header.js';
import { encodeMessage, getAttribute, verifyIntegrity, type StunMessage } from '../stun/message.js';
import type { TransportAddress } from '../transport-address.js';
import { encodeChannelData } from './channel-data.js';
import { TurnClient, type TurnClientOptions } from './client.js';
import { describeTurnFailure, type TurnEvent, type TurnInput } from './events.js';
import { FakeTurnServer, dataIndication, reply } from './test-server.js';

const SERVER: TransportAddress = { address: '203.0.113.10', port: 3478 };
const SERVER_V6: TransportAddress = { address: '2001:db8::10', port: 3478 };
/** Our address as the relay sees it (behind a NAT). */
const MAPPED: TransportAddress = { address: '192.0.2.20', port: 40_000 };
/** The local address the driver reports the relay's answers arriving on. */
const LOCAL: TransportAddress = { address: '10.0.0.2', port: 40_000 };
const PEER: TransportAddress = { address: '198.51.100.77', port: 6000 };
const PEER2: TransportAddress = { address: '198.51.100.78', port: 6001 };
const USER = '1900000000:salt';
const PASSWORD = 'correct-horse';

function counterRandom(): RandomSource {
  let n = 0;
  return (out) => {
    n++;
    for (let i = 0; i < out.length; i++) out[i] = (n * 31 + i * 7) & 0xff;
  };
}

interface Harness {
  server: FakeTurnServer;
  client: TurnClient;
  now: number;
  events: TurnEvent[];
  /** Everything the client sent, decoded when STUN. */
  sent: { to: TransportAddress; payload: Uint8Array }[];
  /** When true, the server never gets what the client sends. */
  blackhole: boolean;
  inputs: TurnInput[];
}

function setup(options: Partial<TurnClientOptions> = {}): Harness {
  const server = new FakeTurnServer(SERVER);
  server.users.set(USER, PASSWORD);
  const client = new TurnClient(
    {
      servers: [SERVER],
      credentials: { username: USER, password: PASSWORD },
      random: counterRandom(),
      ...options,
    },
    0,
  );
  return { server, client, now: 0, events: [], sent: [], blackhole: false, inputs: [] };
}

/** Delivers what the client sends to the server and the server's answers back, until quiet. */
function pump(h: Harness): void {
  for (let t = h.client.pollTransmit(); t; t = h.client.pollTransmit()) {
    h.sent.push(t);
    if (!h.blackhole && (t.to.address === SERVER.address || t.to.address === SERVER_V6.address)) {
      for (const answer of h.server.handle(t.payload, MAPPED)) deliver(h, answer);
    }
  }
  for (let e = h.client.pollEvent(); e; e = h.client.pollEvent()) h.events.push(e);
}

function deliver(h: Harness, bytes: Uint8Array, from: TransportAddress = SERVER): TurnInput {
  const result = h.client.handleInput(bytes, from, h.now, LOCAL);
  h.inputs.push(result);
  for (let e = h.client.pollEvent(); e; e = h.client.pollEvent()) h.events.push(e);
  return result;
}

/** Runs timers up to `until`, pumping after each. */
function advance(h: Harness, until: number): void {
  pump(h);
  for (
    let next = h.client.pollTimeout();
    next !== undefined && next <= until;
    next = h.client.pollTimeout()
  ) {
    h.now = Math.max(h.now, next);
    h.client.handleTimeout(h.now);
    pump(h);
  }
  h.now = until;
  h.client.handleTimeout(h.now);
  pump(h);
}

function allocated(options: Partial<TurnClientOptions> = {}): Harness {
  const h = setup(options);
  pump(h);
  expect(h.client.state).toBe('allocated');
  return h;
}

function requests(h: Harness, method: number): StunMessage[] {
  return h.server.received.filter((m) => m.class === 'request' && m.method === method);
}

function eventTypes(h: Harness): string[] {
  return h.events.map((e) => e.type);
}

const key = longTermKey(USER, 'firezone', PASSWORD);

describe('TurnClient: allocation', () => {
  it('binds, takes the 401 challenge, allocates and reports host, srflx and relay candidates', () => {
    const h = setup({ software: 'test-sw' });
    pump(h);
    expect(h.client.state).toBe('allocated');
    expect(h.client.activeServer).toEqual(SERVER);
    expect(h.events).toEqual([
      { type: 'host_candidate', address: LOCAL },
      { type: 'srflx_candidate', address: MAPPED, base: LOCAL, server: SERVER },
      {
        type: 'relay_candidates',
        addresses: [{ address: '198.51.100.1', port: 50_000 }],
        lifetimeSeconds: 600,
      },
    ]);
    expect(h.client.srflx).toEqual(MAPPED);
    expect(h.client.relayed).toEqual([{ address: '198.51.100.1', port: 50_000 }]);
    expect(h.client.rttMs).toBe(0);

    const [first, second] = requests(h, METHOD_ALLOCATE);
    // The first Allocate carries no credentials (RFC 8489 §9.2.3.1).
    expect(getAttribute(first!, 'USERNAME')).toBeUndefined();
    expect(first!.integrityOffset).toBeUndefined();
    expect(getAttribute(first!, 'REQUESTED-TRANSPORT')?.protocol).toBe(TRANSPORT_UDP);
    expect(getAttribute(first!, 'SOFTWARE')?.value).toBe('test-sw');
    expect(first!.hasFingerprint).toBe(true);
    // The second one is signed with the long-term key for realm "firezone".
    expect(getAttribute(second!, 'USERNAME')?.value).toBe(USER);
    expect(getAttribute(second!, 'REALM')?.value).toBe('firezone');
    expect(getAttribute(second!, 'NONCE')?.value).toBe('nonce-0');
    expect(verifyIntegrity(second!, key)).toBe('ok');
    expect(getAttribute(second!, 'ADDITIONAL-ADDRESS-FAMILY')).toBeUndefined();
  });

  it('gives up with a clear reason when the relay rejects the credentials', () => {
    const h = setup({ credentials: { username: USER, password: 'wrong' } });
    pump(h);
    expect(h.client.state).toBe('failed');
    const failed = h.events.find((e) => e.type === 'allocation_failed');
    expect(failed).toEqual({
      type: 'allocation_failed',
      reason: { kind: 'unauthorized', code: 401, reason: 'Unauthorized' },
    });
    if (failed?.type === 'allocation_failed') {
      expect(describeTurnFailure(failed.reason)).toBe(
        'the relay rejected our credentials (401 Unauthorized)',
      );
    }
    // Exactly two Allocates: the unauthenticated one and one with the credential, then nothing.
    expect(requests(h, METHOD_ALLOCATE)).toHaveLength(2);
    advance(h, 60_000);
    expect(h.client.pollTimeout()).toBeUndefined();
    expect(requests(h, METHOD_ALLOCATE)).toHaveLength(2);
  });

  it('retries with the new nonce after 438 and counts it', () => {
    const h = setup();
    let staled = false;
    h.server.override = (msg) => {
      if (msg.method === METHOD_ALLOCATE && msg.integrityOffset !== undefined && !staled) {
        staled = true;
        h.server.rotateNonce();
      }
      return undefined;
    };
    pump(h);
    expect(h.client.state).toBe('allocated');
    expect(h.client.stats.staleNonceRetries).toBe(1);
    const allocates = requests(h, METHOD_ALLOCATE);
    expect(allocates.map((m) => getAttribute(m, 'NONCE')?.value)).toEqual([undefined, 'nonce-0', 'nonce-1']);
  });

  it('stops after a few 438s in a row', () => {
    const h = setup();
    h.server.override = (msg) => {
      if (msg.method === METHOD_ALLOCATE && msg.integrityOffset !== undefined) h.server.rotateNonce();
      return undefined;
    };
    pump(h);
    expect(h.client.state).toBe('failed');
    expect(h.events.at(-1)).toEqual({ type: 'allocation_failed', reason: { kind: 'stale_nonce_loop' } });
  });

  it('clears an old allocation on the 5-tuple after 437 and allocates again', () => {
    const h = setup();
    // An allocation left over from a previous run of the client on the same 5-tuple.
    h.server.allocations.set('192.0.2.20:40000', {
      relayed: [{ address: '198.51.100.1', port: 49_999 }],
      lifetime: 600,
      permissions: new Set(),
      channels: new Map(),
    });
    pump(h);
    expect(h.client.state).toBe('allocated');
    expect(h.client.stats.allocationMismatches).toBe(1);
    // 437 to the first (unauthenticated) Allocate; the Refresh(0) meets the 401 challenge and is
    // sent again with the credential; then a fresh authenticated Allocate.
    const refreshes = requests(h, METHOD_REFRESH);
    expect(
      refreshes.map((r) => [getAttribute(r, 'LIFETIME')?.seconds, r.integrityOffset !== undefined]),
    ).toEqual([
      [0, false],
      [0, true],
    ]);
    const allocates = requests(h, METHOD_ALLOCATE);
    expect(allocates.map((r) => r.integrityOffset !== undefined)).toEqual([false, true]);
    expect(h.client.relayed).toEqual([{ address: '198.51.100.1', port: 50_000 }]);
  });

  it('waits and retries when the relay holds the 5-tuple a moment after the clearing Refresh', () => {
    const h = setup();
    let mismatches = 0;
    const mismatch = (msg: StunMessage): Uint8Array =>
      reply(
        msg,
        'error',
        [{ type: 'ERROR-CODE', code: 437, reason: 'Allocation Mismatch' }],
        msg.integrityOffset === undefined ? undefined : key,
      );
    h.server.override = (msg) =>
      msg.method === METHOD_ALLOCATE && mismatches++ < 3 ? mismatch(msg) : undefined;
    advance(h, 2_999);
    expect(h.client.state).toBe('allocating');
    advance(h, 3_000);
    expect(h.client.state).toBe('allocated');
    // Three to Allocate and three to the clearing Refreshes (the fake relay has nothing to clear).
    expect(h.client.stats.allocationMismatches).toBe(6);
    expect(requests(h, METHOD_REFRESH)).toHaveLength(4); // one met the 401 challenge first
    expect(h.client.drops.size).toBe(0);
    // A fourth 437 in a row ends the attempt.
    const g = setup();
    g.server.override = (msg) => (msg.method === METHOD_ALLOCATE ? mismatch(msg) : undefined);
    advance(g, 10_000);
    expect(g.events.at(-1)).toEqual({ type: 'allocation_failed', reason: { kind: 'allocation_mismatch' } });
    expect(requests(g, METHOD_ALLOCATE)).toHaveLength(4);
  });

  it('asks for an IPv6 relayed address too when dual-stack, and falls back on 440', () => {
    const dual = allocated({ dualStack: true });
    expect(dual.client.relayed).toEqual([
      { address: '198.51.100.1', port: 50_000 },
      { address: '2001:db8::1', port: 50_001 },
    ]);
    const h = setup({ dualStack: true });
    h.server.override = (msg) =>
      getAttribute(msg, 'ADDITIONAL-ADDRESS-FAMILY') && msg.integrityOffset !== undefined
        ? reply(
            msg,
            'error',
            [{ type: 'ERROR-CODE', code: ERROR_ADDRESS_FAMILY_NOT_SUPPORTED, reason: 'no v6' }],
            key,
          )
        : undefined;
    pump(h);
    expect(h.client.state).toBe('allocated');
    expect(h.client.relayed).toHaveLength(1);
  });

  it('fails after 8 s when the relay never answers (transmissions at 0, 1, 3, 7 s)', () => {
    const h = setup();
    h.blackhole = true;
    advance(h, 7_999);
    expect(h.client.state).toBe('binding');
    expect(h.sent).toHaveLength(4);
    advance(h, 8_000);
    expect(h.client.state).toBe('failed');
    expect(h.events).toEqual([
      { type: 'allocation_failed', reason: { kind: 'timeout', request: 'binding' } },
    ]);
  });

  it('uses the first relay address that answers the Binding', () => {
    const h = setup({ servers: [SERVER_V6, SERVER] });
    const first = h.client.pollTransmit()!;
    const second = h.client.pollTransmit()!;
    expect([first.to, second.to]).toEqual([SERVER_V6, SERVER]);
    // Only the IPv4 address answers.
    for (const a of h.server.handle(second.payload, MAPPED)) deliver(h, a);
    pump(h);
    expect(h.client.activeServer).toEqual(SERVER);
    expect(h.client.state).toBe('allocated');
    // The IPv6 Binding was abandoned: no retransmission to it and no failure.
    advance(h, 10_000);
    expect(h.sent.filter((t) => t.to === SERVER_V6)).toHaveLength(0);
    expect(h.client.state).toBe('allocated');
  });

  it('refuses to start with expired credentials, and loses the allocation when they expire', () => {
    const h = setup({ credentials: { username: USER, password: PASSWORD, expiresAt: 0 } });
    expect(h.client.state).toBe('failed');
    expect(h.client.pollEvent()).toEqual({
      type: 'allocation_failed',
      reason: { kind: 'credentials_expired' },
    });

    const g = allocated({ credentials: { username: USER, password: PASSWORD, expiresAt: 100_000 } });
    advance(g, 100_000);
    expect(g.client.state).toBe('lost');
    expect(g.events.at(-1)).toEqual({ type: 'allocation_lost', reason: { kind: 'credentials_expired' } });
    expect(g.client.pollTimeout()).toBeUndefined();
  });

  it('fails the allocation on a success with unknown comprehension-required attributes', () => {
    const h = setup();
    h.server.override = (msg) =>
      msg.method === METHOD_ALLOCATE && msg.integrityOffset !== undefined
        ? reply(
            msg,
            'success',
            [
              { type: 'XOR-RELAYED-ADDRESS', address: PEER },
              { type: 'unknown', code: 0x7777, value: new Uint8Array(4) },
            ],
            key,
          )
        : undefined;
    pump(h);
    expect(h.events.at(-1)).toEqual({
      type: 'allocation_failed',
      reason: { kind: 'unknown_attributes', types: [0x7777] },
    });
  });
});

describe('TurnClient: keeping the allocation', () => {
  it('sends a Binding every 25 s and a Refresh at half the lifetime, retrying 438', () => {
    const h = allocated();
    advance(h, 25_000);
    expect(requests(h, METHOD_BINDING)).toHaveLength(2);
    expect(h.client.stats.keepalives).toBe(1);
    h.server.rotateNonce();
    advance(h, 300_000);
    expect(requests(h, METHOD_BINDING)).toHaveLength(13);
    const refreshes = requests(h, METHOD_REFRESH);
    expect(refreshes).toHaveLength(2); // one 438, one accepted
    expect(getAttribute(refreshes[1]!, 'NONCE')?.value).toBe('nonce-1');
    expect(h.client.stats.refreshes).toBe(1);
    expect(h.events.at(-1)).toEqual({ type: 'refreshed', lifetimeSeconds: 600 });
    advance(h, 600_000);
    expect(h.client.stats.refreshes).toBe(2);
    expect(h.client.state).toBe('allocated');
  });

  it('reports a new server-reflexive address when the keepalive shows our mapping changed', () => {
    const h = allocated();
    const moved = { address: '192.0.2.21', port: 40_001 };
    h.server.override = (msg) =>
      msg.method === METHOD_BINDING
        ? reply(msg, 'success', [{ type: 'XOR-MAPPED-ADDRESS', address: moved }])
        : undefined;
    advance(h, 25_000);
    expect(h.events.at(-1)).toEqual({ type: 'srflx_candidate', address: moved, base: LOCAL, server: SERVER });
  });

  it('loses the allocation when the keepalive goes unanswered', () => {
    const h = allocated();
    h.blackhole = true;
    advance(h, 25_000 + 8_000);
    expect(h.client.state).toBe('lost');
    expect(h.events.at(-1)).toEqual({
      type: 'allocation_lost',
      reason: { kind: 'timeout', request: 'binding' },
    });
  });

  it('re-allocates after a 437 to Refresh (the relay forgot us) and re-creates permissions and channels', () => {
    const h = allocated();
    h.client.bindChannel(PEER, h.now);
    pump(h);
    h.server.allocations.clear(); // relay restarted
    advance(h, 300_000);
    const types = eventTypes(h);
    expect(types).toContain('allocation_lost');
    expect(h.events.find((e) => e.type === 'allocation_lost')).toMatchObject({
      reason: { kind: 'allocation_mismatch' },
    });
    expect(h.client.state).toBe('allocated');
    expect(types.filter((t) => t === 'relay_candidates')).toHaveLength(2);
    // The channel was bound again on the new allocation, with the same number.
    const binds = requests(h, METHOD_CHANNEL_BIND);
    expect(binds.length).toBeGreaterThanOrEqual(2);
    expect(h.server.allocations.get('192.0.2.20:40000')?.channels.get(MIN_CHANNEL_NUMBER)).toEqual(PEER);
  });

  it('checks the allocation at once when asked, and re-allocates within a second if the relay forgot it', () => {
    const h = allocated();
    h.server.allocations.clear(); // relay restarted
    h.client.checkAllocation(h.now);
    advance(h, 1_000);
    expect(h.events.find((e) => e.type === 'allocation_lost')).toMatchObject({
      reason: { kind: 'allocation_mismatch' },
    });
    expect(h.client.state).toBe('allocated');
    expect(h.server.allocations.size).toBe(1);
    // On a live allocation the check is one Refresh and nothing else changes.
    const before = eventTypes(h).length;
    h.client.checkAllocation(h.now);
    advance(h, 1_000);
    expect(eventTypes(h).slice(before)).not.toContain('allocation_lost');
  });

  it('frees the allocation with an authenticated Refresh of lifetime 0 and goes quiet', () => {
    const h = allocated();
    h.server.rotateNonce();
    h.client.free(h.now);
    pump(h);
    expect(h.client.state).toBe('freed');
    const refreshes = requests(h, METHOD_REFRESH);
    expect(refreshes.map((r) => getAttribute(r, 'LIFETIME')?.seconds)).toEqual([0, 0]); // 438, then ok
    expect(h.server.allocations.size).toBe(0);
    expect(h.client.pollTimeout()).toBeUndefined();
    expect(deliver(h, encodeChannelData(MIN_CHANNEL_NUMBER, Uint8Array.of(1)))).toEqual({
      type: 'dropped',
      reason: 'not_allocated',
    });
  });
});

describe('TurnClient: permissions, channels and data', () => {
  it('creates a permission, refreshes it before 5 minutes, and relays through Send/Data indications', () => {
    const h = allocated();
    expect(h.client.sendIndication(PEER, Uint8Array.of(1), h.now)).toBeUndefined();
    expect(h.client.drops.get('send_no_permission')).toBe(1);
    h.client.createPermission(PEER, h.now);
    pump(h);
    expect(h.events.at(-1)).toEqual({ type: 'permission_created', ip: PEER.address });
    expect(h.client.hasPermission(PEER.address, h.now)).toBe(true);

    const out = h.client.encapsulate(PEER, Uint8Array.of(1, 2, 3), h.now)!;
    for (const a of h.server.handle(out.payload, MAPPED)) deliver(h, a);
    expect(h.server.relayedOut).toEqual([
      { client: '192.0.2.20:40000', peer: PEER, data: Uint8Array.of(1, 2, 3), via: 'send' },
    ]);
    const input = deliver(h, h.server.fromPeer(MAPPED, PEER, Uint8Array.of(9, 8))!);
    expect(input).toEqual({ type: 'data', peer: PEER, payload: Uint8Array.of(9, 8), channel: undefined });

    advance(h, PERMISSION_REFRESH_MS);
    expect(requests(h, METHOD_CREATE_PERMISSION)).toHaveLength(2);
    expect(h.client.hasPermission(PEER.address, h.now + 200_000)).toBe(true);
    h.client.removePermission(PEER.address);
    advance(h, 2 * PERMISSION_REFRESH_MS);
    expect(requests(h, METHOD_CREATE_PERMISSION)).toHaveLength(2);
  });

  it('binds channels 0x4000 upwards, sends ChannelData once bound, and refreshes at 5 minutes', () => {
    const h = allocated();
    expect(h.client.bindChannel(PEER, h.now)).toBe(MIN_CHANNEL_NUMBER);
    expect(h.client.bindChannel(PEER2, h.now)).toBe(MIN_CHANNEL_NUMBER + 1);
    expect(h.client.bindChannel(PEER, h.now)).toBe(MIN_CHANNEL_NUMBER);
    pump(h);
    expect(h.events.filter((e) => e.type === 'channel_bound')).toEqual([
      { type: 'channel_bound', peer: PEER, channel: MIN_CHANNEL_NUMBER },
      { type: 'channel_bound', peer: PEER2, channel: MIN_CHANNEL_NUMBER + 1 },
    ]);
    expect(h.client.channelFor(PEER, h.now)).toBe(MIN_CHANNEL_NUMBER);

    const out = h.client.encapsulate(PEER2, Uint8Array.of(5, 5), h.now)!;
    expect(Array.from(out.payload)).toEqual([0x40, 0x01, 0, 2, 5, 5]);
    h.server.handle(out.payload, MAPPED);
    expect(h.server.relayedOut.at(-1)).toMatchObject({ peer: PEER2, via: 'channel' });
    expect(deliver(h, h.server.fromPeer(MAPPED, PEER, Uint8Array.of(7))!)).toEqual({
      type: 'data',
      peer: PEER,
      payload: Uint8Array.of(7),
      channel: MIN_CHANNEL_NUMBER,
    });

    advance(h, 300_000);
    expect(requests(h, METHOD_CHANNEL_BIND)).toHaveLength(4);
    expect(h.client.channelFor(PEER, h.now + 500_000)).toBe(MIN_CHANNEL_NUMBER);
  });

  it('does not give an unbound channel number to another peer for 15 minutes', () => {
    const h = allocated();
    h.client.bindChannel(PEER, h.now);
    pump(h);
    h.client.unbindChannel(PEER);
    expect(h.client.bindChannel(PEER2, h.now)).toBe(MIN_CHANNEL_NUMBER + 1);
    h.client.unbindChannel(PEER2);
    // The old peer gets its own number back at once.
    expect(h.client.bindChannel(PEER, h.now)).toBe(MIN_CHANNEL_NUMBER);
    h.client.unbindChannel(PEER);
    pump(h);
    const third = { address: '198.51.100.79', port: 1 };
    advance(h, CHANNEL_REUSE_DELAY_MS - 1);
    expect(h.client.bindChannel(third, h.now)).toBe(MIN_CHANNEL_NUMBER + 2);
    h.client.unbindChannel(third);
    advance(h, h.now + CHANNEL_REUSE_DELAY_MS + 1);
    const fourth = { address: '198.51.100.80', port: 1 };
    expect(h.client.bindChannel(fourth, h.now)).toBe(MIN_CHANNEL_NUMBER + 3);
  });

  it('reports failed permissions and channel binds', () => {
    const h = allocated();
    h.server.override = (msg) =>
      msg.method === METHOD_CREATE_PERMISSION || msg.method === METHOD_CHANNEL_BIND
        ? reply(msg, 'error', [{ type: 'ERROR-CODE', code: ERROR_FORBIDDEN, reason: 'Forbidden' }], key)
        : undefined;
    h.client.bindChannel(PEER, h.now);
    pump(h);
    expect(
      h.events.filter((e) => e.type === 'permission_failed' || e.type === 'channel_bind_failed'),
    ).toEqual([
      {
        type: 'permission_failed',
        ip: PEER.address,
        reason: { kind: 'error_response', request: 'permission', code: 403, reason: 'Forbidden' },
      },
      {
        type: 'channel_bind_failed',
        peer: PEER,
        channel: MIN_CHANNEL_NUMBER,
        reason: { kind: 'error_response', request: 'channel_bind', code: 403, reason: 'Forbidden' },
      },
    ]);
    expect(h.client.channelFor(PEER, h.now)).toBeUndefined();
    expect(h.client.state).toBe('allocated');
  });

  it('sends permissions and channels asked for before the allocation once it exists', () => {
    const h = setup();
    h.client.createPermission(PEER2, 0);
    h.client.bindChannel(PEER, 0);
    pump(h);
    expect(eventTypes(h)).toEqual([
      'host_candidate',
      'srflx_candidate',
      'relay_candidates',
      'permission_created',
      'permission_created',
      'channel_bound',
    ]);
  });
});

describe('TurnClient: validation of what arrives', () => {
  it('drops and counts forged, stray and malformed input without throwing', () => {
    const h = allocated();
    h.client.bindChannel(PEER, h.now);
    pump(h);
    const stranger = { address: '198.51.100.200', port: 1 };
    const cases: [Uint8Array, TransportAddress, TurnInput][] = [
      // Not from the relay at all: someone else's business.
      [Uint8Array.of(1, 2, 3), PEER, { type: 'not_turn' }],
      // From the relay but neither STUN nor ChannelData.
      [Uint8Array.of(4, 0, 0, 0, 1, 2, 3, 4), SERVER, { type: 'not_turn' }],
      [
        encodeChannelData(MIN_CHANNEL_NUMBER + 9, Uint8Array.of(1)),
        SERVER,
        { type: 'dropped', reason: 'unbound_channel' },
      ],
      [
        Uint8Array.of(0x40, 0x00, 0x00, 0x09, 1),
        SERVER,
        { type: 'dropped', reason: 'malformed_channel_data' },
      ],
      [dataIndication(stranger, Uint8Array.of(1)), SERVER, { type: 'dropped', reason: 'no_permission' }],
      // A STUN header whose length promises an attribute that is not there.
      [
        Uint8Array.of(0, 1, 0, 4, 0x21, 0x12, 0xa4, 0x42, ...new Uint8Array(12)),
        SERVER,
        { type: 'dropped', reason: 'malformed_stun' },
      ],
    ];
    for (const [bytes, from, expected] of cases) expect(deliver(h, bytes, from)).toEqual(expected);
    // A response to a transaction we never started, and a request from the relay.
    const fakeRequest = {
      method: METHOD_BINDING,
      class: 'request' as const,
      transactionId: new Uint8Array(12).fill(0xee),
      attributes: [],
    };
    expect(deliver(h, encodeMessage({ ...fakeRequest, class: 'success' }))).toEqual({
      type: 'dropped',
      reason: 'unknown_transaction',
    });
    expect(deliver(h, encodeMessage(fakeRequest))).toEqual({ type: 'dropped', reason: 'unexpected_message' });
    expect(Object.fromEntries(h.client.drops)).toEqual({
      unbound_channel: 1,
      malformed_channel_data: 1,
      no_permission: 1,
      malformed_stun: 1,
      unknown_transaction: 1,
      unexpected_message: 1,
    });
    expect(h.client.state).toBe('allocated');
  });

  it('ignores a forged Allocate success (bad MESSAGE-INTEGRITY) and accepts the genuine one', () => {
    const h = setup();
    let forged: Uint8Array | undefined;
    h.server.override = (msg) => {
      if (msg.method === METHOD_ALLOCATE && msg.integrityOffset !== undefined && !forged) {
        forged = reply(
          msg,
          'success',
          [{ type: 'XOR-RELAYED-ADDRESS', address: PEER }],
          longTermKey('x', 'y', 'z'),
        );
        return forged;
      }
      return undefined;
    };
    pump(h);
    expect(h.client.state).toBe('allocating');
    expect(h.client.drops.get('bad_integrity')).toBe(1);
    advance(h, 1_000); // the retransmission reaches the server, which now answers properly
    expect(h.client.state).toBe('allocated');
    expect(h.client.relayed).toEqual([{ address: '198.51.100.1', port: 50_000 }]);
  });

  it('refuses an unprotected success to an authenticated request, and answers from the wrong address', () => {
    const h = setup({ servers: [SERVER, SERVER_V6] });
    h.server.override = (msg) => {
      if (msg.method === METHOD_ALLOCATE && msg.integrityOffset !== undefined) {
        const unprotected = reply(msg, 'success', [{ type: 'XOR-RELAYED-ADDRESS', address: PEER }]);
        expect(h.client.handleInput(unprotected, SERVER, h.now)).toEqual({
          type: 'dropped',
          reason: 'bad_integrity',
        });
        const genuine = reply(msg, 'success', [{ type: 'XOR-RELAYED-ADDRESS', address: PEER }], key);
        expect(h.client.handleInput(genuine, SERVER_V6, h.now)).toEqual({
          type: 'dropped',
          reason: 'wrong_source',
        });
        expect(h.client.handleInput(genuine, SERVER, h.now)).toEqual({ type: 'handled' });
        return null;
      }
      return undefined;
    };
    pump(h);
    expect(h.client.state).toBe('allocated');
    expect(h.client.relayed).toEqual([PEER]);
  });

  it('accepts an unprotected 438 but not one with a wrong MESSAGE-INTEGRITY', () => {
    const h = allocated();
    h.client.createPermission(PEER, h.now);
    const request = h.client.pollTransmit()!;
    h.server.handle(request.payload, MAPPED); // records the request; its answer is not delivered
    const msg = h.server.received.at(-1)!;
    const stale = (k?: Uint8Array): Uint8Array =>
      reply(
        msg,
        'error',
        [
          { type: 'ERROR-CODE', code: ERROR_STALE_NONCE, reason: 'Stale Nonce' },
          { type: 'NONCE', value: 'nonce-9' },
        ],
        k,
      );
    expect(deliver(h, stale(longTermKey('a', 'b', 'c')))).toEqual({
      type: 'dropped',
      reason: 'bad_integrity',
    });
    expect(deliver(h, stale())).toEqual({ type: 'handled' });
    expect(h.client.stats.staleNonceRetries).toBe(1);
    // The retry carries the nonce from the 438.
    const retry = h.client.pollTransmit()!;
    h.server.handle(retry.payload, MAPPED);
    expect(getAttribute(h.server.received.at(-1)!, 'NONCE')?.value).toBe('nonce-9');
  });

  it('never throws on random or mutated datagrams from the relay (≥ 5,000 inputs)', () => {
    const h = allocated();
    h.client.bindChannel(PEER, h.now);
    h.client.createPermission(PEER2, h.now);
    pump(h);
    const samples = [
      h.server.fromPeer(MAPPED, PEER, Uint8Array.of(1, 2, 3, 4, 5))!,
      h.server.fromPeer(MAPPED, PEER2, Uint8Array.of(1, 2, 3))!,
      ...h.sent.map((t) => t.payload),
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc
            .tuple(
              fc.constantFrom(...samples),
              fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }),
            )
            .map(([base, flips]) => {
              const m = Uint8Array.from(base);
              for (const [pos, x] of flips) m[pos % m.length]! ^= x;
              return m;
            }),
        ),
        (bytes) => {
          const before = [...h.client.drops.values()].reduce((a, b) => a + b, 0);
          const result = h.client.handleInput(bytes, SERVER, h.now);
          const after = [...h.client.drops.values()].reduce((a, b) => a + b, 0);
          expect(after).toBe(result.type === 'dropped' ? before + 1 : before);
        },
      ),
      { numRuns: 5_000 },
    );
    expect(h.client.state).toBe('allocated');
  });
});
