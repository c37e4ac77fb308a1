import type { RendererApi } from '../src-shared/ipc.js';

declare global {
  interface Window {
    /** The IPC contract, exposed by the preload through contextBridge. */
    readonly fz?: RendererApi;
  }
}
