// The schema's calls, bound to the app controller. `MainHandlers` makes this map complete: a new
// call in `src-shared/ipc.ts` does not compile until it is handled here.

import type { MainHandlers } from '../../src-shared/ipc.js';
import type { AppController } from '../app/app-controller.js';
import type { Platform } from '../app/platform.js';

export function createMainHandlers(app: AppController, platform: Platform): MainHandlers {
  return {
    app: {
      getSnapshot: () => app.snapshot(),
      hideWindow: () => platform.hideWindow(),
      quit: () => platform.quit(),
    },
    auth: {
      signIn: ({ accountSlug }) => app.signIn(accountSlug),
      reopenBrowser: () => app.reopenBrowser(),
      cancelSignIn: () => app.cancelSignIn(),
      signOut: () => app.signOut(),
    },
    tunnel: {
      connect: () => app.connect(),
      disconnect: () => app.disconnect(),
    },
    resources: {
      copyAddress: ({ resourceId }) => app.copyAddress(resourceId),
      setFavorite: ({ resourceId, favorite }) => app.setFavorite(resourceId, favorite),
      setInternetResourceEnabled: ({ enabled }) => app.setInternetResourceEnabled(enabled),
    },
    settings: {
      update: (patch) => app.updateSettings(patch),
      reset: () => app.resetSettings(),
    },
    logs: {
      export: () => app.exportLogs(),
      clear: () => app.clearLogs(),
      openFolder: () => app.openLogFolder(),
      write: ({ level, message }) => app.writeRendererLog(level, message),
      startCapture: ({ seconds }) => app.startCapture(seconds),
      stopCapture: () => app.stopCapture(),
    },
    update: {
      check: () => app.checkForUpdates(),
      download: () => app.downloadUpdate(),
      installNow: () => app.installUpdate(),
    },
  };
}
