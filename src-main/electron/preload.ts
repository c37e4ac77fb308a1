// The preload: exposes exactly the IPC contract as `window.fz`, nothing else (no ipcRenderer,
// no Node). Bundled to CommonJS because sandboxed preloads cannot load ES modules.

import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { createRendererApi, type RendererTransport } from '../../src-shared/ipc.js';

const transport: RendererTransport = {
  invoke: (channel, arg) => ipcRenderer.invoke(channel, arg),
  send: (channel, arg) => ipcRenderer.send(channel, arg),
  subscribe(channel, listener) {
    const wrapped = (_event: IpcRendererEvent, payload: unknown) => listener(payload);
    ipcRenderer.on(channel, wrapped);
    return () => {
      ipcRenderer.removeListener(channel, wrapped);
    };
  },
};

contextBridge.exposeInMainWorld('fz', createRendererApi(transport));
