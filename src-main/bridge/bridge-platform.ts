// The desktop services for the development bridge. There is no desktop around the page, so what
// Electron hands to the OS is handed to the connected page (which opens the URL, writes the
// clipboard) and printed for the person at the terminal; save dialogs answer with a file in the
// run's directory; start-on-login and the theme source are recorded, never applied to the machine.

import path from 'node:path';
import type { Theme } from '../../src-shared/domain.js';
import type { Platform, SaveFileKind } from '../app/platform.js';
import type { AppNotification } from '../notifications/notifications.js';
import { isSafeExternalUrl } from '../security/app-origin.js';
import type { OsRequest } from './wire.js';

export interface BridgePlatformOptions {
  /** Where "save" dialogs put their files. */
  readonly saveDir: string;
  /** Hands a request to every connected page. */
  readonly toPage: (request: OsRequest) => void;
  /** A line for the person running the bridge. */
  readonly print: (line: string) => void;
  /** The app asked to quit: the bridge stops. */
  readonly onQuit: () => void;
}

export class BridgePlatform implements Platform {
  /** Every URL the app asked to open, in order (tests read the last one). */
  readonly opened: string[] = [];
  readonly notifications: AppNotification[] = [];
  /** The last text written to the clipboard (the page may not be allowed to write it). */
  clipboard: string | null = null;
  startOnLogin = false;
  themeSource: Theme = 'system';
  windowVisible = true;
  quitRequested = false;

  constructor(private readonly o: BridgePlatformOptions) {}

  get lastOpened(): string | null {
    return this.opened.at(-1) ?? null;
  }

  async openExternal(url: string): Promise<void> {
    // The same rule as the Electron platform: only web pages, never file: or javascript:.
    if (!isSafeExternalUrl(url)) throw new Error('only http(s) pages can be opened');
    this.opened.push(url);
    this.o.print(`open in the browser: ${url}`);
    this.o.toPage({ op: 'open-url', url });
  }

  writeClipboard(text: string): void {
    this.clipboard = text;
    this.o.toPage({ op: 'clipboard', text });
  }

  showNotification(n: AppNotification): void {
    this.notifications.push(n);
    this.o.print(`notification: ${n.title}: ${n.body}`);
    this.o.toPage({ op: 'notification', title: n.title, body: n.body });
  }

  async chooseSavePath(defaultName: string, _kind: SaveFileKind): Promise<string | null> {
    // The default name comes from main (`fz-logs-<time>.zip`, `fz-capture-<time>.pcap`); keep
    // only its last component so it cannot leave the directory.
    const file = path.join(this.o.saveDir, path.basename(defaultName));
    this.o.print(`saving to ${file}`);
    return file;
  }

  async openFolder(dir: string): Promise<void> {
    this.o.print(`open the folder: ${dir}`);
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
    if (this.quitRequested) return;
    this.quitRequested = true;
    this.o.print('the app asked to quit');
    this.o.onQuit();
  }
}
