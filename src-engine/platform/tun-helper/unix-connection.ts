/**
 * One end of a helper connection over a node-tun UnixSocket (Linux, macOS): length-prefixed JSON
 * frames (./protocol.ts) in both directions, and file descriptors that ride with a frame's first
 * byte. Sends queue and wait for writability, so neither the app nor the helper ever blocks its
 * event loop on a slow peer.
 */
import { closeFd, type SystemError, type UnixSocket } from 'node-tun';
import { FrameDecoder, encodeFrame, HelperError } from './protocol.js';

export interface FrameHandlers {
  /** A whole frame's payload; `fds` are the descriptors received since the previous frame. */
  onFrame(payload: Uint8Array, fds: number[]): void;
  /** The stream is gone: a socket error, a bad frame nobody handled, or (undefined) its end. */
  onClose(reason: Error | undefined): void;
  /**
   * A frame that cannot be read (too large): reading has stopped, the socket is still open so a
   * last error frame can be sent before `end()`. Absent: the connection closes at once.
   */
  onBadStream?(error: HelperError): void;
}

interface Pending {
  readonly bytes: Uint8Array;
  offset: number;
  readonly fd: number | undefined;
}

export class UnixFrameConnection {
  private readonly decoder: FrameDecoder;
  private readonly queue: Pending[] = [];
  private fds: number[] = [];
  private waiting = false;
  private ending = false;
  private closed = false;

  constructor(
    readonly socket: UnixSocket,
    private readonly handlers: FrameHandlers,
    maxFrameBytes?: number,
  ) {
    this.decoder = new FrameDecoder(maxFrameBytes);
    socket.startReading(
      (data, fd) => this.onData(data, fd),
      (err: SystemError) => this.finish(err),
    );
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Queues one frame; `fd` travels with its first byte (the sender keeps its own copy). */
  send(value: unknown, fd?: number): void {
    if (this.closed) throw new Error('the helper connection is closed');
    this.queue.push({ bytes: encodeFrame(value), offset: 0, fd });
    this.flush();
  }

  /** Closes once everything queued has been sent. */
  end(): void {
    this.ending = true;
    if (this.queue.length === 0) this.finish(undefined);
  }

  /** Closes the socket; any received descriptor nobody took is closed too. */
  close(): void {
    this.finish(undefined);
  }

  private flush(): void {
    if (this.waiting) return;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const head = this.queue[0]!;
        const n = this.socket.send(head.bytes.subarray(head.offset), head.offset === 0 ? head.fd : undefined);
        if (n === 0) {
          this.waiting = true;
          this.socket.onceWritable(() => {
            this.waiting = false;
            this.flush();
          });
          return;
        }
        head.offset += n;
        if (head.offset >= head.bytes.length) this.queue.shift();
      }
      if (this.ending && this.queue.length === 0) this.finish(undefined);
    } catch (error) {
      this.finish(error as Error);
    }
  }

  private onData(data: Uint8Array | null, fd: number): void {
    if (fd !== -1) this.fds.push(fd);
    if (data === null) {
      this.finish(undefined);
      return;
    }
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(data);
    } catch (error) {
      if (this.handlers.onBadStream && error instanceof HelperError) {
        this.socket.stopReading();
        this.handlers.onBadStream(error);
      } else this.finish(error as Error);
      return;
    }
    for (const frame of frames) {
      if (this.closed) return;
      const fds = this.fds;
      this.fds = [];
      this.handlers.onFrame(frame, fds);
    }
  }

  private finish(reason: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    for (const fd of this.fds.splice(0)) {
      try {
        closeFd(fd);
      } catch {
        // already closed
      }
    }
    this.socket.close();
    this.handlers.onClose(reason);
  }
}
