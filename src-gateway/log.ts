/**
 * The gateway's logs: one line per event on stdout, `human` (timestamp, level, message,
 * key=value fields) or `json` (one object per line: `ts`, `level`, `msg` and the fields). The
 * level comes from `--log-level` or from a `RUST_LOG`-style directive list, so an environment
 * file written for Firezone's gateway keeps working.
 */
import type { LogFields, Logger, LogLevel } from '../src-engine/portal/log.js';
import { LOG_LEVELS } from '../src-engine/portal/log.js';

export type { Logger, LogLevel };
export type LogFormat = 'human' | 'json';

export const LOG_FORMATS: readonly LogFormat[] = ['human', 'json'];

/**
 * Directive targets that address this program; other targets (other crates in a Firezone
 * `RUST_LOG`, e.g. `phoenix_channel=debug`) are accepted and ignored.
 */
const OWN_TARGETS = new Set(['fz_gateway', 'fz-gateway', 'firezone_gateway', 'firezone-gateway', 'gateway']);

/** `RUST_LOG` level names to ours: we have no `trace` (it means `debug`) and no `off` (`error`). */
const LEVEL_NAMES: Readonly<Record<string, LogLevel>> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  off: 'error',
};

/**
 * Parses a level (`info`) or a `RUST_LOG`-style directive list (`firezone_gateway=debug,info`):
 * a bare level sets the default, `<target>=<level>` for one of our names overrides it, other
 * targets are ignored. Throws a RangeError naming the bad part. Returns undefined when the list
 * sets nothing for us. `strict` (the flag) also refuses bare words that are not levels, which
 * `RUST_LOG` reads as other crates' names.
 */
export function parseLogDirectives(text: string, strict = false): LogLevel | undefined {
  let global: LogLevel | undefined;
  let own: LogLevel | undefined;
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq === -1) {
      const level = LEVEL_NAMES[part.toLowerCase()];
      // A bare word that is not a level is a target at its default level: someone else's.
      if (level !== undefined) global = level;
      else if (strict) throw new RangeError(`"${part}" is not a log level (error, warn, info, debug)`);
      else if (!/^[\w:.-]+(\[.*\])?$/.test(part)) throw new RangeError(`"${part}" is not a log directive`);
      continue;
    }
    const target = part.slice(0, eq).trim();
    const levelText = part.slice(eq + 1).trim();
    const level = LEVEL_NAMES[levelText.toLowerCase()];
    if (level === undefined) {
      throw new RangeError(`"${levelText}" in "${part}" is not a log level (error, warn, info, debug)`);
    }
    if (OWN_TARGETS.has(target.toLowerCase())) own = level;
  }
  return own ?? global;
}

export function isLogFormat(value: string): value is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(value);
}

export interface GatewayLoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Where lines go (default: process.stdout). */
  readonly write?: (line: string) => void;
  readonly clock?: () => Date;
}

const HUMAN_LEVEL: Readonly<Record<LogLevel, string>> = {
  debug: 'DEBUG',
  info: ' INFO',
  warn: ' WARN',
  error: 'ERROR',
};

export function createGatewayLogger(options: GatewayLoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level);
  const write = options.write ?? writeStdout;
  const clock = options.clock ?? (() => new Date());
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    const ts = clock().toISOString();
    write(options.format === 'json' ? jsonLine(ts, level, msg, fields) : humanLine(ts, level, msg, fields));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

function writeStdout(line: string): void {
  try {
    process.stdout.write(line);
  } catch {
    // A closed stdout (EPIPE) must not take the gateway down.
  }
}

function plain(value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function jsonLine(ts: string, level: LogLevel, msg: string, fields: LogFields | undefined): string {
  const record: Record<string, unknown> = { ts, level, msg };
  for (const [key, value] of Object.entries(fields ?? {})) {
    if (key !== 'ts' && key !== 'level' && key !== 'msg') record[key] = plain(value);
  }
  try {
    return `${JSON.stringify(record)}\n`;
  } catch {
    return `${JSON.stringify({ ts, level, msg, note: 'fields were not serialisable' })}\n`;
  }
}

function humanLine(ts: string, level: LogLevel, msg: string, fields: LogFields | undefined): string {
  let line = `${ts} ${HUMAN_LEVEL[level]} ${msg}`;
  for (const [key, value] of Object.entries(fields ?? {})) {
    if (value === undefined) continue;
    const v = plain(value);
    let text: string;
    if (typeof v === 'string') text = /^[\w@%+:,./-]+$/.test(v) ? v : JSON.stringify(v);
    else {
      try {
        text = JSON.stringify(v) ?? String(v);
      } catch {
        text = String(v);
      }
    }
    line += ` ${key}=${text}`;
  }
  return `${line}\n`;
}
