// electron-builder.yml against what the app expects from it. (That electron-builder accepts the
// file is checked by `tsx src-main/tools/package-check.ts`, which runs it.)

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEEP_LINK_SCHEME } from '../../src-shared/ipc.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const config = parse(readFileSync(path.join(repo, 'electron-builder.yml'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('electron-builder.yml', () => {
  it('registers the sign-in deep-link scheme the app parses', () => {
    expect(config.protocols.flatMap((p: { schemes: string[] }) => p.schemes)).toContain(DEEP_LINK_SCHEME);
  });

  it('builds deb, rpm, AppImage, NSIS and dmg', () => {
    expect(config.linux.target).toEqual(expect.arrayContaining(['deb', 'rpm', 'AppImage']));
    expect(config.win.target).toContain('nsis');
    expect(config.mac.target).toContain('dmg');
  });

  it('grants the app no privilege: no setcap, no library path; the helper service instead', () => {
    for (const kind of ['deb', 'rpm']) {
      for (const key of ['afterInstall', 'afterRemove']) {
        const script = readFileSync(path.join(repo, config[kind][key]), 'utf8');
        expect(script).not.toMatch(/\bsetcap\b/);
        expect(script).not.toMatch(/>>?\s*"?\/etc\/ld\.so\.conf\.d/);
      }
      const install = readFileSync(path.join(repo, config[kind].afterInstall), 'utf8');
      expect(install).toMatch(/systemctl enable fz-tun-helper\.service/);
      expect(install).toMatch(/groupadd --system "\$group"/);
      expect(install).toMatch(/rm -f "\/etc\/ld\.so\.conf\.d\/\$exe_name\.conf"/); // the old entry goes
      const remove = readFileSync(path.join(repo, config[kind].afterRemove), 'utf8');
      expect(remove).toMatch(/systemctl disable --now fz-tun-helper\.service/);
    }
    expect(config.deb.depends).not.toContain('libcap2-bin');
    expect(config.deb.depends).toEqual(expect.arrayContaining(['iproute2', 'nodejs (>= 18)']));
    expect(config.extraResources).toContainEqual(
      expect.objectContaining({
        from: 'resources/linux/fz-tun-helper.service',
        to: 'tun-helper/fz-tun-helper.service',
      }),
    );
    expect(config.extraResources).toContainEqual(
      expect.objectContaining({ from: 'dist/tun-helper', to: 'tun-helper' }),
    );
    const unit = readFileSync(path.join(repo, 'resources/linux/fz-tun-helper.service'), 'utf8');
    expect(unit).toMatch(
      /^ExecStart=\/usr\/bin\/node "@APP_DIR@\/resources\/tun-helper\/fz-tun-helper\.cjs"/m,
    );
    // The helper runs under the system Node because this fuse stays off.
    expect(config.electronFuses.runAsNode).toBe(false);
  });

  it('keeps native addons out of the asar and ships the tray icons beside it', () => {
    expect(config.asarUnpack).toEqual(
      expect.arrayContaining(['**/*.node', 'node_modules/node-tun/**', 'node_modules/evp-aead/**']),
    );
    expect(config.extraResources).toContainEqual(
      expect.objectContaining({ from: 'resources/tray', to: 'tray' }),
    );
    expect(existsSync(path.join(repo, 'resources/icons/256x256.png'))).toBe(true);
  });

  it('publishes a generic update feed and hardens the binary with fuses', () => {
    expect(config.publish.provider).toBe('generic');
    expect(config.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      onlyLoadAppFromAsar: true,
    });
  });
});
