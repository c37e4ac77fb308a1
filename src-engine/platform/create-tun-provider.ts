/**
 * Picks where the engine's TUN comes from: the process itself when it is root (servers, tests,
 * the headless client) or when FZ_TUN_PROVIDER=direct says so; otherwise, or with
 * FZ_TUN_PROVIDER=helper, the privileged helper service (the desktop app, unprivileged).
 */
import type { Logger } from '../portal/log.js';
import type { DnsControl } from './dns-control.js';
import { DirectTunProvider } from './direct-tun-provider.js';
import { HelperTunProvider } from './tun-helper/client.js';
import type { TunProvider } from './tun-provider.js';
import { WindowsHelperTunProvider } from './tun-helper/windows-client.js';

export interface CreateTunProviderOptions {
  /** The device name for the direct provider (the helper names its devices itself). */
  readonly name: string;
  /** The direct provider's DNS control (the helper has its own). */
  readonly dns?: DnsControl;
  /** The helper's socket (Linux, macOS) or pipe (Windows); default per platform. */
  readonly helperSocket?: string;
  readonly logger: Logger;
  /** For tests: defaults to process.env, process.geteuid(), process.platform. */
  readonly env?: NodeJS.ProcessEnv;
  readonly euid?: number;
  readonly platform?: NodeJS.Platform;
}

export function createTunProvider(options: CreateTunProviderOptions): TunProvider {
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  const euid = options.euid ?? (typeof process.geteuid === 'function' ? process.geteuid() : -1);
  const choice = env.FZ_TUN_PROVIDER;
  if (choice !== undefined && choice !== '' && choice !== 'direct' && choice !== 'helper')
    throw new Error(`FZ_TUN_PROVIDER must be "direct" or "helper", not ${JSON.stringify(choice)}`);
  const direct = choice === 'direct' || (choice !== 'helper' && euid === 0);
  if (direct) {
    if (platform !== 'linux')
      throw new Error(`the direct TUN provider exists on Linux only (this is ${platform}); use the helper`);
    options.logger.info('TUN provider: direct', { name: options.name });
    return new DirectTunProvider({ name: options.name, dns: options.dns });
  }
  options.logger.info('TUN provider: helper', { socket: options.helperSocket ?? 'default' });
  if (platform === 'win32')
    return new WindowsHelperTunProvider({ pipePath: options.helperSocket, logger: options.logger });
  return new HelperTunProvider({ socketPath: options.helperSocket, logger: options.logger });
}
