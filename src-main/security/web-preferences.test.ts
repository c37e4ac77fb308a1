import { describe, expect, it } from 'vitest';
import { secureWebPreferences } from './web-preferences.js';

describe('window web preferences', () => {
  it('isolate and sandbox the renderer, with no Node', () => {
    const p = secureWebPreferences('/app/dist/preload/preload.cjs', false);
    expect(p).toMatchObject({
      preload: '/app/dist/preload/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      devTools: false,
    });
  });
});
