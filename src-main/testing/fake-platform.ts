// Test doubles for the desktop services: they record what the app asked for. Used by the unit
// tests and by the Playwright harness (e2e/ui), never by the Electron app.

import type { Theme, UpdateState } from '../../src-shared/domain.js';
import type { Platform, SaveFileKind } from '../app/platform.js';
import type { AppNotification } from '../notifications/notifications.js';
import type { UpdaterConfig, UpdaterService } from '../update/updater.js';

export class FakePlatform implements Platform {
  readonly opened: string[] = [];
  readonly clipboard: string[] = [];
  readonly notifications: AppNotification[] = [];
  readonly openedFolders: string[] = [];
  startOnLogin = false;
  themeSource: Theme = 'system';
  windowVisible = true;
  quitCalled = false;
  /** What `chooseSavePath` answers (null: the user cancels). */
  savePath: string | null = null;
  /** What the save dialogs were asked for. */
  readonly saveRequests: { defaultName: string; kind: SaveFileKind }[] = [];
  /** Makes `openExternal` fail, as when no browser is configured. */
  browserError: Error | null = null;

  async openExternal(url: string): Promise<void> {
    if (this.browserError) throw this.browserError;
    this.opened.push(url);
  }
  writeClipboard(text: string): void {
    this.clipboard.push(text);
  }
  showNotification(notification: AppNotification): void {
    this.notifications.push(notification);
  }
  async chooseSavePath(defaultName: string, kind: SaveFileKind): Promise<string | null> {
    this.saveRequests.push({ defaultName, kind });
    return this.savePath;
  }
  async openFolder(dir: string): Promise<void> {
    this.openedFolders.push(dir);
  }
  async setStartOnLogin(enabled: boolean): Promise<void> {
    this.startOnLogin = enabled;
  }
  setThemeSource(theme: Theme): void {
    this.themeSource = theme;
  }
  showWindow(): void {
    this.windowVisible = true;
  }
  hideWindow(): void {
    this.windowVisible = false;
  }
  quit(): void {
    this.quitCalled = true;
  }
}

/** An updater whose state the test sets; `check()` runs a scripted sequence. */
export class FakeUpdater implements UpdaterService {
  #state: UpdateState = { kind: 'idle', lastCheckedAt: null };
  readonly #listeners = new Set<(s: UpdateState) => void>();
  config: UpdaterConfig | null = null;
  installed = false;
  /** What a check finds: null means "up to date". */
  nextVersion: string | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  get state(): UpdateState {
    return this.#state;
  }
  set(state: UpdateState): void {
    this.#state = state;
    for (const l of this.#listeners) l(state);
  }
  onChange(listener: (state: UpdateState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  configure(config: UpdaterConfig): void {
    this.config = config;
    if (!config.feedUrl) this.set({ kind: 'disabled', reason: 'No update feed is configured.' });
    else if (this.#state.kind === 'disabled') this.set({ kind: 'idle', lastCheckedAt: null });
  }
  async check(): Promise<void> {
    if (this.#state.kind === 'disabled') return;
    this.set({ kind: 'checking' });
    await new Promise((r) => setTimeout(r, 50));
    if (!this.nextVersion) {
      this.set({ kind: 'up-to-date', checkedAt: this.now() });
      return;
    }
    if (!this.config?.autoDownload) {
      this.set({ kind: 'available', version: this.nextVersion });
      return;
    }
    await this.download();
  }
  async download(): Promise<void> {
    const version = this.nextVersion;
    if (!version) return;
    for (const percent of [12, 47, 88]) {
      this.set({ kind: 'downloading', version, percent });
      await new Promise((r) => setTimeout(r, 30));
    }
    this.set({ kind: 'ready', version });
  }
  installNow(): void {
    this.installed = true;
  }
}
