/**
 * Messages between the engine host (main thread: Electron main, or a headless CLI) and the
 * engine worker. Plain structured-clone data only. The data path never crosses this channel:
 * packets stay inside the worker; only configuration, commands, events and stats do.
 */

/** A WireGuard interface as the worker should bring it up (keys base64, as `wg` prints them). */
export interface TunnelConfig {
  readonly privateKey: string;
  /** Interface name; kernel-chosen when absent. */
  readonly interfaceName?: string;
  readonly addresses: readonly string[];
  readonly mtu?: number;
  readonly listen: { readonly address: string; readonly port: number };
  readonly peers: readonly {
    readonly publicKey: string;
    readonly presharedKey?: string;
    readonly endpoint?: { readonly address: string; readonly port: number };
    readonly allowedIps: readonly string[];
    readonly persistentKeepalive?: number;
  }[];
  /** Routes into the interface besides the addresses' own prefixes. */
  readonly routes?: readonly string[];
  /** Force a crypto backend (default: the fastest that loads). */
  readonly cryptoBackend?: 'sodium' | 'node' | 'noble';
  /** Pad plaintext per the paper (default true). */
  readonly padding?: boolean;
  /** Packets per batch in each direction (default 64). */
  readonly batchSize?: number;
  /**
   * Threads that seal and open packets: 2 adds a crypto worker and a second TUN queue. Default:
   * 2 where more than two cores are available, else 1 (`FZ_CRYPTO_LANES` = 1, 2 or auto overrides
   * the default).
   */
  readonly cryptoLanes?: 1 | 2;
  /** Start handshakes at once instead of on first traffic. */
  readonly connectOnStart?: boolean;
}

export type HostToWorker =
  | { readonly type: 'start'; readonly config: TunnelConfig }
  | { readonly type: 'stats'; readonly id: number }
  | { readonly type: 'stop' };

export interface PeerStatus {
  readonly publicKey: string;
  readonly endpoint: string | undefined;
  readonly txBytes: number;
  readonly rxBytes: number;
  readonly handshakesCompleted: number;
  /** Milliseconds since the last handshake, or null when there was none. */
  readonly lastHandshakeAgoMs: number | null;
  readonly dropped: Readonly<Record<string, number>>;
}

export interface EngineStats {
  readonly interfaceName: string;
  readonly cryptoBackend: string;
  readonly peers: readonly PeerStatus[];
  readonly device: Readonly<Record<string, number>>;
  readonly tun: Readonly<Record<string, number>>;
  readonly udp: Readonly<Record<string, number>>;
  /** Threads sealing and opening (`lanes`), and the crypto worker's share (runs, jobs, byWorker). */
  readonly crypto: Readonly<Record<string, number>>;
}

export type WorkerToHost =
  | {
      readonly type: 'started';
      readonly interfaceName: string;
      readonly listenPort: number;
      readonly cryptoBackend: string;
      readonly cryptoLanes: number;
    }
  | { readonly type: 'stats'; readonly id: number; readonly stats: EngineStats }
  | { readonly type: 'event'; readonly peer: string; readonly event: string; readonly detail?: string }
  | { readonly type: 'error'; readonly message: string; readonly fatal: boolean }
  | { readonly type: 'stopped' };
