import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthState, TunnelState } from '../../src-shared/domain.js';
import { DEEP_LINK_SCHEME } from '../../src-shared/ipc.js';
import { TokenStoreError } from '../auth/token-store.js';
import { TEST_SESSION, createTestApp, eventually, type TestApp } from '../testing/test-app.js';
import { readZip } from '../testing/unzip.js';

let app: TestApp | null = null;
afterEach(async () => {
  await app?.dispose();
  app = null;
});

const FRAGMENT = 'SFMyNTY.g2gDbQAAACQ-fragment';

function callbackFor(openedUrl: string, over: Record<string, string> = {}): string {
  const state = new URL(openedUrl).searchParams.get('state')!;
  const q = new URLSearchParams({
    account_name: 'Acme Inc',
    account_slug: 'acme',
    actor_name: 'Jane Doe',
    fragment: FRAGMENT,
    identity_provider_identifier: 'idp',
    state,
    ...over,
  });
  return `${DEEP_LINK_SCHEME}://handle_client_sign_in_callback?${q}`;
}

const tunnelStates = (a: TestApp) =>
  a.pushes.filter(([c]) => c === 'tunnel:state').map(([, p]) => (p as TunnelState).state);

describe('sign-in', () => {
  it('opens the browser, accepts the matching callback, stores the token, connects', async () => {
    app = await createTestApp();
    await app.controller.init();
    await app.controller.signIn('acme');
    expect(app.controller.auth.kind).toBe('signing-in');
    const opened = app.platform.opened[0]!;
    expect(opened).toMatch(
      /^https:\/\/app\.fzdesktop\.dev\/acme\?as=gui-client&nonce=[0-9a-f]{64}&state=[0-9a-f]{64}$/,
    );
    expect(JSON.parse(await readFile(app.settingsFile, 'utf8'))).toEqual({ accountSlug: 'acme' });

    await app.controller.handleDeepLink(callbackFor(opened));
    expect(app.controller.auth).toEqual({
      kind: 'signed-in',
      account: { accountName: 'Acme Inc', accountSlug: 'acme', actorName: 'Jane Doe' },
      tokenPersistence: 'session',
    });
    const saved = await app.tokens.load();
    const nonce = new URL(opened).searchParams.get('nonce')!;
    expect(saved?.token.reveal()).toBe(nonce + FRAGMENT);
    expect(app.engine.startOptions?.token).toBe(nonce + FRAGMENT);

    await eventually(() => app!.controller.tunnel.state === 'connected');
    expect(tunnelStates(app)).toEqual(['connecting', 'connecting', 'connecting', 'connected']);
    await eventually(() => app!.controller.resources.length === 51);

    // The token (and its parts) never reached the log or a push.
    await app.logger.flush();
    const logFile = await readFile(app.sink.file, 'utf8');
    const everything = logFile + JSON.stringify(app.pushes) + JSON.stringify(app.logger.recent());
    expect(everything).not.toContain(FRAGMENT);
    expect(everything).not.toContain(nonce);
    expect(logFile).toContain('fragment=[redacted]');
  });

  it('ignores a callback with a wrong or missing state and keeps waiting, with a notice', async () => {
    app = await createTestApp();
    await app.controller.init();
    await app.controller.signIn('acme');
    const opened = app.platform.opened[0]!;
    await app.controller.handleDeepLink(callbackFor(opened, { state: 'ef'.repeat(32) }));
    let auth = app.controller.auth;
    expect(auth.kind === 'signing-in' && auth.notice?.code).toBe('state-mismatch');
    await app.controller.handleDeepLink(callbackFor(opened, { state: '' }));
    auth = app.controller.auth;
    expect(auth.kind === 'signing-in' && auth.notice?.code).toBe('state-missing');
    expect(await app.tokens.load()).toBeNull();
    // The right one still works afterwards.
    await app.controller.handleDeepLink(callbackFor(opened));
    expect(app.controller.auth.kind).toBe('signed-in');
  });

  it('a malformed token ends the sign-in with a clear error', async () => {
    app = await createTestApp();
    await app.controller.init();
    await app.controller.signIn('acme');
    await app.controller.handleDeepLink(callbackFor(app.platform.opened[0]!, { fragment: 'bad token!' }));
    expect(app.controller.auth).toMatchObject({
      kind: 'signed-out',
      reason: { code: 'sign-in-failed', error: { code: 'token-malformed' } },
    });
  });

  it('a link with no sign-in pending is ignored', async () => {
    app = await createTestApp();
    await app.controller.init();
    await app.controller.handleDeepLink(callbackFor('https://x/?state=' + 'ab'.repeat(32)));
    expect(app.controller.auth).toEqual({ kind: 'signed-out', reason: { code: 'user' } });
    expect(app.logger.recent().some((e) => e.message.includes('no-sign-in-pending'))).toBe(true);
  });

  it('reports a browser that cannot be opened', async () => {
    app = await createTestApp();
    await app.controller.init();
    app.platform.browserError = new Error('xdg-open not found');
    await expect(app.controller.signIn('acme')).rejects.toMatchObject({ code: 'browser-failed' });
    expect(app.controller.auth).toMatchObject({
      kind: 'signed-out',
      reason: { error: { code: 'browser-failed' } },
    });
  });

  it('cancel returns to signed out; a late callback is then refused', async () => {
    app = await createTestApp();
    await app.controller.init();
    await app.controller.signIn('acme');
    const opened = app.platform.opened[0]!;
    app.controller.cancelSignIn();
    await app.controller.handleDeepLink(callbackFor(opened));
    expect(app.controller.auth.kind).toBe('signed-out');
  });

  it('keeps the session in memory when the keychain refuses it', async () => {
    app = await createTestApp();
    await app.controller.init();
    await app.controller.signIn('acme');
    app.tokens.failNext(new TokenStoreError('locked', 'unavailable'));
    await app.controller.handleDeepLink(callbackFor(app.platform.opened[0]!));
    expect(app.controller.auth).toMatchObject({ kind: 'signed-in', tokenPersistence: 'session' });
  });
});

describe('start-up', () => {
  it('with a saved session and connect-on-start: connects', async () => {
    app = await createTestApp({ session: TEST_SESSION });
    await app.controller.init();
    expect(app.controller.auth.kind).toBe('signed-in');
    await eventually(() => app!.controller.tunnel.state === 'connected');
  });

  it('with connect-on-start off: signed in, disconnected', async () => {
    app = await createTestApp({ session: TEST_SESSION, userSettings: { connectOnStart: false } });
    await app.controller.init();
    expect(app.controller.auth.kind).toBe('signed-in');
    await new Promise((r) => setTimeout(r, 30));
    expect(app.controller.tunnel.state).toBe('disconnected');
    expect(app.engine.calls).toEqual([]);
  });

  it('an unreadable token store means signed out with an explanation', async () => {
    app = await createTestApp({ session: TEST_SESSION });
    app.tokens.failNext(new TokenStoreError('bad bytes', 'corrupt'));
    await app.controller.init();
    expect(app.controller.auth).toMatchObject({
      kind: 'signed-out',
      reason: { code: 'sign-in-failed', error: { code: 'token-storage' } },
    });
  });

  it('a corrupt settings file: defaults apply, problem logged, nothing crashes', async () => {
    app = await createTestApp({ userSettings: '{{{{' });
    await app.controller.init();
    expect(app.controller.snapshot().settings.problems[0]?.code).toBe('settings-corrupt');
    expect(app.logger.recent().some((e) => e.level === 'warn' && e.message.includes('damaged'))).toBe(true);
  });

  it('an invalid managed file: ignored, problem shown, settings stay usable', async () => {
    app = await createTestApp({ managed: '{"portalUrl": ' });
    await app.controller.init();
    const s = app.controller.snapshot().settings;
    expect(s.locked).toEqual([]);
    expect(s.problems.map((p) => p.code)).toEqual(['managed-invalid']);
  });
});

describe('tunnel', () => {
  it('disconnect keeps the user signed in; connect brings it back', async () => {
    app = await createTestApp({ session: TEST_SESSION });
    await app.controller.init();
    await eventually(() => app!.controller.tunnel.state === 'connected');
    app.controller.disconnect();
    expect(app.controller.tunnel.state).toBe('disconnecting');
    await eventually(() => app!.controller.tunnel.state === 'disconnected');
    expect(app.controller.auth.kind).toBe('signed-in');
    expect(app.engine.calls).not.toContain('stop');
    await app.controller.connect();
    await eventually(() => app!.controller.tunnel.state === 'connected');
  });

  it('engine start failure: error state, notification, clear message', async () => {
    app = await createTestApp({ session: TEST_SESSION, userSettings: { connectOnStart: false } });
    await app.controller.init();
    app.engine.failNextStart({ code: 'permission-denied', message: 'The app lacks CAP_NET_ADMIN.' });
    await expect(app.controller.connect()).rejects.toMatchObject({ code: 'permission-denied' });
    expect(app.controller.tunnel).toEqual({
      state: 'error',
      error: { code: 'permission-denied', message: 'The app lacks CAP_NET_ADMIN.' },
    });
    expect(app.platform.notifications.map((n) => n.id)).toEqual(['tunnel-failed']);
  });

  it('a portal failure after start is an error; retry works', async () => {
    app = await createTestApp({ session: TEST_SESSION, userSettings: { connectOnStart: false } });
    await app.controller.init();
    app.engine.failNextConnect({ code: 'portal-unreachable', message: 'The portal cannot be reached.' });
    await app.controller.connect();
    await eventually(() => app!.controller.tunnel.state === 'error');
    await app.controller.connect();
    await eventually(() => app!.controller.tunnel.state === 'connected');
  });

  it('a hung engine is reported after the response timeout', async () => {
    app = await createTestApp({
      session: TEST_SESSION,
      userSettings: { connectOnStart: false },
      engineResponseTimeoutMs: 60,
    });
    await app.controller.init();
    await app.controller.connect();
    await eventually(() => app!.controller.tunnel.state === 'connected');
    app.controller.disconnect();
    await eventually(() => app!.controller.tunnel.state === 'disconnected');
    app.engine.setStalled(true);
    await app.controller.connect();
    expect(app.controller.tunnel.state).toBe('connecting');
    await eventually(() => app!.controller.tunnel.state === 'error');
    expect(app.controller.tunnel).toMatchObject({ error: { code: 'engine-not-responding' } });
  });

  it('connection loss: reconnecting with attempt 2, then connected', async () => {
    app = await createTestApp({ session: TEST_SESSION });
    await app.controller.init();
    await eventually(() => app!.controller.tunnel.state === 'connected');
    app.engine.simulateConnectionLoss('network changed');
    await eventually(() => {
      const t = app!.controller.tunnel;
      return (
        t.state === 'connecting' && t.attempt === 2 && t.reason === 'network changed' && t.retryAt !== null
      );
    });
    await eventually(() => app!.controller.tunnel.state === 'connected');
  });

  it('signed out by the portal: token discarded, engine stopped, notification', async () => {
    app = await createTestApp({ session: TEST_SESSION });
    await app.controller.init();
    await eventually(() => app!.controller.tunnel.state === 'connected');
    app.engine.simulatePortalSignOut('token_expired');
    await eventually(() => app!.controller.auth.kind === 'signed-out');
    expect(app.controller.auth).toEqual({
      kind: 'signed-out',
      reason: { code: 'portal', message: 'Your session expired.' },
    });
    expect(await app.tokens.load()).toBeNull();
    await eventually(() => app!.engine.calls.includes('stop'));
    expect(app.controller.resources).toEqual([]);
    expect(app.platform.notifications.map((n) => n.title)).toContain('You were signed out');
  });

  it('unreachable resource: one notification per minute per resource', async () => {
    app = await createTestApp({ session: TEST_SESSION });
    await app.controller.init();
    await eventually(() => app!.controller.tunnel.state === 'connected');
    const lab = app.controller.resources.find((r) => r.name === 'HIL bench 01')!;
    app.engine.simulateTraffic(lab.id);
    await eventually(() => app!.platform.notifications.length === 1);
    expect(app.platform.notifications[0]).toMatchObject({ title: 'Can’t reach HIL bench 01' });
    app.engine.simulateTraffic(lab.id);
    await eventually(
      () => app!.controller.resources.find((r) => r.id === lab.id)?.connection.state === 'failed',
    );
    await new Promise((r) => setTimeout(r, 30));
    expect(app.platform.notifications).toHaveLength(1);
  });
});

describe('resources, settings, logs, updates', () => {
  it('favourites and the internet resource persist in settings', async () => {
    app = await createTestApp({ session: TEST_SESSION });
    await app.controller.init();
    await eventually(() => app!.controller.resources.length > 0);
    const id = app.controller.resources[0]!.id;
    await app.controller.setFavorite(id, true);
    await app.controller.setFavorite(id, true);
    await app.controller.setInternetResourceEnabled(true);
    expect(JSON.parse(await readFile(app.settingsFile, 'utf8'))).toEqual({
      favoriteResourceIds: [id],
      internetResourceEnabled: true,
    });
    expect(app.engine.calls).toContain('applySettings');
    await app.controller.setFavorite(id, false);
    expect(app.controller.snapshot().settings.values.favoriteResourceIds).toEqual([]);
  });

  it('copies a resource address through the platform clipboard', async () => {
    app = await createTestApp({ session: TEST_SESSION });
    await app.controller.init();
    await eventually(() => app!.controller.resources.length > 0);
    const r = app.controller.resources.find((x) => x.name === 'GitLab')!;
    expect(await app.call('resources:copyAddress', { resourceId: r.id })).toEqual({ ok: true, value: null });
    expect(app.platform.clipboard).toEqual(['gitlab.hq.corp.example']);
  });

  it('a locked setting cannot be changed from the UI or the tray', async () => {
    app = await createTestApp({ session: TEST_SESSION, managed: { internetResourceEnabled: false } });
    await app.controller.init();
    const r = await app.call('resources:setInternetResourceEnabled', { enabled: true });
    expect(r).toMatchObject({ ok: false, error: { code: 'setting-locked' } });
    await app.controller.runTrayAction({ type: 'set-internet', enabled: true });
    expect(app.controller.snapshot().settings.values.internetResourceEnabled).toBe(false);
  });

  it('log level changes reach the logger and the engine', async () => {
    app = await createTestApp({ session: TEST_SESSION });
    await app.controller.init();
    await eventually(() => app!.controller.tunnel.state === 'connected');
    await app.controller.updateSettings({ logLevel: 'debug' });
    expect(app.logger.level).toBe('debug');
    expect(app.engine.calls.filter((c) => c === 'applySettings')).toHaveLength(1);
  });

  it('exports the logs as a zip, clears them', async () => {
    app = await createTestApp({ session: TEST_SESSION });
    await app.controller.init();
    // Let the engine finish connecting first: its log lines would otherwise race the clear below.
    await eventually(() => app!.controller.tunnel.state === 'connected');
    app.platform.savePath = null;
    expect(await app.controller.exportLogs()).toBeNull();
    app.platform.savePath = `${app.dir}/export/logs.zip`;
    const r = await app.controller.exportLogs();
    expect(r?.files).toBe(1);
    const zip = readZip(await readFile(r!.path));
    expect(zip.get('logs/app.log')!.toString()).toContain('starting');
    const system = JSON.parse(zip.get('system.json')!.toString());
    expect(system.auth).toBe('signed-in');
    expect(JSON.stringify(system)).not.toContain('fragment');
    await app.controller.clearLogs();
    expect(app.pushes.some(([c]) => c === 'logs:cleared')).toBe(true);
    // The clear leaves only its own line; the (fake) engine may log again right after it.
    const after = app.logger.recent().map((e) => e.message);
    expect(after[0]).toBe('logs cleared');
    expect(after.filter((m) => /starting|received init|tun-fz up/.test(m))).toEqual([]);
  });

  it('pushes log lines in batches', async () => {
    app = await createTestApp();
    await app.controller.init();
    app.logger.info('a');
    app.logger.info('b');
    await eventually(() => app!.pushes.some(([c]) => c === 'logs:appended'));
    const batches = app.pushes.filter(([c]) => c === 'logs:appended');
    expect(batches).toHaveLength(1);
  });

  it('update: downloaded → notification and tray entry; install only when ready', async () => {
    app = await createTestApp({ userSettings: { updateFeedUrl: 'https://updates.example.com/fz' } });
    await app.controller.init();
    expect(app.updater.config).toEqual({ feedUrl: 'https://updates.example.com/fz', autoDownload: true });
    expect(() => app!.controller.installUpdate()).toThrow(/No update/);
    app.updater.nextVersion = '0.2.0';
    await app.controller.checkForUpdates();
    expect(app.updater.state).toEqual({ kind: 'ready', version: '0.2.0' });
    expect(app.platform.notifications.map((n) => n.id)).toEqual(['update-ready']);
    expect(app.controller.trayModel().icon).toBe('signed-out');
    app.controller.installUpdate();
    expect(app.updater.installed).toBe(true);
  });

  it('tray actions drive the same controller', async () => {
    app = await createTestApp({ session: TEST_SESSION, userSettings: { connectOnStart: false } });
    await app.controller.init();
    await app.controller.runTrayAction({ type: 'connect' });
    await eventually(() => app!.controller.tunnel.state === 'connected');
    await app.controller.runTrayAction({ type: 'sign-out' });
    expect((app.controller.auth as AuthState).kind).toBe('signed-out');
    await app.controller.runTrayAction({ type: 'quit' });
    expect(app.platform.quitCalled).toBe(true);
  });
});
