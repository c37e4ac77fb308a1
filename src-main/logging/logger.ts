// The app's log: one place for main, engine and renderer messages. Every line is redacted
// (registered secrets and secret-looking URL parameters) before it is stored, shown or written,
// so a token cannot reach a file, the Logs view or an exported zip.

import { LOG_LEVELS, type LogEntry, type LogLevel, type LogSource } from '../../src-shared/domain.js';

export interface LogSink {
  write(line: string): void;
  flush(): Promise<void>;
  clear(): Promise<void>;
}

const RANK: Record<LogLevel, number> = Object.fromEntries(LOG_LEVELS.map((l, i) => [l, i])) as Record<
  LogLevel,
  number
>;

export function levelEnabled(threshold: LogLevel, level: LogLevel): boolean {
  return RANK[level] <= RANK[threshold];
}

const SECRET_PATTERNS: readonly [RegExp, string][] = [
  [/([?&#](?:fragment|state|nonce|token)=)[^&#\s"']*/gi, '$1[redacted]'],
  [/(\b(?:X-)?Authorization:?\s*Bearer\s+)[^\s"',]+/gi, '$1[redacted]'],
  [/(\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}/g, '$1[redacted]'],
];

const MAX_MESSAGE = 4000;
/** C0 controls except \t and \n, and DEL: terminal escapes must not reach a log viewer. */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

export function formatLogLine(entry: LogEntry): string {
  return `${new Date(entry.time).toISOString()} ${entry.level.toUpperCase().padEnd(5)} [${entry.source}] ${entry.message}`;
}

export class Logger {
  #level: LogLevel;
  #seq = 0;
  readonly #ring: LogEntry[] = [];
  readonly #secrets = new Set<string>();
  readonly #listeners = new Set<(entry: LogEntry) => void>();

  constructor(
    private readonly options: {
      level: LogLevel;
      sink?: LogSink | null;
      ringSize?: number;
      now?: () => number;
      /** Also print to stderr (development). */
      echo?: boolean;
    },
  ) {
    this.#level = options.level;
  }

  get level(): LogLevel {
    return this.#level;
  }

  setLevel(level: LogLevel): void {
    this.#level = level;
  }

  /** Registers a secret (the token, its parts) to be masked in every later message. */
  addSecret(secret: string): void {
    if (secret.length >= 6) this.#secrets.add(secret);
  }

  removeSecret(secret: string): void {
    this.#secrets.delete(secret);
  }

  redact(message: string): string {
    let out = message;
    for (const s of this.#secrets) out = out.split(s).join('[redacted]');
    for (const [re, rep] of SECRET_PATTERNS) out = out.replace(re, rep);
    // One entry is one line: control characters (and newlines from other processes) are escaped.
    out = out.replace(CONTROL_CHARS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
    out = out.replace(/\n/g, ' ⏎ ');
    return out.length > MAX_MESSAGE
      ? `${out.slice(0, MAX_MESSAGE)}… (${out.length - MAX_MESSAGE} more characters)`
      : out;
  }

  log(level: LogLevel, source: LogSource, message: string, time?: number): void {
    if (!levelEnabled(this.#level, level)) return;
    const entry: LogEntry = {
      seq: ++this.#seq,
      time: time ?? (this.options.now ?? Date.now)(),
      level,
      source,
      message: this.redact(message),
    };
    this.#ring.push(entry);
    const max = this.options.ringSize ?? 2000;
    if (this.#ring.length > max) this.#ring.splice(0, this.#ring.length - max);
    const line = formatLogLine(entry);
    this.options.sink?.write(line);
    if (this.options.echo) process.stderr.write(`${line}\n`);
    for (const l of this.#listeners) l(entry);
  }

  error(message: string): void {
    this.log('error', 'main', message);
  }
  warn(message: string): void {
    this.log('warn', 'main', message);
  }
  info(message: string): void {
    this.log('info', 'main', message);
  }
  debug(message: string): void {
    this.log('debug', 'main', message);
  }

  recent(limit = 1000): LogEntry[] {
    return this.#ring.slice(-limit);
  }

  onEntry(listener: (entry: LogEntry) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  flush(): Promise<void> {
    return this.options.sink?.flush() ?? Promise.resolve();
  }

  /** Empties the in-memory history and the files. */
  async clear(): Promise<void> {
    this.#ring.length = 0;
    await this.options.sink?.clear();
  }
}
