// The renderer's replica of main's state (zustand). Hydrated once from `app.getSnapshot`, then
// kept current by main's pushes; the renderer never computes the truth itself. Actions call main
// through the contract and report failures as toasts (or return them to forms).

import { createStore, type StoreApi } from 'zustand/vanilla';
import type {
  AppInfo,
  AppSnapshot,
  AuthState,
  CaptureState,
  LogEntry,
  LogExportResult,
  Resource,
  Settings,
  SettingsState,
  TunnelState,
  UpdateState,
  UserError,
} from '../src-shared/domain.js';
import type { IpcResult, RendererApi } from '../src-shared/ipc.js';
import { isSatisfied, type PendingAction } from './model/tunnel.js';

export type View = 'home' | 'settings' | 'logs' | 'about';

export interface Toast {
  readonly id: number;
  readonly tone: 'info' | 'success' | 'error';
  readonly message: string;
}

const MAX_LOGS = 2000;

export interface AppState {
  readonly phase: 'loading' | 'ready' | 'failed';
  readonly loadError: string | null;
  readonly info: AppInfo | null;
  readonly auth: AuthState;
  readonly tunnel: TunnelState;
  readonly resources: readonly Resource[];
  readonly settings: SettingsState | null;
  readonly update: UpdateState;
  readonly logs: readonly LogEntry[];
  /** The packet capture of the Logs view (main's, pushed). */
  readonly capture: CaptureState;
  readonly pending: PendingAction | null;
  readonly toasts: readonly Toast[];
  readonly view: View;
  readonly search: string;
  readonly selectedResourceId: string | null;
}

export interface AppActions {
  start(): Promise<void>;
  setView(view: View): void;
  setSearch(search: string): void;
  selectResource(id: string | null): void;
  toast(tone: Toast['tone'], message: string): void;
  dismissToast(id: number): void;

  signIn(accountSlug: string): Promise<UserError | null>;
  reopenBrowser(): Promise<void>;
  cancelSignIn(): Promise<void>;
  signOut(): Promise<void>;
  connect(): Promise<void>;
  disconnect(): Promise<void>;

  copyAddress(resource: Resource): Promise<void>;
  setFavorite(resource: Resource, favorite: boolean): Promise<void>;
  setInternetResourceEnabled(enabled: boolean): Promise<void>;
  saveSettings(patch: Partial<Settings>): Promise<UserError | null>;
  resetSettings(): Promise<void>;

  exportLogs(): Promise<LogExportResult | null>;
  clearLogs(): Promise<void>;
  openLogFolder(): Promise<void>;
  /** Asks main to capture packets (it asks where to save); the error when it could not start. */
  startCapture(seconds: number): Promise<UserError | null>;
  stopCapture(): Promise<void>;

  checkForUpdates(): Promise<void>;
  downloadUpdate(): Promise<void>;
  installUpdate(): Promise<void>;
}

export type AppStore = StoreApi<AppState & AppActions>;

type Slice = 'auth' | 'tunnel' | 'resources' | 'settings' | 'update' | 'capture';

function mergeLogs(a: readonly LogEntry[], b: readonly LogEntry[]): LogEntry[] {
  const bySeq = new Map<number, LogEntry>();
  for (const e of a) bySeq.set(e.seq, e);
  for (const e of b) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((x, y) => x.seq - y.seq).slice(-MAX_LOGS);
}

export function createAppStore(api: RendererApi, now: () => number = Date.now): AppStore {
  let toastSeq = 0;
  let actionSeq = 0;
  let pendingTimer: ReturnType<typeof setTimeout> | null = null;
  const toastTimers = new Map<number, ReturnType<typeof setTimeout>>();

  return createStore<AppState & AppActions>()((set, get) => {
    /** Slices pushed before the snapshot arrived are newer than the snapshot's. */
    const touched = new Set<Slice>();

    const clearPending = () => {
      if (pendingTimer) clearTimeout(pendingTimer);
      pendingTimer = null;
      set({ pending: null });
    };

    const fail = (error: UserError) => get().toast('error', error.message);

    /** Runs a call; on failure shows a toast and returns null. */
    async function run<T>(p: Promise<IpcResult<T>>): Promise<T | null> {
      const r = await p;
      if (r.ok) return r.value;
      fail(r.error);
      return null;
    }

    async function optimistic(kind: PendingAction['kind']): Promise<void> {
      const id = ++actionSeq;
      if (pendingTimer) clearTimeout(pendingTimer);
      set({ pending: { kind, id, since: now() } });
      const timeout = get().info?.optimisticTimeoutMs ?? 5000;
      pendingTimer = setTimeout(() => {
        if (get().pending?.id !== id) return;
        clearPending();
        get().toast(
          'error',
          `FZ Desktop did not confirm “${kind}” in time. The status shown is the last one it reported.`,
        );
      }, timeout);
      const r = await (kind === 'connect' ? api.tunnel.connect() : api.tunnel.disconnect());
      if (get().pending?.id !== id) return;
      if (!r.ok) {
        clearPending();
        fail(r.error);
      } else if (isSatisfied(kind, get().tunnel)) {
        clearPending();
      }
    }

    return {
      phase: 'loading',
      loadError: null,
      info: null,
      auth: { kind: 'signed-out', reason: { code: 'user' } },
      tunnel: { state: 'disconnected' },
      resources: [],
      settings: null,
      update: { kind: 'idle', lastCheckedAt: null },
      logs: [],
      capture: { state: 'idle' },
      pending: null,
      toasts: [],
      view: 'home',
      search: '',
      selectedResourceId: null,

      async start() {
        // Listen first, then ask for the snapshot: nothing pushed in between is lost.
        api.auth.onState((auth) => {
          touched.add('auth');
          const changedKind = auth.kind !== get().auth.kind;
          set({ auth });
          if (auth.kind !== 'signed-in') set({ selectedResourceId: null });
          // Signing in or out leads to the page for the new state (sign-in or resources).
          if (changedKind) set({ view: 'home' });
        });
        api.tunnel.onState((tunnel) => {
          touched.add('tunnel');
          set({ tunnel });
          if (get().pending) clearPending();
        });
        api.resources.onList((resources) => {
          touched.add('resources');
          set({ resources });
        });
        api.settings.onState((settings) => {
          touched.add('settings');
          set({ settings });
        });
        api.update.onState((update) => {
          touched.add('update');
          set({ update });
        });
        api.logs.onAppended((entries) => set({ logs: mergeLogs(get().logs, entries) }));
        api.logs.onCleared(() => set({ logs: [] }));
        api.logs.onCapture((capture) => {
          touched.add('capture');
          set({ capture });
        });

        const r = await api.app.getSnapshot();
        if (!r.ok) {
          set({ phase: 'failed', loadError: r.error.message });
          return;
        }
        const s: AppSnapshot = r.value;
        set({
          phase: 'ready',
          info: s.info,
          ...(touched.has('auth') ? {} : { auth: s.auth }),
          ...(touched.has('tunnel') ? {} : { tunnel: s.tunnel }),
          ...(touched.has('resources') ? {} : { resources: s.resources }),
          ...(touched.has('settings') ? {} : { settings: s.settings }),
          ...(touched.has('update') ? {} : { update: s.update }),
          ...(touched.has('capture') ? {} : { capture: s.capture }),
          logs: mergeLogs(s.logs, get().logs),
        });
      },

      setView(view) {
        set({ view, selectedResourceId: view === 'home' ? get().selectedResourceId : null });
      },
      setSearch(search) {
        set({ search });
      },
      selectResource(id) {
        set({ selectedResourceId: id });
      },
      toast(tone, message) {
        const id = ++toastSeq;
        set({ toasts: [...get().toasts.slice(-3), { id, tone, message }] });
        toastTimers.set(
          id,
          setTimeout(() => get().dismissToast(id), tone === 'error' ? 8000 : 3500),
        );
      },
      dismissToast(id) {
        clearTimeout(toastTimers.get(id));
        toastTimers.delete(id);
        set({ toasts: get().toasts.filter((t) => t.id !== id) });
      },

      async signIn(accountSlug) {
        const r = await api.auth.signIn({ accountSlug });
        return r.ok ? null : r.error;
      },
      async reopenBrowser() {
        await run(api.auth.reopenBrowser());
      },
      async cancelSignIn() {
        await run(api.auth.cancelSignIn());
      },
      async signOut() {
        await run(api.auth.signOut());
      },
      connect: () => optimistic('connect'),
      disconnect: () => optimistic('disconnect'),

      async copyAddress(resource) {
        const r = await api.resources.copyAddress({ resourceId: resource.id });
        if (r.ok) get().toast('success', `Copied the address of ${resource.name}.`);
        else fail(r.error);
      },
      async setFavorite(resource, favorite) {
        await run(api.resources.setFavorite({ resourceId: resource.id, favorite }));
      },
      async setInternetResourceEnabled(enabled) {
        await run(api.resources.setInternetResourceEnabled({ enabled }));
      },
      async saveSettings(patch) {
        const r = await api.settings.update(patch);
        if (!r.ok) return r.error;
        set({ settings: r.value });
        return null;
      },
      async resetSettings() {
        const s = await run(api.settings.reset());
        if (s) {
          set({ settings: s });
          get().toast('success', 'Settings reset to their defaults.');
        }
      },

      async exportLogs() {
        return run(api.logs.export());
      },
      async clearLogs() {
        await run(api.logs.clear());
      },
      async openLogFolder() {
        await run(api.logs.openFolder());
      },
      async startCapture(seconds) {
        // The state (running, then finished or failed) arrives as pushes; only a refusal is returned.
        const r = await api.logs.startCapture({ seconds });
        return r.ok ? null : r.error;
      },
      async stopCapture() {
        await run(api.logs.stopCapture());
      },

      async checkForUpdates() {
        await run(api.update.check());
      },
      async downloadUpdate() {
        await run(api.update.download());
      },
      async installUpdate() {
        await run(api.update.installNow());
      },
    };
  });
}
