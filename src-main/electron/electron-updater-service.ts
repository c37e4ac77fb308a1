// Updates with electron-updater over a generic feed (electron-builder.yml `publish`): checked at
// start and every 6 hours, downloaded in the background, installed when the app quits (or at
// once from "Restart to update"). The feed comes from the settings or the managed configuration;
// without one, the feed baked into the build (app-update.yml) applies.

import { app } from 'electron';
import electronUpdater from 'electron-updater';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { UpdateState } from '../../src-shared/domain.js';
import type { Logger } from '../logging/logger.js';
import {
  UPDATE_CHECK_INTERVAL_MS,
  parseBuiltInFeed,
  resolveFeedUrl,
  type UpdaterConfig,
  type UpdaterService,
} from '../update/updater.js';

const { autoUpdater } = electronUpdater;

export class ElectronUpdaterService implements UpdaterService {
  #state: UpdateState = { kind: 'idle', lastCheckedAt: null };
  readonly #listeners = new Set<(state: UpdateState) => void>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #enabled = false;

  constructor(private readonly logger: Logger) {
    autoUpdater.logger = {
      info: (m: unknown) => logger.debug(`updater: ${String(m)}`),
      warn: (m: unknown) => logger.warn(`updater: ${String(m)}`),
      error: (m: unknown) => logger.error(`updater: ${String(m)}`),
      debug: (m: unknown) => logger.debug(`updater: ${String(m)}`),
    };
    autoUpdater.autoInstallOnAppQuit = true;
    autoUpdater.allowDowngrade = false;
    autoUpdater.on('checking-for-update', () => this.#set({ kind: 'checking' }));
    autoUpdater.on('update-not-available', () => this.#set({ kind: 'up-to-date', checkedAt: Date.now() }));
    autoUpdater.on('update-available', (info) => {
      this.#set(
        autoUpdater.autoDownload
          ? { kind: 'downloading', version: info.version, percent: 0 }
          : { kind: 'available', version: info.version },
      );
    });
    autoUpdater.on('download-progress', (p) => {
      const version = 'version' in this.#state ? this.#state.version : '';
      this.#set({ kind: 'downloading', version, percent: Math.round(p.percent) });
    });
    autoUpdater.on('update-downloaded', (info) => this.#set({ kind: 'ready', version: info.version }));
    autoUpdater.on('error', (e) => {
      this.#set({
        kind: 'error',
        error: { code: 'update-failed', message: e.message.split('\n')[0]! },
        at: Date.now(),
      });
    });
  }

  get state(): UpdateState {
    return this.#state;
  }

  onChange(listener: (state: UpdateState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  configure(config: UpdaterConfig): void {
    autoUpdater.autoDownload = config.autoDownload;
    if (!app.isPackaged) {
      this.#disable('Updates are installed only by packaged builds.');
      return;
    }
    let builtIn: string | null;
    try {
      builtIn = parseBuiltInFeed(readFileSync(path.join(process.resourcesPath, 'app-update.yml'), 'utf8'));
    } catch {
      builtIn = null;
    }
    const feed = resolveFeedUrl(config.feedUrl, builtIn);
    if (!feed) {
      this.#disable('No update feed is configured.');
      return;
    }
    autoUpdater.setFeedURL({ provider: 'generic', url: feed });
    this.#enable();
  }

  async check(): Promise<void> {
    if (!this.#enabled) return;
    try {
      await autoUpdater.checkForUpdates();
    } catch (e) {
      // Also reported through the 'error' event; keep the promise quiet.
      this.logger.debug(`update check failed: ${(e as Error).message}`);
    }
  }

  async download(): Promise<void> {
    if (this.#state.kind !== 'available') return;
    this.#set({ kind: 'downloading', version: this.#state.version, percent: 0 });
    try {
      await autoUpdater.downloadUpdate();
    } catch (e) {
      this.logger.debug(`update download failed: ${(e as Error).message}`);
    }
  }

  installNow(): void {
    // isSilent=false (show the installer on Windows), isForceRunAfter=true (start again).
    autoUpdater.quitAndInstall(false, true);
  }

  #enable(): void {
    const was = this.#enabled;
    this.#enabled = true;
    if (this.#state.kind === 'disabled') this.#set({ kind: 'idle', lastCheckedAt: null });
    if (!was) {
      void this.check();
      this.#timer = setInterval(() => void this.check(), UPDATE_CHECK_INTERVAL_MS);
    }
  }

  #disable(reason: string): void {
    this.#enabled = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#set({ kind: 'disabled', reason });
  }

  #set(state: UpdateState): void {
    this.#state = state;
    for (const l of this.#listeners) l(state);
  }
}
