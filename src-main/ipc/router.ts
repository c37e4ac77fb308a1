// Binds the schema's handlers to a transport (Electron's ipcMain, or the Playwright harness's
// page binding): every message is checked against the sender, validated, dispatched, and its
// outcome returned as an `IpcResult`. Nothing a renderer sends can throw inside main.

import type { UserError } from '../../src-shared/domain.js';
import {
  ipcSchema,
  listChannels,
  type ArgValidators,
  type IpcResult,
  type MainHandlers,
  type SenderInfo,
  type Validation,
} from '../../src-shared/ipc.js';
import { AppError } from '../app-error.js';
import type { Logger } from '../logging/logger.js';

export interface MainTransport {
  handle(channel: string, fn: (arg: unknown, sender: SenderInfo) => Promise<IpcResult<unknown>>): void;
  on(channel: string, fn: (arg: unknown, sender: SenderInfo) => void): void;
}

type AnyHandler = (arg: unknown, sender: SenderInfo) => unknown;
type AnyValidator = (raw: unknown) => Validation<unknown>;

export interface RouterOptions {
  readonly transport: MainTransport;
  readonly handlers: MainHandlers;
  readonly validators: ArgValidators;
  readonly logger: Logger;
  /** Refuses messages from frames that are not the app's own pages. */
  readonly isTrustedSender: (sender: SenderInfo) => boolean;
}

export function toUserError(e: unknown, channel: string, logger: Logger): UserError {
  if (e instanceof AppError) return e.toUserError();
  const detail = e instanceof Error ? (e.stack ?? e.message) : String(e);
  logger.error(`${channel} failed: ${detail}`);
  return {
    code: 'internal',
    message: `Something went wrong (${e instanceof Error ? e.message : String(e)}). The details are in the log.`,
  };
}

/** Dispatches one message; exported for the tests and the UI harness. */
export async function dispatch(
  options: Omit<RouterOptions, 'transport'>,
  group: string,
  key: string,
  raw: unknown,
  sender: SenderInfo,
): Promise<IpcResult<unknown>> {
  const channel = `${group}:${key}`;
  if (!options.isTrustedSender(sender)) {
    options.logger.warn(`IPC ${channel} refused: sender ${sender.url.slice(0, 200)} is not the app`);
    return { ok: false, error: { code: 'forbidden', message: 'This page may not control the app.' } };
  }
  const validator = (options.validators as unknown as Record<string, Record<string, AnyValidator>>)[group]?.[
    key
  ];
  const handler = (options.handlers as unknown as Record<string, Record<string, AnyHandler>>)[group]?.[key];
  if (!validator || !handler) {
    options.logger.warn(`IPC ${channel} refused: no such call`);
    return { ok: false, error: { code: 'unknown-call', message: `Unknown call ${channel}.` } };
  }
  const v = validator(raw);
  if (!v.ok) {
    options.logger.warn(`IPC ${channel} refused: invalid argument (${v.message})`);
    // A field problem is shown next to the field as is; anything else is a bug in the caller.
    const error = v.field
      ? { code: 'invalid-argument', message: v.message, field: v.field }
      : { code: 'invalid-argument', message: `Invalid request (${channel}): ${v.message}` };
    return { ok: false, error };
  }
  try {
    return { ok: true, value: (await handler(v.value, sender)) ?? null };
  } catch (e) {
    return { ok: false, error: toUserError(e, channel, options.logger) };
  }
}

export function bindIpcRouter(options: RouterOptions): void {
  for (const { group, key, channel, kind } of listChannels(ipcSchema)) {
    if (kind === 'invoke') {
      options.transport.handle(channel, (raw, sender) => dispatch(options, group, key, raw, sender));
    } else if (kind === 'send') {
      options.transport.on(channel, (raw, sender) => {
        void dispatch(options, group, key, raw, sender).then((r) => {
          if (!r.ok && r.error.code === 'internal') options.logger.warn(`${channel}: ${r.error.message}`);
        });
      });
    }
  }
}
