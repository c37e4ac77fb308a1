import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  loadManagedConfig,
  managedConfigPath,
  parseManagedConfig,
  type ManagedFileSystem,
} from './managed-config.js';
import { DEFAULT_SETTINGS, validateSetting } from './settings-schema.js';
import { SettingsStore, loadUserSettings } from './settings-store.js';

let dir: string;
let userFile: string;
const noManaged = { values: {}, problems: [] };

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fz-settings-'));
  userFile = path.join(dir, 'settings.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A managed file as root would have written it, without needing root. */
function managedFs(
  text: string,
  stat: Partial<{ uid: number; mode: number; size: number; file: boolean }> = {},
): ManagedFileSystem {
  return {
    stat: async () => ({
      uid: stat.uid ?? 0,
      mode: stat.mode ?? 0o100644,
      size: stat.size ?? text.length,
      isFile: () => stat.file ?? true,
    }),
    readFile: async () => text,
  };
}

describe('validation rules', () => {
  it.each([
    ['portalUrl', 'wss://api.example.com', true],
    ['portalUrl', 'ws://localhost:8081', true],
    ['portalUrl', 'ws://127.0.0.1:8081', true],
    ['portalUrl', 'ws://api.example.com', false],
    ['portalUrl', 'https://api.example.com', false],
    ['portalUrl', 'wss://user:pw@api.example.com', false],
    ['portalUrl', 'wss://api.example.com/?token=x', false],
    ['portalUrl', 'not a url', false],
    ['authUrl', 'https://app.example.com', true],
    ['authUrl', 'http://localhost:4000', true],
    ['authUrl', 'http://app.example.com', false],
    ['authUrl', 'javascript:alert(1)', false],
    ['updateFeedUrl', '', true],
    ['updateFeedUrl', 'https://updates.example.com/fz', true],
    ['updateFeedUrl', 'file:///etc/passwd', false],
    ['logLevel', 'debug', true],
    ['logLevel', 'verbose', false],
    ['accountSlug', 'acme-corp_1', true],
    ['accountSlug', '', true],
    ['accountSlug', '../x', false],
    ['theme', 'dark', true],
    ['theme', 'blue', false],
    ['startOnLogin', 'yes', false],
  ] as const)('%s = %j → %s', (key, value, ok) => {
    expect(validateSetting(key, value).ok).toBe(ok);
  });
});

describe('user settings file', () => {
  it('missing file: defaults, no problem', async () => {
    const store = await SettingsStore.load({ userFile, managedFile: '/none', managed: noManaged });
    expect(store.values).toEqual(DEFAULT_SETTINGS);
    expect(store.state.problems).toEqual([]);
    expect(store.state.locked).toEqual([]);
  });

  it('corrupt file: defaults, file kept aside, a problem for the user', async () => {
    await writeFile(userFile, '{"logLevel": "debug",,,');
    const store = await SettingsStore.load({
      userFile,
      managedFile: '/none',
      managed: noManaged,
      now: Date.UTC(2026, 0, 2),
    });
    expect(store.values).toEqual(DEFAULT_SETTINGS);
    expect(store.state.problems.map((p) => p.code)).toEqual(['settings-corrupt']);
    const files = await readdir(dir);
    expect(files).toContain('settings.json.corrupt-2026-01-02T00-00-00-000Z');
    expect(files).not.toContain('settings.json');
  });

  it('non-object JSON counts as corrupt', async () => {
    await writeFile(userFile, '[1,2,3]');
    const r = await loadUserSettings(userFile);
    expect(r.problems[0]?.code).toBe('settings-corrupt');
  });

  it('invalid values fall back per key; unknown keys are ignored', async () => {
    await writeFile(
      userFile,
      JSON.stringify({
        logLevel: 'loud',
        portalUrl: 'ws://evil.example',
        connectOnStart: false,
        futureKey: 1,
      }),
    );
    const store = await SettingsStore.load({ userFile, managedFile: '/none', managed: noManaged });
    expect(store.values.logLevel).toBe('info');
    expect(store.values.portalUrl).toBe(DEFAULT_SETTINGS.portalUrl);
    expect(store.values.connectOnStart).toBe(false);
    expect(store.state.problems).toEqual([
      {
        source: 'user',
        code: 'settings-invalid-value',
        message: expect.stringContaining('Log level, Portal URL'),
      },
    ]);
  });

  it('update validates, persists only the user layer, and notifies with the changed keys', async () => {
    const store = await SettingsStore.load({ userFile, managedFile: '/none', managed: noManaged });
    const seen: string[][] = [];
    store.onChange((_s, changed) => seen.push([...changed]));
    const r = await store.update({ logLevel: 'debug', theme: 'dark' });
    expect(r.ok).toBe(true);
    expect(JSON.parse(await readFile(userFile, 'utf8'))).toEqual({ logLevel: 'debug', theme: 'dark' });
    expect(seen).toEqual([['theme', 'logLevel']]);
    const again = await SettingsStore.load({ userFile, managedFile: '/none', managed: noManaged });
    expect(again.values.logLevel).toBe('debug');
  });

  it('a key sent as undefined changes nothing (found by npm run fuzz -- --target ipc)', async () => {
    const store = await SettingsStore.load({ userFile, managedFile: '/none', managed: noManaged });
    const r = await store.update({ updateFeedUrl: undefined, theme: 'dark' });
    expect(r.ok).toBe(true);
    expect(store.values).toEqual({ ...DEFAULT_SETTINGS, theme: 'dark' });
  });

  it.each([
    [{ logLevel: 'loud' }, 'invalid-setting', 'logLevel'],
    [{ portalUrl: 'http://x.example' }, 'invalid-setting', 'portalUrl'],
    [{ notASetting: true }, 'invalid-setting', undefined],
    ['nonsense', 'invalid-setting', undefined],
  ])('update refuses %j', async (patch, code, field) => {
    const store = await SettingsStore.load({ userFile, managedFile: '/none', managed: noManaged });
    const r = await store.update(patch);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe(code);
      expect(r.error.field).toBe(field);
    }
    expect(store.values).toEqual(DEFAULT_SETTINGS);
  });

  it('reset keeps favourites', async () => {
    const store = await SettingsStore.load({ userFile, managedFile: '/none', managed: noManaged });
    await store.update({ logLevel: 'trace', favoriteResourceIds: ['a', 'b'] });
    await store.reset();
    expect(store.values).toEqual({ ...DEFAULT_SETTINGS, favoriteResourceIds: ['a', 'b'] });
  });
});

describe('managed configuration', () => {
  it('has one root-owned path per OS', () => {
    expect(managedConfigPath('linux')).toBe('/etc/fz-desktop/managed.json');
    expect(managedConfigPath('darwin')).toBe('/Library/Application Support/FZ Desktop/managed.json');
    expect(managedConfigPath('win32', { ProgramData: 'D:\\PD' })).toBe('D:\\PD\\FZ Desktop\\managed.json');
  });

  it('overrides and locks the keys it sets; the user file is untouched by it', async () => {
    await writeFile(userFile, JSON.stringify({ portalUrl: 'wss://mine.example', logLevel: 'debug' }));
    const managed = await loadManagedConfig(
      '/etc/fz-desktop/managed.json',
      'linux',
      managedFs(JSON.stringify({ portalUrl: 'wss://corp.example', autoUpdate: false })),
    );
    const store = await SettingsStore.load({
      userFile,
      managedFile: '/etc/fz-desktop/managed.json',
      managed,
    });
    expect(store.values.portalUrl).toBe('wss://corp.example');
    expect(store.values.autoUpdate).toBe(false);
    expect(store.values.logLevel).toBe('debug');
    expect(store.state.locked).toEqual(['portalUrl', 'autoUpdate']);

    const r = await store.update({ portalUrl: 'wss://other.example' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ code: 'setting-locked', field: 'portalUrl' });

    await store.update({ logLevel: 'warn' });
    expect(JSON.parse(await readFile(userFile, 'utf8'))).toEqual({
      portalUrl: 'wss://mine.example',
      logLevel: 'warn',
    });
  });

  it('ignores invalid and unknown keys one by one', () => {
    const r = parseManagedConfig(
      { portalUrl: 'ws://insecure.example', logLevel: 'warn', favoriteResourceIds: ['x'], bogus: 1 },
      'managed.json',
    );
    expect(r.values).toEqual({ logLevel: 'warn' });
    expect(r.problems.map((p) => p.code)).toEqual([
      'managed-invalid-value',
      'managed-unknown-key',
      'managed-unknown-key',
    ]);
  });

  it.each([
    ['invalid JSON', managedFs('{ nope'), 'managed-invalid'],
    ['an array', managedFs('[]'), 'managed-invalid'],
    ['not root-owned', managedFs('{"logLevel":"warn"}', { uid: 1000 }), 'managed-untrusted'],
    ['world-writable', managedFs('{"logLevel":"warn"}', { mode: 0o100666 }), 'managed-untrusted'],
    ['a directory', managedFs('{}', { file: false }), 'managed-invalid'],
    ['huge', managedFs('{}', { size: 10_000_000 }), 'managed-invalid'],
  ])('ignores a file that is %s, as a whole', async (_what, fs, code) => {
    const r = await loadManagedConfig('/etc/fz-desktop/managed.json', 'linux', fs);
    expect(r.values).toEqual({});
    expect(r.problems.map((p) => p.code)).toEqual([code]);
  });

  it('a missing file is normal', async () => {
    const r = await loadManagedConfig(path.join(dir, 'nope.json'), 'linux');
    expect(r).toEqual({ values: {}, problems: [] });
  });

  it('a real file owned by a normal user is not trusted', async () => {
    const file = path.join(dir, 'managed.json');
    await writeFile(file, '{"logLevel":"warn"}', { mode: 0o644 });
    const r = await loadManagedConfig(file, 'linux');
    const isRoot = process.getuid?.() === 0;
    expect(r.problems.map((p) => p.code)).toEqual(isRoot ? [] : ['managed-untrusted']);
  });

  it('accepts a UTF-8 BOM (Windows editors)', async () => {
    const r = await loadManagedConfig(
      'C:\\x',
      'win32',
      managedFs('\uFEFF{"theme":"dark"}', { uid: 4242, mode: 0o666 }),
    );
    expect(r.values).toEqual({ theme: 'dark' });
  });
});
