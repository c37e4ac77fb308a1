/**
 * The TUN provider for a process that holds the privilege itself (root or CAP_NET_ADMIN): the
 * headless client's way, used by the app when it runs as root (headless servers, tests).
 */
import type { ClientInterfaceConfig } from '../client/client-runtime.js';
import type { TunDevice } from '../tun/device.js';
import { TUN_MTU } from '../tun/device.js';
import { LinuxTunDevice } from '../tun/linux.js';
import type { DnsControl } from './dns-control.js';
import { LinuxInterface } from './linux-interface.js';
import { TunProviderError, type TunProvider } from './tun-provider.js';

export interface DirectTunProviderOptions {
  readonly name: string;
  /** Points the system's DNS at the engine; absent: DNS is left alone. */
  readonly dns?: DnsControl;
}

export class DirectTunProvider implements TunProvider {
  readonly kind = 'direct' as const;
  private iface: LinuxInterface | undefined;
  private tun: TunDevice | undefined;
  private applied = false;

  constructor(private readonly options: DirectTunProviderOptions) {}

  async open(): Promise<TunDevice> {
    if (this.tun) throw new Error('the TUN device is already open');
    // A crashed run may have left the system pointed at sentinels that no longer answer.
    await this.options.dns?.recover();
    try {
      this.tun = new LinuxTunDevice({ name: this.options.name });
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'EPERM' || code === 'EACCES') {
        throw new TunProviderError(
          'permission-denied',
          'Creating the tunnel device needs administrator rights (CAP_NET_ADMIN), or the fz-tun-helper service.',
          { cause: error },
        );
      }
      throw new TunProviderError(
        'tun-unavailable',
        `Cannot create the tunnel device: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    this.iface = new LinuxInterface(this.tun.name);
    return this.tun;
  }

  async apply(config: ClientInterfaceConfig): Promise<void> {
    const iface = this.iface;
    if (!iface) throw new Error('apply before open');
    this.applied = true;
    await iface.apply({
      addresses: [`${config.ipv4}/32`, `${config.ipv6}/128`],
      routes: config.routes,
      mtu: TUN_MTU,
    });
    await this.options.dns?.apply({
      interfaceName: iface.name,
      servers: config.dnsServers,
      searchDomain: config.searchDomain,
    });
  }

  async close(): Promise<void> {
    const iface = this.iface;
    const tun = this.tun;
    this.iface = undefined;
    this.tun = undefined;
    tun?.close();
    if (!this.applied) return;
    this.applied = false;
    // Both, even when the first fails: a stale DNS setting would break every name on the host.
    const results = await Promise.allSettled([iface?.cleanup(), this.options.dns?.restore()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
