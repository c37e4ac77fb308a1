/**
 * The simulation's UDP network: hosts with addresses, some behind NAT routers, datagrams carried
 * with latency, loss, duplication and reordering drawn from a seeded generator, on the
 * simulation's virtual clock. NAT behaviour follows RFC 4787's terms:
 * - `cone`: endpoint-independent mapping (one public port per inside socket, whoever it talks to),
 *   address-and-port-dependent filtering (only peers the socket sent to may answer) — what Linux
 *   masquerade does for a host that keeps its port;
 * - `symmetric`: address-and-port-dependent mapping (a new public port per destination) with the
 *   same filtering — hole punching fails, a relay is needed.
 */
import type { TransportAddress } from '../src-engine/ice/transport-address.js';
import type { Random } from './random.js';

export type NatType = 'cone' | 'symmetric';

export interface Impairment {
  /** Probability in [0, 1]. */
  readonly loss?: number;
  readonly duplicate?: number;
  /** Extra random delay up to this many ms, which reorders datagrams. */
  readonly jitterMs?: number;
}

export interface SimHost {
  /** A datagram for this host arrived at `to` (one of its addresses). */
  receive(from: TransportAddress, to: TransportAddress, payload: Uint8Array, now: number): void;
}

interface Router {
  readonly publicIp: string;
  readonly type: NatType;
  /** mapping key → public port */
  readonly mappings: Map<string, number>;
  /** public port → inside address and the peers it contacted ("ip:port") */
  readonly reverse: Map<number, { inside: TransportAddress; contacted: Set<string> }>;
  nextPort: number;
  impairment: Impairment;
}

interface Attachment {
  readonly host: SimHost;
  readonly ip: string;
  readonly router: Router | undefined;
  online: boolean;
}

interface InFlight {
  readonly at: number;
  readonly seq: number;
  readonly from: TransportAddress;
  readonly to: TransportAddress;
  readonly payload: Uint8Array;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  filtered: number;
  noRoute: number;
}

export class SimNetwork {
  readonly stats: NetworkStats = { sent: 0, delivered: 0, lost: 0, filtered: 0, noRoute: 0 };
  private readonly routers = new Map<string, Router>();
  private readonly byIp = new Map<string, Attachment>();
  private queue: InFlight[] = [];
  private seq = 0;

  constructor(
    private readonly random: Random,
    private readonly latencyMs = 10,
  ) {}

  addRouter(name: string, publicIp: string, type: NatType, impairment: Impairment = {}): void {
    this.routers.set(name, {
      publicIp,
      type,
      mappings: new Map(),
      reverse: new Map(),
      nextPort: 20_000 + Math.floor(this.random.next() * 20_000),
      impairment,
    });
  }

  setImpairment(router: string, impairment: Impairment): void {
    this.routers.get(router)!.impairment = impairment;
  }

  /** Forgets every NAT mapping of `router` (a router reboot, or a long idle). */
  flushNat(router: string): void {
    const r = this.routers.get(router)!;
    r.mappings.clear();
    r.reverse.clear();
  }

  attach(host: SimHost, ip: string, router?: string): void {
    const r = router === undefined ? undefined : this.routers.get(router);
    if (router !== undefined && !r) throw new Error(`no router ${router}`);
    this.byIp.set(ip, { host, ip, router: r, online: true });
  }

  detach(ip: string): void {
    this.byIp.delete(ip);
  }

  setOnline(ip: string, online: boolean): void {
    const a = this.byIp.get(ip);
    if (a) a.online = online;
  }

  /** A host sends from its own address `from`. */
  send(from: TransportAddress, to: TransportAddress, payload: Uint8Array, now: number): void {
    this.stats.sent++;
    const sender = this.byIp.get(from.address);
    if (!sender || !sender.online) return;
    let source = from;
    const impairment = sender.router?.impairment ?? {};
    if (sender.router) source = this.translateOut(sender.router, from, to);
    const receiver = this.findReceiver(to.address);
    const inbound = receiver?.router?.impairment ?? {};
    const loss = 1 - (1 - (impairment.loss ?? 0)) * (1 - (inbound.loss ?? 0));
    if (this.random.next() < loss) {
      this.stats.lost++;
      return;
    }
    const copies = this.random.next() < (impairment.duplicate ?? 0) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const jitter = Math.max(impairment.jitterMs ?? 0, inbound.jitterMs ?? 0);
      const at = now + this.latencyMs + (jitter > 0 ? this.random.next() * jitter : 0);
      this.queue.push({ at, seq: this.seq++, from: source, to, payload: Uint8Array.from(payload) });
    }
    this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
  }

  pollTimeout(): number | undefined {
    return this.queue[0]?.at;
  }

  handleTimeout(now: number): void {
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const d = this.queue.shift()!;
      this.deliver(d, now);
    }
  }

  private deliver(d: InFlight, now: number): void {
    // A router's public address: translate in, if a mapping and its filter allow.
    const router = [...this.routers.values()].find((r) => r.publicIp === d.to.address);
    let to = d.to;
    if (router) {
      const entry = router.reverse.get(d.to.port);
      if (!entry || !entry.contacted.has(`${d.from.address}:${d.from.port}`)) {
        this.stats.filtered++;
        return;
      }
      to = entry.inside;
    }
    const target = this.byIp.get(to.address);
    // A host behind a router is reachable only through the router's public address, or from
    // behind the same router.
    const sender = this.byIp.get(d.from.address);
    const hidden = !router && target?.router !== undefined && sender?.router !== target.router;
    if (!target || !target.online || hidden) {
      this.stats.noRoute++;
      return;
    }
    this.stats.delivered++;
    target.host.receive(d.from, to, d.payload, now);
  }

  private findReceiver(ip: string): Attachment | undefined {
    const direct = this.byIp.get(ip);
    if (direct) return direct;
    const router = [...this.routers.values()].find((r) => r.publicIp === ip);
    if (!router) return undefined;
    return [...this.byIp.values()].find((a) => a.router === router);
  }

  private translateOut(router: Router, from: TransportAddress, to: TransportAddress): TransportAddress {
    const key =
      router.type === 'cone'
        ? `${from.address}:${from.port}`
        : `${from.address}:${from.port}>${to.address}:${to.port}`;
    let port = router.mappings.get(key);
    if (port === undefined) {
      port = router.nextPort++;
      if (router.nextPort > 60_000) router.nextPort = 20_000;
      router.mappings.set(key, port);
      router.reverse.set(port, { inside: from, contacted: new Set() });
    }
    router.reverse.get(port)!.contacted.add(`${to.address}:${to.port}`);
    return { address: router.publicIp, port };
  }
}
