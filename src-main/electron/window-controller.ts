// The one app window: secure web preferences, hidden to the tray on close, shown on demand.

import { BrowserWindow, app, nativeTheme } from 'electron';
import { APP_ENTRY_URL } from '../security/app-origin.js';
import { secureWebPreferences } from '../security/web-preferences.js';

export interface WindowPaths {
  readonly preload: string;
  readonly icon: string | undefined;
}

export class WindowController {
  #window: BrowserWindow | null = null;
  #quitting = false;

  constructor(private readonly paths: WindowPaths) {
    app.on('before-quit', () => {
      this.#quitting = true;
    });
  }

  get window(): BrowserWindow | null {
    return this.#window;
  }

  show(): void {
    const win = this.#window ?? this.#create();
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
  }

  hide(): void {
    this.#window?.hide();
  }

  /** Creates the window without showing it (start hidden in the tray). */
  ensure(): BrowserWindow {
    return this.#window ?? this.#create();
  }

  #create(): BrowserWindow {
    const win = new BrowserWindow({
      width: 980,
      height: 700,
      minWidth: 720,
      minHeight: 520,
      show: false,
      title: 'FZ Desktop',
      icon: this.paths.icon,
      autoHideMenuBar: true,
      backgroundColor: nativeTheme.shouldUseDarkColors ? '#12151b' : '#f5f6f8',
      webPreferences: secureWebPreferences(this.paths.preload, !app.isPackaged),
    });
    win.on('close', (event) => {
      // Closing the window keeps the app (and the tunnel) running in the tray.
      if (!this.#quitting) {
        event.preventDefault();
        win.hide();
      }
    });
    win.on('closed', () => {
      this.#window = null;
    });
    void win.loadURL(APP_ENTRY_URL);
    this.#window = win;
    return win;
  }
}
