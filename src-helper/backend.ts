/**
 * What a platform gives the helper: one TUN device per session, configured within the rules the
 * protocol layer has already checked (src-engine/platform/tun-helper/rules.ts), and removed with
 * everything it changed on close.
 */
import type { ApplyConfig } from '../src-engine/platform/tun-helper/protocol.js';

export interface OpenedDevice {
  readonly name: string;
  readonly mtu: number;
  /** Linux/macOS: the device's fd, passed to the app (the backend keeps its own copy). */
  readonly fd?: number;
  /** Windows: the pipe that carries the device's packets. */
  readonly packetPipe?: string;
}

export interface DeviceBackend {
  open(): Promise<OpenedDevice>;
  /** Brings addresses, MTU, routes (via this device only) and DNS to exactly `config`. */
  apply(config: ApplyConfig): Promise<void>;
  /** Removes routes, rules, DNS settings and the device. Safe to call more than once. */
  close(): Promise<void>;
}

/** Who is asking, as the kernel (or the pipe) reports it; never what the caller claims. */
export interface PeerInfo {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  readonly groups: readonly number[];
}

export type BackendFactory = (peer: PeerInfo) => DeviceBackend;
