import { readFileSync } from 'node:fs';
import { TunDevice as NativeTun } from 'node-tun';
import { createBatch, type PacketBatch } from './batch.js';
import { isPlausibleIpPacket, TUN_MTU, type TunDevice, type TunDeviceStats } from './device.js';

export interface LinuxTunOptions {
  /** Interface name; the kernel picks one (tunN) when absent. Ignored with `fd`. */
  readonly name?: string;
  /**
   * Adopt this TUN fd instead of opening a device: the fd the privileged helper passed over its
   * socket (node-tun `TunDevice.fromFd`). The device owns it from then on.
   */
  readonly fd?: number;
  readonly mtu?: number;
  /** Packets per read callback (default 64): a bounded turn, so UDP gets its share. */
  readonly batchSize?: number;
  /**
   * TUN offloads (default on; `FZ_TUN_OFFLOAD=0` turns them off): the kernel moves TCP segments
   * of up to 64 KiB through the device, which node-tun splits into packets on read and builds
   * from consecutive packets on write — far fewer trips through the kernel per byte. The engine
   * sees ordinary packets either way. Without kernel support the device works as without.
   */
  readonly offload?: boolean;
  /**
   * Queues to open (default 1; Linux, not with `fd`): with more than one the device is opened
   * with IFF_MULTI_QUEUE and the kernel spreads the flows it sends into the tunnel over the
   * queues (by flow hash), so traffic from many flows and CPUs does not funnel into one queue and
   * overflow it. Every queue is read on this thread; writes go through the first.
   */
  readonly queues?: number;
  /**
   * Read batches in shared memory (SharedArrayBuffer), so a crypto worker can seal the packets in
   * place (src-engine/wireguard/crypto/parallel-aead.ts). Default off.
   */
  readonly sharedMemory?: boolean;
}

/** Offloads unless switched off in the environment (to compare, or on a kernel that misbehaves). */
export function offloadByDefault(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.FZ_TUN_OFFLOAD !== '0';
}

const SLOT_SIZE = 2048;

/**
 * A Linux TUN over node-tun: reads arrive as packed batches straight into one slab; writes go
 * out as one native call per batch. Reads that are not a whole IP packet within the MTU are
 * dropped and counted before the engine sees them.
 */
export class LinuxTunDevice implements TunDevice {
  readonly mtu: number;
  /** The first queue: it names the device, and every write goes through it. */
  private readonly native: NativeTun;
  private readonly queues: readonly NativeTun[];
  private readonly readBatches: readonly PacketBatch[];
  private readonly batchSize: number;
  /** Per further queue, the packets of one write that go through it (made on first use). */
  private spill: { batch: PacketBatch; count: number }[] | undefined;

  constructor(options: LinuxTunOptions = {}) {
    this.mtu = options.mtu ?? TUN_MTU;
    this.batchSize = options.batchSize ?? 64;
    const queues = options.queues ?? 1;
    if (!Number.isInteger(queues) || queues < 1 || queues > 16)
      throw new RangeError(`queues must be an integer in 1–16, not ${queues}`);
    if (queues > 1 && options.fd !== undefined)
      throw new Error('an adopted TUN fd is one queue; open more queues by name instead');
    const offload = options.offload ?? offloadByDefault();
    const multiQueue = queues > 1;
    this.native =
      options.fd !== undefined
        ? NativeTun.fromFd(options.fd)
        : NativeTun.open({ name: options.name, offload, multiQueue });
    const all = [this.native];
    try {
      // Further queues attach to the device by its name, with the same flags.
      while (all.length < queues) all.push(NativeTun.open({ name: this.native.name, offload, multiQueue }));
    } catch (err) {
      for (const q of all) q.close();
      throw err;
    }
    this.queues = all;
    this.readBatches = all.map(() =>
      createBatch(this.batchSize, SLOT_SIZE, 0, options.sharedMemory ?? false),
    );
  }

  get name(): string {
    return this.native.name;
  }

  /** How many queues the device was opened with. */
  get queueCount(): number {
    return this.queues.length;
  }

  /** Packets read from each queue (a snapshot): how the kernel spread the flows. */
  get queueReads(): number[] {
    return this.queues.map((q) => q.stats.readPackets);
  }

  /** A fresh snapshot on every read (it asks the addon and the kernel): for status, not the hot path. */
  get stats(): TunDeviceStats {
    const perQueue = this.queues.map((q) => q.stats); // one snapshot per queue
    const sum = (pick: (s: NativeTun['stats']) => number): number =>
      perQueue.reduce((total, s) => total + pick(s), 0);
    return {
      readPackets: sum((s) => s.readPackets),
      writtenPackets: sum((s) => s.writtenPackets),
      droppedInvalid: sum((s) => s.droppedOversize + s.droppedInvalid),
      writeBackpressure: sum((s) => s.eagainWrites),
      writeErrors: sum((s) => s.writeErrors),
      superReads: sum((s) => s.superReads),
      coalescedWrites: sum((s) => s.coalescedWrites),
      kernelQueueDrops: this.interfaceCounter('tx_dropped'),
      kernelWriteDrops: this.interfaceCounter('rx_dropped'),
    };
  }

  /**
   * A counter of the interface as the kernel keeps it (read only when stats are asked for). From
   * the kernel's side of a TUN, "tx" is towards us: tx_dropped counts packets lost because we did
   * not read fast enough (the device's queue was full); rx_dropped, packets we wrote that the
   * stack then dropped. 0 when the interface is gone or in another namespace.
   */
  private interfaceCounter(name: 'tx_dropped' | 'rx_dropped'): number {
    try {
      return (
        Number(readFileSync(`/sys/class/net/${this.native.name}/statistics/${name}`, 'utf8').trim()) || 0
      );
    } catch {
      return 0;
    }
  }

  /** Which offloads the kernel granted (all false when off or unsupported). */
  get offload(): { vnetHeader: boolean; tso: boolean; uso: boolean } {
    return this.native.offload;
  }

  start(onPackets: (batch: PacketBatch, count: number) => void, onError: (err: Error) => void): void {
    // The queues fail together (the interface went away): the first error is reported, once.
    let failed = false;
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      onError(err);
    };
    this.queues.forEach((q, i) => {
      const b = this.readBatches[i]!;
      q.startReading(
        b.buffer,
        b.slotSize,
        b.headroom,
        b.lengths,
        this.batchSize,
        (count) => onPackets(b, count),
        fail,
      );
    });
  }

  /**
   * Writes packets [0, count). With several queues each flow is written through the queue its
   * addresses and ports hash to: the kernel remembers the queue a flow was written on and sends
   * that flow's packets towards us on the same one (tun's automatic flow steering), so writing
   * everything through one queue would pull every two-way flow onto it. Packets for the other
   * queues are copied out, and `batch` is compacted in place (its contents are consumed).
   */
  write(batch: PacketBatch, count: number): number {
    if (this.queues.length === 1)
      return this.native.write(batch.buffer, batch.slotSize, batch.headroom, batch.lengths, count);
    const n = this.queues.length;
    if (this.spill === undefined || this.spill[0]!.batch.capacity < batch.capacity)
      this.spill = this.queues
        .slice(1)
        .map(() => ({ batch: createBatch(batch.capacity, batch.slotSize), count: 0 }));
    const spill = this.spill;
    const buf = batch.buffer;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const start = i * batch.slotSize + batch.headroom;
      const length = batch.lengths[i]!;
      const q = flowQueue(buf, start, length, n);
      if (q === 0) {
        if (kept !== i) buf.copyWithin(kept * batch.slotSize + batch.headroom, start, start + length);
        batch.lengths[kept++] = length;
      } else {
        const s = spill[q - 1]!;
        s.batch.buffer.set(buf.subarray(start, start + length), s.count * s.batch.slotSize);
        s.batch.lengths[s.count++] = length;
      }
    }
    let written = this.native.write(buf, batch.slotSize, batch.headroom, batch.lengths, kept);
    spill.forEach((s, i) => {
      if (s.count === 0) return;
      written += this.queues[i + 1]!.write(s.batch.buffer, s.batch.slotSize, 0, s.batch.lengths, s.count);
      s.count = 0;
    });
    return written;
  }

  close(): void {
    for (const q of this.queues) q.close();
  }

  /** For tests and diagnostics: validate as the data path does. */
  static plausible(packet: Uint8Array, mtu = TUN_MTU): boolean {
    return isPlausibleIpPacket(packet, 0, packet.length, mtu);
  }
}

/**
 * The queue (of `n`) a packet's flow is written through: a hash of its addresses and, for TCP and
 * UDP, its ports, the same whichever way the packet goes. Any stable per-flow choice works; the
 * kernel learns it from the writes.
 */
export function flowQueue(buf: Uint8Array, start: number, length: number, n: number): number {
  const version = buf[start]! >> 4;
  let h = 0;
  let protocol: number;
  let l4: number;
  if (version === 4 && length >= 20) {
    for (let k = 12; k < 16; k++) h ^= (buf[start + k]! ^ buf[start + k + 4]!) << ((k & 3) * 8);
    protocol = buf[start + 9]!;
    // Only the first fragment has ports; every fragment hashes by addresses alone.
    const fragmented =
      (((buf[start + 6]! & 0x3f) << 8) | buf[start + 7]!) !== 0 || (buf[start + 6]! & 0x20) !== 0;
    l4 = fragmented ? -1 : start + (buf[start]! & 0x0f) * 4;
  } else if (version === 6 && length >= 40) {
    for (let k = 8; k < 24; k++) h ^= (buf[start + k]! ^ buf[start + k + 16]!) << ((k & 3) * 8);
    protocol = buf[start + 6]!;
    l4 = start + 40;
  } else {
    return 0;
  }
  if ((protocol === 6 || protocol === 17) && l4 >= 0 && l4 + 4 <= start + length) {
    h ^= ((buf[l4]! ^ buf[l4 + 2]!) << 8) | (buf[l4 + 1]! ^ buf[l4 + 3]!);
  }
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return ((h ^ (h >>> 16)) >>> 0) % n;
}
