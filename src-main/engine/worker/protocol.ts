// The messages between main's `WorkerEngineHost` and the engine worker (./client-worker.ts).
// Both ends are our code in one process, so the types are the contract; the worker still checks
// what it is asked to do against its own state (a connect while connected is ignored, etc.).

import type { Resource } from '../../../src-shared/domain.js';
import type {
  EngineCaptureSummary,
  EngineError,
  EngineLogRecord,
  EngineSettings,
  EngineStatus,
  PortalSignOut,
} from '../engine-host.js';

/** How the worker points the system's DNS at the engine (see src-engine/platform/dns-control.ts). */
export type DnsControlChoice = 'auto' | 'systemd-resolved' | 'resolv-conf' | 'off';

export interface WorkerStartOptions {
  readonly portalUrl: string;
  /** Secret: never logged (the worker's logger redacts it). */
  readonly token: string;
  readonly deviceId: string;
  readonly deviceName: string;
  readonly appVersion: string;
  readonly settings: EngineSettings;
  /** Where the engine keeps state (the resolv.conf backup when it edits that file). */
  readonly stateDir: string;
  readonly dnsControl: DnsControlChoice;
  /** The TUN's name when the app creates it itself (root); the helper picks its own. */
  readonly tunName: string;
  /** The privileged helper's socket, when the app is not root. */
  readonly helperSocket?: string;
}

export type HostToWorker =
  | { readonly type: 'start'; readonly options: WorkerStartOptions }
  | { readonly type: 'connect' }
  | { readonly type: 'disconnect' }
  | { readonly type: 'settings'; readonly settings: EngineSettings }
  | { readonly type: 'stop' }
  | {
      readonly type: 'capture-start';
      readonly id: number;
      readonly seconds: number;
      readonly maxBytes: number;
    }
  | { readonly type: 'capture-stop'; readonly id: number }
  /** Main passed `bytes` more to its sink, which now holds `backlog` bytes not yet written. */
  | { readonly type: 'capture-ack'; readonly id: number; readonly bytes: number; readonly backlog: number };

export type WorkerToHost =
  | { readonly type: 'started' }
  | { readonly type: 'status'; readonly status: EngineStatus }
  | { readonly type: 'resources'; readonly resources: readonly Resource[] }
  | { readonly type: 'signed-out'; readonly signOut: PortalSignOut }
  | { readonly type: 'error'; readonly error: EngineError }
  | { readonly type: 'log'; readonly record: EngineLogRecord }
  | { readonly type: 'capture-started'; readonly id: number }
  | { readonly type: 'capture-chunks'; readonly id: number; readonly chunks: readonly Uint8Array[] }
  | { readonly type: 'capture-end'; readonly id: number; readonly summary: EngineCaptureSummary }
  | {
      readonly type: 'capture-failed';
      readonly id: number;
      readonly code: 'not-connected' | 'capture-busy';
      readonly message: string;
    }
  | { readonly type: 'stopped' };
