/**
 * Packet capture for troubleshooting: the contract between the datapath and whoever records its
 * packets, and a bounded capture session that turns tapped packets into a pcap stream.
 *
 * What a runtime taps: the inner (plaintext) packets crossing between the host and the tunnel,
 * both ways — `to_tunnel` for one going in (read from the TUN, or a p2p control packet the node
 * sends), `from_tunnel` for one coming out (written to the TUN, or a control packet received).
 * The p2p control packets (IPv6, next header 255, `::` → `::`) never pass the TUN, so a tcpdump
 * on the TUN device misses them; this does not. Capture is off unless someone adds a tap: with
 * none, the datapath pays one check per batch or packet.
 */
import { pcapFileHeader, pcapRecord, pcapRecordLength, PCAP_FILE_HEADER_LENGTH } from './pcap-writer.js';

export type PacketDirection = 'to_tunnel' | 'from_tunnel';

/**
 * Called synchronously on the datapath for every inner packet while it is added. `packet` is only
 * valid during the call (the datapath reuses its buffers): a tap that keeps it must copy it.
 * `timestampMs` is wall-clock ms since the epoch (Date.now()), as pcap files want. A tap must be
 * cheap and must not throw; PacketTapSet guards against one that does anyway.
 */
export type PacketTap = (packet: Uint8Array, direction: PacketDirection, timestampMs: number) => void;

/**
 * The taps of one runtime: what `addPacketTap` can be built on. `emit` calls each tap with the
 * packet; a tap that throws is removed rather than allowed to break the packet loop (a capture
 * must never take the tunnel down).
 */
export class PacketTapSet {
  private taps: readonly PacketTap[] = [];

  /** True when at least one tap is added: check it before taking a timestamp for `emit`. */
  get active(): boolean {
    return this.taps.length > 0;
  }

  /** Adds `tap`; the function returned removes it (calling it twice is harmless). */
  add(tap: PacketTap): () => void {
    // A wrapper per add, so the same function added twice is two taps, each removed on its own.
    const entry: PacketTap = (packet, direction, timestampMs) => tap(packet, direction, timestampMs);
    // Copy-on-write: emit may be iterating while a tap removes itself (a capture that fills up).
    this.taps = [...this.taps, entry];
    return () => {
      this.taps = this.taps.filter((t) => t !== entry);
    };
  }

  emit(packet: Uint8Array, direction: PacketDirection, timestampMs: number): void {
    const taps = this.taps;
    for (const tap of taps) {
      try {
        tap(packet, direction, timestampMs);
      } catch {
        this.taps = this.taps.filter((t) => t !== tap);
      }
    }
  }
}

export type CaptureEndReason = 'time' | 'size' | 'stopped';

export interface CaptureSummary {
  /** Records written. */
  readonly packets: number;
  /** Bytes given to the sink: the 24-byte file header and every record. */
  readonly bytes: number;
  /** Packets tapped but not written: the sink was backed up, or the one that did not fit. */
  readonly dropped: number;
  readonly reason: CaptureEndReason;
}

/** Starts a one-shot timer and returns what cancels it (setTimeout by default; tests fake it). */
export type StartTimer = (ms: number, callback: () => void) => () => void;

export interface CaptureSessionOptions {
  /** The session ends this long after it starts (> 0). */
  readonly seconds: number;
  /** Most bytes the sink gets, file header included (at least the 24 of the header). */
  readonly maxBytes: number;
  /** Gets the pcap stream: the file header at once (in the constructor), then one call per record. */
  readonly sink: (chunk: Uint8Array) => void;
  /**
   * Bytes the sink has taken but not yet passed on (a socket's writableLength). While it is above
   * `maxBacklogBytes`, packets are dropped and counted: a reader that cannot keep up loses packets
   * instead of making this process buffer up to maxBytes in memory.
   */
  readonly backlog?: () => number;
  /** Default 8 MiB. */
  readonly maxBacklogBytes?: number;
  readonly startTimer?: StartTimer;
}

export const DEFAULT_MAX_BACKLOG_BYTES = 8 * 1024 * 1024;

const realTimer: StartTimer = (ms, callback) => {
  const timer = setTimeout(callback, ms);
  return () => clearTimeout(timer);
};

/**
 * One capture: a bounded pcap stream of the packets given to `tap`, ending after `seconds`, when
 * the next record would pass `maxBytes` (or it is exactly full), or on `stop()`, whichever comes
 * first; `done` then resolves with what was written. After the end `tap` does nothing, so a
 * runtime that removes it a little later loses nothing but time.
 */
export class CaptureSession {
  readonly done: Promise<CaptureSummary>;
  private packets = 0;
  private bytes = 0;
  private dropped = 0;
  private ended = false;
  private readonly maxBacklog: number;
  private readonly cancelTimer: () => void;
  private resolve!: (summary: CaptureSummary) => void;

  constructor(private readonly options: CaptureSessionOptions) {
    if (!(options.seconds > 0) || !Number.isFinite(options.seconds)) {
      throw new RangeError(`capture seconds must be a positive number (got ${options.seconds})`);
    }
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < PCAP_FILE_HEADER_LENGTH) {
      throw new RangeError(
        `capture maxBytes must be an integer of at least ${PCAP_FILE_HEADER_LENGTH} (got ${options.maxBytes})`,
      );
    }
    this.maxBacklog = options.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG_BYTES;
    this.done = new Promise((resolve) => (this.resolve = resolve));
    const header = pcapFileHeader();
    options.sink(header);
    this.bytes = header.length;
    this.cancelTimer = (options.startTimer ?? realTimer)(options.seconds * 1000, () => this.end('time'));
    // After the timer is set, so that end() can cancel it: a maxBytes of just the header is full.
    if (this.bytes === options.maxBytes) this.end('size');
  }

  /** True once the session has ended (done resolved or about to). */
  get isEnded(): boolean {
    return this.ended;
  }

  /** The PacketTap to add to the runtime; bound, so it can be passed around as is. */
  readonly tap: PacketTap = (packet, _direction, timestampMs) => {
    if (this.ended) return;
    const length = pcapRecordLength(packet.length);
    if (this.bytes + length > this.options.maxBytes) {
      this.dropped++;
      this.end('size');
      return;
    }
    if (this.options.backlog && this.options.backlog() > this.maxBacklog) {
      this.dropped++;
      return;
    }
    try {
      this.options.sink(pcapRecord(packet, timestampMs)); // copies: the caller reuses `packet`
    } catch {
      // A sink that fails (its socket went away) ends the capture; the datapath never sees it.
      this.end('stopped');
      return;
    }
    this.packets++;
    this.bytes += length;
    if (this.bytes === this.options.maxBytes) this.end('size');
  };

  stop(): void {
    this.end('stopped');
  }

  private end(reason: CaptureEndReason): void {
    if (this.ended) return;
    this.ended = true;
    this.cancelTimer();
    this.resolve({ packets: this.packets, bytes: this.bytes, dropped: this.dropped, reason });
  }
}
