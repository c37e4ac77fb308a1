// "Capture packets" in the Logs view: asks where to save, creates the file fresh (0600: it holds
// the user's traffic in clear), has the engine host stream a bounded pcap into it, pushes the
// progress about twice a second and the result at the end. One capture at a time; the engine host
// enforces the same bounds (seconds 1–3600, 100 MiB) and ends a capture when the tunnel goes
// down. Nothing of the packets is logged, only counts and the file's path.

import { promises as fsp, type WriteStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { CaptureEndReason, CaptureState } from '../../src-shared/domain.js';
import { AppError } from '../app-error.js';
import type { Platform } from '../app/platform.js';
import {
  CAPTURE_DEFAULT_MAX_BYTES,
  CAPTURE_MAX_SECONDS,
  CAPTURE_MIN_SECONDS,
  EngineCaptureError,
  type EngineCaptureSummary,
  type EngineHost,
} from '../engine/engine-host.js';
import type { Logger } from './logger.js';

export interface PacketCaptureOptions {
  readonly engine: EngineHost;
  readonly platform: Platform;
  readonly logger: Logger;
  /** Receives every state change (the `logs.capture` push). */
  readonly onState: (state: CaptureState) => void;
  /** Whether the tunnel is up: asked before the save dialog, so nobody picks a file for nothing. */
  readonly isTunnelUp: () => boolean;
  readonly now?: () => number;
  /** Default 100 MiB. */
  readonly maxBytes?: number;
  /** How often progress is pushed while capturing; default 500 ms. */
  readonly progressIntervalMs?: number;
}

export function defaultCaptureName(now: number): string {
  return `fz-capture-${new Date(now).toISOString().slice(0, 19).replace(/[:T]/g, '-')}.pcap`;
}

/**
 * Opens `file` for writing as a new file, mode 0600. An existing file (the save dialog asked the
 * user whether to replace it) is removed first rather than truncated, so neither its permissions
 * nor a symlink put in its place carry over: O_CREAT|O_EXCL never follows a link.
 */
export async function createFreshFile(file: string): Promise<FileHandle> {
  if (!path.isAbsolute(file)) throw new AppError('invalid-path', 'Choose a full path for the capture file.');
  await fsp.mkdir(path.dirname(file), { recursive: true });
  try {
    const existing = await fsp.lstat(file);
    if (existing.isDirectory()) {
      throw new AppError('invalid-path', `${file} is a folder; choose a file name for the capture.`);
    }
    await fsp.unlink(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const handle = await fsp.open(file, 'wx', 0o600);
  try {
    await handle.chmod(0o600); // exact, whatever the umask
  } catch (e) {
    await handle.close();
    throw e;
  }
  return handle;
}

const REASONS: Record<CaptureEndReason, string> = {
  time: 'time limit',
  size: 'size limit',
  stopped: 'stopped',
};

export class PacketCapture {
  readonly #o: PacketCaptureOptions;
  readonly #now: () => number;
  #state: CaptureState = { state: 'idle' };
  /** Set from the start request until the capture has ended and its file is closed. */
  #busy = false;
  #abort: AbortController | null = null;
  #finished: Promise<void> = Promise.resolve();

  constructor(options: PacketCaptureOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get state(): CaptureState {
    return this.#state;
  }

  /** Resolves once recording has started (null: the user cancelled the dialog). */
  async start(seconds: number): Promise<{ path: string } | null> {
    const { platform, logger } = this.#o;
    if (!Number.isInteger(seconds) || seconds < CAPTURE_MIN_SECONDS || seconds > CAPTURE_MAX_SECONDS) {
      throw new AppError(
        'invalid-argument',
        `A capture lasts a whole number of seconds from ${CAPTURE_MIN_SECONDS} to ${CAPTURE_MAX_SECONDS}.`,
      );
    }
    if (this.#busy) throw new AppError('capture-busy', 'A packet capture is already running.');
    if (!this.#o.isTunnelUp()) {
      throw new AppError(
        'not-connected',
        'Connect first: packets can only be captured while the tunnel is up.',
      );
    }
    this.#busy = true;
    let target: { file: string; handle: FileHandle } | null;
    try {
      const file = await platform.chooseSavePath(defaultCaptureName(this.#now()), 'packet-capture');
      target = file ? { file, handle: await createFreshFile(file) } : null;
    } catch (e) {
      this.#busy = false;
      const error =
        e instanceof AppError
          ? e
          : new AppError(
              'capture-file-failed',
              `The capture file could not be created: ${(e as Error).message}`,
            );
      logger.warn(`packet capture: ${error.message}`);
      this.#setState({ state: 'failed', error: error.toUserError(), path: null });
      throw error;
    }
    if (!target) {
      this.#busy = false; // the user cancelled
      return null;
    }
    return this.#run(seconds, target.file, target.handle);
  }

  /** Ends the running capture early; harmless when none runs. */
  stop(): void {
    this.#abort?.abort();
  }

  /** Stops a running capture and waits until its file is closed (app shutdown). */
  async shutdown(): Promise<void> {
    this.stop();
    await this.#finished;
  }

  async #run(seconds: number, file: string, handle: FileHandle): Promise<{ path: string }> {
    const { engine, logger } = this.#o;
    const stream = handle.createWriteStream();
    let writeError: Error | null = null;
    const abort = new AbortController();
    stream.on('error', (e) => {
      writeError ??= e;
      abort.abort();
    });
    let chunks = 0;
    let bytes = 0;
    let headerSeen!: () => void;
    const started = new Promise<void>((resolve) => (headerSeen = resolve));
    const sink = (chunk: Uint8Array) => {
      if (writeError) return;
      if (chunks++ === 0) headerSeen();
      bytes += chunk.length;
      stream.write(chunk);
    };
    const capture = engine.capture(
      {
        seconds,
        maxBytes: this.#o.maxBytes ?? CAPTURE_DEFAULT_MAX_BYTES,
        signal: abort.signal,
        backlog: () => stream.writableLength,
      },
      sink,
    );
    // The host sends the file header as soon as it records; a refusal arrives as a rejection.
    const first = await Promise.race([
      started.then(() => null),
      capture.then(
        () => null,
        (e: unknown) => ({ refused: e }),
      ),
    ]);
    if (first) {
      this.#busy = false;
      await closeStream(stream).catch(() => {});
      await fsp.unlink(file).catch(() => {});
      const e = first.refused;
      const error =
        e instanceof EngineCaptureError
          ? new AppError(e.code, e.message)
          : new AppError(
              'capture-failed',
              `The capture could not start: ${e instanceof Error ? e.message : String(e)}`,
            );
      logger.warn(`packet capture refused: ${error.code}: ${error.message}`);
      this.#setState({ state: 'failed', error: error.toUserError(), path: null });
      throw error;
    }

    this.#abort = abort;
    const startedAt = this.#now();
    logger.info(`packet capture started: ${seconds} s to ${file}`);
    const progress = () => {
      if (this.#state.state !== 'running') return;
      const packets = Math.max(0, chunks - 1);
      if (this.#state.packets === packets && this.#state.bytes === bytes) return;
      this.#setState({ ...this.#state, packets, bytes });
    };
    this.#setState({ state: 'running', path: file, seconds, startedAt, packets: 0, bytes });
    const timer = setInterval(progress, this.#o.progressIntervalMs ?? 500);
    this.#finished = capture
      .then(
        (summary) => ({ summary, engineError: null }),
        // The host gave up half-way (the worker died): keep what was written.
        (e: unknown) => ({ summary: null, engineError: e instanceof Error ? e : new Error(String(e)) }),
      )
      .then(async ({ summary, engineError }) => {
        clearInterval(timer);
        await closeStream(stream).catch((e: Error) => (writeError ??= e));
        await this.#finish(file, startedAt, summary, writeError, engineError);
      })
      .catch((e: unknown) => logger.error(`packet capture: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        this.#abort = null;
        this.#busy = false;
      });
    return { path: file };
  }

  async #finish(
    file: string,
    startedAt: number,
    summary: EngineCaptureSummary | null,
    writeError: Error | null,
    engineError: Error | null,
  ): Promise<void> {
    const { logger } = this.#o;
    if (writeError || engineError || !summary) {
      const [code, why] = writeError
        ? ['capture-write-failed', `the file could not be written (${writeError.message})`]
        : ['capture-failed', `the tunnel engine failed (${engineError?.message ?? 'no summary'})`];
      const message = `The capture stopped because ${why}. What was recorded before is in ${file}.`;
      logger.error(`packet capture failed: ${why} (${file})`);
      this.#setState({ state: 'failed', error: { code, message }, path: file });
      return;
    }
    const size = await fsp.stat(file).then(
      (s) => s.size,
      () => summary.bytes,
    );
    const result = {
      path: file,
      packets: summary.packets,
      bytes: size,
      dropped: summary.dropped,
      reason: summary.reason,
      startedAt,
      endedAt: this.#now(),
    };
    logger.info(
      `packet capture ended (${REASONS[summary.reason]}): ${summary.packets} packets, ${size} bytes, ${summary.dropped} dropped, saved to ${file}`,
    );
    this.#setState({ state: 'finished', result });
  }

  #setState(state: CaptureState): void {
    this.#state = state;
    this.#o.onState(state);
  }
}

/** Ends the stream and closes its file; rejects with a write error. */
function closeStream(stream: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.closed) {
      resolve();
      return;
    }
    stream.once('error', reject);
    stream.once('close', () => resolve());
    stream.end();
  });
}
