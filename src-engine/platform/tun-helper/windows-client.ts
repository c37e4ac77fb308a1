/**
 * The app's side of the Windows TUN service. NEVER RUN: written without a Windows machine; it
 * type-checks and follows the Linux client, nothing more is known.
 *
 * Windows has no fd passing, and a wintun adapter has no fd anyway, so the service owns the
 * adapter and the packets travel through it: the control pipe (DEFAULT_WINDOWS_PIPE) carries the
 * same frames as on Linux, and the `open` response names a second pipe on which each packet is a
 * 2-byte big-endian length and the packet, in both directions. That costs a copy and a pipe
 * round trip per packet compared with Linux; a shared-memory ring is the known better design.
 */
import { connect, type Socket } from 'node:net';
import type { ClientInterfaceConfig } from '../../client/client-runtime.js';
import type { Logger } from '../../portal/log.js';
import { silentLogger } from '../../portal/log.js';
import { slotSpace, createBatch, type PacketBatch } from '../../tun/batch.js';
import { isPlausibleIpPacket, TUN_MTU, type TunDevice, type TunDeviceStats } from '../../tun/device.js';
import { TunProviderError, type TunProvider } from '../tun-provider.js';
import { toApplyConfig } from './client.js';
import {
  DEFAULT_WINDOWS_PIPE,
  FrameDecoder,
  encodeFrame,
  openResultSchema,
  responseSchema,
} from './protocol.js';

export interface WindowsHelperTunProviderOptions {
  readonly pipePath?: string;
  readonly logger?: Logger;
}

/** Splits the packet pipe's stream (2-byte length + packet) into packets. */
export class PacketPipeDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const packets: Buffer[] = [];
    while (this.buffer.length >= 2) {
      const length = this.buffer.readUInt16BE(0);
      if (this.buffer.length < 2 + length) break;
      packets.push(this.buffer.subarray(2, 2 + length));
      this.buffer = this.buffer.subarray(2 + length);
    }
    return packets;
  }
}

export function encodePacket(packet: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(2 + packet.length);
  out.writeUInt16BE(packet.length, 0);
  out.set(packet, 2);
  return out;
}

/** A TunDevice whose packets come and go through the service's packet pipe. */
export class PipeTunDevice implements TunDevice {
  readonly mtu = TUN_MTU;
  private readonly batch = createBatch(64, 2048);
  private readonly counters: TunDeviceStats = {
    readPackets: 0,
    writtenPackets: 0,
    droppedInvalid: 0,
    writeBackpressure: 0,
  };

  constructor(
    readonly name: string,
    private readonly pipe: Socket,
  ) {}

  get stats(): TunDeviceStats {
    return { ...this.counters };
  }

  start(onPackets: (batch: PacketBatch, count: number) => void, onError: (err: Error) => void): void {
    const decoder = new PacketPipeDecoder();
    this.pipe.on('data', (chunk: Buffer) => {
      let count = 0;
      for (const packet of decoder.push(chunk)) {
        if (!isPlausibleIpPacket(packet, 0, packet.length, this.mtu)) {
          this.counters.droppedInvalid++;
          continue;
        }
        slotSpace(this.batch, count).set(packet);
        this.batch.lengths[count] = packet.length;
        count++;
        if (count === this.batch.lengths.length) {
          this.counters.readPackets += count;
          onPackets(this.batch, count);
          count = 0;
        }
      }
      if (count > 0) {
        this.counters.readPackets += count;
        onPackets(this.batch, count);
      }
    });
    this.pipe.on('error', onError);
  }

  write(batch: PacketBatch, count: number): number {
    for (let i = 0; i < count; i++) {
      const start = i * batch.slotSize + batch.headroom;
      if (!this.pipe.write(encodePacket(batch.buffer.subarray(start, start + batch.lengths[i]!))))
        this.counters.writeBackpressure++;
      this.counters.writtenPackets++;
    }
    return count;
  }

  close(): void {
    this.pipe.destroy();
  }
}

export class WindowsHelperTunProvider implements TunProvider {
  readonly kind = 'helper' as const;
  private readonly pipePath: string;
  private readonly logger: Logger;
  private control: Socket | undefined;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 1;
  private device: string | undefined;
  private tun: PipeTunDevice | undefined;

  constructor(options: WindowsHelperTunProviderOptions = {}) {
    this.pipePath = options.pipePath ?? DEFAULT_WINDOWS_PIPE;
    this.logger = options.logger ?? silentLogger;
  }

  async open(): Promise<TunDevice> {
    if (this.tun) throw new Error('the TUN device is already open');
    await this.connectControl();
    const parsed = openResultSchema.safeParse(await this.request({ type: 'open' }));
    if (!parsed.success || !parsed.data.packetPipe)
      throw new TunProviderError('tun-unavailable', 'the TUN service answered open without a packet pipe');
    const pipe = await connectPipe(parsed.data.packetPipe);
    this.device = parsed.data.device;
    this.tun = new PipeTunDevice(parsed.data.device, pipe);
    this.logger.info('TUN adapter from the service', { device: this.device });
    return this.tun;
  }

  async apply(config: ClientInterfaceConfig): Promise<void> {
    if (!this.device) throw new Error('apply before open');
    await this.request({ type: 'apply', device: this.device, config: toApplyConfig(config) });
  }

  async close(): Promise<void> {
    const device = this.device;
    this.tun?.close();
    this.tun = undefined;
    this.device = undefined;
    if (!this.control || this.control.destroyed) return;
    try {
      if (device) await this.request({ type: 'close', device });
    } finally {
      this.control.destroy();
      this.control = undefined;
    }
  }

  private async connectControl(): Promise<void> {
    try {
      this.control = await connectPipe(this.pipePath);
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new TunProviderError(
        code === 'EACCES' || code === 'EPERM' ? 'permission-denied' : 'helper-unavailable',
        `The TUN service is not reachable at ${this.pipePath} (${code ?? (error as Error).message}).`,
        { cause: error },
      );
    }
    const decoder = new FrameDecoder();
    this.control.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const response = responseSchema.safeParse(JSON.parse(frame.toString()));
        if (!response.success) continue;
        const r = response.data;
        const waiter = this.waiting.get(r.id ?? -1) ?? [...this.waiting.values()][0];
        if (!waiter) continue;
        this.waiting.delete(r.id ?? [...this.waiting.keys()][0]!);
        if (r.ok) waiter.resolve(r.result);
        else
          waiter.reject(
            new TunProviderError(
              r.error.code === 'permission-denied' ? 'permission-denied' : 'refused',
              r.error.message,
            ),
          );
      }
    });
    this.control.on('close', () => {
      for (const w of this.waiting.values())
        w.reject(new TunProviderError('helper-unavailable', 'the connection to the TUN service ended'));
      this.waiting.clear();
    });
  }

  private request(body: Record<string, unknown>): Promise<unknown> {
    const control = this.control;
    if (!control || control.destroyed)
      return Promise.reject(new TunProviderError('helper-unavailable', 'not connected to the TUN service'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      control.write(encodeFrame({ id, ...body }));
    });
  }
}

function connectPipe(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
