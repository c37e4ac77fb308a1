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
  private readonly native: NativeTun;
  private readonly readBatch: PacketBatch;
  private readonly batchSize: number;

  constructor(options: LinuxTunOptions = {}) {
    this.mtu = options.mtu ?? TUN_MTU;
    this.batchSize = options.batchSize ?? 64;
    this.native =
      options.fd !== undefined
        ? NativeTun.fromFd(options.fd)
        : NativeTun.open({ name: options.name, offload: options.offload ?? offloadByDefault() });
    this.readBatch = createBatch(this.batchSize, SLOT_SIZE);
  }

  get name(): string {
    return this.native.name;
  }

  /** A fresh snapshot on every read (it asks the addon and the kernel): for status, not the hot path. */
  get stats(): TunDeviceStats {
    const s = this.native.stats;
    return {
      readPackets: s.readPackets,
      writtenPackets: s.writtenPackets,
      droppedInvalid: s.droppedOversize + s.droppedInvalid,
      writeBackpressure: s.eagainWrites,
      writeErrors: s.writeErrors,
      superReads: s.superReads,
      coalescedWrites: s.coalescedWrites,
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
    const b = this.readBatch;
    this.native.startReading(
      b.buffer,
      b.slotSize,
      b.headroom,
      b.lengths,
      this.batchSize,
      (count) => onPackets(b, count),
      (err) => onError(err),
    );
  }

  write(batch: PacketBatch, count: number): number {
    return this.native.write(batch.buffer, batch.slotSize, batch.headroom, batch.lengths, count);
  }

  close(): void {
    this.native.close();
  }

  /** For tests and diagnostics: validate as the data path does. */
  static plausible(packet: Uint8Array, mtu = TUN_MTU): boolean {
    return isPlausibleIpPacket(packet, 0, packet.length, mtu);
  }
}
