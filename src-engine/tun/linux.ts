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

  /** A fresh snapshot on every read (it asks the addon and the kernel): for status, not the hot path. */
  get stats(): TunDeviceStats {
    const sum = (pick: (s: NativeTun['stats']) => number): number =>
      this.queues.reduce((total, q) => total + pick(q.stats), 0);
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

  write(batch: PacketBatch, count: number): number {
    return this.native.write(batch.buffer, batch.slotSize, batch.headroom, batch.lengths, count);
  }

  close(): void {
    for (const q of this.queues) q.close();
  }

  /** For tests and diagnostics: validate as the data path does. */
  static plausible(packet: Uint8Array, mtu = TUN_MTU): boolean {
    return isPlausibleIpPacket(packet, 0, packet.length, mtu);
  }
}
