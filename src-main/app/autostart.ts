// "Start on login". macOS and Windows use Electron's login items; Linux has no such API, so the
// XDG autostart spec applies: a .desktop file in ~/.config/autostart.

import { promises as fsp } from 'node:fs';
import path from 'node:path';

export const AUTOSTART_FILE_NAME = 'fz-desktop.desktop';

export function autostartDesktopEntry(exec: string, name: string): string {
  // Desktop Entry Spec: Exec arguments with spaces or specials are quoted, `"`/`\`/`$`/`` ` `` escaped.
  const quoted = /[\s"'\\$`]/.test(exec) ? `"${exec.replace(/(["\\$`])/g, '\\$1')}"` : exec;
  return [
    '[Desktop Entry]',
    'Type=Application',
    `Name=${name.replace(/[\r\n]/g, ' ')}`,
    `Exec=${quoted} --hidden`,
    'X-GNOME-Autostart-enabled=true',
    'NoDisplay=true',
    'Terminal=false',
    '',
  ].join('\n');
}

export function linuxAutostartPath(env: NodeJS.ProcessEnv, home: string): string {
  const config =
    env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME)
      ? env.XDG_CONFIG_HOME
      : path.join(home, '.config');
  return path.join(config, 'autostart', AUTOSTART_FILE_NAME);
}

export async function setLinuxAutostart(
  file: string,
  enabled: boolean,
  exec: string,
  name: string,
): Promise<void> {
  if (!enabled) {
    await fsp.rm(file, { force: true });
    return;
  }
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, autostartDesktopEntry(exec, name), { mode: 0o644 });
}
