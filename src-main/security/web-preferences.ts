// The web preferences of every app window, in one place so they are unit-tested: the renderer
// gets no Node, runs sandboxed in an isolated world, and can reach main only through the preload.

import type { WebPreferences } from 'electron';

export function secureWebPreferences(preload: string, devTools: boolean): WebPreferences {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    spellcheck: false,
    safeDialogs: true,
    experimentalFeatures: false,
    devTools,
  };
}
