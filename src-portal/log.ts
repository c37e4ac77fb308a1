/**
 * Structured logs of the dev portal: one JSON object per line with `ts`, `level`, `msg` and flat
 * fields. Fields whose name says "secret" are replaced before anything is written, so a token,
 * password or PSK passed by mistake never reaches the output.
 */
import type { LogFields, Logger, LogLevel } from '../src-engine/portal/log.js';
import { LOG_LEVELS } from '../src-engine/portal/log.js';

export type { Logger, LogLevel };

const SECRET_KEYS = /token|password|secret|fragment|authorization|cookie|preshared|psk|nonce|csrf/i;
/** Fields with these names are safe although they match the pattern above. */
const SAFE_KEYS = new Set(['token_id', 'tokenId', 'tokens', 'token_ttl']);

export interface JsonLoggerOptions {
  readonly level?: LogLevel;
  /** Where lines go (default process.stdout). */
  readonly write?: (line: string) => void;
  /** Fields added to every line. */
  readonly base?: LogFields;
  readonly clock?: () => Date;
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level ?? 'info');
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const clock = options.clock ?? (() => new Date());
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    const record: Record<string, unknown> = { ts: clock().toISOString(), level, msg };
    for (const [key, value] of Object.entries({ ...options.base, ...fields })) {
      if (key === 'ts' || key === 'level' || key === 'msg') continue;
      record[key] = sanitize(key, value, 0);
    }
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch {
      line = JSON.stringify({ ts: record.ts, level, msg, note: 'fields were not serialisable' });
    }
    write(`${line}\n`);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

function sanitize(key: string, value: unknown, depth: number): unknown {
  if (SECRET_KEYS.test(key) && !SAFE_KEYS.has(key)) return '[redacted]';
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object' || depth > 4) return value;
  if (Array.isArray(value)) return value.slice(0, 50).map((item) => sanitize('', item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [inner, item] of Object.entries(value)) out[inner] = sanitize(inner, item, depth + 1);
  return out;
}

/** A logger that keeps lines in memory (tests). */
export function memoryLogger(level: LogLevel = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createJsonLogger({ level, write: (line) => lines.push(line) }), lines };
}
