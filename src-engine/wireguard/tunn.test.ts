import { describe, expect, it } from 'vitest';
import {
  HANDSHAKE_INITIATION_SIZE,
  HANDSHAKE_RESPONSE_SIZE,
  KEEPALIVE_TIMEOUT,
  MAX_HANDSHAKE_ATTEMPTS,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_HANDSHAKE_INITIATION,
  MESSAGE_HANDSHAKE_RESPONSE,
  MESSAGE_TRANSPORT_DATA,
  NEW_HANDSHAKE_AFTER,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME,
  REKEY_ATTEMPT_TIME,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  TRANSPORT_OVERHEAD,
  ZERO_KEYS_AFTER,
} from './constants.js';
import { createNobleBackend } from './crypto/noble.js';
import { HandshakeGuard } from './guard.js';
import { Tunn } from './tunn.js';
import {
  advance,
  ENDPOINT_A,
  ENDPOINT_B,
  ipv4Packet,
  keyPair,
  makePair,
  messageType,
  pump,
  send,
} from './test-support.js';

const c = createNobleBackend();
const count = (wire: { packet: Uint8Array }[], type: number): number =>
  wire.filter((w) => messageType(w.packet) === type).length;

describe('Tunn handshake and transport', () => {
  it.each([
    ['without a preshared key', undefined],
    ['with a preshared key', new Uint8Array(32).fill(7)],
  ])('completes a handshake %s and carries data both ways', (_name, psk) => {
    const pair = makePair(c, {}, psk);
    const p1 = ipv4Packet(100, 1);
    const d = send(pair, 'a', p1);
    // initiation, response, then the staged packet (no keepalive needed: data confirms)
    expect(d.wire.map((w) => messageType(w.packet))).toEqual([
      MESSAGE_HANDSHAKE_INITIATION,
      MESSAGE_HANDSHAKE_RESPONSE,
      MESSAGE_TRANSPORT_DATA,
    ]);
    expect(d.wire[0]!.packet.length).toBe(HANDSHAKE_INITIATION_SIZE);
    expect(d.wire[1]!.packet.length).toBe(HANDSHAKE_RESPONSE_SIZE);
    expect(d.toB).toEqual([p1]);
    const p2 = ipv4Packet(60, 2);
    expect(send(pair, 'b', p2).toA).toEqual([p2]);
    expect(pair.a.stats.handshakesCompleted).toBe(1);
    expect(pair.b.stats.handshakesCompleted).toBe(1);
    expect(pair.a.pollEvent()).toMatchObject({ type: 'handshake_completed', isInitiator: true });
    expect(pair.b.pollEvent()).toMatchObject({ type: 'handshake_completed', isInitiator: false });
  });

  it('fails the handshake when the preshared keys differ, and says nothing on the wire', () => {
    const pair = makePair(c, {}, new Uint8Array(32).fill(1));
    const kb = keyPair(c, 2);
    const ka = keyPair(c, 1);
    pair.b = new Tunn({
      crypto: c,
      staticPrivate: kb.privateKey,
      peerPublic: ka.publicKey,
      presharedKey: new Uint8Array(32).fill(2),
      endpoint: ENDPOINT_A,
    });
    const d = send(pair, 'a', ipv4Packet(40));
    expect(d.toB).toHaveLength(0);
    expect(pair.a.stats.dropped.handshake_invalid).toBe(1);
    expect(pair.a.hasSession(pair.now)).toBe(false);
  });

  it('sends an unpadded keepalive to confirm the session when nothing was queued', () => {
    const pair = makePair(c);
    const d = pump(pair, { from: 'a', result: pair.a.initiateHandshake(pair.now) });
    expect(d.wire.map((w) => [messageType(w.packet), w.packet.length])).toEqual([
      [MESSAGE_HANDSHAKE_INITIATION, 148],
      [MESSAGE_HANDSHAKE_RESPONSE, 92],
      [MESSAGE_TRANSPORT_DATA, TRANSPORT_OVERHEAD],
    ]);
    expect(pair.b.hasSession(pair.now)).toBe(true);
  });

  it('pads plaintext to a multiple of 16 by default and not at all when disabled', () => {
    const padded = makePair(c);
    send(padded, 'a', ipv4Packet(20));
    const out = new Uint8Array(2000);
    const r = padded.a.encapsulate(ipv4Packet(84), out, padded.now);
    expect(r.type === 'network' && r.packet.length).toBe(TRANSPORT_OVERHEAD + 96);
    const unpadded = makePair(c, { padding: false });
    send(unpadded, 'a', ipv4Packet(20));
    const r2 = unpadded.a.encapsulate(ipv4Packet(84), out, unpadded.now);
    expect(r2.type === 'network' && r2.packet.length).toBe(TRANSPORT_OVERHEAD + 84);
    // The receiver strips padding using the IP header's length.
    const d = pump(padded, { from: 'a', result: padded.a.encapsulate(ipv4Packet(84, 9), out, padded.now) });
    expect(d.toB[0]).toEqual(ipv4Packet(84, 9));
  });

  it('rejects packets above the MTU and inner plaintext that is not IP', () => {
    const pair = makePair(c);
    send(pair, 'a', ipv4Packet(20));
    const big = pair.a.encapsulate(ipv4Packet(1281), new Uint8Array(2000), pair.now);
    expect(big).toMatchObject({ type: 'error', error: { reason: 'packet_too_large' } });
    const notIp = new Uint8Array(64).fill(0x20);
    const d = send(pair, 'a', notIp);
    expect(d.toB).toHaveLength(0);
    expect(pair.b.stats.dropped.invalid_inner_packet).toBe(1);
  });
});

describe('Tunn drops bad input and counts it', () => {
  it('drops a replayed transport packet', () => {
    const pair = makePair(c);
    send(pair, 'a', ipv4Packet(20));
    const out = new Uint8Array(2000);
    const r = pair.a.encapsulate(ipv4Packet(40, 3), out, pair.now);
    if (r.type !== 'network') throw new Error('expected a datagram');
    const datagram = Uint8Array.from(r.packet);
    const sink = new Uint8Array(2000);
    expect(pair.b.decapsulate(datagram, ENDPOINT_A, sink, pair.now).type).toBe('tunnel');
    expect(pair.b.decapsulate(datagram, ENDPOINT_A, sink, pair.now)).toMatchObject({
      error: { reason: 'replay' },
    });
  });

  it('drops a tampered transport packet without changing state', () => {
    const pair = makePair(c);
    send(pair, 'a', ipv4Packet(20));
    const out = new Uint8Array(2000);
    const r = pair.a.encapsulate(ipv4Packet(40, 3), out, pair.now);
    if (r.type !== 'network') throw new Error('expected a datagram');
    const tampered = Uint8Array.from(r.packet);
    tampered[20]! ^= 1;
    const sink = new Uint8Array(2000);
    expect(pair.b.decapsulate(tampered, ENDPOINT_A, sink, pair.now)).toMatchObject({
      error: { reason: 'decrypt_failed' },
    });
    // The genuine packet with the same counter still gets through: the window was not touched.
    expect(pair.b.decapsulate(r.packet, ENDPOINT_A, sink, pair.now).type).toBe('tunnel');
  });

  it('drops a replayed initiation (old timestamp) and a flood of fresh ones', () => {
    const pair = makePair(c);
    const init = pair.a.initiateHandshake(pair.now);
    if (init.type !== 'network') throw new Error('expected an initiation');
    const copy = Uint8Array.from(init.packet);
    pump(pair, { from: 'a', result: init });
    const sink = new Uint8Array(2000);
    pair.now += 10_000;
    expect(pair.b.decapsulate(copy, ENDPOINT_A, sink, pair.now)).toMatchObject({
      error: { reason: 'timestamp_replay' },
    });
    // Two fresh initiations within 20 ms: the second is flood-limited.
    pair.now += 10_000;
    const i1 = pair.a.initiateHandshake(pair.now);
    expect(i1.type).toBe('network');
    if (i1.type !== 'network') return;
    expect(pair.b.decapsulate(i1.packet, ENDPOINT_A, sink, pair.now).type).toBe('network');
    pair.now += REKEY_TIMEOUT;
    const i2 = pair.a.initiateHandshake(pair.now);
    if (i2.type !== 'network') throw new Error('expected an initiation');
    pair.now -= REKEY_TIMEOUT - 5; // the responder sees it 5 ms after the first
    expect(pair.b.decapsulate(i2.packet, ENDPOINT_A, sink, pair.now)).toMatchObject({
      error: { reason: 'handshake_flood' },
    });
  });

  it('drops handshake messages with a bad mac1 silently', () => {
    const pair = makePair(c);
    const init = pair.a.initiateHandshake(pair.now);
    if (init.type !== 'network') throw new Error('expected an initiation');
    const bad = Uint8Array.from(init.packet);
    bad[120]! ^= 0x80;
    const r = pair.b.decapsulate(bad, ENDPOINT_A, new Uint8Array(200), pair.now);
    expect(r).toMatchObject({ type: 'error', error: { reason: 'invalid_mac1' } });
    expect(pair.b.pollTransmit()).toBeUndefined();
  });

  it('drops initiations from a key that is not the peer', () => {
    const pair = makePair(c);
    const stranger = keyPair(c, 9);
    const kb = keyPair(c, 2);
    const t = new Tunn({
      crypto: c,
      staticPrivate: stranger.privateKey,
      peerPublic: kb.publicKey,
      endpoint: ENDPOINT_B,
    });
    const init = t.initiateHandshake(pair.now);
    if (init.type !== 'network') throw new Error('expected an initiation');
    expect(pair.b.decapsulate(init.packet, ENDPOINT_A, new Uint8Array(200), pair.now)).toMatchObject({
      error: { reason: 'wrong_peer' },
    });
  });

  it('drops malformed frames of every kind', () => {
    const pair = makePair(c);
    const sink = new Uint8Array(2000);
    const cases = [
      new Uint8Array(0),
      new Uint8Array(3),
      Uint8Array.of(1, 0, 0, 0),
      Uint8Array.of(1, 1, 0, 0, ...new Uint8Array(144)), // reserved byte set
      new Uint8Array(147).fill(0).map((_, i) => (i === 0 ? 1 : 0)),
      Uint8Array.of(4, 0, 0, 0, ...new Uint8Array(27)), // transport shorter than 32
      Uint8Array.of(5, 0, 0, 0, ...new Uint8Array(60)),
    ];
    for (const d of cases) expect(pair.b.decapsulate(d, ENDPOINT_A, sink, pair.now).type).toBe('error');
    expect(pair.b.stats.dropped.malformed).toBe(cases.length);
    const unknown = Uint8Array.of(4, 0, 0, 0, 9, 9, 9, 9, ...new Uint8Array(24));
    expect(pair.b.decapsulate(unknown, ENDPOINT_A, sink, pair.now)).toMatchObject({
      error: { reason: 'unknown_index' },
    });
  });
});

describe('Tunn cookies under load', () => {
  it('answers with a cookie reply under load, and accepts the retry that carries mac2', () => {
    const kb = keyPair(c, 2);
    const guard = new HandshakeGuard(c, kb.publicKey);
    const pair = makePair(c);
    const ka = keyPair(c, 1);
    pair.b = new Tunn({
      crypto: c,
      staticPrivate: kb.privateKey,
      peerPublic: ka.publicKey,
      guard,
      endpoint: ENDPOINT_A,
    });
    guard.forceUnderLoad = true;
    const d = pump(pair, { from: 'a', result: pair.a.initiateHandshake(pair.now) });
    expect(d.wire.map((w) => messageType(w.packet))).toEqual([
      MESSAGE_HANDSHAKE_INITIATION,
      MESSAGE_COOKIE_REPLY,
    ]);
    expect(pair.b.hasSession(pair.now)).toBe(false);
    // The retransmission carries mac2 from the cookie and is processed.
    const d2 = advance(pair, pair.now + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
    expect(count(d2.wire, MESSAGE_HANDSHAKE_RESPONSE)).toBe(1);
    expect(pair.a.hasSession(pair.now)).toBe(true);
  });

  it('detects load by itself from the rate of handshake messages', () => {
    const kb = keyPair(c, 2);
    const guard = new HandshakeGuard(c, kb.publicKey, { underLoadThreshold: 3 });
    const ka = keyPair(c, 1);
    const responder = new Tunn({ crypto: c, staticPrivate: kb.privateKey, peerPublic: ka.publicKey, guard });
    const initiators = [3, 4, 5, 6, 7].map(
      (seed) =>
        new Tunn({
          crypto: c,
          staticPrivate: keyPair(c, seed).privateKey,
          peerPublic: kb.publicKey,
          endpoint: ENDPOINT_B,
        }),
    );
    const kinds = initiators.map((t, i) => {
      const init = t.initiateHandshake(1000);
      if (init.type !== 'network') throw new Error('expected an initiation');
      const r = responder.decapsulate(
        init.packet,
        { address: '10.0.0.9', port: 1000 + i },
        new Uint8Array(200),
        1000 + i,
      );
      return r.type === 'network' ? messageType(r.packet) : r.type;
    });
    // The first three are processed (and rejected: unknown peer); from the 4th on, cookies.
    expect(kinds).toEqual(['error', 'error', 'error', MESSAGE_COOKIE_REPLY, MESSAGE_COOKIE_REPLY]);
  });
});

describe('Tunn timers', () => {
  it('retransmits an unanswered initiation every 5 s + jitter and gives up after 90 s', () => {
    // Lose everything: b never hears from a.
    const lossy = makePair(c);
    const lost = pump(
      lossy,
      { from: 'a', result: lossy.a.encapsulate(ipv4Packet(40), new Uint8Array(200), lossy.now) },
      () => true,
    );
    expect(count(lost.wire, MESSAGE_HANDSHAKE_INITIATION)).toBe(1);
    const start = lossy.now;
    const sent: number[] = [];
    for (;;) {
      const t = lossy.a.pollTimeout();
      if (t === undefined || t > start + REKEY_ATTEMPT_TIME + 10_000) break;
      lossy.now = t;
      lossy.a.handleTimeout(t);
      for (let tx = lossy.a.pollTransmit(); tx; tx = lossy.a.pollTransmit()) sent.push(t - start);
      const ev = lossy.a.pollEvent();
      if (ev?.type === 'connection_expired') break;
    }
    expect(sent).toHaveLength(MAX_HANDSHAKE_ATTEMPTS);
    const gaps = sent.map((t, i) => t - (i === 0 ? 0 : sent[i - 1]!));
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(REKEY_TIMEOUT);
      expect(g).toBeLessThanOrEqual(REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
    }
    expect(lossy.now - start).toBeGreaterThanOrEqual(REKEY_ATTEMPT_TIME);
    expect(lossy.a.stats.dropped.expired_handshake).toBe(1); // the staged packet is gone
  });

  it('shortens the attempt time when configured (Firezone uses 20 s)', () => {
    const lossy = makePair(c, { rekeyAttemptTime: 20_000 });
    pump(lossy, { from: 'a', result: lossy.a.initiateHandshake(lossy.now) }, () => true);
    let attempts = 1;
    for (let t = lossy.a.pollTimeout(); t !== undefined; t = lossy.a.pollTimeout()) {
      lossy.a.handleTimeout(t);
      while (lossy.a.pollTransmit()) attempts++;
      if (lossy.a.pollEvent()?.type === 'connection_expired') break;
    }
    expect(attempts).toBe(5);
  });

  it('sends a keepalive 10 s after receiving data when it had nothing to send', () => {
    const pair = makePair(c);
    send(pair, 'a', ipv4Packet(40));
    const t0 = pair.now;
    const d = advance(pair, t0 + KEEPALIVE_TIMEOUT);
    const keepalives = d.wire.filter((w) => w.from === 'b' && w.packet.length === TRANSPORT_OVERHEAD);
    expect(keepalives).toHaveLength(1);
    // and none after that while idle
    expect(
      advance(pair, t0 + 60_000).wire.filter((w) => w.packet.length === TRANSPORT_OVERHEAD),
    ).toHaveLength(0);
  });

  it('starts a new handshake 15 s after sending data without hearing back', () => {
    const pair = makePair(c);
    // a's data (sent right after the handshake) is never answered: b's timers do not run.
    send(pair, 'a', ipv4Packet(40));
    const sentAt = pair.now;
    const inits: number[] = [];
    for (let t = pair.a.pollTimeout(); t !== undefined && t < sentAt + 16_000; t = pair.a.pollTimeout()) {
      pair.now = t;
      pair.a.handleTimeout(t);
      for (let tx = pair.a.pollTransmit(); tx; tx = pair.a.pollTransmit()) {
        if (messageType(tx.packet) === MESSAGE_HANDSHAKE_INITIATION) inits.push(t - sentAt);
      }
    }
    expect(inits).toHaveLength(1);
    expect(inits[0]).toBeGreaterThanOrEqual(NEW_HANDSHAKE_AFTER);
    expect(inits[0]).toBeLessThanOrEqual(NEW_HANDSHAKE_AFTER + REKEY_TIMEOUT_JITTER_MAX);
  });

  it('rekeys after 120 s when sending and stops using a session after 180 s', () => {
    const pair = makePair(c);
    send(pair, 'a', ipv4Packet(40));
    const t0 = pair.now;
    const out = new Uint8Array(200);
    pair.now = t0 + REKEY_AFTER_TIME + 1;
    const r = pair.a.encapsulate(ipv4Packet(40), out, pair.now);
    expect(r.type).toBe('network'); // the data still goes out on the old session…
    const init = pair.a.pollTransmit(); // …followed by a new initiation
    expect(init && messageType(init.packet)).toBe(MESSAGE_HANDSHAKE_INITIATION);

    // A responder never rekeys by itself; with no new handshake its session dies at 180 s.
    const pair2 = makePair(c);
    send(pair2, 'a', ipv4Packet(40));
    pair2.now += REJECT_AFTER_TIME;
    const stale = pair2.b.encapsulate(ipv4Packet(40), out, pair2.now);
    expect(stale.type === 'network' && messageType(stale.packet)).toBe(MESSAGE_HANDSHAKE_INITIATION);
    expect(pair2.b.hasSession(pair2.now)).toBe(false);
  });

  it('keeps sessions fresh over a long bidirectional exchange, with no loss', () => {
    const pair = makePair(c);
    let delivered = 0;
    for (let i = 0; i < 200; i++) {
      pair.now += 4_000; // 800 s in all: several rekeys
      advance(pair, pair.now);
      delivered += send(pair, i % 2 === 0 ? 'a' : 'b', ipv4Packet(40 + (i % 50), i & 0xff)).toA.length;
      delivered += send(pair, i % 2 === 0 ? 'b' : 'a', ipv4Packet(40, i & 0xff)).toB.length;
    }
    expect(delivered).toBe(200);
    expect(pair.a.stats.rxPackets + pair.b.stats.rxPackets).toBe(400);
    expect(pair.a.stats.handshakesCompleted).toBeGreaterThanOrEqual(5);
  });

  it('zeroes all keys 540 s after the last session was derived', () => {
    const pair = makePair(c);
    send(pair, 'a', ipv4Packet(40));
    advance(pair, pair.now + ZERO_KEYS_AFTER);
    const events = [];
    for (let e = pair.a.pollEvent(); e; e = pair.a.pollEvent()) events.push(e.type);
    expect(events).toContain('keys_zeroed');
    expect(pair.a.hasSession(pair.now)).toBe(false);
    expect(pair.a.pollTimeout()).toBeUndefined();
  });

  it('sends persistent keepalives when configured', () => {
    const pair = makePair(c, { persistentKeepalive: 25 });
    send(pair, 'a', ipv4Packet(40));
    const t0 = pair.now;
    const d = advance(pair, t0 + 100_000);
    const fromA = d.wire.filter((w) => w.from === 'a' && w.packet.length === TRANSPORT_OVERHEAD).length;
    expect(fromA).toBeGreaterThanOrEqual(3);
  });
});

describe('Tunn roaming', () => {
  it('follows the peer to a new source address after an authenticated packet', () => {
    const pair = makePair(c);
    send(pair, 'a', ipv4Packet(40));
    const out = new Uint8Array(200);
    const r = pair.a.encapsulate(ipv4Packet(40), out, pair.now);
    if (r.type !== 'network') throw new Error('expected a datagram');
    const roamed = { address: '10.9.9.9', port: 4444 };
    expect(pair.b.decapsulate(r.packet, roamed, new Uint8Array(200), pair.now).type).toBe('tunnel');
    const back = pair.b.encapsulate(ipv4Packet(40), out, pair.now);
    expect(back.type === 'network' && back.to).toEqual(roamed);
    // An unauthenticated packet from elsewhere does not move it.
    const forged = Uint8Array.from(r.packet);
    forged[40]! ^= 1;
    pair.b.decapsulate(forged, ENDPOINT_B, new Uint8Array(200), pair.now);
    expect(pair.b.currentEndpoint).toEqual(roamed);
  });
});
