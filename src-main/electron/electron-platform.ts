// The desktop services behind `Platform`, implemented with Electron.

import { Notification, app, clipboard, dialog, nativeTheme, shell } from 'electron';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Theme } from '../../src-shared/domain.js';
import { linuxAutostartPath, setLinuxAutostart } from '../app/autostart.js';
import type { Platform, SaveFileKind } from '../app/platform.js';
import type { AppNotification, NotificationAction } from '../notifications/notifications.js';
import { isSafeExternalUrl } from '../security/app-origin.js';
import type { WindowController } from './window-controller.js';

export class ElectronPlatform implements Platform {
  readonly #shown = new Map<string, Notification>();

  constructor(
    private readonly windows: WindowController,
    private readonly iconPath: string | undefined,
    private readonly onNotificationAction: (action: NotificationAction) => void,
  ) {}

  async openExternal(url: string): Promise<void> {
    if (!isSafeExternalUrl(url)) throw new Error('only http(s) pages can be opened');
    await shell.openExternal(url, { activate: true });
  }

  writeClipboard(text: string): void {
    clipboard.writeText(text);
  }

  showNotification(n: AppNotification): void {
    if (!Notification.isSupported()) return;
    this.#shown.get(n.id)?.close();
    const notification = new Notification({
      title: n.title,
      body: n.body,
      icon: this.iconPath,
      urgency: n.urgency,
      silent: n.urgency === 'low',
    });
    notification.on('click', () => this.onNotificationAction(n.action));
    notification.on('close', () => this.#shown.delete(n.id));
    this.#shown.set(n.id, notification);
    notification.show();
  }

  async chooseSavePath(defaultName: string, kind: SaveFileKind): Promise<string | null> {
    const parent = this.windows.window;
    const options = {
      title: kind === 'packet-capture' ? 'Save packet capture' : 'Export logs',
      defaultPath: path.join(app.getPath('downloads'), defaultName),
      filters: [
        kind === 'packet-capture'
          ? { name: 'Packet capture (pcap)', extensions: ['pcap'] }
          : { name: 'Zip archive', extensions: ['zip'] },
      ],
    };
    const r = parent ? await dialog.showSaveDialog(parent, options) : await dialog.showSaveDialog(options);
    return r.canceled || !r.filePath ? null : r.filePath;
  }

  async openFolder(dir: string): Promise<void> {
    const error = await shell.openPath(dir);
    if (error) throw new Error(error);
  }

  async setStartOnLogin(enabled: boolean): Promise<void> {
    if (process.platform === 'linux') {
      // An AppImage moves with its file; start the AppImage, not the mounted copy.
      const exec = process.env.APPIMAGE ?? process.execPath;
      await setLinuxAutostart(linuxAutostartPath(process.env, homedir()), enabled, exec, app.getName());
    } else {
      app.setLoginItemSettings({ openAtLogin: enabled, openAsHidden: true, args: ['--hidden'] });
    }
  }

  setThemeSource(theme: Theme): void {
    nativeTheme.themeSource = theme;
  }

  showWindow(): void {
    this.windows.show();
  }

  hideWindow(): void {
    this.windows.hide();
  }

  quit(): void {
    app.quit();
  }
}
