/**
 * Test helpers: a seeded random source and an in-memory UDP network with a virtual clock on
 * which ICE agents run back to back — sockets, relayed addresses (a TURN allocation reduced to
 * "datagrams from/to this address reach its owner"), NATs with address-and-port-dependent
 * filtering, loss, latency with jitter (hence reordering) and blocked paths.
 */
import type { RandomSource } from '../stun/header.js';
import { formatTransportAddress, type TransportAddress } from '../transport-address.js';
import type { IceAgent, IceCredentials, IceEvent } from './agent.js';

/** mulberry32: small, fast and good enough to drive a simulation deterministically. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  readonly bytes: RandomSource = (out) => {
    for (let i = 0; i < out.length; i++) out[i] = Math.floor(this.next() * 256);
  };
}

export const CREDS_A: IceCredentials = { ufrag: 'resc', pwd: 'rqi3ibvfikfaxj3wgp7muh' };
export const CREDS_B: IceCredentials = { ufrag: 'jbi4', pwd: 'a6oeevhlutevykcifd5r2a' };

export function addr(address: string, port: number): TransportAddress {
  return { address, port };
}

const key = formatTransportAddress;

interface Datagram {
  readonly from: TransportAddress;
  readonly to: TransportAddress;
  readonly payload: Uint8Array;
}

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

interface Nat {
  readonly inside: TransportAddress;
  readonly outside: TransportAddress;
  /** Remote addresses the inside has sent to (address-and-port-dependent filtering, RFC 4787 §5). */
  readonly contacted: Set<string>;
}

export interface NodeRecord {
  readonly name: string;
  readonly agent: IceAgent;
  readonly events: { readonly at: number; readonly event: IceEvent }[];
}

export interface NetworkOptions {
  /** Probability that a datagram is lost. */
  readonly loss?: number;
  readonly latencyMs?: number;
  /** Uniform extra delay in [0, jitterMs]: datagrams overtake each other. */
  readonly jitterMs?: number;
}

/** An in-memory network with a virtual clock; see the module comment. */
export class Network {
  now = 0;
  loss: number;
  latencyMs: number;
  jitterMs: number;
  /** Return true to drop a datagram (on-wire addresses). */
  block: (from: TransportAddress, to: TransportAddress) => boolean = () => false;
  delivered = 0;
  dropped = 0;
  private readonly owners = new Map<string, { node: NodeRecord; base: TransportAddress }>();
  private readonly nats = new Map<string, Nat>();
  private readonly natsByOutside = new Map<string, Nat>();
  private readonly nodes: NodeRecord[] = [];
  private queue: Scheduled[] = [];
  private seq = 0;

  constructor(
    readonly random: SeededRandom,
    options: NetworkOptions = {},
  ) {
    this.loss = options.loss ?? 0;
    this.latencyMs = options.latencyMs ?? 10;
    this.jitterMs = options.jitterMs ?? 0;
  }

  addNode(name: string, agent: IceAgent): NodeRecord {
    const node: NodeRecord = { name, agent, events: [] };
    this.nodes.push(node);
    return node;
  }

  /** A host socket or a relayed address that belongs to `node`. */
  attach(node: NodeRecord, base: TransportAddress): void {
    this.owners.set(key(base), { node, base });
  }

  /** Puts `inside` behind a NAT that maps it to `outside`. */
  nat(inside: TransportAddress, outside: TransportAddress): void {
    const nat: Nat = { inside, outside, contacted: new Set() };
    this.nats.set(key(inside), nat);
    this.natsByOutside.set(key(outside), nat);
  }

  /** The address the rest of the network sees for a local base. */
  wireAddress(base: TransportAddress): TransportAddress {
    return this.nats.get(key(base))?.outside ?? base;
  }

  /** Runs `action` at virtual time `at` (e.g. a signalling message arriving). */
  schedule(at: number, action: () => void): void {
    this.queue.push({ at, seq: this.seq++, run: action });
  }

  /** Sends what the agents want to send. */
  private flush(): void {
    for (const node of this.nodes) {
      for (let t = node.agent.pollTransmit(); t !== undefined; t = node.agent.pollTransmit()) {
        this.send(node, { from: t.source, to: t.destination, payload: t.payload });
      }
      for (let e = node.agent.pollEvent(); e !== undefined; e = node.agent.pollEvent()) {
        node.events.push({ at: this.now, event: e });
      }
    }
  }

  private send(node: NodeRecord, datagram: Datagram): void {
    const owner = this.owners.get(key(datagram.from));
    if (owner === undefined || owner.node !== node) {
      throw new Error(`${node.name} sent from ${key(datagram.from)}, which it does not own`);
    }
    const nat = this.nats.get(key(datagram.from));
    let from = datagram.from;
    if (nat !== undefined) {
      nat.contacted.add(key(datagram.to));
      from = nat.outside;
    }
    if (this.block(from, datagram.to) || this.random.chance(this.loss)) {
      this.dropped++;
      return;
    }
    const delay = this.latencyMs + this.random.next() * this.jitterMs;
    const wire: Datagram = { from, to: datagram.to, payload: datagram.payload };
    this.schedule(this.now + delay, () => this.deliver(wire));
  }

  private deliver(datagram: Datagram): void {
    let to = datagram.to;
    const nat = this.natsByOutside.get(key(to));
    if (nat !== undefined) {
      if (!nat.contacted.has(key(datagram.from))) {
        this.dropped++;
        return;
      }
      to = nat.inside;
    } else if (this.nats.has(key(to))) {
      // A private address is not reachable from outside its NAT.
      this.dropped++;
      return;
    }
    const owner = this.owners.get(key(to));
    if (owner === undefined) {
      this.dropped++;
      return;
    }
    this.delivered++;
    owner.node.agent.handleStun(datagram.payload, datagram.from, owner.base, this.now);
  }

  /**
   * Advances virtual time to `until`, delivering datagrams and firing timers, or until `stop`
   * returns true (checked after every step). Returns the time it stopped at.
   */
  run(until: number, stop: () => boolean = () => false, maxSteps = 2_000_000): number {
    for (let steps = 0; ; steps++) {
      if (steps > maxSteps)
        throw new Error(`simulation did not settle after ${maxSteps} steps at t=${this.now}`);
      this.flush();
      if (stop()) return this.now;
      let next: number | undefined;
      for (const item of this.queue) if (next === undefined || item.at < next) next = item.at;
      for (const node of this.nodes) {
        const t = node.agent.pollTimeout();
        if (t !== undefined && (next === undefined || t < next)) next = t;
      }
      if (next === undefined || next > until) {
        this.now = Math.max(this.now, until);
        this.flush();
        return this.now;
      }
      this.now = Math.max(this.now, next);
      const due = this.queue
        .filter((item) => item.at <= this.now)
        .sort((a, b) => a.at - b.at || a.seq - b.seq);
      this.queue = this.queue.filter((item) => item.at > this.now);
      for (const item of due) item.run();
      for (const node of this.nodes) {
        const t = node.agent.pollTimeout();
        if (t !== undefined && t <= this.now) node.agent.handleTimeout(this.now);
      }
    }
  }
}

/** The events of one type a node reported, in order. */
export function eventsOf<T extends IceEvent['type']>(
  node: NodeRecord,
  type: T,
): (Extract<IceEvent, { type: T }> & { at: number })[] {
  return node.events
    .filter((e) => e.event.type === type)
    .map((e) => ({ ...(e.event as Extract<IceEvent, { type: T }>), at: e.at }));
}
