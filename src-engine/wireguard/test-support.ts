import type { CryptoBackend } from './crypto/backend.js';
import type { Endpoint } from './endpoint.js';
import type { TunnResult } from './result.js';
import { Tunn, type TunnConfig } from './tunn.js';

/** Helpers for tests that run two Tunns against each other on a virtual wire. */

export const ENDPOINT_A: Endpoint = { address: '10.0.0.1', port: 51820 };
export const ENDPOINT_B: Endpoint = { address: '10.0.0.2', port: 51820 };

/** A minimal IPv4 packet of `length` bytes (header fields the tunnel checks are consistent). */
export function ipv4Packet(length: number, fill = 0xab): Uint8Array {
  const p = new Uint8Array(length).fill(fill);
  p[0] = 0x45;
  p[1] = 0;
  p[2] = length >> 8;
  p[3] = length & 0xff;
  return p;
}

export interface Pair {
  a: Tunn;
  b: Tunn;
  /** Time in ms, advanced by the tests. */
  now: number;
}

export function keyPair(c: CryptoBackend, seed: number): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = new Uint8Array(32).fill(seed);
  return { privateKey, publicKey: c.x25519PublicKey(privateKey) };
}

export function makePair(c: CryptoBackend, overrides: Partial<TunnConfig> = {}, psk?: Uint8Array): Pair {
  const ka = keyPair(c, 1);
  const kb = keyPair(c, 2);
  let wall = 1_700_000_000_000;
  const common = {
    crypto: c,
    random: () => 0.5,
    wallClock: () => (wall += 100),
    presharedKey: psk,
    ...overrides,
  };
  const a = new Tunn({
    ...common,
    staticPrivate: ka.privateKey,
    peerPublic: kb.publicKey,
    endpoint: ENDPOINT_B,
  });
  const b = new Tunn({
    ...common,
    staticPrivate: kb.privateKey,
    peerPublic: ka.publicKey,
    endpoint: ENDPOINT_A,
  });
  return { a, b, now: 1_000 };
}

export interface Delivered {
  toA: Uint8Array[];
  toB: Uint8Array[];
  /** Datagrams that crossed the wire, in order, with their direction. */
  wire: { from: 'a' | 'b'; packet: Uint8Array }[];
}

/**
 * Moves datagrams between the two peers until neither has anything to send. `first` is the
 * result of the call that started the exchange and the side that made it.
 */
export function pump(
  pair: Pair,
  first?: { from: 'a' | 'b'; result: TunnResult },
  drop?: (d: Uint8Array) => boolean,
): Delivered {
  const delivered: Delivered = { toA: [], toB: [], wire: [] };
  const queue: { from: 'a' | 'b'; packet: Uint8Array }[] = [];
  if (first?.result.type === 'network')
    queue.push({ from: first.from, packet: Uint8Array.from(first.result.packet) });
  const drain = (): void => {
    for (const side of ['a', 'b'] as const) {
      const t = pair[side];
      for (let tx = t.pollTransmit(); tx; tx = t.pollTransmit())
        queue.push({ from: side, packet: Uint8Array.from(tx.packet) });
    }
  };
  drain();
  let guard = 0;
  while (queue.length > 0) {
    if (++guard > 10_000) throw new Error('pump: no quiescence');
    const { from, packet } = queue.shift()!;
    delivered.wire.push({ from, packet });
    if (drop?.(packet)) continue;
    const to = from === 'a' ? pair.b : pair.a;
    const src = from === 'a' ? ENDPOINT_A : ENDPOINT_B;
    const out = new Uint8Array(packet.length + 64);
    const r = to.decapsulate(packet, src, out, pair.now);
    if (r.type === 'network')
      queue.push({ from: from === 'a' ? 'b' : 'a', packet: Uint8Array.from(r.packet) });
    if (r.type === 'tunnel') (from === 'a' ? delivered.toB : delivered.toA).push(Uint8Array.from(r.packet));
    drain();
  }
  return delivered;
}

/** Sends one IP packet from `side` and pumps the exchange to quiescence. */
export function send(pair: Pair, side: 'a' | 'b', packet: Uint8Array): Delivered {
  const out = new Uint8Array(Tunn.encapsulatedSize(packet.length));
  const result = pair[side].encapsulate(packet, out, pair.now);
  return pump(pair, { from: side, result });
}

/** Advances time to `t`, firing both peers' timers at every deadline on the way. */
export function advance(pair: Pair, to: number, onEachStep?: () => void): Delivered {
  const all: Delivered = { toA: [], toB: [], wire: [] };
  for (;;) {
    const deadlines = [pair.a.pollTimeout(), pair.b.pollTimeout()].filter(
      (d): d is number => d !== undefined && d <= to,
    );
    if (deadlines.length === 0) break;
    pair.now = Math.max(pair.now, Math.min(...deadlines));
    pair.a.handleTimeout(pair.now);
    pair.b.handleTimeout(pair.now);
    const d = pump(pair);
    all.toA.push(...d.toA);
    all.toB.push(...d.toB);
    all.wire.push(...d.wire);
    onEachStep?.();
  }
  pair.now = to;
  return all;
}

export function messageType(datagram: Uint8Array): number {
  return datagram[0]!;
}
