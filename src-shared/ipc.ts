// The one main⇄renderer contract. Shape after Mullvad's `shared/ipc-schema.ts`: an object literal
// built from three tiny factories that carry only types. Everything else is derived from it —
// channel names, the renderer API the preload exposes (and the Playwright mock), the handler map
// main must implement in full, the push notifier, and the validator map main must provide —
// so nothing is kept in sync by hand.
//
//   invoke<A, R>  renderer → main call with an argument and a reply (`ipcRenderer.invoke`)
//   send<A>       renderer → main, fire and forget (`ipcRenderer.send`)
//   notify<P>     main → renderer push (`webContents.send`)
//
// Replies travel as `IpcResult` values rather than thrown errors: errors lose their fields when
// they cross Electron's IPC and the context bridge, a plain object does not.

import type {
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
} from './domain.js';

export interface InvokeSpec<A, R> {
  readonly kind: 'invoke';
  /** Phantom: carries the types, never set. */
  readonly types?: { readonly arg: A; readonly result: R };
}
export interface SendSpec<A> {
  readonly kind: 'send';
  readonly types?: { readonly arg: A };
}
export interface NotifySpec<P> {
  readonly kind: 'notify';
  readonly types?: { readonly payload: P };
}

const invoke = <A = void, R = void>(): InvokeSpec<A, R> => ({ kind: 'invoke' });
/** An invoke without an argument that returns a value. */
const query = <R>(): InvokeSpec<void, R> => ({ kind: 'invoke' });
const send = <A = void>(): SendSpec<A> => ({ kind: 'send' });
const notify = <P>(): NotifySpec<P> => ({ kind: 'notify' });

/** What the renderer may pass to main's log (its own errors); main caps and labels it. */
export interface RendererLogMessage {
  readonly level: 'error' | 'warn' | 'info';
  readonly message: string;
}

export const ipcSchema = {
  app: {
    /** The whole replica, once at start; pushes keep it current afterwards. */
    getSnapshot: query<AppSnapshot>(),
    /** Hide the window (it lives on in the tray). */
    hideWindow: send(),
    quit: send(),
  },
  auth: {
    /** Opens the portal's sign-in page in the system browser (docs/protocol.md §3.11). */
    signIn: invoke<{ accountSlug: string }>(),
    /** Opens the same sign-in page again (the user closed the tab). */
    reopenBrowser: invoke(),
    cancelSignIn: invoke(),
    signOut: invoke(),
    state: notify<AuthState>(),
  },
  tunnel: {
    connect: invoke(),
    disconnect: invoke(),
    state: notify<TunnelState>(),
  },
  resources: {
    copyAddress: invoke<{ resourceId: string }>(),
    setFavorite: invoke<{ resourceId: string; favorite: boolean }>(),
    setInternetResourceEnabled: invoke<{ enabled: boolean }>(),
    /** The full list (with per-resource status and diagnostics), at most about once a second. */
    list: notify<readonly Resource[]>(),
  },
  settings: {
    /** Applies a partial change; locked (managed) keys are refused. */
    update: invoke<Partial<Settings>, SettingsState>(),
    /** Back to the defaults for every key that is not locked; favourites are kept. */
    reset: query<SettingsState>(),
    state: notify<SettingsState>(),
  },
  logs: {
    /** Asks where to save, then writes a zip of the log files. null: the user cancelled. */
    export: query<LogExportResult | null>(),
    clear: invoke(),
    openFolder: invoke(),
    write: send<RendererLogMessage>(),
    appended: notify<readonly LogEntry[]>(),
    cleared: notify<null>(),
    /**
     * Asks where to save, then records the tunnel's packets to a pcap file for `seconds` (1–3600)
     * or until stopped. Resolves once recording has started; null: the user cancelled. Progress
     * and the result arrive as `capture` pushes.
     */
    startCapture: invoke<{ seconds: number }, { path: string } | null>(),
    /** Ends the running capture early (the file keeps what was recorded). */
    stopCapture: invoke(),
    capture: notify<CaptureState>(),
  },
  update: {
    check: invoke(),
    /** Downloads an available update (when automatic download is off). */
    download: invoke(),
    /** Quits and installs a downloaded update. */
    installNow: invoke(),
    state: notify<UpdateState>(),
  },
} as const;

export type IpcSchema = typeof ipcSchema;
type AnySpec = InvokeSpec<unknown, unknown> | SendSpec<unknown> | NotifySpec<unknown>;
type SchemaShape = Record<string, Record<string, AnySpec>>;

export type IpcResult<R> =
  { readonly ok: true; readonly value: R } | { readonly ok: false; readonly error: UserError };

// `void` marks "no argument" in the schema; this is where it is tested for.
// eslint-disable-next-line @typescript-eslint/no-invalid-void-type
type ArgList<A> = [A] extends [void] ? [] : [arg: A];
type ListenerName<K> = `on${Capitalize<K & string>}`;

/** What `window.fz` is: the preload builds it from the schema, the Playwright mock too. */
export type RendererApi<S extends SchemaShape = IpcSchema> = {
  readonly [G in keyof S]: {
    readonly [
      K in keyof S[G] as S[G][K] extends NotifySpec<unknown> ? ListenerName<K> : K
    ]: S[G][K] extends InvokeSpec<infer A, infer R>
      ? (...args: ArgList<A>) => Promise<IpcResult<R>>
      : S[G][K] extends SendSpec<infer A>
        ? (...args: ArgList<A>) => void
        : S[G][K] extends NotifySpec<infer P>
          ? (listener: (payload: P) => void) => () => void
          : never;
  };
};

export interface SenderInfo {
  /** URL of the frame that sent the message. */
  readonly url: string;
}

/** The handler map main must provide: one per invoke and send, or it does not compile. */
export type MainHandlers<S extends SchemaShape = IpcSchema> = {
  readonly [G in keyof S]: {
    readonly [K in keyof S[G] as S[G][K] extends NotifySpec<unknown> ? never : K]: S[G][K] extends InvokeSpec<
      infer A,
      infer R
    >
      ? (arg: A, sender: SenderInfo) => R | Promise<R>
      : S[G][K] extends SendSpec<infer A>
        ? (arg: A, sender: SenderInfo) => void
        : never;
  };
};

export type Validation<A> =
  | { readonly ok: true; readonly value: A }
  /** `field`: the settings key (form field) the problem is about; the message is then for people. */
  | { readonly ok: false; readonly message: string; readonly field?: string };

/** Main validates every message from the renderer: one validator per invoke and send. */
export type ArgValidators<S extends SchemaShape = IpcSchema> = {
  readonly [G in keyof S]: {
    readonly [K in keyof S[G] as S[G][K] extends NotifySpec<unknown> ? never : K]: S[G][K] extends InvokeSpec<
      infer A,
      unknown
    >
      ? (raw: unknown) => Validation<A>
      : S[G][K] extends SendSpec<infer A>
        ? (raw: unknown) => Validation<A>
        : never;
  };
};

/** Main's push functions: `notify.tunnel.state(next)`. */
export type MainNotifier<S extends SchemaShape = IpcSchema> = {
  readonly [G in keyof S]: {
    readonly [K in keyof S[G] as S[G][K] extends NotifySpec<unknown> ? K : never]: S[G][K] extends NotifySpec<
      infer P
    >
      ? (payload: P) => void
      : never;
  };
};

export function channelName(group: string, key: string): string {
  return `${group}:${key}`;
}

export interface ChannelInfo {
  readonly group: string;
  readonly key: string;
  readonly channel: string;
  readonly kind: AnySpec['kind'];
}

export function listChannels(schema: SchemaShape = ipcSchema): ChannelInfo[] {
  const out: ChannelInfo[] = [];
  for (const [group, specs] of Object.entries(schema)) {
    for (const [key, spec] of Object.entries(specs)) {
      out.push({ group, key, channel: channelName(group, key), kind: spec.kind });
    }
  }
  return out;
}

/** How the renderer side reaches main: Electron's ipcRenderer, or the test mock's binding. */
export interface RendererTransport {
  invoke(channel: string, arg: unknown): Promise<unknown>;
  send(channel: string, arg: unknown): void;
  subscribe(channel: string, listener: (payload: unknown) => void): () => void;
}

function listenerName(key: string): string {
  return `on${key.charAt(0).toUpperCase()}${key.slice(1)}`;
}

/**
 * Builds the renderer API from the schema. Used by the preload (transport: ipcRenderer) and by
 * the Playwright mock (transport: a page binding), so both expose exactly the contract.
 */
export function createRendererApi(
  transport: RendererTransport,
  schema: SchemaShape = ipcSchema,
): RendererApi {
  const api: Record<string, Record<string, unknown>> = {};
  for (const { group, key, channel, kind } of listChannels(schema)) {
    const target = (api[group] ??= {});
    switch (kind) {
      case 'invoke':
        target[key] = (arg?: unknown) =>
          transport.invoke(channel, arg ?? null).then(
            (reply) => reply,
            (err: unknown): IpcResult<never> => ({
              ok: false,
              error: { code: 'ipc-failed', message: err instanceof Error ? err.message : String(err) },
            }),
          );
        break;
      case 'send':
        target[key] = (arg?: unknown) => transport.send(channel, arg ?? null);
        break;
      case 'notify':
        target[listenerName(key)] = (listener: (payload: unknown) => void) =>
          transport.subscribe(channel, listener);
        break;
    }
  }
  for (const group of Object.values(api)) Object.freeze(group);
  return Object.freeze(api) as unknown as RendererApi;
}

/** Builds main's push functions from the schema over any "send to every window" function. */
export function createMainNotifier(
  push: (channel: string, payload: unknown) => void,
  schema: SchemaShape = ipcSchema,
) {
  const notifier: Record<string, Record<string, (payload: unknown) => void>> = {};
  for (const { group, key, channel, kind } of listChannels(schema)) {
    if (kind !== 'notify') continue;
    (notifier[group] ??= {})[key] = (payload: unknown) => push(channel, payload);
  }
  return notifier as unknown as MainNotifier;
}

/** The sign-in deep-link scheme of builds that do not choose another (`FZ_DEEP_LINK_SCHEME`). */
export const DEFAULT_DEEP_LINK_SCHEME = 'fz-dev-fzdesktop-client';
// Replaced by the build (esbuild `define`, src-main/tools/deep-link-scheme.ts) with the scheme
// the packages register, e.g. Firezone's `firezone-fd0020211111`; unset in tests and dev runs.
declare const __FZ_DEEP_LINK_SCHEME__: string | undefined;
/** The deep-link scheme registered for the sign-in callback (electron-builder `protocols`). */
export const DEEP_LINK_SCHEME: string =
  typeof __FZ_DEEP_LINK_SCHEME__ === 'string' ? __FZ_DEEP_LINK_SCHEME__ : DEFAULT_DEEP_LINK_SCHEME;
/** The host part of the sign-in callback URL (docs/protocol.md §3.11). */
export const SIGN_IN_CALLBACK_HOST = 'handle_client_sign_in_callback';
