/**
 * The logging seam of the portal session: a structured logger (message + flat fields) that the
 * host plugs in. Secrets never reach it: `redactingLogger` scrubs known secret strings from
 * messages and field values as a last line of defence.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

const REDACTED = '[redacted]';

/** Replaces every occurrence of any of `secrets()` in strings, recursively through fields. */
export function redact(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (secrets.length === 0) return value;
  if (typeof value === 'string') {
    let out = value;
    for (const secret of secrets)
      if (secret.length > 0 && out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  }
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    return { name: value.name, message: redact(value.message, secrets, depth + 1) };
  }
  if (Array.isArray(value)) return value.map((item) => redact(item, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = redact(item, secrets, depth + 1);
  return out;
}

/** Wraps `logger` so that none of the strings `secrets()` returns can appear in its output. */
export function redactingLogger(logger: Logger, secrets: () => readonly string[]): Logger {
  const wrap =
    (level: LogLevel) =>
    (message: string, fields?: LogFields): void => {
      const list = secrets();
      logger[level](
        redact(message, list) as string,
        fields === undefined ? undefined : (redact(fields, list) as LogFields),
      );
    };
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}
