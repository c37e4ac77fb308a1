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

  it('grants CAP_NET_ADMIN at install time (never root at run time)', () => {
    for (const kind of ['deb', 'rpm']) {
      const script = path.join(repo, config[kind].afterInstall);
      expect(readFileSync(script, 'utf8')).toMatch(/setcap cap_net_admin\+ep/);
    }
    expect(config.deb.depends).toContain('libcap2-bin');
  });

  it('keeps native addons out of the asar and ships the tray icons beside it', () => {
    expect(config.asarUnpack).toEqual(expect.arrayContaining(['**/*.node', 'node_modules/node-tun/**']));
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
