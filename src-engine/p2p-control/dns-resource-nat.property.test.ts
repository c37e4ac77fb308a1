/**
 * The client's DNS-resource NAT state machine against a minimal reference gateway over a network
 * that delivers, drops, duplicates and reorders control packets (docs/protocol.md §1.5–1.6). Whatever
 * happened, after a final quiet period (connections up, everything delivered, the 2 s re-sends
 * triggered by updates) the gateway's NAT table equals the client's confirmed assignments, every
 * entry is confirmed exactly when the gateway authorizes it, and every application packet was
 * either forwarded once or dropped within the buffer bounds and counted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildUdpPacket } from '../packet/index.js';
import { buildDomainStatus, decodeP2pControl, isP2pControlError } from './codec.js';
import { DNS_NAT_BUFFER } from './constants.js';
import { DnsResourceNat, type DnsNatAssignment, type DnsNatKey } from './dns-resource-nat.js';
import { PendingPeerPackets } from './pending-peer-packets.js';

const GATEWAYS = ['aaaaaaaa-0000-4000-8000-000000000000', 'aaaaaaaa-0000-4000-8000-000000000001'];
const RESOURCES = [
  'bbbbbbbb-0000-4000-8000-000000000000',
  'bbbbbbbb-0000-4000-8000-000000000001',
  'bbbbbbbb-0000-4000-8000-000000000002',
];
const DOMAINS = ['a.corp.example', 'b.corp.example', 'c.corp.example', 'd.corp.example'];

function proxyIpsOf(domain: number): string[] {
  const v4 = [1, 2, 3, 4].map((i) => `100.96.${domain}.${i}`);
  const v6 = [1, 2, 3, 4].map((i) => `fd00:2021:1111:8000::${domain + 1}:${i}`); // canonical text
  return [...v4, ...v6];
}

interface World {
  /** resource index → gateway index. */
  readonly gatewayOf: readonly number[];
  /** [resource][domain]: the client sees the domain as part of the resource. */
  readonly member: readonly (readonly boolean[])[];
  /** [resource][domain]: the gateway authorizes it (else it answers Inactive). */
  readonly authorized: readonly (readonly boolean[])[];
}

type Mode = 'deliver' | 'drop' | 'duplicate';
type Action =
  | { readonly type: 'dns'; readonly domain: number }
  | { readonly type: 'send'; readonly resource: number; readonly domain: number; readonly count: number }
  | { readonly type: 'advance'; readonly ms: number }
  | { readonly type: 'toGateway'; readonly index: number; readonly mode: Mode }
  | { readonly type: 'toClient'; readonly index: number; readonly mode: Mode }
  | { readonly type: 'establish'; readonly gateway: number }
  | { readonly type: 'disconnect'; readonly gateway: number }
  | { readonly type: 'disable'; readonly resource: number }
  | { readonly type: 'enable'; readonly resource: number };

const boolMatrix = fc.array(fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), {
  minLength: 3,
  maxLength: 3,
});
const worldArb: fc.Arbitrary<World> = fc.record({
  gatewayOf: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 3, maxLength: 3 }),
  member: boolMatrix,
  // Mostly authorized, so that most runs reach Active.
  authorized: fc.array(
    fc.array(
      fc.nat(4).map((n) => n > 0),
      { minLength: 4, maxLength: 4 },
    ),
    {
      minLength: 3,
      maxLength: 3,
    },
  ),
});
const modeArb = fc.constantFrom<Mode>('deliver', 'deliver', 'drop', 'duplicate');
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.record({ type: fc.constant('dns' as const), domain: fc.nat(3) }), weight: 3 },
  {
    arbitrary: fc.record({
      type: fc.constant('send' as const),
      resource: fc.nat(2),
      domain: fc.nat(3),
      count: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 20, max: 40 })),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ type: fc.constant('advance' as const), ms: fc.nat(3_000) }), weight: 2 },
  {
    arbitrary: fc.record({ type: fc.constant('toGateway' as const), index: fc.nat(), mode: modeArb }),
    weight: 4,
  },
  {
    arbitrary: fc.record({ type: fc.constant('toClient' as const), index: fc.nat(), mode: modeArb }),
    weight: 4,
  },
  { arbitrary: fc.record({ type: fc.constant('establish' as const), gateway: fc.nat(1) }), weight: 2 },
  { arbitrary: fc.record({ type: fc.constant('disconnect' as const), gateway: fc.nat(1) }), weight: 1 },
  { arbitrary: fc.record({ type: fc.constant('disable' as const), resource: fc.nat(2) }), weight: 1 },
  { arbitrary: fc.record({ type: fc.constant('enable' as const), resource: fc.nat(2) }), weight: 1 },
);

interface InFlight {
  readonly gateway: number;
  readonly packet: Uint8Array;
}

/** The gateway side of §1.6, reduced to its table: (resource, domain) → proxy IPs. */
class ReferenceGateway {
  readonly table = new Map<string, readonly string[]>();
  readonly revoked = new Set<string>();

  constructor(private readonly world: World) {}

  /** An `AssignedIps` arrived; returns the `DomainStatus` to send back, if any. */
  receive(packet: Uint8Array): Uint8Array | undefined {
    const event = decodeP2pControl(packet);
    if (isP2pControlError(event) || event.kind !== 'assigned_ips') return undefined;
    const r = RESOURCES.indexOf(event.resource);
    const d = DOMAINS.indexOf(event.domain);
    const ok = r >= 0 && d >= 0 && !this.revoked.has(event.resource) && this.world.authorized[r]![d]!;
    if (ok) this.table.set(`${event.resource}|${event.domain}`, event.proxyIps);
    const reply = buildDomainStatus({
      resource: event.resource,
      domain: event.domain,
      status: ok ? 'Active' : 'Inactive',
    });
    return isP2pControlError(reply) ? undefined : reply;
  }

  forgetResource(resource: string): void {
    for (const key of [...this.table.keys()]) if (key.startsWith(`${resource}|`)) this.table.delete(key);
  }
}

function keyText(key: DnsNatKey): string {
  return `${key.gatewayId}|${key.domain}|${key.resourceId}`;
}

function resourceOfControl(packet: Uint8Array): string | undefined {
  const event = decodeP2pControl(packet);
  if (isP2pControlError(event)) return undefined;
  return event.kind === 'assigned_ips' || event.kind === 'domain_status' ? event.resource : undefined;
}

class Harness {
  readonly nat = new DnsResourceNat();
  readonly peers = new PendingPeerPackets();
  readonly gateways: ReferenceGateway[];
  readonly connected = [false, false];
  readonly enabled = [true, true, true];
  toGateway: InFlight[] = [];
  toClient: InFlight[] = [];
  now = 0;
  private nextId = 0;
  /** Forwarded packets whose gateway NAT was checked (to show the runs reach that path). */
  checkedForwards = 0;
  /** Application packet id → its entry key, and what became of it. */
  private readonly keyOfPacket = new Map<number, DnsNatKey>();
  readonly fate = new Map<number, 'held' | 'forwarded' | 'dropped'>();
  /** Entry key → ids it holds. */
  private readonly held = new Map<string, Set<number>>();

  constructor(readonly world: World) {
    this.gateways = GATEWAYS.map(() => new ReferenceGateway(world));
  }

  assignment(resource: number, domain: number): DnsNatAssignment {
    return {
      gatewayId: GATEWAYS[this.world.gatewayOf[resource]!]!,
      domain: DOMAINS[domain]!,
      resourceId: RESOURCES[resource]!,
      proxyIps: proxyIpsOf(domain),
    };
  }

  apply(action: Action): void {
    switch (action.type) {
      case 'dns': {
        this.nat.recreate(DOMAINS[action.domain]!);
        for (let r = 0; r < RESOURCES.length; r++) {
          if (this.enabled[r] && this.world.member[r]![action.domain]) {
            this.nat.update(this.assignment(r, action.domain), this.now);
          }
        }
        break;
      }
      case 'send':
        if (!this.enabled[action.resource] || !this.world.member[action.resource]![action.domain]) break;
        for (let i = 0; i < action.count; i++) this.sendApp(this.assignment(action.resource, action.domain));
        break;
      case 'advance':
        this.now += action.ms;
        break;
      case 'toGateway':
        this.carry(this.toGateway, action, (item) => this.deliverToGateway(item));
        break;
      case 'toClient':
        this.carry(this.toClient, action, (item) => this.deliverToClient(item));
        break;
      case 'establish':
        this.establish(action.gateway);
        break;
      case 'disconnect': {
        // Goodbye / failed connection: both sides forget; nothing in flight survives the session.
        const g = action.gateway;
        this.connected[g] = false;
        this.discardHeld(
          (key) => key.gatewayId === GATEWAYS[g],
          () => this.nat.clearByGateway(GATEWAYS[g]!),
        );
        this.peers.clear(GATEWAYS[g]!);
        this.toGateway = this.toGateway.filter((item) => item.gateway !== g);
        this.toClient = this.toClient.filter((item) => item.gateway !== g);
        this.gateways[g]!.table.clear();
        break;
      }
      case 'disable': {
        // The resource is disabled on the client and its access revoked on the gateway; control
        // packets about it that have not arrived yet are gone with the authorization.
        const r = action.resource;
        const id = RESOURCES[r]!;
        this.enabled[r] = false;
        this.discardHeld(
          (key) => key.resourceId === id,
          () => this.nat.clearByResource(id),
        );
        const gateway = this.gateways[this.world.gatewayOf[r]!]!;
        gateway.forgetResource(id);
        gateway.revoked.add(id);
        const keep = (item: InFlight): boolean => resourceOfControl(item.packet) !== id;
        this.toGateway = this.toGateway.filter(keep);
        this.toClient = this.toClient.filter(keep);
        for (const peer of this.peers.waitingPeers()) {
          for (const packet of this.peers.take(peer))
            if (resourceOfControl(packet) !== id) this.peers.push(peer, packet);
        }
        break;
      }
      case 'enable':
        this.enabled[action.resource] = true;
        this.gateways[this.world.gatewayOf[action.resource]!]!.revoked.delete(RESOURCES[action.resource]!);
        break;
    }
    this.pump();
  }

  /** The final quiet period: connections up, reliable delivery, re-sends by update every 2 s. */
  settle(): void {
    for (let g = 0; g < GATEWAYS.length; g++) this.establish(g);
    for (let round = 0; round < 5; round++) {
      this.pump();
      while (this.toGateway.length > 0 || this.toClient.length > 0) {
        this.carry(this.toGateway, { index: 0, mode: 'deliver' }, (item) => this.deliverToGateway(item));
        this.carry(this.toClient, { index: 0, mode: 'deliver' }, (item) => this.deliverToClient(item));
        this.pump();
      }
      const open = this.nat
        .list()
        .filter((entry) => entry.state === 'pending' || entry.state === 'recreating');
      if (open.length === 0) return;
      this.now += 2_000;
      for (const entry of open) this.nat.update(entry, this.now);
    }
  }

  private sendApp(assignment: DnsNatAssignment): void {
    const id = this.nextId++;
    const packet = buildUdpPacket({
      src: Uint8Array.from([100, 64, 0, 2]),
      dst: Uint8Array.from([100, 96, 0, 1]),
      srcPort: 40000,
      dstPort: 443,
      payload: Uint8Array.from([id >>> 24, id >>> 16, id >>> 8, id]),
    }) as Uint8Array;
    this.keyOfPacket.set(id, assignment);
    this.route(id, packet);
  }

  /** The client's routing of a packet to a proxy IP (first time or re-injected). */
  private route(id: number, packet: Uint8Array): void {
    const key = this.keyOfPacket.get(id)!;
    const before = this.nat.list().find((entry) => keyText(entry) === keyText(key));
    const verdict = this.nat.handleOutgoing(key, packet, this.now);
    if (verdict === 'buffered') {
      this.fate.set(id, 'held');
      const set = this.held.get(keyText(key)) ?? new Set<number>();
      set.add(id);
      this.held.set(keyText(key), set);
      return;
    }
    if (verdict === 'dropped') {
      // Only a full buffer drops.
      expect(before?.buffered).toBe(DNS_NAT_BUFFER);
      this.fate.set(id, 'dropped');
      return;
    }
    expect(this.fate.get(id) === 'forwarded').toBe(false);
    this.fate.set(id, 'forwarded');
    // A pending entry that buffers never lets a packet through.
    expect(before !== undefined && before.state === 'pending' && before.shouldBuffer).toBe(false);
    // Nothing passes a confirmed (or refreshing) entry before the gateway has its NAT.
    if (before && (before.state === 'confirmed' || !before.shouldBuffer) && before.state !== 'failed') {
      this.checkedForwards++;
      const gateway = this.gateways[GATEWAYS.indexOf(key.gatewayId)]!;
      expect(gateway.table.get(`${key.resourceId}|${key.domain}`)).toEqual(
        proxyIpsOf(DOMAINS.indexOf(key.domain)),
      );
    }
  }

  private discardHeld(matches: (key: DnsNatKey) => boolean, clear: () => number): void {
    let expected = 0;
    for (const [text, ids] of [...this.held]) {
      const [gatewayId, domain, resourceId] = text.split('|') as [string, string, string];
      if (!matches({ gatewayId, domain, resourceId })) continue;
      for (const id of ids) this.fate.set(id, 'dropped');
      expected += ids.size;
      this.held.delete(text);
    }
    expect(clear()).toBe(expected);
  }

  private establish(g: number): void {
    this.connected[g] = true;
    for (const packet of this.peers.take(GATEWAYS[g]!)) this.toGateway.push({ gateway: g, packet });
  }

  private carry(
    queue: InFlight[],
    how: { index: number; mode: Mode },
    deliver: (item: InFlight) => void,
  ): void {
    if (queue.length === 0) return;
    const at = how.index % queue.length;
    const item = queue[at]!;
    if (how.mode !== 'duplicate') queue.splice(at, 1);
    if (how.mode !== 'drop') deliver(item);
  }

  private deliverToGateway(item: InFlight): void {
    const reply = this.gateways[item.gateway]!.receive(item.packet);
    // The gateway never buffers: without a connection the reply is lost.
    if (reply && this.connected[item.gateway]) this.toClient.push({ gateway: item.gateway, packet: reply });
  }

  private deliverToClient(item: InFlight): void {
    const event = decodeP2pControl(item.packet);
    if (isP2pControlError(event) || event.kind !== 'domain_status') return;
    this.nat.handleDomainStatus(GATEWAYS[item.gateway]!, event);
  }

  /** Moves the state machine's outputs: control packets to the network, re-injected packets to routing. */
  private pump(): void {
    for (let out = this.nat.pollControlPacket(); out; out = this.nat.pollControlPacket()) {
      const g = GATEWAYS.indexOf(out.gatewayId);
      if (this.connected[g]) this.toGateway.push({ gateway: g, packet: out.packet });
      else expect(this.peers.push(out.gatewayId, out.packet)).toBe(true);
    }
    for (let packet = this.nat.pollReinject(); packet; packet = this.nat.pollReinject()) {
      const n = packet.length;
      const id =
        ((packet[n - 4]! << 24) | (packet[n - 3]! << 16) | (packet[n - 2]! << 8) | packet[n - 1]!) >>> 0;
      const text = keyText(this.keyOfPacket.get(id)!);
      expect(this.held.get(text)?.delete(id)).toBe(true);
      this.route(id, packet);
    }
    // The model's idea of what is held matches the state machine's.
    const heldNow = [...this.held.values()].reduce((sum, ids) => sum + ids.size, 0);
    expect(this.nat.list().reduce((sum, entry) => sum + entry.buffered, 0)).toBe(heldNow);
  }
}

describe('DnsResourceNat against a reference gateway over a lossy, reordering network', () => {
  it('ends with the gateway table equal to the client assignments, no packet unaccounted', () => {
    const seen = { checkedForwards: 0, bufferFull: 0, cleared: 0, confirmed: 0, failed: 0 };
    fc.assert(
      fc.property(
        worldArb,
        fc.array(actionArb, { minLength: 10, maxLength: 80, size: 'max' }),
        (world, actions) => {
          const h = new Harness(world);
          for (const action of actions) h.apply(action);
          h.settle();
          seen.checkedForwards += h.checkedForwards;
          seen.bufferFull += h.nat.counters.get('buffer_full') ?? 0;
          seen.cleared += h.nat.counters.get('cleared') ?? 0;

          const entries = h.nat.list();
          for (const entry of entries) {
            expect(entry.state === 'confirmed' || entry.state === 'failed').toBe(true);
            const r = RESOURCES.indexOf(entry.resourceId);
            const d = DOMAINS.indexOf(entry.domain);
            expect(entry.state === 'confirmed').toBe(world.authorized[r]![d]!);
            expect(entry.buffered).toBe(0);
            seen[entry.state === 'confirmed' ? 'confirmed' : 'failed']++;
          }
          for (let g = 0; g < GATEWAYS.length; g++) {
            const expected = new Map(
              entries
                .filter((entry) => entry.gatewayId === GATEWAYS[g] && entry.state === 'confirmed')
                .map((entry) => [`${entry.resourceId}|${entry.domain}`, entry.proxyIps] as const),
            );
            expect(new Map(h.gateways[g]!.table)).toEqual(expected);
          }

          const fates = [...h.fate.values()];
          expect(fates.includes('held')).toBe(false);
          const dropped = fates.filter((fate) => fate === 'dropped').length;
          const counted = (h.nat.counters.get('buffer_full') ?? 0) + (h.nat.counters.get('cleared') ?? 0);
          expect(counted).toBe(dropped);
          expect(h.peers.dropped).toBe(0);
        },
      ),
      { numRuns: 400 },
    );
    // The runs exercise every path the property speaks about.
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(0);
  });

  it('reaches Active through loss alone: every AssignedIps and DomainStatus dropped until the end', () => {
    const world: World = {
      gatewayOf: [0, 1, 0],
      member: [
        [true, true, false, false],
        [true, false, true, false],
        [false, false, false, true],
      ],
      authorized: [
        [true, true, true, true],
        [true, true, true, true],
        [true, true, true, true],
      ],
    };
    const h = new Harness(world);
    h.apply({ type: 'establish', gateway: 0 });
    h.apply({ type: 'establish', gateway: 1 });
    for (let d = 0; d < 4; d++) h.apply({ type: 'dns', domain: d });
    for (let i = 0; i < 10; i++) {
      h.apply({ type: 'send', resource: 0, domain: 0, count: 5 });
      h.apply({ type: 'toGateway', index: 0, mode: 'drop' });
      h.apply({ type: 'advance', ms: 2_100 });
    }
    expect([...h.fate.values()].filter((fate) => fate === 'dropped')).toHaveLength(50 - DNS_NAT_BUFFER);
    h.settle();
    expect(h.nat.list().every((entry) => entry.state === 'confirmed')).toBe(true);
    expect([...h.fate.values()].filter((fate) => fate === 'forwarded')).toHaveLength(DNS_NAT_BUFFER);
  });
});
