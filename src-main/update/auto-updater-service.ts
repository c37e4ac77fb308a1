// The updater service over electron-updater, without Electron: it takes the electron-updater
// instance by injection (the app passes `autoUpdater`, tests a DebUpdater built on an AppAdapter
// against a local feed) and maps each step of the real check → download → sha512 verification to
// an `UpdateState`. Checked at start and every 6 hours, downloaded in the background when
// automatic download is on, installed when the app quits or from "Restart and install now".

import type { AppUpdater, ProgressInfo, UpdateInfo } from 'electron-updater';
import type { UpdateState } from '../../src-shared/domain.js';
import type { Logger } from '../logging/logger.js';
import { updateError, type UpdatePhase } from './update-error.js';
import {
  UPDATE_CHECK_INTERVAL_MS,
  resolveFeedUrl,
  type UpdaterConfig,
  type UpdaterService,
} from './updater.js';

/** The parts of electron-updater's AppUpdater this service drives. */
export type UpdateEngine = Pick<
  AppUpdater,
  | 'autoDownload'
  | 'autoInstallOnAppQuit'
  | 'allowDowngrade'
  | 'logger'
  | 'on'
  | 'setFeedURL'
  | 'checkForUpdates'
  | 'downloadUpdate'
  | 'quitAndInstall'
>;

export interface AutoUpdaterOptions {
  readonly updater: UpdateEngine;
  readonly logger: Logger;
  /** Only packaged builds install updates (a development run has nothing to replace). */
  readonly isPackaged: boolean;
  /** The feed baked into the build (app-update.yml), or null. */
  readonly builtInFeed: () => string | null;
  readonly now?: () => number;
  readonly checkIntervalMs?: number;
}

export class AutoUpdaterService implements UpdaterService {
  #state: UpdateState = { kind: 'idle', lastCheckedAt: null };
  readonly #listeners = new Set<(state: UpdateState) => void>();
  readonly #updater: UpdateEngine;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | null = null;
  #enabled = false;

  constructor(private readonly o: AutoUpdaterOptions) {
    const u = (this.#updater = o.updater);
    this.#now = o.now ?? Date.now;
    const { logger } = o;
    u.logger = {
      info: (m: unknown) => logger.debug(`updater: ${String(m)}`),
      warn: (m: unknown) => logger.warn(`updater: ${String(m)}`),
      error: (m: unknown) => logger.error(`updater: ${String(m)}`),
      debug: (m: unknown) => logger.debug(`updater: ${String(m)}`),
    };
    u.autoInstallOnAppQuit = true;
    // Never install an older build than the running one, whatever the feed says (a compromised
    // or stale feed must not roll users back to a version with known holes).
    u.allowDowngrade = false;
    u.on('checking-for-update', () => this.#set({ kind: 'checking' }));
    u.on('update-not-available', () => this.#set({ kind: 'up-to-date', checkedAt: this.#now() }));
    u.on('update-available', (info: UpdateInfo) =>
      this.#set(
        u.autoDownload
          ? { kind: 'downloading', version: info.version, percent: 0 }
          : { kind: 'available', version: info.version },
      ),
    );
    u.on('download-progress', (p: ProgressInfo) => {
      const version = 'version' in this.#state ? this.#state.version : '';
      const percent = Math.max(0, Math.min(100, Math.floor(p.percent)));
      this.#set({ kind: 'downloading', version, percent });
    });
    // Emitted only after the file's sha512 matched the feed's.
    u.on('update-downloaded', (info: UpdateInfo) => this.#set({ kind: 'ready', version: info.version }));
    u.on('error', (e: Error) => {
      const phase: UpdatePhase = this.#state.kind === 'downloading' ? 'download' : 'check';
      this.#set({ kind: 'error', error: updateError(e, phase), at: this.#now() });
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
    this.#updater.autoDownload = config.autoDownload;
    if (!this.o.isPackaged) {
      this.#disable('Updates are installed only by packaged builds.');
      return;
    }
    const feed = resolveFeedUrl(config.feedUrl, this.o.builtInFeed());
    if (!feed) {
      this.#disable('No update feed is configured.');
      return;
    }
    this.#updater.setFeedURL({ provider: 'generic', url: feed });
    this.#enable();
  }

  async check(): Promise<void> {
    // A download under way or done is not restarted by the periodic check.
    if (!this.#enabled || this.#state.kind === 'downloading' || this.#state.kind === 'ready') return;
    try {
      const result = await this.#updater.checkForUpdates();
      // With automatic download the check starts the download; its failure reaches the state
      // through the 'error' event, the rejection must not go unhandled.
      result?.downloadPromise?.catch((e: unknown) =>
        this.o.logger.debug(`update download failed: ${String(e)}`),
      );
    } catch (e) {
      // Also reported through the 'error' event.
      this.o.logger.debug(`update check failed: ${(e as Error).message}`);
    }
  }

  async download(): Promise<void> {
    if (this.#state.kind !== 'available') return;
    this.#set({ kind: 'downloading', version: this.#state.version, percent: 0 });
    try {
      await this.#updater.downloadUpdate();
    } catch (e) {
      this.o.logger.debug(`update download failed: ${(e as Error).message}`);
    }
  }

  installNow(): void {
    // isSilent=false (show the installer on Windows), isForceRunAfter=true (start again).
    this.#updater.quitAndInstall(false, true);
  }

  /** Stops the periodic check (the app quits, a test ends). */
  dispose(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#enabled = false;
  }

  #enable(): void {
    const was = this.#enabled;
    this.#enabled = true;
    if (this.#state.kind === 'disabled') this.#set({ kind: 'idle', lastCheckedAt: null });
    if (!was) {
      void this.check();
      this.#timer = setInterval(() => void this.check(), this.o.checkIntervalMs ?? UPDATE_CHECK_INTERVAL_MS);
      this.#timer.unref?.();
    }
  }

  #disable(reason: string): void {
    this.dispose();
    this.#set({ kind: 'disabled', reason });
  }

  #set(state: UpdateState): void {
    this.#state = state;
    for (const l of this.#listeners) l(state);
  }
}
