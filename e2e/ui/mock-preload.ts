// The Playwright stand-in for the Electron preload: the same `createRendererApi` over the same
// schema, with a transport that reaches main's real router (in the test process) through page
// bindings instead of ipcRenderer. Bundled to an IIFE and injected with `addInitScript`.

import { createRendererApi, type RendererTransport } from '../../src-shared/ipc.js';

interface MockWindow {
  __fzInvoke(channel: string, arg: unknown): Promise<unknown>;
  __fzSend(channel: string, arg: unknown): Promise<void>;
  __fzPush?: (channel: string, payload: unknown) => void;
}

const w = globalThis as unknown as MockWindow;
const listeners = new Map<string, Set<(payload: unknown) => void>>();

const transport: RendererTransport = {
  invoke: (channel, arg) => w.__fzInvoke(channel, arg),
  send: (channel, arg) => {
    void w.__fzSend(channel, arg);
  },
  subscribe(channel, listener) {
    let set = listeners.get(channel);
    if (!set) listeners.set(channel, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  },
};

Object.defineProperty(globalThis, '__fzPush', {
  value: (channel: string, payload: unknown) => {
    for (const l of listeners.get(channel) ?? []) l(payload);
  },
});
// As with contextBridge: a frozen object the page cannot replace.
Object.defineProperty(globalThis, 'fz', { value: createRendererApi(transport), enumerable: true });
