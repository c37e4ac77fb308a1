import { describe, expect, it } from 'vitest';
import { buildUdpPacket, isPacketError, parseIpAddress } from '../packet/index.js';
import { MemoryTunDevice } from '../tun/memory.js';
import { createNobleBackend } from '../wireguard/crypto/noble.js';
import { ParallelAead } from '../wireguard/crypto/parallel-aead.js';
import { parseCidr } from './allowed-ips.js';
import { MemoryUdpNetwork } from './memory-udp.js';
import { WireGuardDevice } from './wg-device.js';

const c = createNobleBackend();
const key = (seed: number): Uint8Array => new Uint8Array(32).fill(seed);
const pub = (seed: number): Uint8Array => c.x25519PublicKey(key(seed));

function udp(src: string, dst: string, payload: string): Uint8Array {
  const p = buildUdpPacket({
    src: parseIpAddress(src)!,
    dst: parseIpAddress(dst)!,
    srcPort: 1000,
    dstPort: 2000,
    payload: new TextEncoder().encode(payload),
  });
  if (isPacketError(p)) throw p;
  return p;
}

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Three devices on an in-memory network. `parallel`: each seals and opens with a crypto worker,
 * on shared-memory batches, as on a machine with more than two cores.
 */
function setupDevices(parallel = false) {
  const net = new MemoryUdpNetwork({ sharedMemory: parallel });
  const tunA = new MemoryTunDevice('a', undefined, undefined, parallel);
  const tunB = new MemoryTunDevice('b', undefined, undefined, parallel);
  const tunC = new MemoryTunDevice('c', undefined, undefined, parallel);
  const pools = parallel ? [0, 1, 2].map(() => new ParallelAead(c, 'noble', { capacity: 256 })) : [];
  const a = new WireGuardDevice(
    {
      crypto: c,
      parallelAead: pools[0],
      privateKey: key(1),
      peers: [
        {
          publicKey: pub(2),
          endpoint: { address: '192.0.2.2', port: 2 },
          allowedIps: [parseCidr('10.0.0.0/24'), parseCidr('fd00::/64')],
        },
      ],
    },
    tunA,
    net.bind('192.0.2.1', 1),
  );
  const b = new WireGuardDevice(
    {
      crypto: c,
      parallelAead: pools[1],
      privateKey: key(2),
      peers: [
        { publicKey: pub(1), allowedIps: [parseCidr('10.0.1.1/32'), parseCidr('fd00:1::1/128')] },
        { publicKey: pub(3), allowedIps: [parseCidr('10.0.1.3/32')] },
      ],
    },
    tunB,
    net.bind('192.0.2.2', 2),
  );
  const cDev = new WireGuardDevice(
    {
      crypto: c,
      parallelAead: pools[2],
      privateKey: key(3),
      peers: [
        {
          publicKey: pub(2),
          endpoint: { address: '192.0.2.2', port: 2 },
          allowedIps: [parseCidr('0.0.0.0/0')],
        },
      ],
    },
    tunC,
    net.bind('192.0.2.3', 3),
  );
  const errors: Error[] = [];
  for (const d of [a, b, cDev]) d.start((e) => errors.push(e));
  const stop = (): void => {
    for (const d of [a, b, cDev]) d.stop();
    for (const p of pools) p.close();
  };
  return { net, a, b, cDev, tunA, tunB, tunC, errors, pools, stop };
}

describe.each([
  ['one thread', false],
  ['a crypto worker', true],
])('WireGuardDevice (%s)', (_, parallel) => {
  const setup = (): ReturnType<typeof setupDevices> => setupDevices(parallel);

  it('carries batches both ways between two devices, handshaking on the first packet', async () => {
    const s = setup();
    const packets = Array.from({ length: 150 }, (_, i) => udp('10.0.1.1', '10.0.0.5', `hello ${i}`));
    s.tunA.inject(...packets);
    await until(() => s.tunB.written.length === 150);
    expect(s.tunB.written).toEqual(packets); // in order, none lost (staged during the handshake)
    const back = udp('10.0.0.5', '10.0.1.1', 'reply');
    s.tunB.inject(back);
    await until(() => s.tunA.written.length === 1);
    expect(s.tunA.written[0]).toEqual(back);
    expect(s.errors).toEqual([]);
    s.stop();
  });

  it('routes by allowed IPs to the right one of several peers, over IPv6 too', async () => {
    const s = setup();
    s.cDev.connectAll();
    s.tunA.inject(udp('10.0.1.1', '10.0.0.5', 'from a'));
    s.tunA.inject(udp('fd00:1::1', 'fd00::5', 'v6 from a'));
    s.tunC.inject(udp('10.0.1.3', '10.0.0.9', 'from c'));
    await until(() => s.tunB.written.length === 3);
    // b answers each: the reply goes to whichever peer owns the destination
    s.tunB.inject(udp('10.0.0.9', '10.0.1.3', 'to c'), udp('10.0.0.5', '10.0.1.1', 'to a'));
    await until(() => s.tunA.written.length === 1 && s.tunC.written.length === 1);
    expect(new TextDecoder().decode(s.tunC.written[0]!.subarray(28))).toBe('to c');
    expect(new TextDecoder().decode(s.tunA.written[0]!.subarray(28))).toBe('to a');
    s.stop();
  });

  it('drops decrypted packets whose source the peer may not use, and TUN packets with no route', async () => {
    const s = setup();
    s.tunC.inject(udp('10.0.1.99', '10.0.0.9', 'spoofed'), udp('10.0.1.3', '10.0.0.9', 'fine'));
    await until(() => s.tunB.written.length === 1);
    await until(() => s.b.stats.sourceNotAllowed === 1);
    s.tunB.inject(udp('10.0.0.9', '10.9.9.9', 'nowhere'));
    await until(() => s.b.stats.noRoute === 1);
    s.tunA.inject(new Uint8Array(30).fill(0x99));
    await until(() => s.tunA.stats.droppedInvalid === 1);
    s.stop();
  });

  it('counts datagrams for unknown peers and indices without answering', async () => {
    const s = setup();
    const stranger = s.net.bind('192.0.2.77', 7);
    stranger.start(() => {
      throw new Error('must get no answer');
    });
    const junk = new Uint8Array(64);
    junk[0] = 4;
    const batch = {
      buffer: junk,
      slotSize: 64,
      headroom: 0,
      lengths: Uint32Array.of(64),
      capacity: 1,
      addrs: new Uint8Array(20),
    };
    batch.addrs.set([4, 0, 0, 2, 192, 0, 2, 2]);
    stranger.send(batch, 1);
    await until(() => s.b.stats.unknownPeer === 1);
    s.stop();
  });
});

describe('WireGuardDevice with a crypto worker', () => {
  it('opens whole batches on two threads, in order, and drops forged and replayed datagrams among them', async () => {
    const s = setupDevices(true);
    // Copies of what a sends, to replay and to forge later.
    const captured: Uint8Array[] = [];
    s.net.filter = (from, _to, datagram) => {
      if (from.port === 1 && datagram[0] === 4) captured.push(Uint8Array.from(datagram));
      return true;
    };
    const first = Array.from({ length: 200 }, (_, i) => udp('10.0.1.1', '10.0.0.5', `packet ${i}`));
    s.tunA.inject(...first);
    await until(() => s.tunB.written.length === 200);
    expect(s.tunB.written).toEqual(first);
    // A burst where every fourth datagram is a forgery (one bit flipped) or a replay of an old one:
    // each is refused on its own, and the genuine ones around it arrive in order.
    const genuine = Array.from({ length: 120 }, (_, i) => udp('10.0.1.1', '10.0.0.5', `burst ${i}`));
    captured.length = 0;
    s.net.filter = (from, _to, datagram) => {
      if (from.port !== 1) return true;
      if (datagram[0] === 4) captured.push(Uint8Array.from(datagram)); // held back, delivered below
      return false;
    };
    s.tunA.inject(...genuine);
    await until(() => s.a.peerStats()[0]!.stats.txPackets >= 320);
    const held = [...captured];
    expect(held.length).toBe(120);
    s.net.filter = () => true;
    const sender = s.net.bind('192.0.2.1', 11);
    const mixed: Uint8Array[] = [];
    held.forEach((d, i) => {
      mixed.push(d);
      if (i % 8 === 3) {
        // A counter no genuine datagram has (+2^32): the tag cannot verify, and the window is
        // left as it was, whichever batch the forgery lands in.
        const forged = Uint8Array.from(d);
        forged[12]! ^= 1;
        mixed.push(forged);
      } else if (i % 8 === 7) {
        mixed.push(Uint8Array.from(held[i - 2]!)); // a replay of a datagram already in this burst
      }
    });
    const written = s.tunB.written.length;
    const peerB = () => s.b.peerStats().find((p) => Buffer.from(p.publicKey).equals(Buffer.from(pub(1))))!;
    const batch = {
      buffer: new Uint8Array(64 * 2048),
      slotSize: 2048,
      headroom: 0,
      lengths: new Uint32Array(64),
      capacity: 64,
      addrs: new Uint8Array(64 * 20),
    };
    for (let at = 0; at < mixed.length; at += 64) {
      const part = mixed.slice(at, at + 64);
      part.forEach((d, i) => {
        batch.buffer.set(d, i * 2048);
        batch.lengths[i] = d.length;
        batch.addrs.set([4, 0, 0, 2, 192, 0, 2, 2], i * 20); // to b
      });
      sender.send(batch, part.length);
    }
    await until(() => s.tunB.written.length === written + 120);
    expect(s.tunB.written.slice(written)).toEqual(genuine);
    const dropped = peerB().stats.dropped;
    expect(dropped.decrypt_failed).toBe(15);
    expect(dropped.replay).toBe(15);
    // The batches went through the two-thread protocol (whether the worker or this thread took
    // each job depends on scheduling; parallel-aead.test.ts checks the worker's share).
    expect(s.pools[1]!.stats.parallelRuns).toBeGreaterThan(0);
    expect(s.errors).toEqual([]);
    s.stop();
  });
});
