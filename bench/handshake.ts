/**
 * Handshakes per second per crypto backend: one full exchange is an initiation created by A,
 * consumed and answered by B, and the response consumed by A (with MACs, timers and session
 * set-up, as a real peer does it). Ratios are against the fastest backend in this run.
 *
 * Then the gateway's side alone with the crypto it runs with (`gatewayCrypto()`: the default
 * backend, ephemeral keys made ahead on a worker, whose CPU counts in responses/CPU-s): initiations
 * from many clients, made outside the timed region, answered by a gateway `Node`
 * (`handshake-responder.ts`), once at an ordinary pace (mac1 only) and once under load (mac2
 * with cookies, per-source rate limit). Issue 13 asks for an absolute rate here, so the last line
 * is `handshake responder_per_s=<n>` (the ordinary pace).
 *
 * `BENCH_HANDSHAKE_PROFILE=<dir>` also writes CPU profiles of the responder alone (both paces)
 * there, for `tsx bench/tools/profile-summary.ts <dir>/*.cpuprofile`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { gatewayCrypto } from '../src-engine/gateway/gateway-crypto.js';
import { availableBackends, loadBackend } from '../src-engine/wireguard/crypto/index.js';
import type { CryptoBackend } from '../src-engine/wireguard/crypto/index.js';
import type { Endpoint } from '../src-engine/wireguard/endpoint.js';
import { REKEY_TIMEOUT } from '../src-engine/wireguard/constants.js';
import { Tunn } from '../src-engine/wireguard/tunn.js';
import { join } from 'node:path';
import { measureResponder, profileResponder, type ResponderResult } from './handshake-responder.js';
import { printTable } from './table.js';

/** Clients the measured gateway knows: enough that per-peer state is not all in one cache line. */
const RESPONDER_PEERS = 512;

const A: Endpoint = { address: '10.0.0.1', port: 1 };
const B: Endpoint = { address: '10.0.0.2', port: 2 };

function measure(c: CryptoBackend, seconds: number): { perSecond: number; count: number } {
  const ka = c.randomBytes(32);
  const kb = c.randomBytes(32);
  const a = new Tunn({ crypto: c, staticPrivate: ka, peerPublic: c.x25519PublicKey(kb), endpoint: B });
  const b = new Tunn({ crypto: c, staticPrivate: kb, peerPublic: c.x25519PublicKey(ka), endpoint: A });
  const out = new Uint8Array(256);
  let now = 0;
  const once = (): void => {
    now += REKEY_TIMEOUT; // the initiator sends at most one initiation per REKEY_TIMEOUT
    const init = a.initiateHandshake(now);
    if (init.type !== 'network') throw new Error('no initiation');
    const response = b.decapsulate(init.packet, A, out, now);
    if (response.type !== 'network') throw new Error('no response');
    const confirm = a.decapsulate(Uint8Array.from(response.packet), B, out, now);
    if (confirm.type !== 'network') throw new Error('handshake did not complete');
    b.decapsulate(Uint8Array.from(confirm.packet), A, out, now);
  };
  for (let i = 0; i < 20; i++) once(); // warm-up
  const start = performance.now();
  let count = 0;
  while (performance.now() - start < seconds * 1000) {
    once();
    count++;
  }
  const elapsed = (performance.now() - start) / 1000;
  if (b.stats.handshakesCompleted !== count + 20) throw new Error('responder missed handshakes');
  return { perSecond: count / elapsed, count };
}

export interface HandshakeBenchResult {
  /** Full exchanges per second per backend (the first table). */
  readonly backends: { readonly name: string; readonly perSecond: number }[];
  /** The gateway's responder alone, with `backend` (the second table). */
  readonly responder: {
    readonly backend: string;
    readonly peers: number;
    readonly normal: ResponderResult;
    readonly underLoad: ResponderResult;
  };
}

export async function run(seconds = Number(process.env.BENCH_SECONDS ?? 1)): Promise<HandshakeBenchResult> {
  const results = availableBackends().map((name) => ({ name, ...measure(loadBackend(name), seconds) }));
  const best = Math.max(...results.map((r) => r.perSecond));
  printTable(
    ['backend', 'handshakes/s', 'ms/handshake', 'ratio to fastest'],
    results.map((r) => [
      r.name,
      r.perSecond.toFixed(0),
      (1000 / r.perSecond).toFixed(3),
      (r.perSecond / best).toFixed(2),
    ]),
  );

  // The gateway's own crypto: the default backend with its ephemeral-key pool (gateway-crypto.ts).
  const gateway = gatewayCrypto();
  const crypto = gateway.crypto;
  const exchange = results.find((r) => r.name === crypto.name)?.perSecond ?? NaN;
  await delay(200); // let the pool's worker fill its ring once, as on a gateway that was idle
  const normal = measureResponder({ crypto, peers: RESPONDER_PEERS, mode: 'normal' }, seconds);
  const underLoad = measureResponder({ crypto, peers: RESPONDER_PEERS, mode: 'under_load' }, seconds);
  console.log('');
  printTable(
    [
      'gateway responder',
      'backend',
      'peers',
      'answered',
      'responses/s',
      'µs/response',
      'responses/CPU-s',
      'ratio to full exchange',
    ],
    [
      { label: 'mac1 (normal load)', m: normal },
      { label: 'mac1 + mac2 cookie (under load)', m: underLoad },
    ].map(({ label, m }) => [
      label,
      crypto.name,
      String(RESPONDER_PEERS),
      String(m.answered),
      m.perSecond.toFixed(0),
      (1e6 / m.perSecond).toFixed(1),
      m.perCpuSecond.toFixed(0),
      (m.perSecond / exchange).toFixed(2),
    ]),
  );
  const profileDir = process.env.BENCH_HANDSHAKE_PROFILE;
  if (profileDir) {
    for (const mode of ['normal', 'under_load'] as const) {
      const file = join(profileDir, `responder-${mode}.cpuprofile`);
      await profileResponder({ crypto, peers: RESPONDER_PEERS, mode }, 8, file);
      console.log(`profile of the responder (${mode}): ${file}`);
    }
  }
  const pool = gateway.pool?.stats;
  console.log(
    pool
      ? `ephemeral keys: ${pool.fromPool} made ahead, ${pool.inline} inline (pool empty)`
      : 'ephemeral keys: all inline (no key pool: sodium-native is missing)',
  );
  gateway.close();
  console.log(`handshake responder_per_s=${Math.round(normal.perSecond)}`);
  return {
    backends: results.map((r) => ({ name: r.name, perSecond: r.perSecond })),
    responder: { backend: crypto.name, peers: RESPONDER_PEERS, normal, underLoad },
  };
}
