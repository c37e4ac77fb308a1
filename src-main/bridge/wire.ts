// The messages between the bridge's page client (client/bridge-client.ts) and the bridge, one JSON
// object per WebSocket message. IPC calls carry the schema's channel names unchanged; the server
// hands them to the router's `dispatch`, so validation and error replies are main's own.

import type { IpcResult } from '../../src-shared/ipc.js';

/** The subprotocol both sides speak; the secret travels as a second, `fz-secret.`-prefixed one. */
export const BRIDGE_PROTOCOL = 'fz-bridge.v1';
export const SECRET_PROTOCOL_PREFIX = 'fz-secret.';
export const SOCKET_PATH = '/bridge/ws';
export const CLIENT_SCRIPT_PATH = '/bridge-client.js';
export const OPEN_URL_PATH = '/os/open-url';

export type ClientMessage =
  | { readonly t: 'invoke'; readonly id: number; readonly channel: string; readonly arg: unknown }
  | { readonly t: 'send'; readonly channel: string; readonly arg: unknown };

/** What the desktop would do outside the window: here the page (or the person) does it. */
export type OsRequest =
  | { readonly op: 'open-url'; readonly url: string }
  | { readonly op: 'clipboard'; readonly text: string }
  | { readonly op: 'notification'; readonly title: string; readonly body: string };

export type ServerMessage =
  | { readonly t: 'reply'; readonly id: number; readonly result: IpcResult<unknown> }
  | { readonly t: 'push'; readonly channel: string; readonly payload: unknown }
  | ({ readonly t: 'os' } & OsRequest);

const CHANNEL = /^[a-z][A-Za-z]{0,40}:[a-z][A-Za-z]{0,60}$/;

/** Parses one message from a page; null when it is not one (the caller logs and drops it). */
export function parseClientMessage(text: string): ClientMessage | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const m = raw as Record<string, unknown>;
  if (typeof m.channel !== 'string' || !CHANNEL.test(m.channel)) return null;
  const arg = m.arg === undefined ? null : m.arg;
  if (m.t === 'invoke' && Number.isSafeInteger(m.id) && (m.id as number) >= 0) {
    return { t: 'invoke', id: m.id as number, channel: m.channel, arg };
  }
  if (m.t === 'send') return { t: 'send', channel: m.channel, arg };
  return null;
}
