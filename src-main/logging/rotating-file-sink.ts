// Log files: `<dir>/app.log`, rotated to app.log.1 … app.log.<keep> when it passes `maxBytes`.
// Writes are batched and appended asynchronously in order, so logging never blocks main.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { LogSink } from './logger.js';

export interface RotatingFileSinkOptions {
  readonly dir: string;
  readonly baseName?: string;
  readonly maxBytes?: number;
  /** Rotated files kept besides the current one. */
  readonly keep?: number;
  /** Called when a write fails (disk full…); logging itself must never throw. */
  readonly onError?: (error: Error) => void;
}

export class RotatingFileSink implements LogSink {
  readonly file: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  #pending: string[] = [];
  #size: number | null = null;
  #chain: Promise<void> = Promise.resolve();
  #scheduled = false;

  constructor(private readonly options: RotatingFileSinkOptions) {
    this.file = path.join(options.dir, options.baseName ?? 'app.log');
    this.#maxBytes = options.maxBytes ?? 1024 * 1024;
    this.#keep = options.keep ?? 5;
  }

  /** The current file and the rotated ones, newest first, that exist. */
  async files(): Promise<string[]> {
    const candidates = [this.file, ...Array.from({ length: this.#keep }, (_, i) => `${this.file}.${i + 1}`)];
    const out: string[] = [];
    for (const f of candidates) {
      try {
        await fsp.access(f);
        out.push(f);
      } catch {
        // not there
      }
    }
    return out;
  }

  write(line: string): void {
    this.#pending.push(`${line}\n`);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => void this.flush(), 50).unref?.();
    }
  }

  flush(): Promise<void> {
    this.#scheduled = false;
    const batch = this.#pending.join('');
    this.#pending = [];
    if (batch) this.#chain = this.#chain.then(() => this.#append(batch));
    return this.#chain;
  }

  clear(): Promise<void> {
    this.#pending = [];
    this.#chain = this.#chain.then(async () => {
      const files = await this.files();
      await Promise.all(files.map((f) => fsp.rm(f, { force: true })));
      this.#size = 0;
    });
    return this.#chain;
  }

  async #append(batch: string): Promise<void> {
    try {
      await fsp.mkdir(this.options.dir, { recursive: true });
      if (this.#size === null) {
        this.#size = await fsp.stat(this.file).then(
          (s) => s.size,
          () => 0,
        );
      }
      const bytes = Buffer.byteLength(batch);
      if (this.#size > 0 && this.#size + bytes > this.#maxBytes) await this.#rotate();
      await fsp.appendFile(this.file, batch, { mode: 0o600 });
      this.#size += bytes;
    } catch (e) {
      this.options.onError?.(e as Error);
    }
  }

  async #rotate(): Promise<void> {
    await fsp.rm(`${this.file}.${this.#keep}`, { force: true });
    for (let i = this.#keep - 1; i >= 1; i--) {
      await fsp.rename(`${this.file}.${i}`, `${this.file}.${i + 1}`).catch(() => {});
    }
    await fsp.rename(this.file, `${this.file}.1`).catch(() => {});
    this.#size = 0;
  }
}
