// Electron main entry: single instance, deep-link registration, secure window and renderer
// origin, IPC binding, tray, updater, and an orderly shutdown. All decisions live in the
// Electron-free core (`app/`, `auth/`, `settings/`, `tray/`…); this file only wires Electron in.

import { Menu, app } from 'electron';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DEEP_LINK_SCHEME } from '../../src-shared/ipc.js';
import type { AppController } from '../app/app-controller.js';
import { composeApp } from '../app/compose.js';
import { findDeepLinkArg } from '../auth/deep-link.js';
import { createEngineHost } from '../engine/create-engine-host.js';
import { bindIpcRouter } from '../ipc/router.js';
import type { NotificationAction } from '../notifications/notifications.js';
import { isTrustedAppUrl } from '../security/app-origin.js';
import { managedConfigPath } from '../settings/managed-config.js';
import { ElectronPlatform } from './electron-platform.js';
import { ElectronUpdaterService } from './electron-updater-service.js';
import { ipcMainTransport, pushToWindows } from './ipc-main-transport.js';
import { SafeStorageTokenStore } from './safe-storage-token-store.js';
import { hardenSessions, registerAppScheme, serveRenderer } from './security.js';
import { TrayController } from './tray-controller.js';
import { WindowController } from './window-controller.js';

function registerDeepLinkScheme(): void {
  // In development Electron runs as `electron <app dir>`: the OS must start it the same way.
  if (process.defaultApp && process.argv[1]) {
    app.setAsDefaultProtocolClient(DEEP_LINK_SCHEME, process.execPath, [path.resolve(process.argv[1])]);
  } else {
    app.setAsDefaultProtocolClient(DEEP_LINK_SCHEME);
  }
}

async function start(): Promise<void> {
  let controller: AppController | null = null;
  let windows: WindowController | null = null;
  const earlyLinks: string[] = [];
  const onDeepLink = (url: string) => {
    if (controller) void controller.handleDeepLink(url);
    else earlyLinks.push(url);
  };

  // macOS delivers links as an event (possibly before `ready`); Linux and Windows start a second
  // instance with the link in argv, which the single-instance lock hands to us.
  app.on('open-url', (event, url) => {
    event.preventDefault();
    onDeepLink(url);
  });
  app.on('second-instance', (_event, argv) => {
    const link = findDeepLinkArg(argv);
    if (link) onDeepLink(link);
    else windows?.show();
  });
  const firstLink = findDeepLinkArg(process.argv);
  if (firstLink) earlyLinks.push(firstLink);

  await app.whenReady();
  registerDeepLinkScheme();
  Menu.setApplicationMenu(
    process.platform === 'darwin'
      ? Menu.buildFromTemplate([{ role: 'appMenu' }, { role: 'editMenu' }, { role: 'windowMenu' }])
      : null,
  );

  const appRoot = app.getAppPath();
  const userDataDir = app.getPath('userData');
  const resourcesDir = app.isPackaged ? process.resourcesPath : path.join(appRoot, 'resources');
  const iconPath = [
    path.join(appRoot, 'resources', 'icons', '256x256.png'),
    path.join(resourcesDir, 'icons', '256x256.png'),
  ].find((p) => existsSync(p));
  windows = new WindowController({
    preload: path.join(appRoot, 'dist', 'preload', 'preload.cjs'),
    icon: iconPath,
  });
  const win = windows;
  const onNotificationAction = (action: NotificationAction) => {
    if (action === 'install-update') void controller?.runTrayAction({ type: 'install-update' });
    else win.show();
  };
  const platform = new ElectronPlatform(win, iconPath, onNotificationAction);
  const { host: engine, kind: engineKind } = createEngineHost({ userDataDir });

  const composed = await composeApp({
    userDataDir,
    managedConfigFile: managedConfigPath(process.platform),
    os: process.platform,
    platform,
    engine,
    tokens: new SafeStorageTokenStore(userDataDir),
    createUpdater: (logger) => new ElectronUpdaterService(logger),
    push: pushToWindows,
    isTrustedSender: (sender) => isTrustedAppUrl(sender.url),
    info: {
      version: app.getVersion(),
      electron: process.versions.electron ?? null,
      chrome: process.versions.chrome ?? null,
      node: process.versions.node,
      platform: process.platform,
      arch: process.arch,
      engine: engineKind,
    },
    echoLogs: !app.isPackaged,
  });
  const { logger } = composed;
  process.on('uncaughtException', (e) => logger.error(`uncaught exception: ${e.stack ?? e.message}`));
  process.on('unhandledRejection', (e) =>
    logger.error(`unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`),
  );

  hardenSessions(logger);
  serveRenderer(path.join(appRoot, 'dist', 'renderer'), logger);
  bindIpcRouter({ ...composed.router, transport: ipcMainTransport });

  const app_ = composed.controller;
  const tray = new TrayController(
    path.join(resourcesDir, 'tray'),
    (action) => void app_.runTrayAction(action),
  );
  let lastMenu = '';
  const refreshTray = () => {
    const model = app_.trayModel();
    const key = JSON.stringify(model);
    if (key !== lastMenu) {
      lastMenu = key;
      tray.update(model);
    }
  };
  app_.onChange(refreshTray);

  await app_.init();
  controller = app_;
  refreshTray();
  for (const link of earlyLinks.splice(0)) await app_.handleDeepLink(link);

  const startHidden = process.argv.includes('--hidden') && app_.auth.kind === 'signed-in';
  if (startHidden) win.ensure();
  else win.show();

  app.on('activate', () => win.show());
  // The app lives in the tray: closing the window does not quit.
  app.on('window-all-closed', () => {});

  let shuttingDown = false;
  app.on('before-quit', (event) => {
    if (shuttingDown) return;
    shuttingDown = true;
    event.preventDefault();
    void app_
      .shutdown()
      .catch(() => {})
      .finally(() => {
        tray.destroy();
        app.quit();
      });
  });
}

// A separate profile (tests, a second account on one machine). Must be set before the
// single-instance lock, which lives in the user-data directory.
if (process.env.FZ_USER_DATA_DIR) app.setPath('userData', path.resolve(process.env.FZ_USER_DATA_DIR));
registerAppScheme();
if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  start().catch((e: unknown) => {
    process.stderr.write(
      `FZ Desktop failed to start: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    app.exit(1);
  });
}
