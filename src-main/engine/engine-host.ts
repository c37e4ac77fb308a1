// The only way main talks to the engine (the tunnel: TUN ⇄ DNS ⇄ WireGuard ⇄ UDP, plus the
// portal session). The real implementation runs the engine in a `worker_threads` worker and
// turns these calls into worker messages; `FakeEngineHost` implements it in-process for the UI
// tests and for demos. Main never imports the engine's runtime directly (the simulation borrows
// only its pure packet builders and pcap encoder, so that its captures hold real packets).
//
// Lifecycle, as main drives it:
//
//   stopped ──start()──▶ idle ──connect()──▶ connecting ⇄ connected
//      ▲                  ▲  ◀──disconnect()──┘      │ (loss: connecting, attempt > 1)
//      └─────stop()───────┴────────────────────────── failed (fatal; engine stays idle)
//
// `start` boots the worker with the portal URL, the token and the settings; `connect` joins the
// portal and brings up the TUN and routes; `disconnect` takes them down but keeps the worker (and
// the signed-in state) so "Disconnect" does not mean "Sign out"; `stop` ends the worker.
//
// Rules for implementations:
// - Every event is emitted asynchronously (never from inside the call that caused it).
// - `status` is emitted on every transition; `resources` whenever the list, a status or the
//   diagnostics change, throttled to at most about one event per second.
// - The token is a secret: never log it, never put it in an error message or an event.
// - After `signedOut` the engine has already left the portal; main discards the token and calls
//   `stop()`.
// - `capture` (troubleshooting) records the tunnel's inner packets as a pcap stream, one capture
//   at a time, bounded in time and size. The worker host (next issue) implements it by adding a
//   `CaptureSession`'s tap with `ClientRuntime.addPacketTap` (src-engine/client/client-runtime.ts)
//   in the worker and relaying the records to `sink` in main; `disconnect` and `stop` end a
//   running capture (reason `stopped`). The packets are the user's traffic: never log them.

import type { FlowFailReason, LogLevel, Resource } from '../../src-shared/domain.js';

export interface EngineSettings {
  readonly logLevel: LogLevel;
  /** Route everything else through the Internet Resource's gateway (when the portal offers one). */
  readonly internetResourceEnabled: boolean;
}

export interface EngineStartOptions {
  /** The portal's WebSocket base URL, e.g. `wss://api.example.com` (docs/protocol.md §3.1). */
  readonly portalUrl: string;
  /** The portal token (`nonce ‖ fragment`, docs/protocol.md §3.11). Secret. */
  readonly token: string;
  /** Stable per install; sent as `external_id` (hashed when it is a UUID). */
  readonly deviceId: string;
  /** Sent as `name`; the hostname by default. */
  readonly deviceName: string;
  /** The app's version, for the portal's User-Agent (`gui-client/<version>`). */
  readonly appVersion: string;
  readonly settings: EngineSettings;
}

export type EngineErrorCode =
  /** No CAP_NET_ADMIN (Linux) / not elevated: the TUN cannot be created. */
  | 'permission-denied'
  /** The TUN device or the addon is missing or failed. */
  | 'tun-unavailable'
  /** Network errors and retryable portal statuses, after the engine gave up retrying. */
  | 'portal-unreachable'
  /** The portal refused the connection (401 other than `invalid_token`, 403…). */
  | 'authentication-failed'
  /** A flow to one resource failed (`authorization_creation_failed`, handshake timeout…). */
  | 'resource-unreachable'
  /** The worker exited or stopped answering. */
  | 'worker-crashed'
  | 'internal';

export interface EngineError {
  readonly code: EngineErrorCode;
  /** A sentence for the user; never contains the token. */
  readonly message: string;
  /** For `resource-unreachable`. */
  readonly resourceId?: string;
  readonly reason?: FlowFailReason;
}

export type EngineStatus =
  | { readonly state: 'stopped' }
  /** Worker up, tunnel down. */
  | { readonly state: 'idle' }
  | {
      readonly state: 'connecting';
      readonly phase: 'portal' | 'tunnel';
      /** 1 for the first attempt; >1 while reconnecting after a loss. */
      readonly attempt: number;
      readonly reason: string | null;
      /** Milliseconds until the next attempt when waiting in backoff, else null. */
      readonly retryInMs: number | null;
    }
  | { readonly state: 'connected'; readonly ipv4: string | null; readonly ipv6: string | null }
  | { readonly state: 'disconnecting' }
  /** Fatal for this connection attempt; the engine is idle again and `connect()` may retry. */
  | { readonly state: 'failed'; readonly error: EngineError };

/** Why the portal ended the session: main must discard the token and sign the user out. */
export interface PortalSignOut {
  /** `token_expired`, `invalid_token`, `missing_token`, `certificate_revoked`, or another portal reason. */
  readonly reason: string;
  readonly message: string;
}

export interface EngineLogRecord {
  readonly time: number;
  readonly level: LogLevel;
  /** Module inside the engine, e.g. `ice`, `wireguard`, `portal`. */
  readonly target: string;
  readonly message: string;
}

export interface EngineEvents {
  status: (status: EngineStatus) => void;
  resources: (resources: readonly Resource[]) => void;
  signedOut: (signOut: PortalSignOut) => void;
  /** Non-fatal problems (a resource is unreachable); fatal ones arrive as `status: failed`. */
  error: (error: EngineError) => void;
  log: (record: EngineLogRecord) => void;
}

// ---------------------------------------------------------------------------------------------
// Packet capture (the same bounds as the headless client's `capture` command)

export const CAPTURE_MIN_SECONDS = 1;
export const CAPTURE_MAX_SECONDS = 3_600;
export const CAPTURE_DEFAULT_MAX_BYTES = 100 * 1024 * 1024;
export const CAPTURE_MAX_BYTES = 1024 * 1024 * 1024;
/** The pcap file header alone: the smallest valid capture. */
export const CAPTURE_MIN_BYTES = 24;

export interface EngineCaptureOptions {
  /** Whole seconds, CAPTURE_MIN_SECONDS–CAPTURE_MAX_SECONDS. */
  readonly seconds: number;
  /** Most bytes `sink` gets, file header included; default 100 MiB, at most 1 GiB. */
  readonly maxBytes?: number;
  /** Stops the capture early; it then ends with reason `stopped`. */
  readonly signal?: AbortSignal;
  /**
   * Bytes `sink` has taken but not yet written (a stream's writableLength). While it is above
   * 8 MiB packets are dropped and counted, so a slow disk never makes the engine buffer a capture.
   */
  readonly backlog?: () => number;
}

export type EngineCaptureEndReason = 'time' | 'size' | 'stopped';

/** How a capture ended (the engine's `CaptureSummary`). */
export interface EngineCaptureSummary {
  /** Records written. */
  readonly packets: number;
  /** Bytes given to the sink: the 24-byte file header and every record. */
  readonly bytes: number;
  /** Packets seen but not written (the sink was backed up, or the one that did not fit). */
  readonly dropped: number;
  readonly reason: EngineCaptureEndReason;
}

export type EngineCaptureErrorCode =
  /** Seconds or maxBytes out of bounds. */
  | 'invalid-argument'
  /** Another capture is running. */
  | 'capture-busy'
  /** The tunnel is not up: there are no packets to capture. */
  | 'not-connected'
  /** This build has no engine that can capture. */
  | 'capture-unavailable';

/** What `capture` rejects with when a capture cannot start. */
export class EngineCaptureError extends Error {
  constructor(
    readonly code: EngineCaptureErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EngineCaptureError';
  }
}

/** Checks a capture's bounds and fills in the default size; throws `EngineCaptureError`. */
export function captureLimits(options: EngineCaptureOptions): { seconds: number; maxBytes: number } {
  const { seconds } = options;
  const maxBytes = options.maxBytes ?? CAPTURE_DEFAULT_MAX_BYTES;
  if (!Number.isInteger(seconds) || seconds < CAPTURE_MIN_SECONDS || seconds > CAPTURE_MAX_SECONDS) {
    throw new EngineCaptureError(
      'invalid-argument',
      `A capture lasts a whole number of seconds from ${CAPTURE_MIN_SECONDS} to ${CAPTURE_MAX_SECONDS} (got ${seconds}).`,
    );
  }
  if (!Number.isInteger(maxBytes) || maxBytes < CAPTURE_MIN_BYTES || maxBytes > CAPTURE_MAX_BYTES) {
    throw new EngineCaptureError(
      'invalid-argument',
      `A capture's size limit is a whole number of bytes from ${CAPTURE_MIN_BYTES} to ${CAPTURE_MAX_BYTES} (1 GiB) (got ${maxBytes}).`,
    );
  }
  return { seconds, maxBytes };
}

export interface EngineHost {
  /** Boots the engine. Resolves when it is idle; rejects with an `EngineError`-shaped Error. */
  start(options: EngineStartOptions): Promise<void>;
  /** Leaves the portal, removes the TUN and ends the worker. Safe to call in any state. */
  stop(): Promise<void>;
  /** Joins the portal and brings the tunnel up; progress arrives as `status` events. */
  connect(): void;
  /** Takes the tunnel down and leaves the portal; the engine stays started. */
  disconnect(): void;
  /** Applies settings that can change while running (log level, Internet Resource). */
  applySettings(settings: EngineSettings): void;
  /**
   * Records the tunnel's inner packets, both directions, p2p control packets included, as a
   * classic pcap stream (LINKTYPE_RAW): `sink` gets the 24-byte file header at once, then one
   * chunk per record. Resolves when the capture ends — after `seconds`, when the next record
   * would pass `maxBytes`, or when stopped (`signal`, `disconnect`, `stop`). Rejects with an
   * `EngineCaptureError` when it cannot start (bad bounds, one already running, tunnel down,
   * no engine). `sink` must not throw; one that does ends the capture.
   */
  capture(options: EngineCaptureOptions, sink: (chunk: Uint8Array) => void): Promise<EngineCaptureSummary>;
  on<E extends keyof EngineEvents>(event: E, listener: EngineEvents[E]): () => void;
}

/** An Error carrying an `EngineError`, as `start()` rejects with. */
export class EngineStartError extends Error {
  readonly code: EngineErrorCode;
  constructor(readonly detail: EngineError) {
    super(detail.message);
    this.name = 'EngineStartError';
    this.code = detail.code;
  }
}

/** A small typed emitter the implementations share. */
export class EngineEventEmitter {
  readonly #listeners = new Map<keyof EngineEvents, Set<(...args: never[]) => void>>();

  on<E extends keyof EngineEvents>(event: E, listener: EngineEvents[E]): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  emit<E extends keyof EngineEvents>(event: E, ...args: Parameters<EngineEvents[E]>): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      (listener as unknown as (...a: Parameters<EngineEvents[E]>) => void)(...args);
    }
  }
}
