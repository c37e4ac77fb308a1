import { createBatch, type PacketBatch, slot } from './batch.js';
import { isPlausibleIpPacket, TUN_MTU, type TunDevice, type TunDeviceStats } from './device.js';

/**
 * An in-memory TUN for tests: `inject` plays the kernel sending packets into the tunnel (they
 * are delivered asynchronously in batches, like the real device), and everything the engine
 * writes lands in `written`.
 */
export class MemoryTunDevice implements TunDevice {
  readonly stats: TunDeviceStats = {
    readPackets: 0,
    writtenPackets: 0,
    droppedInvalid: 0,
    writeBackpressure: 0,
  };
  readonly written: Uint8Array[] = [];
  private readonly batch: PacketBatch;
  private readonly queue: Uint8Array[] = [];
  private onPackets: ((batch: PacketBatch, count: number) => void) | undefined;
  private scheduled = false;
  private closed = false;

  constructor(
    readonly name = 'memtun0',
    readonly mtu = TUN_MTU,
    private readonly maxBatch = 64,
    /** Read batches in shared memory, as LinuxTunDevice's `sharedMemory` option gives them. */
    sharedMemory = false,
  ) {
    this.batch = createBatch(maxBatch, 2048, 0, sharedMemory);
  }

  start(onPackets: (batch: PacketBatch, count: number) => void): void {
    this.onPackets = onPackets;
    this.schedule();
  }

  inject(...packets: Uint8Array[]): void {
    this.queue.push(...packets.map((p) => Uint8Array.from(p)));
    this.schedule();
  }

  write(batch: PacketBatch, count: number): number {
    for (let i = 0; i < count; i++) this.written.push(Uint8Array.from(slot(batch, i)));
    this.stats.writtenPackets += count;
    return count;
  }

  close(): void {
    this.closed = true;
    this.onPackets = undefined;
  }

  private schedule(): void {
    if (this.scheduled || !this.onPackets || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.closed || !this.onPackets) return;
      let n = 0;
      while (n < this.maxBatch && this.queue.length > 0) {
        const p = this.queue.shift()!;
        if (p.length > this.batch.slotSize || !isPlausibleIpPacket(p, 0, p.length, this.mtu)) {
          this.stats.droppedInvalid++;
          continue;
        }
        this.batch.buffer.set(p, n * this.batch.slotSize);
        this.batch.lengths[n++] = p.length;
      }
      this.stats.readPackets += n;
      if (n > 0) this.onPackets(this.batch, n);
      this.schedule();
    });
  }
}
