/**
 * `npm run client -- capture --seconds N --out F [--max-bytes B]`: asks the running client, over
 * its status socket, for a pcap stream of the tunnel's inner packets (capture-protocol.ts) and
 * writes it to F, for troubleshooting with tcpdump or Wireshark.
 *
 * The file is created fresh (never overwritten, never through a symlink: this runs as root) with
 * mode 0600, since it holds the inner traffic. Only whole records reach it, so a capture cut short
 * (the client stopped, the connection broke) still leaves a file every reader accepts. Ctrl-C
 * ends the capture early and cleanly: the socket's writing side is closed, the server ends the
 * session and sends what is left and its summary.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import type { CaptureEndReason, CaptureSummary } from '../src-engine/capture/packet-tap.js';
import {
  PCAP_FILE_HEADER_LENGTH,
  PCAP_MAGIC,
  PCAP_RECORD_HEADER_LENGTH,
  PCAP_SNAPLEN,
} from '../src-engine/capture/pcap-writer.js';
import { CAPTURE_DEFAULT_MAX_BYTES, CAPTURE_TRAILER_MARKER, captureLimitsError } from './capture-protocol.js';
import { connectError } from './status.js';

export interface CaptureArgs {
  readonly socket: string;
  readonly seconds: number;
  readonly out: string;
  readonly maxBytes: number;
}

/** A bad `capture` command line; cli.ts answers any parse error with exit code 2 and "Try --help". */
export class CaptureUsageError extends Error {
  override readonly name = 'CaptureUsageError';
}

type Env = Readonly<Record<string, string | undefined>>;

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** A byte count: digits, optionally followed by K, M or G (binary: KiB, MiB, GiB). */
export function parseByteCount(text: string): number | undefined {
  const match = /^(\d+)([kmg]?)(?:i?b)?$/i.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!;
}

/**
 * The arguments after `capture`. The socket comes from --status-socket, FZ_CLIENT_STATUS or
 * `defaultSocket` (cli.ts's DEFAULT_STATUS_SOCKET, passed in so the two cannot disagree).
 */
export function parseCaptureArgs(argv: readonly string[], env: Env, defaultSocket: string): CaptureArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        seconds: { type: 'string' },
        out: { type: 'string', short: 'o' },
        'max-bytes': { type: 'string' },
        'status-socket': { type: 'string' },
      },
    });
  } catch (error) {
    throw new CaptureUsageError(`capture: ${(error as Error).message}`);
  }
  const { values } = parsed;
  if (values.seconds === undefined) throw new CaptureUsageError('capture: --seconds N is required');
  if (!values.out) throw new CaptureUsageError('capture: --out FILE is required');
  const seconds = /^\d+$/.test(values.seconds) ? Number(values.seconds) : Number.NaN;
  const maxBytes =
    values['max-bytes'] === undefined
      ? CAPTURE_DEFAULT_MAX_BYTES
      : (parseByteCount(values['max-bytes']) ?? Number.NaN);
  const bad = captureLimitsError(seconds, maxBytes);
  if (bad) {
    throw new CaptureUsageError(
      `capture: ${bad.replace(/^seconds/, '--seconds').replace(/^maxBytes/, '--max-bytes')}`,
    );
  }
  return {
    socket: values['status-socket'] ?? env.FZ_CLIENT_STATUS ?? defaultSocket,
    seconds,
    out: values.out,
    maxBytes,
  };
}

/**
 * Walks a capture stream as it arrives, sans-IO: `push` returns the bytes that may go to the file
 * (the file header, then whole records only) and keeps the rest until it is complete. It also
 * tells a JSON answer (an error, or an older client's status) from a pcap stream, and takes the
 * summary trailer off the end.
 */
export class PcapStreamReader {
  /** Records passed on. */
  packets = 0;
  /** Bytes passed on (file header and records). */
  bytes = 0;
  private state: 'start' | 'records' | 'trailer' | 'json' = 'start';
  private pending = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array {
    const data = new Uint8Array(this.pending.length + chunk.length);
    data.set(this.pending);
    data.set(chunk, this.pending.length);
    let position = 0;
    if (this.state === 'start' && data.length > 0) {
      if (data[0] === 0x7b /* '{' */) this.state = 'json';
      else if (data.length >= PCAP_FILE_HEADER_LENGTH) {
        const magic = new DataView(data.buffer, data.byteOffset).getUint32(0, true);
        if (magic !== PCAP_MAGIC) throw new Error('the client answered with neither JSON nor a pcap stream');
        position = PCAP_FILE_HEADER_LENGTH;
        this.state = 'records';
      }
    }
    if (this.state === 'records') {
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      while (data.length - position >= PCAP_RECORD_HEADER_LENGTH) {
        if (isTrailerMarker(data, position)) {
          this.state = 'trailer';
          break;
        }
        const captured = view.getUint32(position + 8, true);
        if (captured > PCAP_SNAPLEN)
          throw new Error(`corrupt capture stream (a record of ${captured} bytes)`);
        const end = position + PCAP_RECORD_HEADER_LENGTH + captured;
        if (end > data.length) break;
        position = end;
        this.packets++;
      }
    }
    this.pending = data.subarray(position);
    // JSON and the trailer are short; a peer sending endless bytes there is not waited for.
    if ((this.state === 'json' || this.state === 'trailer') && this.pending.length > 64 * 1024) {
      throw new Error('the client sent an answer too long to be JSON');
    }
    const out = data.subarray(0, position);
    this.bytes += out.length;
    return out;
  }

  /** What the whole stream was, once it has ended. */
  finish():
    | { readonly kind: 'pcap'; readonly summary?: CaptureSummary; readonly cutBytes: number }
    | { readonly kind: 'json'; readonly answer: unknown }
    | { readonly kind: 'empty' } {
    if (this.state === 'json') {
      const text = new TextDecoder().decode(this.pending);
      try {
        return { kind: 'json', answer: JSON.parse(text) };
      } catch {
        return { kind: 'json', answer: { error: `unreadable answer: ${text.slice(0, 200)}` } };
      }
    }
    if (this.state === 'start') return { kind: 'empty' };
    if (this.state === 'trailer') {
      try {
        const json = new TextDecoder().decode(this.pending.subarray(CAPTURE_TRAILER_MARKER.length));
        const summary = JSON.parse(json) as CaptureSummary;
        return { kind: 'pcap', summary, cutBytes: 0 };
      } catch {
        return { kind: 'pcap', cutBytes: 0 };
      }
    }
    return { kind: 'pcap', cutBytes: this.pending.length };
  }
}

function isTrailerMarker(data: Uint8Array, position: number): boolean {
  for (let i = 0; i < CAPTURE_TRAILER_MARKER.length; i++) {
    if (data[position + i] !== CAPTURE_TRAILER_MARKER[i]) return false;
  }
  return true;
}

export interface CaptureOptions extends CaptureArgs {
  /** Aborting ends the capture early but cleanly (Ctrl-C): the file keeps what came so far. */
  readonly signal?: AbortSignal;
  /** Beyond `seconds`, how long to wait for the client to end the stream; default 10 s. */
  readonly graceMs?: number;
}

export interface CaptureResult {
  readonly out: string;
  /** Records in the file. */
  readonly packets: number;
  /** Size of the file. */
  readonly bytes: number;
  /** Packets the client could not write (the reader was too slow, or the one past maxBytes). */
  readonly dropped: number;
  /** Why it ended; `disconnected` when the stream broke off before the client ended it. */
  readonly reason: CaptureEndReason | 'disconnected';
  /** For `disconnected`: what happened. */
  readonly detail?: string;
}

/** A capture that produced no file: the client refused it or could not be reached. */
export class CaptureError extends Error {
  override readonly name = 'CaptureError';
}

export async function runCapture(options: CaptureOptions): Promise<CaptureResult> {
  const { out } = options;
  let file: FileHandle;
  try {
    // 'wx': O_CREAT | O_EXCL, so an existing file (or a symlink planted where F will be) is refused.
    file = await open(out, 'wx', 0o600);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new CaptureError(
      e.code === 'EEXIST'
        ? `${out} already exists (capture writes a new file and never overwrites one)`
        : `cannot write ${out}: ${e.message}`,
    );
  }
  const reader = new PcapStreamReader();
  let streamError: Error | undefined;
  try {
    const socket = await connect(options.socket);
    streamError = await stream(socket, file, reader, options);
  } catch (error) {
    streamError = error as Error;
  } finally {
    await file.close();
  }
  let outcome: ReturnType<PcapStreamReader['finish']>;
  try {
    outcome = reader.finish();
  } catch (error) {
    outcome = { kind: 'pcap', cutBytes: 0 };
    streamError ??= error as Error;
  }
  if (reader.bytes === 0) {
    // Nothing of a capture reached the file: leave no empty file behind and say why.
    await rm(out, { force: true });
    if (outcome.kind === 'json') throw new CaptureError(describeJsonAnswer(outcome.answer));
    if (streamError instanceof CaptureError) throw streamError;
    throw new CaptureError(
      streamError
        ? `capture failed: ${streamError.message}`
        : 'the client closed the connection without a capture (is it too old for capture?)',
    );
  }
  const summary = outcome.kind === 'pcap' ? outcome.summary : undefined;
  const cut =
    outcome.kind === 'pcap' && outcome.cutBytes > 0
      ? `; a partial record of ${outcome.cutBytes} bytes left out`
      : '';
  return {
    out,
    packets: reader.packets,
    bytes: reader.bytes,
    dropped: summary?.dropped ?? 0,
    reason: summary && !streamError ? summary.reason : 'disconnected',
    ...(summary && !streamError
      ? {}
      : { detail: `${streamError?.message ?? 'the client closed the connection before the end'}${cut}` }),
  };
}

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const onError = (error: Error): void => reject(new CaptureError(connectError(path, error).message));
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** Sends the request and copies the stream into the file; resolves with what broke it, if anything. */
async function stream(
  socket: Socket,
  file: FileHandle,
  reader: PcapStreamReader,
  options: CaptureOptions,
): Promise<Error | undefined> {
  const request = { command: 'capture', seconds: options.seconds, maxBytes: options.maxBytes, summary: true };
  socket.write(`${JSON.stringify(request)}\n`);
  // Closing our side is the stop signal the server listens for; it keeps sending until it is done.
  const stop = (): void => void socket.end();
  if (options.signal?.aborted) stop();
  options.signal?.addEventListener('abort', stop, { once: true });
  const deadline = setTimeout(
    () => socket.destroy(new Error('the client did not end the capture in time')),
    options.seconds * 1000 + (options.graceMs ?? 10_000),
  );
  try {
    // for await pauses the socket while the file write is pending: backpressure for free.
    for await (const chunk of socket as AsyncIterable<Buffer>) {
      const bytes = reader.push(chunk);
      if (bytes.length > 0) await file.write(bytes);
    }
    return undefined;
  } catch (error) {
    socket.destroy();
    return error as Error;
  } finally {
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', stop);
  }
}

function describeJsonAnswer(answer: unknown): string {
  const { error } = (answer ?? {}) as { error?: unknown };
  if (typeof error === 'string') return `the client refused the capture: ${error}`;
  // An answer without an error is a status: a client from before capture existed ignores requests.
  return 'the client does not support capture (it answered with its status): update it';
}

/** `100 MiB` for a whole number of KiB, MiB or GiB (as --max-bytes takes them), else `N bytes`. */
export function formatByteCount(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

export function formatCaptureResult(result: CaptureResult): string {
  const dropped = result.dropped > 0 ? `; ${result.dropped} dropped` : '';
  const detail = result.detail ? `: ${result.detail}` : '';
  const packets = `${result.packets} packet${result.packets === 1 ? '' : 's'}`;
  return `capture: ${packets}, ${result.bytes} bytes written to ${result.out} (ended: ${result.reason}${detail}${dropped})\n`;
}

export interface CaptureIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** Where SIGINT / SIGTERM come from (process by default). */
  readonly signals: Pick<NodeJS.Process, 'once' | 'off'>;
}

/**
 * The `capture` command as cli.ts runs it: prints what it does, stops cleanly on the first Ctrl-C
 * or SIGTERM, prints the summary. Returns the exit code: 0 when the capture ended as asked (time,
 * size or stopped), 1 when it could not start or broke off.
 */
export async function captureCommand(
  args: CaptureArgs,
  io: CaptureIo = { stdout: process.stdout, stderr: process.stderr, signals: process },
): Promise<number> {
  const controller = new AbortController();
  const onSignal = (): void => {
    io.stderr.write('capture: stopping…\n');
    controller.abort();
  };
  io.signals.once('SIGINT', onSignal);
  io.signals.once('SIGTERM', onSignal);
  io.stderr.write(
    `capture: the tunnel's packets to ${args.out} for ${args.seconds} s (at most ${formatByteCount(args.maxBytes)}); Ctrl-C stops\n`,
  );
  try {
    const result = await runCapture({ ...args, signal: controller.signal });
    io.stdout.write(formatCaptureResult(result));
    return result.reason === 'disconnected' ? 1 : 0;
  } catch (error) {
    io.stderr.write(`fz-client: ${(error as Error).message}\n`);
    return 1;
  } finally {
    io.signals.off('SIGINT', onSignal);
    io.signals.off('SIGTERM', onSignal);
  }
}
