/**
 * Where the client engine gets its TUN device and who configures it. Two providers:
 *
 * - `DirectTunProvider`: the process has the privilege itself (root or CAP_NET_ADMIN: the
 *   headless client, servers, tests). It opens the device with node-tun and configures it with
 *   iproute2 (./linux-interface.ts) and the DNS control (./dns-control.ts).
 * - `HelperTunProvider` (./tun-helper/client.ts): the desktop app, unprivileged. A small root
 *   service creates the device, hands its file descriptor to the app over a Unix socket, and
 *   applies addresses, routes and DNS on the app's request, within narrow rules
 *   (docs/privilege-model.md).
 *
 * The engine sees only a `TunDevice` and the `apply` callback either way.
 */
import type { ClientInterfaceConfig } from '../client/client-runtime.js';
import type { TunDevice } from '../tun/device.js';

export interface TunProvider {
  /** `direct`: this process configures the device; `helper`: the privileged helper does. */
  readonly kind: 'direct' | 'helper';
  /** Creates the TUN device (or receives it from the helper). Call once. */
  open(): Promise<TunDevice>;
  /**
   * Brings the device's addresses, MTU, routes and DNS to exactly `config` (idempotent: the
   * engine calls it again whenever the portal changes the interface or the resources).
   */
  apply(config: ClientInterfaceConfig): Promise<void>;
  /**
   * Undoes `apply` (routes, policy rules, DNS) and releases the device. The engine may already
   * have closed the device itself; safe to call more than once, and without `open`.
   */
  close(): Promise<void>;
}

/** Errors a provider rejects with when the device cannot be had, with a code main can map. */
export class TunProviderError extends Error {
  constructor(
    readonly code: 'permission-denied' | 'tun-unavailable' | 'helper-unavailable' | 'refused',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TunProviderError';
  }
}
