import type { PacketBatch } from './batch.js';

/** The MTU of our TUN devices (docs/protocol.md §7.1): packets above it are dropped and counted. */
export const TUN_MTU = 1280;

export interface TunDeviceStats {
  readPackets: number;
  writtenPackets: number;
  /** Reads dropped before they reached the engine: oversized, truncated, or not IPv4/IPv6. */
  droppedInvalid: number;
  /** Writes the kernel refused for lack of queue space. */
  writeBackpressure: number;
  /** Packets the kernel refused on write (dropped), when the device tells. */
  writeErrors?: number;
  /** Offloads: reads that were one TCP/UDP segment of several packets. */
  superReads?: number;
  /** Offloads: writes that carried several packets as one TCP segment. */
  coalescedWrites?: number;
  /** Packets the kernel dropped on the way to us because the device's queue was full. */
  kernelQueueDrops?: number;
  /** Packets we wrote that the kernel's stack dropped. */
  kernelWriteDrops?: number;
}

/**
 * A TUN device that moves IP packets in batches. Reads are pushed: `start` calls `onPackets`
 * with a batch that is valid only during the call (its slots are reused). Implementations: the
 * Linux driver over node-tun and an in-memory device for tests; macOS utun and Windows wintun
 * drivers fit the same shape.
 */
export interface TunDevice {
  readonly name: string;
  readonly mtu: number;
  readonly stats: TunDeviceStats;
  start(onPackets: (batch: PacketBatch, count: number) => void, onError: (err: Error) => void): void;
  /** Writes packets [0, count) of `batch`; returns how many the kernel took. */
  write(batch: PacketBatch, count: number): number;
  close(): void;
}

/**
 * Checks a packet read from a TUN before the engine sees it: a whole IPv4/IPv6 packet whose
 * length field matches what was read, at most `mtu` bytes. Cheap on purpose (hot path); the
 * full parser runs later only where the engine needs more.
 */
export function isPlausibleIpPacket(buf: Uint8Array, offset: number, length: number, mtu: number): boolean {
  if (length < 20 || length > mtu) return false;
  const version = buf[offset]! >> 4;
  if (version === 4) {
    const total = (buf[offset + 2]! << 8) | buf[offset + 3]!;
    return (buf[offset]! & 0x0f) >= 5 && total === length;
  }
  if (version === 6) return length >= 40 && 40 + ((buf[offset + 4]! << 8) | buf[offset + 5]!) === length;
  return false;
}
