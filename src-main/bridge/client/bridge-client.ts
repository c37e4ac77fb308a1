// Runs in the page served by the development bridge, before the app: builds `window.fz` from the
// IPC schema exactly as the Electron preload does (`createRendererApi`), over a WebSocket to the
// bridge instead of ipcRenderer. Bundled to a classic script by client-bundle.ts.
//
// The per-run secret arrives in the URL fragment (`#secret=…`), which browsers never send to a
// server. It is moved to sessionStorage (so a reload of this tab still works) and removed from the
// address bar, then offered as a WebSocket subprotocol; the bridge refuses the socket without it.

import { createRendererApi, type IpcResult, type RendererTransport } from '../../../src-shared/ipc.js';
import {
  BRIDGE_PROTOCOL,
  SECRET_PROTOCOL_PREFIX,
  SOCKET_PATH,
  type ClientMessage,
  type ServerMessage,
} from '../wire.js';

// The root tsconfig has no DOM library: the few browser APIs used here, typed just enough.
interface BrowserSocket {
  readonly readyState: number;
  send(data: string): void;
  addEventListener(type: 'open' | 'close', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
}
interface Element {
  textContent: string | null;
  style: Record<string, string>;
  setAttribute(name: string, value: string): void;
  remove(): void;
}
interface Browser {
  WebSocket: new (url: string, protocols: string[]) => BrowserSocket;
  location: { protocol: string; host: string; hash: string; pathname: string; search: string };
  history: { replaceState(data: null, unused: string, url: string): void };
  sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  open(url: string, target: string, features: string): unknown;
  navigator: { clipboard?: { writeText(text: string): Promise<void> } };
  Notification?: { permission: string; new (title: string, options: { body: string }): unknown };
  document: {
    readyState: string;
    body: { append(node: Element): void } | null;
    createElement(tag: string): Element;
    addEventListener(type: 'DOMContentLoaded', listener: () => void): void;
  };
}

const w = globalThis as unknown as Browser;
const SECRET_KEY = 'fz-bridge-secret';
const OPEN = 1;

function takeSecret(): string | null {
  const m = /(?:^#|&)secret=([A-Za-z0-9_-]+)/.exec(w.location.hash);
  if (m) {
    w.sessionStorage.setItem(SECRET_KEY, m[1]!);
    // Out of the address bar (and the history entry), so it is not shared with a screenshot or
    // a copied link.
    w.history.replaceState(null, '', `${w.location.pathname}${w.location.search}`);
  }
  return w.sessionStorage.getItem(SECRET_KEY);
}

const REFUSED =
  'The development bridge did not accept this page. Open the address the bridge printed ' +
  '(it ends in #secret=…); the bridge may also have stopped.';

const secret = takeSecret();
const protocols = secret ? [BRIDGE_PROTOCOL, `${SECRET_PROTOCOL_PREFIX}${secret}`] : [BRIDGE_PROTOCOL];
const scheme = w.location.protocol === 'https:' ? 'wss' : 'ws';
const socket = new w.WebSocket(`${scheme}://${w.location.host}${SOCKET_PATH}`, protocols);

let opened = false;
let closed = false;
let nextId = 1;
const outbox: string[] = [];
const pending = new Map<number, (result: IpcResult<unknown>) => void>();
const listeners = new Map<string, Set<(payload: unknown) => void>>();

function post(msg: ClientMessage): boolean {
  if (closed) return false;
  const text = JSON.stringify(msg);
  if (socket.readyState === OPEN) socket.send(text);
  else outbox.push(text);
  return true;
}

function failure(): IpcResult<never> {
  return { ok: false, error: { code: 'ipc-failed', message: REFUSED } };
}

function showBanner(text: string): void {
  const show = () => {
    const el = w.document.createElement('div');
    el.setAttribute('role', 'alert');
    el.textContent = text;
    // CSSOM, not a style attribute: the page's CSP forbids inline styles.
    Object.assign(el.style, {
      position: 'fixed',
      left: '0',
      right: '0',
      bottom: '0',
      padding: '8px 12px',
      background: '#8a1c1c',
      color: '#fff',
      font: '13px system-ui, sans-serif',
      zIndex: '2147483647',
    });
    w.document.body?.append(el);
  };
  if (w.document.readyState === 'loading') w.document.addEventListener('DOMContentLoaded', show);
  else show();
}

socket.addEventListener('open', () => {
  opened = true;
  for (const text of outbox.splice(0)) socket.send(text);
});
socket.addEventListener('close', () => {
  closed = true;
  outbox.length = 0;
  for (const resolve of pending.values()) resolve(failure());
  pending.clear();
  // Refused at the handshake: the app shows "could not load" with the reason. Lost later: the
  // window still shows the last state, so say that it is stale.
  if (opened)
    showBanner('The development bridge stopped or the connection was lost: this window is no longer live.');
});
socket.addEventListener('message', (event) => {
  if (typeof event.data !== 'string') return;
  let msg: ServerMessage;
  try {
    msg = JSON.parse(event.data) as ServerMessage;
  } catch {
    return;
  }
  if (msg.t === 'reply') {
    pending.get(msg.id)?.(msg.result);
    pending.delete(msg.id);
  } else if (msg.t === 'push') {
    for (const l of listeners.get(msg.channel) ?? []) l(msg.payload);
  } else if (msg.t === 'os') {
    runOsRequest(msg);
  }
});

/** What the desktop would do; the page does what a browser allows. */
function runOsRequest(msg: ServerMessage & { t: 'os' }): void {
  switch (msg.op) {
    case 'open-url':
      // A new tab, without a handle back to this page.
      w.open(msg.url, '_blank', 'noopener,noreferrer');
      break;
    case 'clipboard':
      // Allowed only while the page has focus; main keeps the value for tests either way.
      w.navigator.clipboard?.writeText(msg.text).catch(() => {});
      break;
    case 'notification':
      if (w.Notification?.permission === 'granted') new w.Notification(msg.title, { body: msg.body });
      break;
  }
}

const transport: RendererTransport = {
  invoke(channel, arg) {
    const id = nextId++;
    return new Promise((resolve) => {
      if (!post({ t: 'invoke', id, channel, arg })) {
        resolve(failure());
        return;
      }
      pending.set(id, resolve);
    });
  },
  send(channel, arg) {
    post({ t: 'send', channel, arg });
  },
  subscribe(channel, listener) {
    let set = listeners.get(channel);
    if (!set) listeners.set(channel, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  },
};

// As with contextBridge: a frozen object the page cannot replace.
Object.defineProperty(globalThis, 'fz', { value: createRendererApi(transport), enumerable: true });
