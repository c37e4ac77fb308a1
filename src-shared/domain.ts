// The domain model as the UI sees it. Main owns every value of these types; the renderer holds a
// replica. Only plain data (structured-clone safe): no classes, no functions, no Dates.
//
// Times are epoch milliseconds. Byte counters are JS numbers (2^53 bytes is far beyond any
// session's traffic).

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const THEMES = ['system', 'light', 'dark'] as const;
export type Theme = (typeof THEMES)[number];

/** A problem shown to the user: a stable code for tests and logic, a sentence for people. */
export interface UserError {
  readonly code: string;
  readonly message: string;
  /** The form field the problem is about (a setting key), when there is one. */
  readonly field?: string;
}

// ---------------------------------------------------------------------------------------------
// Sign-in (docs/protocol.md §3.11)

export interface AccountInfo {
  readonly accountName: string;
  readonly accountSlug: string;
  readonly actorName: string;
}

export type SignedOutReason =
  /** The user pressed "Sign out" (or never signed in). */
  | { readonly code: 'user' }
  /** The portal ended the session (`disconnect {reason}` or a 401 `invalid_token`). */
  | { readonly code: 'portal'; readonly message: string }
  /** The browser flow failed (bad callback, storage error, timeout, cancelled). */
  | { readonly code: 'sign-in-failed'; readonly error: UserError };

export type AuthState =
  | { readonly kind: 'signed-out'; readonly reason: SignedOutReason }
  | {
      readonly kind: 'signing-in';
      readonly accountSlug: string;
      /** Host of the sign-in page, for "Continue in your browser at app.example.com". */
      readonly authHost: string;
      readonly startedAt: number;
      readonly expiresAt: number;
      /** Set when a callback was rejected while we keep waiting for the right one. */
      readonly notice: UserError | null;
    }
  | {
      readonly kind: 'signed-in';
      readonly account: AccountInfo;
      /** `keychain`: the token survives restarts; `session`: no OS keychain, memory only. */
      readonly tokenPersistence: 'keychain' | 'session';
    };

// ---------------------------------------------------------------------------------------------
// Tunnel (Mullvad-style union: every view handles every case)

export type TunnelState =
  | { readonly state: 'disconnected' }
  | {
      readonly state: 'connecting';
      /** starting: the engine worker boots; portal: joining the portal; tunnel: TUN and routes. */
      readonly phase: 'starting' | 'portal' | 'tunnel';
      /** 1 for the first attempt; >1 while reconnecting after a loss. */
      readonly attempt: number;
      /** Why we are reconnecting (null on the first attempt). */
      readonly reason: string | null;
      /** When the next attempt starts, if the engine is waiting (backoff). */
      readonly retryAt: number | null;
    }
  | {
      readonly state: 'connected';
      readonly since: number;
      readonly ipv4: string | null;
      readonly ipv6: string | null;
    }
  | { readonly state: 'disconnecting' }
  | { readonly state: 'error'; readonly error: UserError };

// ---------------------------------------------------------------------------------------------
// Resources (docs/protocol.md §3.6)

export type SiteStatus = 'unknown' | 'online' | 'offline';

export interface Site {
  readonly id: string;
  readonly name: string;
  readonly status: SiteStatus;
}

/** Why the portal refused or failed a flow (docs/protocol.md §3.4 `FailReason`). */
export type FlowFailReason =
  | 'not_found'
  | 'offline'
  | 'version_mismatch'
  | 'forbidden'
  | 'disabled'
  | 'ambiguous_address'
  | 'missing_address'
  | 'invalid_address'
  | 'handshake_timeout'
  | 'unknown';

export interface ConnectionDiagnostics {
  /** direct: an ICE host/srflx pair won; relayed: packets go through a TURN relay. */
  readonly path: 'direct' | 'relayed';
  readonly gatewayId: string;
  readonly gatewayName: string | null;
  /** The gateway's address as seen on the chosen path ("ip:port"). */
  readonly remoteAddress: string;
  /** The TURN relay's address when `path` is `relayed`. */
  readonly relayAddress: string | null;
  /** Smoothed round-trip time through the tunnel; null until measured. */
  readonly rttMs: number | null;
  readonly txBytes: number;
  readonly rxBytes: number;
  /** Last completed WireGuard handshake; null before the first. */
  readonly lastHandshakeAt: number | null;
  readonly establishedAt: number;
}

export type ResourceConnection =
  | { readonly state: 'idle' }
  | { readonly state: 'connecting'; readonly since: number }
  | { readonly state: 'connected'; readonly diagnostics: ConnectionDiagnostics }
  | {
      readonly state: 'failed';
      readonly reason: FlowFailReason;
      readonly message: string;
      readonly at: number;
    };

interface ResourceBase {
  readonly id: string;
  readonly sites: readonly Site[];
  readonly connection: ResourceConnection;
}

export interface DnsResource extends ResourceBase {
  readonly type: 'dns';
  readonly name: string;
  /** A pattern: exact name, `*.` (any depth) or `?.` (one label). */
  readonly address: string;
  readonly addressDescription: string | null;
}

export interface CidrResource extends ResourceBase {
  readonly type: 'cidr';
  readonly name: string;
  readonly address: string;
  readonly addressDescription: string | null;
}

export interface InternetResource extends ResourceBase {
  readonly type: 'internet';
  readonly name: string;
  readonly canBeDisabled: boolean;
}

export type Resource = DnsResource | CidrResource | InternetResource;

// ---------------------------------------------------------------------------------------------
// Settings

export interface Settings {
  // General
  readonly startOnLogin: boolean;
  readonly connectOnStart: boolean;
  readonly theme: Theme;
  /** The account (portal "slug") the sign-in page opens for. */
  readonly accountSlug: string;
  readonly internetResourceEnabled: boolean;
  readonly favoriteResourceIds: readonly string[];
  // Advanced
  /** The portal's WebSocket base URL (`wss://…`; `ws://` only to loopback). */
  readonly portalUrl: string;
  /** The portal's sign-in base URL (`https://…`; `http://` only to loopback). */
  readonly authUrl: string;
  readonly logLevel: LogLevel;
  /** Generic electron-updater feed; empty: the build's default feed. */
  readonly updateFeedUrl: string;
  readonly autoUpdate: boolean;
}

export type SettingKey = keyof Settings;

export interface SettingsProblem {
  readonly source: 'user' | 'managed';
  readonly code: string;
  readonly message: string;
}

export interface SettingsState {
  readonly values: Settings;
  readonly defaults: Settings;
  /** Keys an administrator set in the managed configuration: shown, not editable. */
  readonly locked: readonly SettingKey[];
  /** Problems found when loading (corrupt file, invalid managed key…), shown in Settings. */
  readonly problems: readonly SettingsProblem[];
  readonly files: { readonly user: string; readonly managed: string };
}

// ---------------------------------------------------------------------------------------------
// Updates

export type UpdateState =
  | { readonly kind: 'disabled'; readonly reason: string }
  | { readonly kind: 'idle'; readonly lastCheckedAt: number | null }
  | { readonly kind: 'checking' }
  | { readonly kind: 'up-to-date'; readonly checkedAt: number }
  /** Found, not downloaded (automatic download is off). */
  | { readonly kind: 'available'; readonly version: string }
  | { readonly kind: 'downloading'; readonly version: string; readonly percent: number }
  | { readonly kind: 'ready'; readonly version: string }
  | { readonly kind: 'error'; readonly error: UserError; readonly at: number };

// ---------------------------------------------------------------------------------------------
// Logs

export type LogSource = 'main' | 'engine' | 'renderer';

export interface LogEntry {
  /** Monotonic per app run, so the renderer can merge batches without duplicates. */
  readonly seq: number;
  readonly time: number;
  readonly level: LogLevel;
  readonly source: LogSource;
  readonly message: string;
}

export interface LogExportResult {
  readonly path: string;
  readonly bytes: number;
  readonly files: number;
}

// ---------------------------------------------------------------------------------------------
// Packet capture (Logs view): the tunnel's inner packets to a pcap file, for troubleshooting

/** time: the duration ran out; size: the file reached its limit; stopped: the user, or the tunnel went down. */
export type CaptureEndReason = 'time' | 'size' | 'stopped';

export interface CaptureResult {
  readonly path: string;
  /** Packets written. */
  readonly packets: number;
  /** The file's size. */
  readonly bytes: number;
  /** Packets seen but not written (the disk fell behind, or the size limit was reached). */
  readonly dropped: number;
  readonly reason: CaptureEndReason;
  readonly startedAt: number;
  readonly endedAt: number;
}

export type CaptureState =
  | { readonly state: 'idle' }
  | {
      readonly state: 'running';
      readonly path: string;
      readonly seconds: number;
      readonly startedAt: number;
      /** Progress, pushed about twice a second. */
      readonly packets: number;
      readonly bytes: number;
    }
  | { readonly state: 'finished'; readonly result: CaptureResult }
  /** `path`: the file, when it was created (it keeps what was written before the failure). */
  | { readonly state: 'failed'; readonly error: UserError; readonly path: string | null };

// ---------------------------------------------------------------------------------------------
// The whole replica

export interface AppInfo {
  readonly version: string;
  readonly electron: string | null;
  readonly chrome: string | null;
  readonly node: string;
  readonly platform: string;
  readonly arch: string;
  readonly logDirectory: string;
  /** Which engine host runs the tunnel: the worker, or the simulation used for demos and tests. */
  readonly engine: 'worker' | 'simulated' | 'none';
  /** How long an optimistic UI change waits for main's confirmation before reverting. */
  readonly optimisticTimeoutMs: number;
}

export interface AppSnapshot {
  readonly info: AppInfo;
  readonly auth: AuthState;
  readonly tunnel: TunnelState;
  readonly resources: readonly Resource[];
  readonly settings: SettingsState;
  readonly update: UpdateState;
  readonly logs: readonly LogEntry[];
  readonly capture: CaptureState;
}
