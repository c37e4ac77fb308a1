/**
 * The WireGuard device's own packet rate with one lane and with two (the crypto worker of
 * docs/performance.md, "More cores"), without the kernel: the throughput benchmark cannot show
 * what a second lane gives, because on our 2-core machines both tunnel ends and iperf3 already
 * share the cores. Here one device seals batches of 64 full-size packets handed to it as from a
 * TUN, and another opens such batches as from a socket; nothing else runs, so the worker has a
 * core of its own, as it would on a bigger machine.
 *
 *   npm run bench -- lanes          (BENCH_SECONDS: measuring time per configuration, default 1)
 *
 * Ends with `lanes seal two/one=<r> open two/one=<r>` (packet rate with the worker ÷ without).
 */
import {
  ADDR_SIZE,
  createBatch,
  createDatagramBatch,
  type DatagramBatch,
  type PacketBatch,
} from '../src-engine/tun/batch.js';
import type { TunDevice, TunDeviceStats } from '../src-engine/tun/device.js';
import type { UdpTransport, UdpTransportStats } from '../src-engine/datapath/udp.js';
import { EndpointCache } from '../src-engine/datapath/address-record.js';
import { parseCidr } from '../src-engine/datapath/allowed-ips.js';
import { WireGuardDevice } from '../src-engine/datapath/wg-device.js';
import { buildUdpPacket } from '../src-engine/packet/build.js';
import { isPacketError } from '../src-engine/packet/errors.js';
import { defaultBackend } from '../src-engine/wireguard/crypto/index.js';
import { ParallelAead } from '../src-engine/wireguard/crypto/parallel-aead.js';
import { printTable } from './table.js';

const BATCH = 64;
const SLOT = 2048;
/** A 1,420-byte IPv4 packet: the benchmark tunnels' MTU. */
const PACKET = 1420;
/** Batches sealed ahead for one opening round (each counter can be opened once). */
const ROUND = 400;

/** A TUN whose reads the benchmark makes (by calling the device's callback) and whose writes it counts. */
class BenchTun implements TunDevice {
  readonly name = 'bench';
  readonly mtu = PACKET;
  readonly stats: TunDeviceStats = {
    readPackets: 0,
    writtenPackets: 0,
    droppedInvalid: 0,
    writeBackpressure: 0,
  };
  onPackets: ((batch: PacketBatch, count: number) => void) | undefined;
  start(onPackets: (batch: PacketBatch, count: number) => void): void {
    this.onPackets = onPackets;
  }
  write(_batch: PacketBatch, count: number): number {
    this.stats.writtenPackets += count;
    return count;
  }
  close(): void {}
}

/** A socket whose sends are counted or captured, and whose receives the benchmark makes. */
class BenchUdp implements UdpTransport {
  readonly stats: UdpTransportStats = { receivedDatagrams: 0, sentDatagrams: 0, sendBackpressure: 0 };
  onDatagrams: ((batch: DatagramBatch, count: number) => void) | undefined;
  /** When set, sent datagrams are copied here (slot after slot) instead of only counted. */
  capture: { batch: DatagramBatch; count: number } | undefined;
  constructor(
    readonly localAddress: string,
    readonly localPort: number,
  ) {}
  start(onDatagrams: (batch: DatagramBatch, count: number) => void): void {
    this.onDatagrams = onDatagrams;
  }
  send(batch: DatagramBatch, count: number): number {
    const c = this.capture;
    for (let i = 0; c && i < count; i++) {
      if (c.count === c.batch.capacity) throw new Error('capture batch full');
      const at = i * batch.slotSize + batch.headroom;
      c.batch.buffer.set(batch.buffer.subarray(at, at + batch.lengths[i]!), c.count * c.batch.slotSize);
      c.batch.lengths[c.count] = batch.lengths[i]!;
      c.batch.addrs.set(batch.addrs.subarray(i * ADDR_SIZE, (i + 1) * ADDR_SIZE), c.count * ADDR_SIZE);
      c.count++;
    }
    this.stats.sentDatagrams += count;
    return count;
  }
  onceWritable(): void {}
  close(): void {}
}

const key = (seed: number): Uint8Array => new Uint8Array(32).fill(seed);

interface Pair {
  readonly lanes: 1 | 2;
  readonly a: WireGuardDevice;
  readonly b: WireGuardDevice;
  readonly tunA: BenchTun;
  readonly udpA: BenchUdp;
  readonly udpB: BenchUdp;
  readonly pools: ParallelAead[];
}

const records = new EndpointCache();

/** Address records saying every slot of `batch` came from `socket`. */
function sentBy(batch: DatagramBatch, socket: BenchUdp): void {
  const from = { address: socket.localAddress, port: socket.localPort };
  for (let i = 0; i < batch.capacity; i++) records.toRecord(from, batch.addrs, i * ADDR_SIZE);
}

/** Hands what `from` captured to `to`'s socket, as one receive per 64 datagrams. */
function deliver(from: BenchUdp, to: BenchUdp): void {
  const c = from.capture!;
  const batch = createDatagramBatch(BATCH, SLOT, 0, true);
  sentBy(batch, from);
  for (let at = 0; at < c.count; at += BATCH) {
    const n = Math.min(BATCH, c.count - at);
    batch.buffer.set(c.batch.buffer.subarray(at * SLOT, (at + n) * SLOT));
    batch.lengths.set(c.batch.lengths.subarray(at, at + n));
    to.onDatagrams!(batch, n);
  }
  c.count = 0;
}

function pair(lanes: 1 | 2): Pair {
  const crypto = defaultBackend();
  const pools = lanes === 2 ? [ParallelAead.start(crypto), ParallelAead.start(crypto)] : [];
  const tunA = new BenchTun();
  const udpA = new BenchUdp('192.0.2.1', 1);
  const udpB = new BenchUdp('192.0.2.2', 2);
  const common = { crypto, padding: false, mtu: PACKET };
  const a = new WireGuardDevice(
    {
      ...common,
      privateKey: key(1),
      parallelAead: pools[0],
      peers: [
        {
          publicKey: crypto.x25519PublicKey(key(2)),
          endpoint: { address: '192.0.2.2', port: 2 },
          allowedIps: [parseCidr('10.0.0.2/32')],
        },
      ],
    },
    tunA,
    udpA,
  );
  const b = new WireGuardDevice(
    {
      ...common,
      privateKey: key(2),
      parallelAead: pools[1],
      peers: [{ publicKey: crypto.x25519PublicKey(key(1)), allowedIps: [parseCidr('10.0.0.1/32')] }],
    },
    new BenchTun(),
    udpB,
  );
  const fail = (err: Error): never => {
    throw err;
  };
  a.start(fail);
  b.start(fail);
  udpA.capture = { batch: createDatagramBatch(16, SLOT), count: 0 };
  udpB.capture = { batch: createDatagramBatch(16, SLOT), count: 0 };
  a.connectAll();
  deliver(udpA, udpB); // initiation
  deliver(udpB, udpA); // response (a sends its confirming keepalive next)
  deliver(udpA, udpB);
  udpA.capture = undefined;
  udpB.capture = undefined;
  if (!a.peerStats()[0]!.stats.handshakesCompleted)
    throw new Error('the benchmark devices did not handshake');
  return { lanes, a, b, tunA, udpA, udpB, pools };
}

/** 64 full-size IPv4 UDP packets from a's side to b's, in one (shared-memory) TUN read batch. */
function tunBatch(): PacketBatch {
  const batch = createBatch(BATCH, SLOT, 0, true);
  for (let i = 0; i < BATCH; i++) {
    const p = buildUdpPacket({
      src: Uint8Array.of(10, 0, 0, 1),
      dst: Uint8Array.of(10, 0, 0, 2),
      srcPort: 40_000 + i,
      dstPort: 5201,
      payload: new Uint8Array(PACKET - 28).fill(i),
    });
    if (isPacketError(p)) throw new Error(p.message);
    batch.buffer.set(p, i * SLOT);
    batch.lengths[i] = p.length;
  }
  return batch;
}

/** Packets per second sealed by a, over about `ms`. */
function sealRate(p: Pair, batch: PacketBatch, ms: number): number {
  let packets = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < 50; k++) p.tunA.onPackets!(batch, BATCH);
    packets += 50 * BATCH;
    now = performance.now();
  }
  return packets / ((now - start) / 1000);
}

/** Packets per second opened by b over about `ms`; the datagrams are sealed by a beforehand, untimed. */
function openRate(p: Pair, batch: PacketBatch, ms: number): number {
  let packets = 0;
  let timed = 0;
  const capture = { batch: createDatagramBatch(ROUND * BATCH, SLOT, 0, true), count: 0 };
  const incoming = createDatagramBatch(BATCH, SLOT, 0, true);
  sentBy(incoming, p.udpA);
  while (timed < ms) {
    p.udpA.capture = capture;
    for (let k = 0; k < ROUND; k++) p.tunA.onPackets!(batch, BATCH);
    p.udpA.capture = undefined;
    const start = performance.now();
    for (let at = 0; at < capture.count; at += BATCH) {
      // A receive of 64 datagrams: one copy into the socket's batch, as recvmmsg makes.
      incoming.buffer.set(capture.batch.buffer.subarray(at * SLOT, (at + BATCH) * SLOT));
      incoming.lengths.set(capture.batch.lengths.subarray(at, at + BATCH));
      p.udpB.onDatagrams!(incoming, BATCH);
    }
    timed += performance.now() - start;
    packets += capture.count;
    capture.count = 0;
  }
  return packets / (timed / 1000);
}

export async function run(
  seconds = Number(process.env.BENCH_SECONDS ?? 1),
): Promise<{ seal: number; open: number }> {
  const ms = Math.max(200, seconds * 1000);
  const batch = tunBatch();
  const pairs = [pair(1), pair(2)];
  const rates = new Map<1 | 2, { seal: number[]; open: number[] }>([
    [1, { seal: [], open: [] }],
    [2, { seal: [], open: [] }],
  ]);
  try {
    // Warm-up, then three alternating rounds so a noisy moment hits both configurations.
    for (const p of pairs) sealRate(p, batch, 100);
    for (let round = 0; round < 3; round++) {
      for (const p of pairs) {
        rates.get(p.lanes)!.seal.push(sealRate(p, batch, ms / 3));
        rates.get(p.lanes)!.open.push(openRate(p, batch, ms / 3));
      }
    }
  } finally {
    for (const p of pairs) {
      p.a.stop();
      p.b.stop();
      for (const pool of p.pools) pool.close();
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const gbit = (pps: number): string => ((pps * PACKET * 8) / 1e9).toFixed(2);
  const rows = ([1, 2] as const).map((lanes) => {
    const r = rates.get(lanes)!;
    return { lanes, seal: median(r.seal), open: median(r.open) };
  });
  const worker = pairs[1]!.pools.map((pool) => pool.stats);
  console.log(
    `WireGuard device, ${BATCH} × ${PACKET}-byte packets per batch, ${defaultBackend().name} backend, no kernel; ` +
      `median of 3 × ${(ms / 3000).toFixed(2)} s each:`,
  );
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  printTable(
    ['lanes', 'seal packets/s', 'seal Gbit/s', 'open packets/s', 'open Gbit/s'],
    rows.map((r) => [String(r.lanes), fmt(r.seal), gbit(r.seal), fmt(r.open), gbit(r.open)]),
  );
  console.log(
    `(two lanes: the worker sealed ${((100 * worker[0]!.byWorker) / Math.max(1, worker[0]!.jobs)).toFixed(0)} % ` +
      `and opened ${((100 * worker[1]!.byWorker) / Math.max(1, worker[1]!.jobs)).toFixed(0)} % of the packets)`,
  );
  const seal = rows[1]!.seal / rows[0]!.seal;
  const open = rows[1]!.open / rows[0]!.open;
  console.log(`lanes seal two/one=${seal.toFixed(2)} open two/one=${open.toFixed(2)}`);
  return { seal, open };
}
