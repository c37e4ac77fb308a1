/**
 * Two nodes, a client (controlling) and a gateway (controlled), on an in-memory UDP network with
 * a virtual clock: candidates travel "through the portal" (this test), ICE nominates a pair, the
 * WireGuard handshake runs on it, and IP packets flow both ways.
 */
import { describe, expect, it } from 'vitest';
import { buildUdpPacket, parseIpAddress } from '../packet/index.js';
import { defaultBackend } from '../wireguard/crypto/index.js';
import type { TransportAddress } from '../ice/transport-address.js';
import type { ConnectionSetup } from '../tunnel/peer-node.js';
import { iceAgentFactory } from './ice-agent-adapter.js';
import { METHOD_BINDING } from '../ice/constants.js';
import { shortTermKey } from '../ice/stun/credentials.js';
import { encodeMessage } from '../ice/stun/message.js';
import { Node } from './node.js';

const crypto = defaultBackend();
const ip = (text: string): Uint8Array => parseIpAddress(text)!;

interface Host {
  name: string;
  address: TransportAddress;
  node: Node;
  received: [string, Uint8Array][];
}

interface Net {
  now: number;
  hosts: Host[];
  /** Drop a datagram when this returns true. */
  lossy: (from: TransportAddress, to: TransportAddress) => boolean;
  step(): boolean;
  run(ms: number): void;
}

function network(): Net {
  const inflight: { at: number; from: TransportAddress; to: TransportAddress; payload: Uint8Array }[] = [];
  const net: Net = {
    now: 1_000,
    hosts: [],
    lossy: () => false,
    step() {
      let busy = false;
      for (const host of net.hosts) {
        for (let t = host.node.pollTransmit(); t; t = host.node.pollTransmit()) {
          busy = true;
          if (!net.lossy(host.address, t.to))
            inflight.push({ at: net.now + 5, from: host.address, to: t.to, payload: t.payload });
        }
      }
      inflight.sort((a, b) => a.at - b.at);
      while (inflight.length > 0 && inflight[0]!.at <= net.now) {
        const d = inflight.shift()!;
        const host = net.hosts.find(
          (h) => h.address.address === d.to.address && h.address.port === d.to.port,
        );
        if (!host) continue;
        busy = true;
        const r = host.node.handleDatagram(d.from, d.payload, net.now);
        if (r) host.received.push([r.connection, r.packet]);
      }
      return busy;
    },
    run(ms) {
      const end = net.now + ms;
      while (net.now < end) {
        while (net.step()) {
          /* drain at this instant */
        }
        const timeouts = net.hosts
          .map((h) => h.node.pollTimeout())
          .filter((t): t is number => t !== undefined);
        const next = Math.min(end, net.now + 5, ...timeouts, ...inflight.map((d) => d.at));
        net.now = Math.max(net.now + 1, next);
        for (const h of net.hosts) {
          const t = h.node.pollTimeout();
          if (t !== undefined && t <= net.now) h.node.handleTimeout(net.now);
        }
      }
    },
  };
  return net;
}

function host(net: Net, name: string, address: string, seed: number): Host {
  const h: Host = {
    name,
    address: { address, port: 52625 },
    node: new Node({ crypto, privateKey: new Uint8Array(32).fill(seed), createAgent: iceAgentFactory() }),
    received: [],
  };
  h.node.setHostAddresses([h.address], net.now);
  net.hosts.push(h);
  return h;
}

const CREDS = {
  client: { username: 'cccc', password: 'c'.repeat(22) },
  gateway: { username: 'gggg', password: 'g'.repeat(22) },
};

function setups(client: Host, gateway: Host): { c: ConnectionSetup; g: ConnectionSetup } {
  const psk = new Uint8Array(32).fill(9);
  return {
    c: {
      role: 'controlling',
      remotePublicKey: gateway.node.publicKey,
      presharedKey: psk,
      localCredentials: CREDS.client,
      remoteCredentials: CREDS.gateway,
    },
    g: {
      role: 'controlled',
      remotePublicKey: client.node.publicKey,
      presharedKey: psk,
      localCredentials: CREDS.gateway,
      remoteCredentials: CREDS.client,
    },
  };
}

/** Forwards candidate events between the two, as the portal does. */
function signal(net: Net, client: Host, gateway: Host): string[] {
  const established: string[] = [];
  for (const [from, to, id] of [
    [client, gateway, client.name],
    [gateway, client, gateway.name],
  ] as const) {
    for (let e = from.node.pollEvent(); e; e = from.node.pollEvent()) {
      if (e.type === 'new_ice_candidate') to.node.addRemoteCandidate(id, e.candidate, net.now);
      if (e.type === 'connection_established') established.push(from.name);
      if (e.type === 'connection_failed') established.push(`${from.name} failed: ${e.reason}`);
    }
  }
  return established;
}

function connect(net: Net, client: Host, gateway: Host, budgetMs = 3_000): string[] {
  const { c, g } = setups(client, gateway);
  gateway.node.upsertConnection(client.name, g, net.now);
  client.node.upsertConnection(gateway.name, c, net.now);
  const events: string[] = [];
  for (let t = 0; t < budgetMs; t += 10) {
    events.push(...signal(net, client, gateway));
    net.run(10);
    if (client.node.isConnected(gateway.name) && gateway.node.isConnected(client.name)) break;
  }
  events.push(...signal(net, client, gateway));
  return events;
}

function packet(src: string, dst: string, byte: number): Uint8Array {
  return buildUdpPacket({
    src: ip(src),
    dst: ip(dst),
    srcPort: 1000,
    dstPort: 2000,
    payload: new Uint8Array([byte]),
  }) as Uint8Array;
}

describe('Node', () => {
  it('connects over host candidates and carries packets both ways', () => {
    const net = network();
    const client = host(net, 'client', '10.1.0.2', 1);
    const gateway = host(net, 'gateway', '10.2.0.2', 2);
    const events = connect(net, client, gateway);
    expect(events).toContain('client');
    expect(client.node.isConnected('gateway')).toBe(true);
    expect(gateway.node.isConnected('client')).toBe(true);
    expect(client.node.encapsulate('gateway', packet('100.64.0.2', '10.20.0.5', 7), net.now)).toBe('sent');
    net.run(50);
    expect(gateway.received.map(([from, p]) => [from, p.at(-1)])).toEqual([['client', 7]]);
    expect(gateway.node.encapsulate('client', packet('10.20.0.5', '100.64.0.2', 8), net.now)).toBe('sent');
    net.run(50);
    expect(client.received.map(([from, p]) => [from, p.at(-1)])).toEqual([['gateway', 8]]);
    const info = client.node.connectionInfo('gateway')!;
    expect(info.state).toBe('connected');
    expect(info.path).toMatchObject({ localKind: 'host', remoteKind: 'host', relayed: false });
  });

  it('says connecting before the path exists, and unknown for no connection', () => {
    const net = network();
    const client = host(net, 'client', '10.1.0.2', 1);
    const gateway = host(net, 'gateway', '10.2.0.2', 2);
    expect(client.node.encapsulate('gateway', packet('100.64.0.2', '10.20.0.5', 1), net.now)).toBe(
      'unknown_connection',
    );
    client.node.upsertConnection('gateway', setups(client, gateway).c, net.now);
    expect(client.node.encapsulate('gateway', packet('100.64.0.2', '10.20.0.5', 1), net.now)).toBe(
      'connecting',
    );
  });

  it('never connects with mismatched keys, and fails the connection with a reason', () => {
    const net = network();
    const client = host(net, 'client', '10.1.0.2', 1);
    const gateway = host(net, 'gateway', '10.2.0.2', 2);
    const { c, g } = setups(client, gateway);
    gateway.node.upsertConnection('client', { ...g, presharedKey: new Uint8Array(32).fill(1) }, net.now);
    client.node.upsertConnection('gateway', c, net.now);
    const events: string[] = [];
    for (let t = 0; t < 40_000; t += 100) {
      events.push(...signal(net, client, gateway));
      net.run(100);
    }
    events.push(...signal(net, client, gateway));
    expect(client.node.isConnected('gateway')).toBe(false);
    expect(events.some((e) => e.startsWith('client failed'))).toBe(true);
  });

  it('drops unknown STUN, garbage and WireGuard from strangers, counting each', () => {
    const net = network();
    const client = host(net, 'client', '10.1.0.2', 1);
    const stranger = { address: '10.9.9.9', port: 4000 };
    expect(client.node.handleDatagram(stranger, new Uint8Array([0xff, 1, 2, 3]), net.now)).toBeUndefined();
    const fakeInit = new Uint8Array(148);
    fakeInit[0] = 1;
    expect(client.node.handleDatagram(stranger, fakeInit, net.now)).toBeUndefined();
    const transport = new Uint8Array(64);
    transport[0] = 4;
    expect(client.node.handleDatagram(stranger, transport, net.now)).toBeUndefined();
    for (let i = 0; i < 1000; i++) {
      const junk = new Uint8Array(1 + (i % 200)).map((_, j) => (i * 31 + j * 7) & 0xff);
      client.node.handleDatagram(stranger, junk, net.now);
    }
    expect([...client.node.drops.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(1000);
  });

  it('keeps carrying traffic through a flood of forged and unauthenticated input, counting every drop', () => {
    const net = network();
    const client = host(net, 'client', '10.1.0.2', 1);
    const gateway = host(net, 'gateway', '10.2.0.2', 2);
    connect(net, client, gateway);
    expect(client.node.isConnected('gateway')).toBe(true);
    const stranger = { address: '10.9.9.9', port: 4000 };
    const attacker = new Node({
      crypto,
      privateKey: new Uint8Array(32).fill(66),
      createAgent: iceAgentFactory(),
    });
    const forged: Uint8Array[] = [];
    const tid = (i: number): Uint8Array => new Uint8Array(12).fill(i & 0xff);
    // A check for our ufrag with a wrong password, one for nobody, an unsolicited response.
    forged.push(
      encodeMessage(
        {
          method: METHOD_BINDING,
          class: 'request',
          transactionId: tid(1),
          attributes: [{ type: 'USERNAME', value: `${CREDS.client.username}:${CREDS.gateway.username}` }],
        },
        { integrity: { key: shortTermKey('wrong-password-wrong-password') }, fingerprint: true },
      ),
      encodeMessage(
        {
          method: METHOD_BINDING,
          class: 'request',
          transactionId: tid(2),
          attributes: [{ type: 'USERNAME', value: 'zzzz:yyyy' }],
        },
        { fingerprint: true },
      ),
      encodeMessage(
        {
          method: METHOD_BINDING,
          class: 'success',
          transactionId: tid(3),
          attributes: [{ type: 'XOR-MAPPED-ADDRESS', address: stranger }],
        },
        { fingerprint: true },
      ),
      // ChannelData on a channel nobody bound, and WireGuard from a peer nobody authorised.
      Uint8Array.from([0x40, 0x01, 0x00, 0x04, 1, 2, 3, 4]),
    );
    attacker.upsertConnection(
      'client',
      { ...setups(client, gateway).c, remotePublicKey: client.node.publicKey },
      net.now,
    );
    attacker.encapsulate('client', packet('100.64.0.9', '10.20.0.5', 1), net.now); // queued: not connected
    const transport = new Uint8Array(48);
    transport[0] = 4;
    forged.push(transport);
    let delivered = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 40; i++) {
        client.node.handleDatagram(stranger, forged[(round + i) % forged.length]!, net.now);
      }
      expect(gateway.node.encapsulate('client', packet('10.20.0.5', '100.64.0.2', round), net.now)).toBe(
        'sent',
      );
      net.run(20);
      delivered = client.received.length;
    }
    expect(delivered).toBe(50);
    expect(client.node.isConnected('gateway')).toBe(true);
    const drops = Object.fromEntries(client.node.drops);
    expect(drops.unknown_stun).toBeGreaterThan(0);
    expect(drops.unknown_wireguard_peer).toBeGreaterThan(0);
  });
});
