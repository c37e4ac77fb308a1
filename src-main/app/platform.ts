// The desktop services the app controller needs, behind one interface: Electron provides them
// in `electron/electron-platform.ts`; unit tests and the UI harness use `testing/fake-platform.ts`.

import type { Theme } from '../../src-shared/domain.js';
import type { AppNotification } from '../notifications/notifications.js';

/** What a save dialog is for: its title, file type and default folder follow from it. */
export type SaveFileKind = 'log-export' | 'packet-capture';

export interface Platform {
  /** Opens an http(s) URL in the system browser. */
  openExternal(url: string): Promise<void>;
  writeClipboard(text: string): void;
  showNotification(notification: AppNotification): void;
  /** Asks where to save (the log zip, a pcap file); null when the user cancels. */
  chooseSavePath(defaultName: string, kind: SaveFileKind): Promise<string | null>;
  openFolder(dir: string): Promise<void>;
  setStartOnLogin(enabled: boolean): Promise<void>;
  setThemeSource(theme: Theme): void;
  showWindow(): void;
  hideWindow(): void;
  quit(): void;
}
