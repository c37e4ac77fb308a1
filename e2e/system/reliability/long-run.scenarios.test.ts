/**
 * A client and a gateway left running for 30 minutes of virtual time (the deterministic
 * simulation: production client, gateway, ICE, TURN, WireGuard and portal-session code on a
 * simulated network), with a ping every 10 s: through every WireGuard rekey (each 2 minutes), TURN
 * refreshes and portal heartbeats, every echo after the first comes back, and neither the engine's
 * state nor the heap grows between the 5th and the 30th minute.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  buildIcmpEcho,
  isPacketError,
  parseIpAddress,
  parseIpPacket,
} from '../../../src-engine/packet/index.js';
import { buildWorld, type World } from '../../../sim/world.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function ping(w: World, seq: number): Uint8Array {
  return buildIcmpEcho({
    src: parseIpAddress(w.client.state.tunnelAddresses!.ipv4)!,
    dst: parseIpAddress('10.20.1.5')!,
    echo: 'request',
    identifier: 9,
    sequence: seq,
    payload: new Uint8Array(56).fill(seq & 0xff),
  }) as Uint8Array;
}

/** Echo replies the client's TUN got since the last call (the list is emptied: it would grow). */
function takeReplies(w: World): Set<number> {
  const seqs = new Set<number>();
  for (const packet of w.client.tun.splice(0)) {
    const p = parseIpPacket(packet);
    if (isPacketError(p) || p.protocol !== 1 || packet[p.payloadOffset] !== 0) continue;
    seqs.add((packet[p.payloadOffset + 6]! << 8) | packet[p.payloadOffset + 7]!);
  }
  for (const gateway of w.gateways) gateway.forwarded.length = 0;
  return seqs;
}

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('long-run scenarios', () => {
  it('30 minutes of virtual time through rekeys: every echo answered, no growth of state or heap', () => {
    const w = buildWorld({ seed: 'long-run-30min', clientNat: 'cone', siteNat: 'cone' });
    w.run(2_000);
    let seq = 0;
    // Set-up: the first echo asks for access; wait until one comes back.
    for (let t = 0; t < 20_000 && takeReplies(w).size === 0; t += 500) {
      w.client.send(ping(w, ++seq));
      w.run(500);
    }
    const gatewayId = w.client.state.gatewayList()[0]?.id;
    expect(gatewayId, 'the client never connected').toBeDefined();

    const handshakes = new Set<number>();
    let sent = 0;
    let answered = 0;
    let baseline: { heap: number; state: string } | undefined;
    const stateSizes = (): string =>
      JSON.stringify({
        gateways: w.client.state.gatewayList().map((g) => [g.connected, g.buffered, g.resources.length]),
        dnsNat: w.client.state.dnsNatList().length,
        relays: w.client.node.relayIds().length,
      });
    for (let minute = 0; minute < 30; minute++) {
      for (let i = 0; i < 6; i++) {
        w.client.send(ping(w, ++seq));
        sent++;
        w.run(10_000);
        if (takeReplies(w).has(seq)) answered++;
        const at = w.client.node.connectionInfo(gatewayId!)?.lastHandshakeAt;
        if (at !== undefined) handshakes.add(at);
      }
      if (minute === 4) baseline = { heap: heapUsed(), state: stateSizes() };
    }
    expect(answered, `${sent - answered} of ${sent} echoes lost`).toBe(sent);
    // A new session every 2 minutes (REKEY_AFTER_TIME): about 15 in 30 minutes.
    expect(handshakes.size).toBeGreaterThanOrEqual(12);
    expect(stateSizes()).toBe(baseline!.state);
    const growth = heapUsed() - baseline!.heap;
    expect(growth, `heap grew by ${(growth / 1024).toFixed(0)} KiB in 25 virtual minutes`).toBeLessThan(
      4 * 1024 * 1024,
    );
    expect(w.client.problems).toEqual([]);
    for (const gateway of w.gateways) expect(gateway.problems).toEqual([]);
  }, 120_000);

  it('the portal down for 5 virtual minutes: the tunnel keeps carrying traffic; after, a new flow works', () => {
    const w = buildWorld({ seed: 'portal-down-5min', clientNat: 'cone', siteNat: 'cone' });
    w.run(2_000);
    let seq = 0;
    for (let t = 0; t < 20_000 && takeReplies(w).size === 0; t += 500) {
      w.client.send(ping(w, ++seq));
      w.run(500);
    }
    expect(w.client.state.gatewayList()[0]?.connected).toBe(true);
    w.portal.setDown(true);
    let sent = 0;
    let answered = 0;
    for (let t = 0; t < 5 * 60_000; t += 10_000) {
      w.client.send(ping(w, ++seq));
      sent++;
      w.run(10_000);
      if (takeReplies(w).has(seq)) answered++;
    }
    // Rekeys happen between the peers alone: nothing of the data path needs the portal.
    expect(answered, `${sent - answered} of ${sent} echoes lost while the portal was down`).toBe(sent);
    expect(w.client.link.state.status).not.toBe('joined');
    w.portal.setDown(false);
    w.run(60_000);
    expect(w.client.link.state.status).toBe('joined');
    w.client.send(ping(w, ++seq));
    w.run(5_000);
    expect(takeReplies(w).has(seq)).toBe(true);
  }, 120_000);
});
