/**
 * The Linux device backend: a TUN from /dev/net/tun named by the helper (`tun-fz<n>`, the kernel
 * picks n), configured with the engine's own iproute2 code (policy routing included) and DNS
 * control. Tools run by absolute path through execFile (no shell, no PATH). The helper keeps
 * its copy of the fd until the session ends, so the device lives exactly as long as the session.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TunDevice } from 'node-tun';
import type { DnsControl } from '../../src-engine/platform/dns-control.js';
import { IP_BINARY, LinuxInterface } from '../../src-engine/platform/linux-interface.js';
import type { ApplyConfig } from '../../src-engine/platform/tun-helper/protocol.js';
import { canonicalCidr } from '../../src-engine/platform/tun-helper/rules.js';
import type { IpRunner } from '../../src-engine/platform/linux-policy-routing.js';
import type { DeviceBackend, OpenedDevice } from '../backend.js';

export const DEVICE_PATTERN = 'tun-fz%d';
const INITIAL_MTU = 1280;

export interface LinuxBackendOptions {
  /** null: DNS requests are accepted but not applied (systems where the helper must not touch DNS). */
  readonly dns: DnsControl | null;
  /** For tests; default: iproute2 by absolute path. */
  readonly ip?: IpRunner;
}

export class LinuxDeviceBackend implements DeviceBackend {
  private tun: TunDevice | undefined;
  private iface: LinuxInterface | undefined;
  private dnsApplied = false;

  constructor(private readonly options: LinuxBackendOptions) {}

  open(): Promise<OpenedDevice> {
    if (this.tun) return Promise.reject(new Error('the device is already open'));
    // With the virtio-net header (offloads): the app's node-tun sees the flag on the fd it
    // receives and asks for TSO itself; FZ_TUN_OFFLOAD=0 in the helper's environment turns it off.
    this.tun = TunDevice.open({ name: DEVICE_PATTERN, offload: process.env.FZ_TUN_OFFLOAD !== '0' });
    this.iface = new LinuxInterface(this.tun.name, this.options.ip);
    return Promise.resolve({ name: this.tun.name, mtu: INITIAL_MTU, fd: this.tun.fd });
  }

  async apply(config: ApplyConfig): Promise<void> {
    const iface = this.iface;
    if (!iface) throw new Error('apply before open');
    await iface.apply({
      addresses: config.addresses,
      routes: config.routes.map(canonicalCidr),
      mtu: config.mtu,
    });
    const dns = this.options.dns;
    if (!dns) return;
    if (config.dns && config.dns.servers.length > 0) {
      this.dnsApplied = true;
      await dns.apply({
        interfaceName: iface.name,
        servers: config.dns.servers,
        searchDomain: config.dns.searchDomain,
      });
    } else if (this.dnsApplied) {
      this.dnsApplied = false;
      await dns.restore();
    }
  }

  async close(): Promise<void> {
    const iface = this.iface;
    const tun = this.tun;
    this.iface = undefined;
    this.tun = undefined;
    const dnsApplied = this.dnsApplied;
    this.dnsApplied = false;
    // All of them, even when one fails: a stale DNS setting would break every name on the host.
    const results = await Promise.allSettled([
      iface?.cleanup(),
      dnsApplied ? this.options.dns?.restore() : undefined,
    ]);
    // Closing the helper's fd removes the device once the app's copy is gone too; delete the
    // link so it goes now, whatever the app still holds.
    tun?.close();
    if (iface)
      await (this.options.ip ?? defaultIp)(['link', 'del', 'dev', iface.name]).catch(() => undefined);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

const run = promisify(execFile);

/** iproute2 by absolute path, no shell. */
async function defaultIp(args: string[]): Promise<unknown> {
  return (await run(IP_BINARY, args)).stdout;
}
