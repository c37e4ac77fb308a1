// Wires the Electron-free core together: settings (user file + managed config), the log with its
// rotating files, the app controller and the IPC router options. The Electron entry point and the
// Playwright harness both call this, so the UI tests exercise the same main-side code as the app.

import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { AppInfo } from '../../src-shared/domain.js';
import { createMainNotifier, type SenderInfo } from '../../src-shared/ipc.js';
import type { TokenStore } from '../auth/token-store.js';
import type { EngineHost } from '../engine/engine-host.js';
import { createMainHandlers } from '../ipc/handlers.js';
import type { RouterOptions } from '../ipc/router.js';
import { ipcValidators } from '../ipc/validators.js';
import { Logger } from '../logging/logger.js';
import { RotatingFileSink } from '../logging/rotating-file-sink.js';
import { loadManagedConfig, type ManagedFileSystem } from '../settings/managed-config.js';
import { SettingsStore } from '../settings/settings-store.js';
import type { UpdaterService } from '../update/updater.js';
import { AppController } from './app-controller.js';
import type { Platform } from './platform.js';

export interface ComposeOptions {
  readonly userDataDir: string;
  readonly managedConfigFile: string;
  readonly managedFs?: ManagedFileSystem;
  readonly os: NodeJS.Platform;
  readonly platform: Platform;
  readonly engine: EngineHost;
  readonly tokens: TokenStore;
  /** Built once the logger exists (the Electron updater logs through it). */
  readonly createUpdater: (logger: Logger) => UpdaterService;
  /** Sends a push to every app window. */
  readonly push: (channel: string, payload: unknown) => void;
  readonly isTrustedSender: (sender: SenderInfo) => boolean;
  readonly info: Omit<AppInfo, 'logDirectory' | 'optimisticTimeoutMs'>;
  readonly optimisticTimeoutMs?: number;
  readonly engineResponseTimeoutMs?: number;
  readonly echoLogs?: boolean;
  readonly now?: () => number;
  readonly deviceName?: string;
}

export interface ComposedApp {
  readonly controller: AppController;
  readonly logger: Logger;
  readonly settings: SettingsStore;
  readonly sink: RotatingFileSink;
  readonly router: Omit<RouterOptions, 'transport'>;
}

/** A per-install id, created on first run (docs/protocol.md §3.1 `external_id`). */
export async function loadDeviceId(userDataDir: string): Promise<string> {
  const file = path.join(userDataDir, 'device-id');
  try {
    const id = (await fsp.readFile(file, 'utf8')).trim();
    if (/^[0-9a-f-]{36}$/i.test(id)) return id;
  } catch {
    // first run
  }
  const id = randomUUID();
  await fsp.mkdir(userDataDir, { recursive: true });
  await fsp.writeFile(file, `${id}\n`, { mode: 0o600 });
  return id;
}

export async function composeApp(o: ComposeOptions): Promise<ComposedApp> {
  const logDirectory = path.join(o.userDataDir, 'logs');
  const managed = await loadManagedConfig(o.managedConfigFile, o.os, o.managedFs);
  const settings = await SettingsStore.load({
    userFile: path.join(o.userDataDir, 'settings.json'),
    managedFile: o.managedConfigFile,
    managed,
    now: o.now?.(),
  });
  const sink = new RotatingFileSink({
    dir: logDirectory,
    onError: (e) => process.stderr.write(`log file write failed: ${e.message}\n`),
  });
  const logger = new Logger({ level: settings.values.logLevel, sink, echo: o.echoLogs, now: o.now });
  const notify = createMainNotifier(o.push);
  const controller = new AppController({
    engine: o.engine,
    tokens: o.tokens,
    settings,
    logger,
    platform: o.platform,
    updater: o.createUpdater(logger),
    notify,
    info: { ...o.info, logDirectory, optimisticTimeoutMs: o.optimisticTimeoutMs ?? 5000 },
    deviceId: await loadDeviceId(o.userDataDir),
    deviceName: o.deviceName,
    logFiles: () => sink.files(),
    now: o.now,
    engineResponseTimeoutMs: o.engineResponseTimeoutMs,
  });
  return {
    controller,
    logger,
    settings,
    sink,
    router: {
      handlers: createMainHandlers(controller, o.platform),
      validators: ipcValidators,
      logger,
      isTrustedSender: o.isTrustedSender,
    },
  };
}
