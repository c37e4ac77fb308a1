import { createBatch, type PacketBatch } from './batch.js';
import type { TunDevice } from './device.js';

/**
 * Collects packets for a TUN device into one preallocated batch and writes them with one call
 * per batch (or when asked), as the cores hand them out one by one. Packets the kernel refuses
 * (its queue is full) are dropped and counted, as a NIC would.
 */
export class TunWriter {
  dropped = 0;
  private readonly batch: PacketBatch;
  private count = 0;

  constructor(
    private readonly tun: TunDevice,
    capacity = 64,
  ) {
    this.batch = createBatch(capacity, 2048);
  }

  push(packet: Uint8Array): void {
    if (packet.length > this.batch.slotSize) {
      this.dropped++;
      return;
    }
    if (this.count === this.batch.capacity) this.flush();
    this.batch.buffer.set(packet, this.count * this.batch.slotSize);
    this.batch.lengths[this.count++] = packet.length;
  }

  flush(): void {
    if (this.count === 0) return;
    this.dropped += this.count - this.tun.write(this.batch, this.count);
    this.count = 0;
  }
}
