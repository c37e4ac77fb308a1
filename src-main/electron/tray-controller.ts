// The tray: icon per state (light/dark variants), tooltip and menu rebuilt from `TrayModel`.

import { Menu, Tray, nativeImage, nativeTheme, type MenuItemConstructorOptions } from 'electron';
import path from 'node:path';
import type { TrayAction, TrayIconState, TrayMenuItem, TrayModel } from '../tray/tray-model.js';

/** `&` starts a mnemonic in Windows menus; labels from the portal must show it literally. */
function escapeLabel(label: string): string {
  return process.platform === 'win32' ? label.replace(/&/g, '&&') : label;
}

export function trayIconFile(dir: string, state: TrayIconState, dark: boolean): string {
  return path.join(dir, `${state}-${dark ? 'dark' : 'light'}.png`);
}

export class TrayController {
  #tray: Tray | null = null;
  #last: TrayModel | null = null;

  constructor(
    private readonly iconDir: string,
    private readonly onAction: (action: TrayAction) => void,
  ) {
    nativeTheme.on('updated', () => {
      if (this.#last) this.#setIcon(this.#last.icon);
    });
  }

  update(model: TrayModel): void {
    if (!this.#tray) {
      this.#tray = new Tray(this.#image(model.icon));
      this.#tray.on('click', () => this.onAction({ type: 'open-window' }));
    }
    if (!this.#last || this.#last.icon !== model.icon) this.#setIcon(model.icon);
    this.#tray.setToolTip(model.tooltip);
    this.#tray.setContextMenu(Menu.buildFromTemplate(model.items.map((i) => this.#toElectron(i))));
    this.#last = model;
  }

  destroy(): void {
    this.#tray?.destroy();
    this.#tray = null;
  }

  #image(state: TrayIconState) {
    // The panel is usually dark on Linux and Windows 11; follow the OS theme.
    return nativeImage.createFromPath(trayIconFile(this.iconDir, state, nativeTheme.shouldUseDarkColors));
  }

  #setIcon(state: TrayIconState): void {
    this.#tray?.setImage(this.#image(state));
  }

  #toElectron(item: TrayMenuItem): MenuItemConstructorOptions {
    switch (item.kind) {
      case 'separator':
        return { type: 'separator' };
      case 'label':
        return { label: escapeLabel(item.label), enabled: false };
      case 'action':
        return {
          label: escapeLabel(item.label),
          enabled: item.enabled,
          click: () => this.onAction(item.action),
        };
      case 'checkbox':
        return {
          type: 'checkbox',
          label: escapeLabel(item.label),
          checked: item.checked,
          enabled: item.enabled,
          click: () => this.onAction(item.action),
        };
      case 'submenu':
        return { label: escapeLabel(item.label), submenu: item.items.map((i) => this.#toElectron(i)) };
    }
  }
}
