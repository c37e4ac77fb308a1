/**
 * A tunnel kind: one way of joining two namespaces with a tunnel, measured by the throughput
 * benchmark. Each kind gets two fresh namespaces joined by a veth; the harness deletes them (and
 * every process in them, and every `harness.tempDir`) after the kind has been measured, also on
 * failure or Ctrl-C.
 */
import type { Netns, NetnsHarness } from '../../e2e/system/netns.js';

/** What a kind gets: two fresh namespaces joined by a veth, with only `lo` and the veth up. */
export interface TunnelContext {
  harness: NetnsHarness;
  /** Side a: the iperf3 client (the sender in the forward direction). */
  a: Netns;
  /** Side b: the iperf3 server (the receiver in the forward direction). */
  b: Netns;
  /** Underlay (veth) IPv4 addresses of a and b, without prefix: 10.99.0.1 and 10.99.0.2 (/24). */
  underlayA: string;
  underlayB: string;
}

/** A tunnel that is up and passes traffic (or will once its handshake ran). */
export interface Tunnel {
  /** Inner (tunnel) IPv4 address of side a, e.g. 10.98.0.1. */
  innerA: string;
  /** Inner (tunnel) IPv4 address of side b, e.g. 10.98.0.2. */
  innerB: string;
  /**
   * The processes whose CPU time counts as tunnel CPU, both ends. Their threads are included
   * (the process totals in /proc/<pid>/stat) and so are their descendants.
   */
  pids: number[];
  /** Stops the tunnel and removes its files. Idempotent; the harness cleanup is the backstop. */
  teardown(): Promise<void>;
}

export interface TunnelKind {
  /** Name used in BENCH_KINDS and the tables, e.g. `wireguard-go`. */
  name: string;
  /** Human label, e.g. `wireguard-go ⇄ wireguard-go`. */
  label: string;
  /** Commands that must be on PATH (checked before any namespace is built). */
  requires: readonly string[];
  /** Why this kind cannot run here (e.g. not registered yet), or undefined when it can. */
  unavailable?(): string | undefined;
  setup(ctx: TunnelContext): Promise<Tunnel>;
}

/** Inner addresses used by every kind (as in docs/performance.md §A1 for WireGuard). */
export const INNER_A = '10.98.0.1';
export const INNER_B = '10.98.0.2';
export const INNER_PREFIX = 24;
/** WireGuard MTU used for wireguard-go and ours (as in docs/performance.md §A1). */
export const WG_MTU = 1420;
export const WG_PORT = 51820;
