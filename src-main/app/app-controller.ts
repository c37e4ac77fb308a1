// Main owns the state. This controller holds the replica's source of truth (auth, tunnel,
// resources, settings, update, logs), drives the engine host and the token store, and pushes
// every change to the renderer through the generated notifier. No Electron here: the desktop
// services come in through `Platform`, so the whole flow runs in unit tests and in the
// Playwright harness.

import { hostname } from 'node:os';
import type {
  AppInfo,
  AppSnapshot,
  AuthState,
  CaptureState,
  LogEntry,
  LogExportResult,
  Resource,
  SettingKey,
  Settings,
  SettingsState,
  TunnelState,
  UpdateState,
} from '../../src-shared/domain.js';
import type { MainNotifier } from '../../src-shared/ipc.js';
import { AppError } from '../app-error.js';
import {
  completeSignIn,
  createSignInRequest,
  isValidAccountSlug,
  parseDeepLink,
  redactUrl,
  type SignInRequest,
} from '../auth/deep-link.js';
import { TokenStoreError, type StoredSession, type TokenStore } from '../auth/token-store.js';
import { EngineStartError, type EngineHost, type EngineStatus } from '../engine/engine-host.js';
import { defaultExportName, exportLogs } from '../logging/export-logs.js';
import type { Logger } from '../logging/logger.js';
import { PacketCapture } from '../logging/packet-capture.js';
import { NotificationPolicy, type AppNotification } from '../notifications/notifications.js';
import type { SettingsStore } from '../settings/settings-store.js';
import { buildTrayModel, type TrayAction, type TrayModel } from '../tray/tray-model.js';
import type { UpdaterService } from '../update/updater.js';
import type { Platform } from './platform.js';

export const PRODUCT_NAME = 'FZ Desktop';

export interface AppControllerOptions {
  readonly engine: EngineHost;
  readonly tokens: TokenStore;
  readonly settings: SettingsStore;
  readonly logger: Logger;
  readonly platform: Platform;
  readonly updater: UpdaterService;
  readonly notify: MainNotifier;
  readonly info: AppInfo;
  readonly deviceId: string;
  readonly deviceName?: string;
  /** The log files, newest first, for export. */
  readonly logFiles: () => Promise<string[]>;
  readonly now?: () => number;
  readonly random?: (n: number) => Uint8Array;
  /** How long main waits for the engine to react to connect/disconnect before reporting it. */
  readonly engineResponseTimeoutMs?: number;
  /** Batch window for pushing log lines to the renderer. */
  readonly logPushIntervalMs?: number;
}

type Slice = 'auth' | 'tunnel' | 'resources' | 'settings' | 'update';

export class AppController {
  readonly #o: AppControllerOptions;
  readonly #now: () => number;
  readonly #notifications: NotificationPolicy;
  readonly #capture: PacketCapture;

  #auth: AuthState = { kind: 'signed-out', reason: { code: 'user' } };
  #tunnel: TunnelState = { state: 'disconnected' };
  #resources: readonly Resource[] = [];
  #session: StoredSession | null = null;
  #signIn: SignInRequest | null = null;
  #signInTimer: ReturnType<typeof setTimeout> | null = null;

  /** The user asked for the tunnel to be up; engine idle/stopped reports mean "still starting". */
  #wantConnected = false;
  #engineStarted = false;
  #watchdog: ReturnType<typeof setTimeout> | null = null;

  #pendingLogs: LogEntry[] = [];
  #logTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #changeListeners = new Set<(slice: Slice) => void>();
  readonly #unsubscribe: (() => void)[] = [];

  constructor(options: AppControllerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#notifications = new NotificationPolicy(this.#now);
    this.#capture = new PacketCapture({
      engine: options.engine,
      platform: options.platform,
      logger: options.logger,
      now: this.#now,
      isTunnelUp: () => this.#tunnel.state === 'connected',
      onState: (state) => options.notify.logs.capture(state),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Start and stop

  async init(): Promise<void> {
    const { engine, settings, logger, updater, info } = this.#o;
    logger.info(
      `${PRODUCT_NAME} ${info.version} starting (${info.platform}/${info.arch}, electron ${info.electron ?? '-'})`,
    );
    for (const p of settings.state.problems) logger.warn(`settings (${p.source}): ${p.message}`);
    if (settings.state.locked.length) {
      logger.info(`managed configuration locks: ${settings.state.locked.join(', ')}`);
    }

    this.#unsubscribe.push(
      engine.on('status', (s) => this.#onEngineStatus(s)),
      engine.on('resources', (list) => this.#setResources(list)),
      engine.on('signedOut', (s) => void this.#onPortalSignOut(s.reason, s.message)),
      engine.on('error', (e) => {
        logger.warn(`engine: ${e.code}: ${e.message}`);
        if (e.code === 'resource-unreachable') {
          const name = this.#resources.find((r) => r.id === e.resourceId)?.name ?? null;
          this.#show(this.#notifications.resourceUnreachable(e, name));
        }
      }),
      engine.on('log', (r) => logger.log(r.level, 'engine', `${r.target}: ${r.message}`, r.time)),
      settings.onChange((state, changed) => this.#onSettingsChanged(state, changed)),
      updater.onChange((state) => this.#onUpdate(state)),
      logger.onEntry((entry) => this.#queueLog(entry)),
    );
    updater.configure(this.#updaterConfig(settings.values));
    this.#o.platform.setThemeSource(settings.values.theme);
    // Keep the OS login item in step with the setting (the managed config may have changed it).
    this.#o.platform
      .setStartOnLogin(settings.values.startOnLogin)
      .catch((e: Error) => logger.warn(`start on login: ${e.message}`));

    let session: StoredSession | null = null;
    try {
      session = await this.#o.tokens.load();
    } catch (e) {
      const message =
        e instanceof TokenStoreError && e.code === 'corrupt'
          ? 'Your saved sign-in could not be read, so you need to sign in again.'
          : 'The system keychain could not be opened, so you need to sign in again.';
      logger.warn(`token store: ${(e as Error).message}`);
      await this.#o.tokens.clear().catch(() => {});
      this.#setAuth({
        kind: 'signed-out',
        reason: { code: 'sign-in-failed', error: { code: 'token-storage', message } },
      });
    }
    if (session) {
      this.#adoptSession(session, this.#o.tokens.info().persistent ? 'keychain' : 'session');
      logger.info(
        `signed in as ${session.actorName || '(unknown)'} in account ${session.accountSlug || '(unknown)'}`,
      );
      if (settings.values.connectOnStart) void this.connect().catch(() => {});
    }
  }

  async shutdown(): Promise<void> {
    this.#clearWatchdog();
    if (this.#signInTimer) clearTimeout(this.#signInTimer);
    for (const u of this.#unsubscribe.splice(0)) u();
    await this.#capture.shutdown();
    try {
      await this.#o.engine.stop();
    } catch (e) {
      this.#o.logger.warn(`engine stop failed: ${(e as Error).message}`);
    }
    this.#flushLogs();
    this.#o.logger.info('stopped');
    await this.#o.logger.flush();
  }

  // -------------------------------------------------------------------------------------------
  // State for the renderer, the tray and the tests

  snapshot(): AppSnapshot {
    return {
      info: this.#o.info,
      auth: this.#auth,
      tunnel: this.#tunnel,
      resources: this.#resources,
      settings: this.#o.settings.state,
      update: this.#o.updater.state,
      logs: this.#o.logger.recent(500),
      capture: this.#capture.state,
    };
  }

  get capture(): CaptureState {
    return this.#capture.state;
  }

  get auth(): AuthState {
    return this.#auth;
  }

  get tunnel(): TunnelState {
    return this.#tunnel;
  }

  get resources(): readonly Resource[] {
    return this.#resources;
  }

  trayModel(): TrayModel {
    const s = this.#o.settings;
    return buildTrayModel({
      productName: PRODUCT_NAME,
      auth: this.#auth,
      tunnel: this.#tunnel,
      resources: this.#resources,
      favoriteResourceIds: s.values.favoriteResourceIds,
      internetResourceEnabled: s.values.internetResourceEnabled,
      internetResourceLocked: s.isLocked('internetResourceEnabled'),
      update: this.#o.updater.state,
    });
  }

  /** Fires after any slice changed (the tray rebuilds its menu). */
  onChange(listener: (slice: Slice) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  // -------------------------------------------------------------------------------------------
  // Sign-in (docs/protocol.md §3.11)

  async signIn(accountSlug: string): Promise<void> {
    const slug = accountSlug.trim();
    if (this.#auth.kind === 'signed-in')
      throw new AppError('already-signed-in', 'You are already signed in.');
    if (!isValidAccountSlug(slug)) {
      throw new AppError('invalid-account', 'The account ID may only contain letters, digits, “-” and “_”.');
    }
    const { settings, logger } = this.#o;
    if (settings.values.accountSlug !== slug && !settings.isLocked('accountSlug')) {
      await settings.update({ accountSlug: slug });
    }
    if (
      settings.isLocked('accountSlug') &&
      settings.values.accountSlug &&
      settings.values.accountSlug !== slug
    ) {
      throw new AppError(
        'setting-locked',
        'Your organisation has set the account ID; it cannot be changed here.',
      );
    }
    const request = createSignInRequest(settings.values.authUrl, slug, this.#now(), this.#o.random);
    this.#signIn = request;
    this.#setAuth({
      kind: 'signing-in',
      accountSlug: slug,
      authHost: request.authHost,
      startedAt: request.startedAt,
      expiresAt: request.expiresAt,
      notice: null,
    });
    if (this.#signInTimer) clearTimeout(this.#signInTimer);
    this.#signInTimer = setTimeout(() => {
      if (this.#signIn === request) {
        this.#signIn = null;
        logger.warn('sign-in expired before the browser called back');
        this.#setAuth({
          kind: 'signed-out',
          reason: {
            code: 'sign-in-failed',
            error: {
              code: 'sign-in-expired',
              message: 'The sign-in took too long and expired. Start again.',
            },
          },
        });
      }
    }, request.expiresAt - request.startedAt);
    logger.info(`sign-in started for account ${slug}; opening ${request.authHost} in the browser`);
    await this.#openSignInPage(request);
  }

  async reopenBrowser(): Promise<void> {
    if (!this.#signIn) throw new AppError('no-sign-in-pending', 'No sign-in is in progress.');
    await this.#openSignInPage(this.#signIn);
  }

  cancelSignIn(): void {
    if (this.#auth.kind !== 'signing-in') return;
    this.#signIn = null;
    if (this.#signInTimer) clearTimeout(this.#signInTimer);
    this.#o.logger.info('sign-in cancelled');
    this.#setAuth({ kind: 'signed-out', reason: { code: 'user' } });
  }

  /** A URL with our scheme arrived (second instance argv, macOS `open-url`). */
  async handleDeepLink(raw: string): Promise<void> {
    const { logger } = this.#o;
    logger.info(`deep link received: ${redactUrl(raw)}`);
    this.#o.platform.showWindow();
    const parsed = parseDeepLink(raw);
    if (!parsed.ok) {
      logger.warn(`deep link rejected: ${parsed.error.code}`);
      this.#signInNotice(parsed.error);
      return;
    }
    const done = completeSignIn(this.#signIn, parsed.link, this.#now());
    if (!done.ok) {
      logger.warn(`sign-in callback rejected: ${done.error.code}`);
      if (done.error.code === 'sign-in-expired' || done.error.code === 'token-malformed') {
        this.#signIn = null;
        this.#setAuth({ kind: 'signed-out', reason: { code: 'sign-in-failed', error: done.error } });
      } else {
        this.#signInNotice(done.error);
      }
      return;
    }
    this.#signIn = null;
    if (this.#signInTimer) clearTimeout(this.#signInTimer);
    const session: StoredSession = { token: done.token, ...done.account };
    if (parsed.link.fragment) this.#o.logger.addSecret(parsed.link.fragment);
    let persistence: 'keychain' | 'session' = this.#o.tokens.info().persistent ? 'keychain' : 'session';
    try {
      await this.#o.tokens.save(session);
    } catch (e) {
      persistence = 'session';
      logger.warn(`the token could not be saved (${(e as Error).message}); it is kept in memory until quit`);
    }
    if (persistence === 'session') {
      logger.warn('no secure keychain: the sign-in lasts until the app quits');
    }
    this.#adoptSession(session, persistence);
    logger.info(
      `signed in as ${done.account.actorName || '(unknown)'} in account ${done.account.accountSlug}`,
    );
    await this.connect().catch(() => {});
  }

  async signOut(): Promise<void> {
    const { logger } = this.#o;
    logger.info('signing out');
    this.#wantConnected = false;
    this.#clearWatchdog();
    await this.#stopEngine();
    await this.#o.tokens.clear().catch((e: Error) => logger.warn(`token store clear failed: ${e.message}`));
    this.#session = null;
    this.#setTunnel({ state: 'disconnected' });
    this.#setResources([]);
    this.#setAuth({ kind: 'signed-out', reason: { code: 'user' } });
  }

  // -------------------------------------------------------------------------------------------
  // Tunnel

  async connect(): Promise<void> {
    const session = this.#session;
    if (!session || this.#auth.kind !== 'signed-in') throw new AppError('not-signed-in', 'Sign in first.');
    const { engine, logger, settings } = this.#o;
    if (this.#tunnel.state === 'connected' || this.#tunnel.state === 'connecting') return;
    this.#wantConnected = true;
    this.#armWatchdog('connect');
    if (!this.#engineStarted) {
      this.#setTunnel({ state: 'connecting', phase: 'starting', attempt: 1, reason: null, retryAt: null });
      try {
        logger.info(`starting the engine (portal ${safeHost(settings.values.portalUrl)})`);
        await engine.start({
          portalUrl: settings.values.portalUrl,
          token: session.token.reveal(),
          deviceId: this.#o.deviceId,
          deviceName: this.#o.deviceName ?? hostname(),
          appVersion: this.#o.info.version,
          settings: {
            logLevel: settings.values.logLevel,
            internetResourceEnabled: settings.values.internetResourceEnabled,
          },
        });
        this.#engineStarted = true;
      } catch (e) {
        this.#wantConnected = false;
        this.#clearWatchdog();
        const error =
          e instanceof EngineStartError
            ? { code: e.code, message: e.message }
            : { code: 'engine-start-failed', message: `The tunnel could not start: ${(e as Error).message}` };
        logger.error(`engine start failed: ${error.code}: ${error.message}`);
        this.#setTunnel({ state: 'error', error });
        this.#show(this.#notifications.tunnelFailed(error.message));
        throw new AppError(error.code, error.message);
      }
      if (!this.#wantConnected) return; // disconnected while starting
    } else {
      this.#setTunnel({ state: 'connecting', phase: 'portal', attempt: 1, reason: null, retryAt: null });
    }
    engine.connect();
  }

  disconnect(): void {
    if (this.#auth.kind !== 'signed-in') return;
    this.#wantConnected = false;
    if (this.#tunnel.state === 'error' || this.#tunnel.state === 'disconnected') {
      this.#clearWatchdog();
      this.#setTunnel({ state: 'disconnected' });
      return;
    }
    this.#o.logger.info('disconnecting');
    this.#armWatchdog('disconnect');
    this.#setTunnel({ state: 'disconnecting' });
    this.#o.engine.disconnect();
  }

  // -------------------------------------------------------------------------------------------
  // Resources and settings

  copyAddress(resourceId: string): void {
    const r = this.#resources.find((x) => x.id === resourceId);
    if (!r) throw new AppError('not-found', 'This resource is no longer available.');
    if (r.type === 'internet')
      throw new AppError('no-address', 'The Internet Resource has no address to copy.');
    this.#o.platform.writeClipboard(r.address);
    this.#o.logger.debug(`copied the address of ${r.name}`);
  }

  async setFavorite(resourceId: string, favorite: boolean): Promise<void> {
    const current = this.#o.settings.values.favoriteResourceIds;
    const next = favorite
      ? current.includes(resourceId)
        ? current
        : [...current, resourceId]
      : current.filter((id) => id !== resourceId);
    if (next !== current) await this.#updateSettings({ favoriteResourceIds: next });
  }

  async setInternetResourceEnabled(enabled: boolean): Promise<void> {
    await this.#updateSettings({ internetResourceEnabled: enabled });
  }

  async updateSettings(patch: unknown): Promise<SettingsState> {
    return this.#updateSettings(patch);
  }

  async resetSettings(): Promise<SettingsState> {
    const r = await this.#o.settings.reset();
    if (!r.ok) throw new AppError(r.error.code, r.error.message);
    this.#o.logger.info('settings reset to defaults');
    return r.state;
  }

  // -------------------------------------------------------------------------------------------
  // Logs and updates

  async exportLogs(): Promise<LogExportResult | null> {
    const { platform, logger, info, settings } = this.#o;
    const destination = await platform.chooseSavePath(defaultExportName(this.#now()), 'log-export');
    if (!destination) return null;
    await logger.flush();
    const { favoriteResourceIds: _favorites, ...shareable } = settings.values;
    const result = await exportLogs({
      files: await this.#o.logFiles(),
      destination,
      now: this.#now(),
      system: {
        app: info,
        auth: this.#auth.kind,
        tunnel: this.#tunnel.state,
        resources: this.#resources.length,
        settings: shareable,
        lockedSettings: settings.state.locked,
        exportedAt: new Date(this.#now()).toISOString(),
      },
    });
    logger.info(`logs exported to ${result.path} (${result.files} files, ${result.bytes} bytes)`);
    return result;
  }

  async clearLogs(): Promise<void> {
    this.#pendingLogs = [];
    await this.#o.logger.clear();
    this.#o.notify.logs.cleared(null);
    this.#o.logger.info('logs cleared');
  }

  /** Asks where to save, then records the tunnel's packets (pcap); null: the user cancelled. */
  startCapture(seconds: number): Promise<{ path: string } | null> {
    return this.#capture.start(seconds);
  }

  stopCapture(): void {
    this.#capture.stop();
  }

  async openLogFolder(): Promise<void> {
    await this.#o.platform.openFolder(this.#o.info.logDirectory);
  }

  writeRendererLog(level: 'error' | 'warn' | 'info', message: string): void {
    this.#o.logger.log(level, 'renderer', message);
  }

  async checkForUpdates(): Promise<void> {
    await this.#o.updater.check();
  }

  async downloadUpdate(): Promise<void> {
    if (this.#o.updater.state.kind !== 'available')
      throw new AppError('no-update', 'There is no update to download.');
    await this.#o.updater.download();
  }

  installUpdate(): void {
    if (this.#o.updater.state.kind !== 'ready')
      throw new AppError('no-update', 'No update has been downloaded yet.');
    this.#o.logger.info('installing the downloaded update');
    this.#o.updater.installNow();
  }

  /** A click in the tray menu. */
  async runTrayAction(action: TrayAction): Promise<void> {
    const { platform, logger } = this.#o;
    try {
      switch (action.type) {
        case 'open-window':
        case 'sign-in':
          platform.showWindow();
          return;
        case 'cancel-sign-in':
          return this.cancelSignIn();
        case 'sign-out':
          return await this.signOut();
        case 'connect':
          return await this.connect();
        case 'disconnect':
          return this.disconnect();
        case 'copy-address':
          return this.copyAddress(action.resourceId);
        case 'set-favorite':
          return await this.setFavorite(action.resourceId, action.favorite);
        case 'set-internet':
          return await this.setInternetResourceEnabled(action.enabled);
        case 'install-update':
          return this.installUpdate();
        case 'quit':
          return platform.quit();
      }
    } catch (e) {
      logger.warn(`tray ${action.type}: ${(e as Error).message}`);
    }
  }

  // -------------------------------------------------------------------------------------------

  async #openSignInPage(request: SignInRequest): Promise<void> {
    try {
      await this.#o.platform.openExternal(request.url);
    } catch (e) {
      this.#o.logger.error(`could not open the browser: ${(e as Error).message}`);
      this.#signIn = null;
      const error = {
        code: 'browser-failed',
        message: `The browser could not be opened (${(e as Error).message}). Check that a default browser is set.`,
      };
      this.#setAuth({ kind: 'signed-out', reason: { code: 'sign-in-failed', error } });
      throw new AppError(error.code, error.message);
    }
  }

  #signInNotice(notice: { code: string; message: string }): void {
    if (this.#auth.kind === 'signing-in') this.#setAuth({ ...this.#auth, notice });
  }

  #adoptSession(session: StoredSession, tokenPersistence: 'keychain' | 'session'): void {
    this.#session = session;
    this.#o.logger.addSecret(session.token.reveal());
    this.#setAuth({
      kind: 'signed-in',
      account: {
        accountName: session.accountName,
        accountSlug: session.accountSlug,
        actorName: session.actorName,
      },
      tokenPersistence,
    });
  }

  async #onPortalSignOut(reason: string, message: string): Promise<void> {
    const { logger } = this.#o;
    logger.warn(`the portal ended the session (${reason})`);
    this.#wantConnected = false;
    this.#clearWatchdog();
    this.#session = null;
    await this.#o.tokens.clear().catch((e: Error) => logger.warn(`token store clear failed: ${e.message}`));
    await this.#stopEngine();
    this.#setTunnel({ state: 'disconnected' });
    this.#setResources([]);
    this.#setAuth({ kind: 'signed-out', reason: { code: 'portal', message } });
    this.#show(this.#notifications.signedOutByPortal({ reason, message }));
  }

  async #stopEngine(): Promise<void> {
    if (!this.#engineStarted) return;
    this.#engineStarted = false;
    try {
      await this.#o.engine.stop();
    } catch (e) {
      this.#o.logger.warn(`engine stop failed: ${(e as Error).message}`);
    }
  }

  #onEngineStatus(status: EngineStatus): void {
    const { logger } = this.#o;
    logger.debug(`engine status: ${status.state}`);
    if (this.#auth.kind !== 'signed-in') return;
    switch (status.state) {
      case 'stopped':
        this.#engineStarted = false;
        if (this.#tunnel.state !== 'error') this.#setTunnel({ state: 'disconnected' });
        return;
      case 'idle':
        // Right after start() the engine is idle until connect() takes effect.
        if (this.#wantConnected && this.#tunnel.state === 'connecting') return;
        this.#clearWatchdog();
        if (this.#tunnel.state !== 'error') this.#setTunnel({ state: 'disconnected' });
        return;
      case 'connecting':
        this.#clearWatchdog();
        this.#setTunnel({
          state: 'connecting',
          phase: status.phase,
          attempt: status.attempt,
          reason: status.reason,
          retryAt: status.retryInMs === null ? null : this.#now() + status.retryInMs,
        });
        return;
      case 'connected':
        this.#clearWatchdog();
        if (this.#tunnel.state !== 'connected')
          logger.info(`connected (${status.ipv4 ?? '-'}, ${status.ipv6 ?? '-'})`);
        this.#setTunnel({
          state: 'connected',
          since: this.#tunnel.state === 'connected' ? this.#tunnel.since : this.#now(),
          ipv4: status.ipv4,
          ipv6: status.ipv6,
        });
        return;
      case 'disconnecting':
        this.#setTunnel({ state: 'disconnecting' });
        return;
      case 'failed':
        this.#wantConnected = false;
        this.#clearWatchdog();
        logger.error(`connection failed: ${status.error.code}: ${status.error.message}`);
        this.#setTunnel({
          state: 'error',
          error: { code: status.error.code, message: status.error.message },
        });
        this.#show(this.#notifications.tunnelFailed(status.error.message));
        return;
    }
  }

  #armWatchdog(what: 'connect' | 'disconnect'): void {
    this.#clearWatchdog();
    const ms = this.#o.engineResponseTimeoutMs ?? 20_000;
    this.#watchdog = setTimeout(() => {
      this.#watchdog = null;
      this.#wantConnected = false;
      const message = `The tunnel service did not respond to “${what}” within ${Math.round(ms / 1000)} s. Try again; if it keeps happening, export the logs and report it.`;
      this.#o.logger.error(`engine did not respond to ${what} within ${ms} ms`);
      this.#setTunnel({ state: 'error', error: { code: 'engine-not-responding', message } });
    }, ms);
  }

  #clearWatchdog(): void {
    if (this.#watchdog) clearTimeout(this.#watchdog);
    this.#watchdog = null;
  }

  async #updateSettings(patch: unknown): Promise<SettingsState> {
    const r = await this.#o.settings.update(patch);
    if (!r.ok) throw AppError.from(r.error);
    return r.state;
  }

  #onSettingsChanged(state: SettingsState, changed: readonly SettingKey[]): void {
    const { logger, engine, platform, updater } = this.#o;
    this.#o.notify.settings.state(state);
    this.#emitChange('settings');
    const v = state.values;
    const has = (k: SettingKey) => changed.includes(k);
    if (changed.length) logger.info(`settings changed: ${changed.join(', ')}`);
    if (has('logLevel')) logger.setLevel(v.logLevel);
    if ((has('logLevel') || has('internetResourceEnabled')) && this.#engineStarted) {
      engine.applySettings({ logLevel: v.logLevel, internetResourceEnabled: v.internetResourceEnabled });
    }
    if (has('startOnLogin')) {
      platform
        .setStartOnLogin(v.startOnLogin)
        .catch((e: Error) => logger.warn(`start on login: ${e.message}`));
    }
    if (has('theme')) platform.setThemeSource(v.theme);
    if (has('updateFeedUrl') || has('autoUpdate')) updater.configure(this.#updaterConfig(v));
    if ((has('portalUrl') || has('authUrl')) && this.#auth.kind === 'signed-in') {
      logger.info('portal or sign-in URL changed; it applies the next time you sign in');
    }
  }

  #updaterConfig(v: Settings) {
    return { feedUrl: v.updateFeedUrl.trim() || null, autoDownload: v.autoUpdate };
  }

  #onUpdate(state: UpdateState): void {
    this.#o.notify.update.state(state);
    this.#emitChange('update');
    if (state.kind === 'error') this.#o.logger.warn(`update: ${state.error.message}`);
    this.#show(this.#notifications.update(state));
  }

  #queueLog(entry: LogEntry): void {
    this.#pendingLogs.push(entry);
    if (this.#logTimer) return;
    this.#logTimer = setTimeout(() => this.#flushLogs(), this.#o.logPushIntervalMs ?? 200);
  }

  #flushLogs(): void {
    if (this.#logTimer) clearTimeout(this.#logTimer);
    this.#logTimer = null;
    if (!this.#pendingLogs.length) return;
    const batch = this.#pendingLogs;
    this.#pendingLogs = [];
    this.#o.notify.logs.appended(batch);
  }

  #show(n: AppNotification | null): void {
    if (n) this.#o.platform.showNotification(n);
  }

  #setAuth(auth: AuthState): void {
    this.#auth = auth;
    this.#o.notify.auth.state(auth);
    this.#emitChange('auth');
  }

  #setTunnel(tunnel: TunnelState): void {
    this.#tunnel = tunnel;
    this.#o.notify.tunnel.state(tunnel);
    this.#emitChange('tunnel');
  }

  #setResources(list: readonly Resource[]): void {
    this.#resources = list;
    this.#o.notify.resources.list(list);
    this.#emitChange('resources');
  }

  #emitChange(slice: Slice): void {
    for (const l of this.#changeListeners) l(slice);
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid URL)';
  }
}
