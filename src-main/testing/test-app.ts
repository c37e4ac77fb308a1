// The whole main-side core with fakes at its edges (engine, token store, desktop services,
// updater) and a real user-data directory: what the unit tests and the Playwright harness run.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { IpcResult, SenderInfo } from '../../src-shared/ipc.js';
import { composeApp, type ComposedApp } from '../app/compose.js';
import { MemoryTokenStore, SecretToken, type StoredSession } from '../auth/token-store.js';
import { FakeEngineHost, type FakeEngineTimings } from '../engine/fake-engine-host.js';
import { dispatch } from '../ipc/router.js';
import type { Logger } from '../logging/logger.js';
import type { ManagedFileSystem } from '../settings/managed-config.js';
import type { UpdaterService } from '../update/updater.js';
import { FakePlatform, FakeUpdater } from './fake-platform.js';

export const TEST_SESSION: StoredSession = {
  token: new SecretToken('cd'.repeat(32) + 'SFMyNTY.test-fragment-value'),
  accountName: 'Acme Inc',
  accountSlug: 'acme',
  actorName: 'Jane Doe',
};

export interface TestAppOptions {
  /** Signed in from the start (a token in the store). */
  readonly session?: StoredSession | null;
  /** Contents of the user's settings.json, written before start. */
  readonly userSettings?: string | object;
  /** A managed configuration, as if root had written it. */
  readonly managed?: object | string;
  readonly timings?: Partial<FakeEngineTimings>;
  readonly optimisticTimeoutMs?: number;
  readonly engineResponseTimeoutMs?: number;
  /** Receives every push main sends to the renderer. */
  readonly push?: (channel: string, payload: unknown) => void;
  readonly trustedOrigin?: string;
  readonly now?: () => number;
  /** Another updater in place of the fake (the real one against a local feed, in update tests). */
  readonly createUpdater?: (logger: Logger) => UpdaterService;
}

export interface TestApp extends ComposedApp {
  readonly dir: string;
  readonly engine: FakeEngineHost;
  readonly platform: FakePlatform;
  readonly tokens: MemoryTokenStore;
  /** The fake updater; not wired into the app when `createUpdater` was given. */
  readonly updater: FakeUpdater;
  readonly pushes: [string, unknown][];
  readonly settingsFile: string;
  readonly managedFile: string;
  /** Sends a message as the renderer would, through validation and the router. */
  call(channel: string, arg?: unknown, sender?: SenderInfo): Promise<IpcResult<unknown>>;
  dispose(): Promise<void>;
}

const FAST: Partial<FakeEngineTimings> = {
  startMs: 5,
  portalMs: 10,
  tunnelMs: 10,
  flowMs: 10,
  tickMs: 50,
  retryMs: 30,
};

export async function createTestApp(o: TestAppOptions = {}): Promise<TestApp> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fz-app-'));
  const settingsFile = path.join(dir, 'settings.json');
  if (o.userSettings !== undefined) {
    await writeFile(
      settingsFile,
      typeof o.userSettings === 'string' ? o.userSettings : JSON.stringify(o.userSettings),
    );
  }
  const managedFile = '/etc/fz-desktop/managed.json';
  const managedText =
    o.managed === undefined ? null : typeof o.managed === 'string' ? o.managed : JSON.stringify(o.managed);
  const managedFs: ManagedFileSystem = {
    stat: async () => {
      if (managedText === null) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return { uid: 0, mode: 0o100644, size: managedText.length, isFile: () => true };
    },
    readFile: async () => managedText ?? '',
  };
  const engine = new FakeEngineHost({ timings: { ...FAST, ...o.timings } });
  const platform = new FakePlatform();
  const tokens = new MemoryTokenStore();
  if (o.session !== undefined && o.session !== null) await tokens.save(o.session);
  const updater = new FakeUpdater();
  const pushes: [string, unknown][] = [];
  const origin = o.trustedOrigin ?? 'app://fz-desktop';
  const composed = await composeApp({
    userDataDir: dir,
    managedConfigFile: managedFile,
    managedFs,
    os: 'linux',
    platform,
    engine,
    tokens,
    createUpdater: o.createUpdater ?? (() => updater),
    push: (channel, payload) => {
      pushes.push([channel, payload]);
      o.push?.(channel, payload);
    },
    isTrustedSender: (s) => s.url.startsWith(`${origin}/`),
    info: {
      version: '0.1.0',
      electron: null,
      chrome: null,
      node: process.versions.node,
      platform: 'linux',
      arch: 'x64',
      engine: 'simulated',
    },
    optimisticTimeoutMs: o.optimisticTimeoutMs,
    engineResponseTimeoutMs: o.engineResponseTimeoutMs ?? 2000,
    deviceName: 'test-laptop',
    now: o.now,
  });
  return {
    ...composed,
    dir,
    engine,
    platform,
    tokens,
    updater,
    pushes,
    settingsFile,
    managedFile,
    call(channel, arg = null, sender = { url: `${origin}/index.html` }) {
      const [group = '', key = ''] = channel.split(':');
      return dispatch(composed.router, group, key, arg, sender);
    },
    async dispose() {
      await composed.controller.shutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `check` passes (polling; the fake engine runs on real, short timers). */
export async function eventually<T>(check: () => T | undefined | false, timeoutMs = 2000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
