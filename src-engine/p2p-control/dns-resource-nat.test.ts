import { describe, expect, it } from 'vitest';
import { buildTcpPacket, buildUdpPacket } from '../packet/index.js';
import { decodeP2pControl } from './codec.js';
import { DnsResourceNat, type DnsNatAssignment, type DnsNatKey } from './dns-resource-nat.js';
import { PendingPeerPackets } from './pending-peer-packets.js';

const GATEWAY = 'aaaaaaaa-0000-4000-8000-000000000001';
const OTHER_GATEWAY = 'aaaaaaaa-0000-4000-8000-000000000002';
const RESOURCE = '03000143-e25e-45c7-aafb-144990e57dcd';
const OTHER_RESOURCE = '03000143-e25e-45c7-aafb-144990e57dce';
const PROXY_IPS = ['100.96.0.1', '100.96.0.2', '100.96.0.3', '100.96.0.4'];
const ASSIGNMENT: DnsNatAssignment = {
  gatewayId: GATEWAY,
  domain: 'gitlab.mycorp.com',
  resourceId: RESOURCE,
  proxyIps: PROXY_IPS,
};
const KEY: DnsNatKey = ASSIGNMENT;

function packet(n: number): Uint8Array {
  return buildUdpPacket({
    src: Uint8Array.from([100, 64, 0, 2]),
    dst: Uint8Array.from([100, 96, 0, 1]),
    srcPort: 40000,
    dstPort: 443,
    payload: Uint8Array.from([n >> 8, n & 0xff]),
  }) as Uint8Array;
}

function drainControl(nat: DnsResourceNat): { gatewayId: string; event: unknown }[] {
  const out = [];
  for (let p = nat.pollControlPacket(); p; p = nat.pollControlPacket()) {
    out.push({ gatewayId: p.gatewayId, event: decodeP2pControl(p.packet) });
  }
  return out;
}

function drainReinject(nat: DnsResourceNat): Uint8Array[] {
  const out = [];
  for (let p = nat.pollReinject(); p; p = nat.pollReinject()) out.push(p);
  return out;
}

const active = { resource: RESOURCE, domain: 'gitlab.mycorp.com', status: 'Active' as const };
const inactive = { ...active, status: 'Inactive' as const };

describe('DnsResourceNat', () => {
  it('creates an entry on update: AssignedIps queued for the gateway, pending and buffering', () => {
    const nat = new DnsResourceNat();
    nat.update(ASSIGNMENT, 1_000);
    expect(drainControl(nat)).toEqual([
      {
        gatewayId: GATEWAY,
        event: { kind: 'assigned_ips', resource: RESOURCE, domain: 'gitlab.mycorp.com', proxyIps: PROXY_IPS },
      },
    ]);
    expect(nat.stateOf(KEY)).toBe('pending');
    expect(nat.list()).toEqual([{ ...ASSIGNMENT, state: 'pending', shouldBuffer: true, buffered: 0 }]);
  });

  it('passes packets through when there is no entry', () => {
    const nat = new DnsResourceNat();
    expect(nat.handleOutgoing(KEY, packet(1), 0)).toBe('forward');
    expect(drainControl(nat)).toEqual([]);
  });

  it('buffers while pending, re-sends only when 2 s have passed, re-injects in order on Active', () => {
    const nat = new DnsResourceNat();
    nat.update(ASSIGNMENT, 0);
    drainControl(nat);
    expect(nat.handleOutgoing(KEY, packet(1), 500)).toBe('buffered');
    expect(nat.handleOutgoing(KEY, packet(2), 1_999)).toBe('buffered');
    expect(drainControl(nat)).toEqual([]);
    expect(nat.handleOutgoing(KEY, packet(3), 2_000)).toBe('buffered');
    expect(drainControl(nat)).toHaveLength(1);
    expect(nat.handleOutgoing(KEY, packet(4), 3_999)).toBe('buffered');
    expect(drainControl(nat)).toHaveLength(0);
    // update also re-sends, under the same 2 s rule.
    nat.update(ASSIGNMENT, 3_000);
    expect(drainControl(nat)).toHaveLength(0);
    nat.update(ASSIGNMENT, 4_000);
    expect(drainControl(nat)).toHaveLength(1);

    expect(nat.handleDomainStatus(GATEWAY, active)).toBe(true);
    expect(nat.stateOf(KEY)).toBe('confirmed');
    expect(drainReinject(nat)).toEqual([packet(1), packet(2), packet(3), packet(4)]);
    expect(nat.handleOutgoing(KEY, packet(5), 10_000)).toBe('forward');
    expect(drainControl(nat)).toEqual([]);
  });

  it('fails on Inactive: held packets go out (the gateway answers them), later ones pass', () => {
    const nat = new DnsResourceNat();
    nat.update(ASSIGNMENT, 0);
    nat.handleOutgoing(KEY, packet(1), 1);
    nat.handleDomainStatus(GATEWAY, inactive);
    expect(nat.stateOf(KEY)).toBe('failed');
    expect(drainReinject(nat)).toEqual([packet(1)]);
    expect(nat.handleOutgoing(KEY, packet(2), 5_000)).toBe('forward');
  });

  it('holds at most 32 distinct packets per entry, stores duplicates once, counts the drops', () => {
    const nat = new DnsResourceNat();
    nat.update(ASSIGNMENT, 0);
    for (let i = 0; i < 32; i++) expect(nat.handleOutgoing(KEY, packet(i), 1)).toBe('buffered');
    expect(nat.handleOutgoing(KEY, packet(5), 1)).toBe('buffered'); // duplicate: kept once
    expect(nat.handleOutgoing(KEY, packet(32), 1)).toBe('dropped');
    expect(nat.handleOutgoing(KEY, packet(33), 1)).toBe('dropped');
    expect(nat.counters.get('buffer_full')).toBe(2);
    expect(nat.list()[0]!.buffered).toBe(32);
    nat.handleDomainStatus(GATEWAY, active);
    expect(drainReinject(nat)).toHaveLength(32);
  });

  it('replaces a retransmitted TCP SYN in the buffer (the shared unique buffer)', () => {
    const nat = new DnsResourceNat();
    nat.update(ASSIGNMENT, 0);
    const syn = (seq: number): Uint8Array =>
      buildTcpPacket({
        src: Uint8Array.from([100, 64, 0, 2]),
        dst: Uint8Array.from([100, 96, 0, 1]),
        srcPort: 40000,
        dstPort: 443,
        sequenceNumber: seq,
        flags: 0x02,
      }) as Uint8Array;
    nat.handleOutgoing(KEY, syn(1), 1);
    nat.handleOutgoing(KEY, syn(2), 2);
    nat.handleDomainStatus(GATEWAY, active);
    expect(drainReinject(nat)).toEqual([syn(2)]);
  });

  it('a DNS query refreshes a confirmed entry without interrupting traffic', () => {
    const nat = new DnsResourceNat();
    nat.update(ASSIGNMENT, 0);
    nat.handleDomainStatus(GATEWAY, active);
    drainControl(nat);
    nat.recreate('gitlab.mycorp.com');
    expect(nat.stateOf(KEY)).toBe('recreating');
    expect(nat.handleOutgoing(KEY, packet(1), 100)).toBe('forward');
    nat.update(ASSIGNMENT, 200); // recreating → pending: sent at once, whatever the time
    expect(drainControl(nat)).toHaveLength(1);
    expect(nat.list()[0]).toMatchObject({ state: 'pending', shouldBuffer: false });
    expect(nat.handleOutgoing(KEY, packet(2), 300)).toBe('forward');
    expect(drainControl(nat)).toHaveLength(0);
    expect(nat.handleOutgoing(KEY, packet(3), 2_200)).toBe('forward');
    expect(drainControl(nat)).toHaveLength(1); // lost DomainStatus: the next packet ≥ 2 s re-sends
    nat.handleDomainStatus(GATEWAY, active);
    expect(nat.stateOf(KEY)).toBe('confirmed');
    expect(drainReinject(nat)).toEqual([]);
  });

  it('a DNS query retries a failed entry, buffering again once updated', () => {
    const nat = new DnsResourceNat();
    nat.update(ASSIGNMENT, 0);
    nat.handleDomainStatus(GATEWAY, inactive);
    drainControl(nat);
    nat.recreate('GitLab.MyCorp.com'); // case-insensitive
    expect(nat.list()[0]).toMatchObject({ state: 'recreating', shouldBuffer: true });
    expect(nat.handleOutgoing(KEY, packet(1), 10)).toBe('forward');
    nat.update(ASSIGNMENT, 20);
    expect(drainControl(nat)).toHaveLength(1);
    expect(nat.handleOutgoing(KEY, packet(2), 30)).toBe('buffered');
  });

  it('leaves pending entries alone on recreate, and confirmed/failed ones alone on update', () => {
    const nat = new DnsResourceNat();
    nat.update(ASSIGNMENT, 0);
    nat.recreate('gitlab.mycorp.com');
    expect(nat.stateOf(KEY)).toBe('pending');
    nat.handleDomainStatus(GATEWAY, active);
    drainControl(nat);
    nat.update(ASSIGNMENT, 10_000);
    expect(nat.stateOf(KEY)).toBe('confirmed');
    expect(drainControl(nat)).toEqual([]);
  });

  it('keys entries by gateway, domain and resource: one domain of two resources, two gateways', () => {
    const nat = new DnsResourceNat();
    const second: DnsNatAssignment = { ...ASSIGNMENT, resourceId: OTHER_RESOURCE, gatewayId: OTHER_GATEWAY };
    nat.update(ASSIGNMENT, 0);
    nat.update(second, 0);
    expect(drainControl(nat).map((out) => out.gatewayId)).toEqual([GATEWAY, OTHER_GATEWAY]);
    // A status from the wrong gateway matches nothing.
    expect(nat.handleDomainStatus(OTHER_GATEWAY, active)).toBe(false);
    expect(nat.counters.get('unknown_entry')).toBe(1);
    nat.handleDomainStatus(GATEWAY, active);
    expect(nat.stateOf(KEY)).toBe('confirmed');
    expect(nat.stateOf(second)).toBe('pending');
    nat.recreate('gitlab.mycorp.com');
    expect(nat.stateOf(KEY)).toBe('recreating');
    expect(nat.stateOf(second)).toBe('pending');
  });

  it('moves packets that waited for the authorization into the new entry', () => {
    const nat = new DnsResourceNat();
    nat.update(ASSIGNMENT, 0, [packet(1), packet(2)]);
    expect(nat.list()[0]!.buffered).toBe(2);
    nat.handleDomainStatus(GATEWAY, active);
    expect(drainReinject(nat)).toEqual([packet(1), packet(2)]);
    // On a confirmed entry they are handed straight back.
    nat.update(ASSIGNMENT, 1, [packet(3)]);
    expect(drainReinject(nat)).toEqual([packet(3)]);
  });

  it('re-announces renumbered proxy IPs and buffers until confirmed', () => {
    const nat = new DnsResourceNat();
    nat.update(ASSIGNMENT, 0);
    nat.handleDomainStatus(GATEWAY, active);
    drainControl(nat);
    const renumbered = { ...ASSIGNMENT, proxyIps: ['100.96.0.5', '100.96.0.6', '100.96.0.7', '100.96.0.8'] };
    nat.update(renumbered, 1);
    expect(drainControl(nat)).toEqual([
      { gatewayId: GATEWAY, event: expect.objectContaining({ proxyIps: renumbered.proxyIps }) },
    ]);
    expect(nat.handleOutgoing(KEY, packet(1), 2)).toBe('buffered');
  });

  it('refuses an assignment that cannot make an AssignedIps, handing its packets back', () => {
    const nat = new DnsResourceNat();
    nat.update({ ...ASSIGNMENT, proxyIps: ['100.96.0.1'] }, 0, [packet(1)]);
    expect(nat.size).toBe(0);
    expect(nat.counters.get('bad_assignment')).toBe(1);
    expect(drainReinject(nat)).toEqual([packet(1)]);
    expect(drainControl(nat)).toEqual([]);
  });

  it('ignores a status for no entry, and a late status confirms whatever exists', () => {
    const nat = new DnsResourceNat();
    expect(nat.handleDomainStatus(GATEWAY, active)).toBe(false);
    nat.update(ASSIGNMENT, 0);
    nat.handleDomainStatus(GATEWAY, inactive);
    nat.handleDomainStatus(GATEWAY, active); // reordered duplicate of an older answer
    expect(nat.stateOf(KEY)).toBe('confirmed');
  });

  it('clears by gateway and by resource, counting the held packets', () => {
    const nat = new DnsResourceNat();
    const second: DnsNatAssignment = { ...ASSIGNMENT, resourceId: OTHER_RESOURCE, gatewayId: OTHER_GATEWAY };
    nat.update(ASSIGNMENT, 0);
    nat.update(second, 0);
    nat.handleOutgoing(KEY, packet(1), 1);
    nat.handleOutgoing(second, packet(2), 1);
    nat.handleOutgoing(second, packet(3), 1);
    expect(nat.clearByGateway(GATEWAY)).toBe(1);
    expect(nat.stateOf(KEY)).toBeUndefined();
    expect(nat.clearByResource(OTHER_RESOURCE.toUpperCase())).toBe(2);
    expect(nat.size).toBe(0);
    expect(nat.counters.get('cleared')).toBe(3);
    expect(nat.handleDomainStatus(GATEWAY, active)).toBe(false);
    expect(drainReinject(nat)).toEqual([]);
  });
});

describe('PendingPeerPackets', () => {
  it('holds up to 128 distinct packets per peer and flushes them oldest first', () => {
    const pending = new PendingPeerPackets();
    for (let i = 0; i < 130; i++) pending.push(GATEWAY, packet(i));
    pending.push(GATEWAY, packet(0));
    pending.push(OTHER_GATEWAY, packet(1));
    expect(pending.count(GATEWAY)).toBe(128);
    expect(pending.dropped).toBe(2);
    expect(pending.waitingPeers().sort()).toEqual([GATEWAY, OTHER_GATEWAY]);
    const flushed = pending.take(GATEWAY);
    expect(flushed).toHaveLength(128);
    expect(flushed[0]).toEqual(packet(0));
    expect(flushed[127]).toEqual(packet(127));
    expect(pending.take(GATEWAY)).toEqual([]);
    expect(pending.clear(OTHER_GATEWAY)).toBe(1);
    expect(pending.waitingPeers()).toEqual([]);
  });

  it('stores a re-sent AssignedIps once', () => {
    const nat = new DnsResourceNat();
    const pending = new PendingPeerPackets();
    nat.update(ASSIGNMENT, 0);
    nat.handleOutgoing(KEY, packet(1), 2_000);
    for (let out = nat.pollControlPacket(); out; out = nat.pollControlPacket()) {
      pending.push(out.gatewayId, out.packet);
    }
    expect(pending.count(GATEWAY)).toBe(1);
  });
});
