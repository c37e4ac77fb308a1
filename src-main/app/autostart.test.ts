import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { autostartDesktopEntry, linuxAutostartPath, setLinuxAutostart } from './autostart.js';

describe('start on login (Linux XDG autostart)', () => {
  it('writes a desktop entry that starts hidden, with a quoted Exec', () => {
    expect(autostartDesktopEntry('/opt/FZ Desktop/fz-desktop', 'FZ Desktop')).toContain(
      'Exec="/opt/FZ Desktop/fz-desktop" --hidden',
    );
    expect(autostartDesktopEntry('/usr/bin/fz-desktop', 'FZ\nDesktop')).toContain('Name=FZ Desktop\n');
    expect(autostartDesktopEntry('/a/$x"y', 'n')).toContain('Exec="/a/\\$x\\"y" --hidden');
  });

  it('follows XDG_CONFIG_HOME when it is absolute', () => {
    expect(linuxAutostartPath({}, '/home/u')).toBe('/home/u/.config/autostart/fz-desktop.desktop');
    expect(linuxAutostartPath({ XDG_CONFIG_HOME: '/x' }, '/home/u')).toBe('/x/autostart/fz-desktop.desktop');
    expect(linuxAutostartPath({ XDG_CONFIG_HOME: 'rel' }, '/home/u')).toBe(
      '/home/u/.config/autostart/fz-desktop.desktop',
    );
  });

  it('creates and removes the file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fz-autostart-'));
    const file = path.join(dir, 'autostart', 'fz-desktop.desktop');
    await setLinuxAutostart(file, true, '/usr/bin/fz-desktop', 'FZ Desktop');
    expect(await readFile(file, 'utf8')).toContain('[Desktop Entry]');
    await setLinuxAutostart(file, false, '/usr/bin/fz-desktop', 'FZ Desktop');
    await expect(stat(file)).rejects.toThrow();
    await setLinuxAutostart(file, false, '/usr/bin/fz-desktop', 'FZ Desktop');
    await rm(dir, { recursive: true, force: true });
  });
});
