// The IPC router's transport over Electron: `ipcMain.handle` / `ipcMain.on`, with the sender's
// frame URL passed along so the router refuses frames that are not the app's own page.

import { BrowserWindow, ipcMain, type IpcMainEvent, type IpcMainInvokeEvent } from 'electron';
import type { SenderInfo } from '../../src-shared/ipc.js';
import type { MainTransport } from '../ipc/router.js';

function senderOf(event: IpcMainEvent | IpcMainInvokeEvent): SenderInfo {
  return { url: event.senderFrame?.url ?? '' };
}

export const ipcMainTransport: MainTransport = {
  handle(channel, fn) {
    ipcMain.handle(channel, (event, arg: unknown) => fn(arg, senderOf(event)));
  },
  on(channel, fn) {
    ipcMain.on(channel, (event, arg: unknown) => fn(arg, senderOf(event)));
  },
};

/** Pushes to every app window (there is one; a second would be a replica too). */
export function pushToWindows(channel: string, payload: unknown): void {
  for (const win of BrowserWindow.getAllWindows()) {
    if (!win.isDestroyed() && !win.webContents.isDestroyed()) win.webContents.send(channel, payload);
  }
}
