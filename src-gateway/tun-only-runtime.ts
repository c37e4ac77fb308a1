/**
 * The stand-in connection runtime, until the real one (ICE/TURN/WireGuard node and the event
 * loop around `GatewayState`) plugs into `runGateway`: it opens the gateway's TUN device, keeps
 * it open and drained until the gateway stops, and fails if the device goes away. It does not
 * join the portal. With it, the host set-up around the TUN can be run and tested for real.
 */
import { LinuxTunDevice } from '../src-engine/tun/linux.js';
import type { GatewayRuntime } from './gateway.js';

export const tunOnlyRuntime: GatewayRuntime = async ({ tunName, logger, signal }) => {
  let tun: LinuxTunDevice;
  try {
    tun = new LinuxTunDevice({ name: tunName });
  } catch (err) {
    throw new Error(`cannot open TUN device ${tunName}: ${(err as Error).message}`, { cause: err });
  }
  logger.warn('no connection runtime in this build: holding the TUN device open without joining the portal', {
    tun: tun.name,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
      tun.start(
        () => {
          // Nothing routes packets yet: read and drop them so the kernel's queue never fills.
        },
        (err) => reject(new Error(`TUN device ${tunName} failed: ${err.message}`, { cause: err })),
      );
    });
  } finally {
    tun.close();
  }
};
