// Chooses the engine host for the app: the worker host (the real client engine in a
// `worker_threads` worker), or, only when asked with `FZ_ENGINE=simulated` or the command-line
// flag `--simulated-engine`, the simulation (demos, screenshots, UI development). There is no
// third choice: an installed app never silently falls back to the simulation.

import path from 'node:path';
import type { EngineHost } from './engine-host.js';
import { FakeEngineHost } from './fake-engine-host.js';
import { WorkerEngineHost } from './worker-engine-host.js';
import type { DnsControlChoice } from './worker/protocol.js';

export type EngineKind = 'worker' | 'simulated';

const DNS_CONTROL: readonly DnsControlChoice[] = ['auto', 'systemd-resolved', 'resolv-conf', 'off'];

/** The default socket of the privileged helper that creates the TUN for an unprivileged app. */
export const DEFAULT_HELPER_SOCKET = '/run/fz-tun-helper/helper.sock';

export interface CreateEngineHostOptions {
  /** The app's user-data directory; the engine keeps its state in `<userDataDir>/engine`. */
  readonly userDataDir: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly argv?: readonly string[];
}

/**
 * Environment overrides (for admins and tests): `FZ_DNS_CONTROL` (auto, systemd-resolved,
 * resolv-conf, off), `FZ_TUN_NAME` (when the app runs as root), `FZ_TUN_HELPER_SOCKET`.
 */
export function createEngineHost(o: CreateEngineHostOptions): { host: EngineHost; kind: EngineKind } {
  const env = o.env ?? process.env;
  const argv = o.argv ?? process.argv;
  if (env.FZ_ENGINE === 'simulated' || argv.includes('--simulated-engine'))
    return { host: new FakeEngineHost(), kind: 'simulated' };
  const dns = env.FZ_DNS_CONTROL ?? 'auto';
  if (!(DNS_CONTROL as readonly string[]).includes(dns))
    throw new Error(`FZ_DNS_CONTROL must be one of ${DNS_CONTROL.join(', ')} (got ${dns})`);
  const host = new WorkerEngineHost({
    stateDir: path.join(o.userDataDir, 'engine'),
    dnsControl: dns as DnsControlChoice,
    ...(env.FZ_TUN_NAME ? { tunName: env.FZ_TUN_NAME } : {}),
    helperSocket: env.FZ_TUN_HELPER_SOCKET || DEFAULT_HELPER_SOCKET,
  });
  return { host, kind: 'worker' };
}
