/**
 * The gateway's side of handshakes, measured alone: a real gateway `Node` (the class
 * `GatewayRuntime` runs, with the real ICE agent factory) that knows many clients, each with its
 * own static key, preshared key and source address, answers initiations those clients made
 * beforehand. Only `handleDatagram` (guard with mac1, and under load mac2 and the per-source rate
 * limit; opening the initiation; finding the peer by its static key; consuming it with the
 * TAI64N replay and flood checks; building the response) and taking the response from
 * `pollTransmit` are timed. The clients' work (making initiations, fetching cookies) happens
 * between timed chunks.
 *
 * Time is virtual, so the guard sees the load we choose rather than the bench's real rate:
 * - `normal`: 50 initiations per virtual second, below UNDER_LOAD_HANDSHAKES_PER_SECOND, so only
 *   mac1 is checked (a gateway whose clients reconnect at an ordinary pace);
 * - `under_load`: thousands per virtual second, so the guard is under load and every initiation
 *   must carry a valid mac2; each client fetched a cookie for its address beforehand (untimed)
 *   and keeps below the per-source rate limit.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Session } from 'node:inspector/promises';
import type { CryptoBackend } from '../src-engine/wireguard/crypto/index.js';
import {
  COOKIE_REFRESH_TIME,
  HANDSHAKES_PER_SECOND_PER_SOURCE,
  HANDSHAKE_INITIATION_RATE,
  HANDSHAKE_INITIATION_SIZE,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_HANDSHAKE_INITIATION,
  MESSAGE_HANDSHAKE_RESPONSE,
  REKEY_TIMEOUT,
  UNDER_LOAD_HANDSHAKES_PER_SECOND,
} from '../src-engine/wireguard/constants.js';
import { Tunn } from '../src-engine/wireguard/tunn.js';
import { Node } from '../src-engine/node/node.js';
import { iceAgentFactory } from '../src-engine/node/ice-agent-adapter.js';
import type { TransportAddress } from '../src-engine/ice/transport-address.js';

export type ResponderMode = 'normal' | 'under_load';

export interface ResponderRigOptions {
  readonly crypto: CryptoBackend;
  /** Distinct clients the gateway knows (each makes one initiation per chunk). */
  readonly peers: number;
  readonly mode: ResponderMode;
}

interface Client {
  readonly tunn: Tunn;
  readonly address: TransportAddress;
}

export interface Chunk {
  readonly datagrams: Uint8Array[];
  readonly from: TransportAddress[];
}

const GATEWAY: TransportAddress = { address: '192.0.2.1', port: 51820 };
const FLOODER: TransportAddress = { address: '198.51.100.1', port: 9 };

/** The gateway and its clients; `nextChunk` (untimed) and `answer` (timed) alternate. */
export class ResponderRig {
  readonly gateway: Node;
  readonly clients: Client[] = [];
  private readonly mode: ResponderMode;
  /** The gateway's virtual clock (ms) and its step per initiation. */
  private gatewayNow = 1_000;
  private readonly step: number;
  /** The clients' clock: one round of initiations per REKEY_TIMEOUT, which Tunn enforces. */
  private clientNow = 1_000;
  private cookieFetchedAt = -Infinity;

  constructor(options: ResponderRigOptions) {
    const c = options.crypto;
    this.mode = options.mode;
    const rounds = (perSecond: number): number => 1000 / perSecond;
    if (options.mode === 'normal') {
      // Below the load threshold, and each client's initiations far apart (flood check).
      this.step = rounds(UNDER_LOAD_HANDSHAKES_PER_SECOND) * 1.25;
    } else {
      // Well above the threshold, yet each source within its rate limit and the flood check.
      const perClientGap = Math.max(rounds(HANDSHAKES_PER_SECOND_PER_SOURCE), HANDSHAKE_INITIATION_RATE);
      this.step = (perClientGap * 1.05) / options.peers;
      if (1000 / this.step < 4 * UNDER_LOAD_HANDSHAKES_PER_SECOND)
        throw new Error(`under_load needs more peers than ${options.peers}`);
    }
    this.gateway = new Node({ crypto: c, privateKey: c.randomBytes(32), createAgent: iceAgentFactory() });
    let wall = 1_700_000_000_000;
    for (let i = 0; i < options.peers; i++) {
      const privateKey = c.randomBytes(32);
      const presharedKey = c.randomBytes(32);
      const tunn = new Tunn({
        crypto: c,
        staticPrivate: privateKey,
        peerPublic: this.gateway.publicKey,
        presharedKey,
        endpoint: { address: GATEWAY.address, port: GATEWAY.port },
        padding: false,
        wallClock: () => (wall += 1),
      });
      const address = {
        address: `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
        port: 40_000 + (i % 20_000),
      };
      this.clients.push({ tunn, address });
      this.gateway.upsertConnection(
        `client-${i}`,
        {
          role: 'controlled',
          remotePublicKey: tunn.localPublic,
          presharedKey,
          localCredentials: { username: `gw${i}x`, password: 'gatewaypassword0123456789' },
          remoteCredentials: { username: `cl${i}x`, password: 'clientpassword01234567890' },
        },
        this.gatewayNow,
      );
    }
    while (this.gateway.pollTransmit()) {
      /* nothing is sent before a path exists; drain anyway */
    }
  }

  /** One initiation from every client (untimed), refreshing cookies first when they run out. */
  nextChunk(): Chunk {
    if (
      this.mode === 'under_load' &&
      this.clientNow + REKEY_TIMEOUT - this.cookieFetchedAt >= COOKIE_REFRESH_TIME
    ) {
      this.fetchCookies();
    }
    return this.makeInitiations();
  }

  /**
   * The timed part: the gateway consumes each initiation and its response is taken from the
   * node. Returns how many initiations were answered with a handshake response.
   */
  answer(chunk: Chunk, responses?: Uint8Array[]): number {
    const gateway = this.gateway;
    let answered = 0;
    for (let i = 0; i < chunk.datagrams.length; i++) {
      this.gatewayNow += this.step;
      gateway.handleDatagram(chunk.from[i]!, chunk.datagrams[i]!, this.gatewayNow);
      for (let t = gateway.pollTransmit(); t; t = gateway.pollTransmit()) {
        if (t.payload[0] === MESSAGE_HANDSHAKE_RESPONSE) {
          answered++;
          if (responses) responses[i] = t.payload;
        }
      }
    }
    return answered;
  }

  /** Hands responses back to the clients (untimed); returns how many completed a handshake. */
  complete(responses: Uint8Array[]): number {
    const out = new Uint8Array(256);
    let completed = 0;
    for (let i = 0; i < this.clients.length; i++) {
      const response = responses[i];
      if (!response) continue;
      const r = this.clients[i]!.tunn.decapsulate(response, GATEWAY, out, this.clientNow);
      if (r.type === 'network') completed++;
    }
    return completed;
  }

  get underLoad(): boolean {
    return this.mode === 'under_load';
  }

  private makeInitiations(): Chunk {
    this.clientNow += REKEY_TIMEOUT;
    const datagrams: Uint8Array[] = [];
    const from: TransportAddress[] = [];
    for (const client of this.clients) {
      const r = client.tunn.initiateHandshake(this.clientNow);
      if (r.type !== 'network') throw new Error('client made no initiation');
      datagrams.push(r.packet);
      from.push(client.address);
    }
    return { datagrams, from };
  }

  /**
   * Under load the gateway answers an initiation without a valid mac2 with a cookie reply: each
   * client sends one, takes the cookie, and from then on its initiations carry mac2. Untimed.
   */
  private fetchCookies(): void {
    // A gateway is under load because of a flood: junk initiations (bad mac1) count as load too.
    const junk = new Uint8Array(HANDSHAKE_INITIATION_SIZE);
    junk[0] = MESSAGE_HANDSHAKE_INITIATION;
    for (let i = 0; i <= UNDER_LOAD_HANDSHAKES_PER_SECOND; i++)
      this.gateway.handleDatagram(FLOODER, junk, this.gatewayNow);
    const chunk = this.makeInitiations();
    const out = new Uint8Array(256);
    let cookies = 0;
    for (let i = 0; i < chunk.datagrams.length; i++) {
      this.gatewayNow += this.step;
      this.gateway.handleDatagram(chunk.from[i]!, chunk.datagrams[i]!, this.gatewayNow);
      for (let t = this.gateway.pollTransmit(); t; t = this.gateway.pollTransmit()) {
        if (t.payload[0] === MESSAGE_COOKIE_REPLY) {
          const r = this.clients[i]!.tunn.decapsulate(t.payload, GATEWAY, out, this.clientNow);
          if (r.type !== 'error') cookies++;
        }
      }
    }
    this.cookieFetchedAt = this.clientNow;
    if (cookies !== this.clients.length)
      throw new Error(`${cookies} of ${this.clients.length} clients got a cookie`);
  }
}

export interface ResponderResult {
  /** Answered initiations per second of wall-clock time in the timed region. */
  readonly perSecond: number;
  /**
   * The same per second of CPU time used by this process meanwhile: on a machine shared with
   * other work it shows what the responder could do with a core to itself.
   */
  readonly perCpuSecond: number;
  readonly answered: number;
  readonly seconds: number;
}

/**
 * Alternates untimed chunks of initiations with timed answering until `seconds` of responder
 * time are spent. The first chunk is a warm-up (and, under load, fills the guard's load window);
 * its responses are checked against the clients. Throws if any timed initiation went unanswered.
 */
export function measureResponder(options: ResponderRigOptions, seconds: number): ResponderResult {
  const rig = new ResponderRig(options);
  const warmup = rig.nextChunk();
  const responses: Uint8Array[] = [];
  const warmAnswered = rig.answer(warmup, responses);
  // Under load the first few initiations of a quiet gateway are still below the threshold: they
  // are answered without mac2, which is fine; every one must be answered either way.
  if (warmAnswered !== warmup.datagrams.length || rig.complete(responses) !== warmAnswered) {
    throw new Error(`warm-up: ${warmAnswered} of ${warmup.datagrams.length} answered and completed`);
  }
  let elapsed = 0;
  let cpu = 0;
  let answered = 0;
  let sent = 0;
  while (elapsed < seconds * 1000) {
    const chunk = rig.nextChunk();
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    answered += rig.answer(chunk);
    elapsed += performance.now() - start;
    const used = process.cpuUsage(cpuStart);
    cpu += (used.user + used.system) / 1000;
    sent += chunk.datagrams.length;
  }
  if (answered !== sent) throw new Error(`responder answered ${answered} of ${sent} initiations`);
  return {
    perSecond: answered / (elapsed / 1000),
    perCpuSecond: answered / (cpu / 1000),
    answered,
    seconds: elapsed / 1000,
  };
}

/**
 * Writes a V8 CPU profile of the responder alone to `file` (for `bench/tools/profile-summary.ts`):
 * `chunks` rounds of initiations are made first, then only their answering is profiled.
 */
export async function profileResponder(
  options: ResponderRigOptions,
  chunks: number,
  file: string,
): Promise<void> {
  const rig = new ResponderRig(options);
  rig.answer(rig.nextChunk()); // warm-up
  const pool = Array.from({ length: chunks }, () => rig.nextChunk());
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    for (const chunk of pool) rig.answer(chunk);
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(profile));
  } finally {
    session.disconnect();
  }
}
