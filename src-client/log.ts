/**
 * The headless client's log lines on stderr: `human` (time, level, message, key=value fields) or
 * `json` (one object per line). Tokens are scrubbed by the caller's redacting wrapper.
 */
import type { LogFields, Logger, LogLevel } from '../src-engine/portal/log.js';

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function consoleLogger(
  level: LogLevel,
  format: 'human' | 'json',
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const emit =
    (at: LogLevel) =>
    (message: string, fields: LogFields = {}): void => {
      if (ORDER[at] < ORDER[level]) return;
      const ts = new Date().toISOString();
      if (format === 'json') {
        write(`${JSON.stringify({ ts, level: at, msg: message, ...plain(fields) })}\n`);
        return;
      }
      const rest = Object.entries(plain(fields))
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      write(`${ts} ${at.toUpperCase().padEnd(5)} ${message}${rest ? ` ${rest}` : ''}\n`);
    };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

function plain(fields: LogFields): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? v.message : v;
  return out;
}
