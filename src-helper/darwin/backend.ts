/**
 * The macOS device backend for the launchd helper. NEVER RUN: written without a Mac; it
 * type-checks, and follows what wireguard-go's and Firezone's macOS code do with the same tools.
 *
 * The device is a utun (node-tun opens the PF_SYSTEM control socket; the kernel picks utunN),
 * whose fd goes to the app over the same Unix socket protocol as on Linux. Addresses and MTU are
 * set with /sbin/ifconfig, routes with /sbin/route (`-interface utunN`, so only via this
 * device), DNS with /usr/sbin/scutil (a State:/Network/Service/<id>/DNS key with the tunnel's
 * servers, removed on close). Every tool by absolute path, arguments as an array, no shell.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TunDevice } from 'node-tun';
import type { ApplyConfig } from '../../src-engine/platform/tun-helper/protocol.js';
import { canonicalCidr, parseStrictCidr } from '../../src-engine/platform/tun-helper/rules.js';
import type { DeviceBackend, OpenedDevice } from '../backend.js';

const IFCONFIG = '/sbin/ifconfig';
const ROUTE = '/sbin/route';
const SCUTIL = '/usr/sbin/scutil';

type Runner = (file: string, args: readonly string[], input?: string) => Promise<void>;

const defaultRun: Runner = async (file, args, input) => {
  const child = promisify(execFile)(file, [...args]);
  if (input !== undefined) child.child.stdin?.end(input);
  await child;
};

/** The dotted netmask of an IPv4 prefix length (ifconfig's syntax). */
function netmask(prefix: number): string {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (mask >>> shift) & 0xff).join('.');
}

export class DarwinDeviceBackend implements DeviceBackend {
  private tun: TunDevice | undefined;
  private addresses = new Set<string>();
  private routes = new Set<string>();
  private dnsKey: string | undefined;

  constructor(private readonly run: Runner = defaultRun) {}

  open(): Promise<OpenedDevice> {
    if (process.platform !== 'darwin')
      return Promise.reject(
        new Error('the macOS TUN backend has never run, and cannot run on ' + process.platform),
      );
    this.tun = TunDevice.open({});
    return Promise.resolve({ name: this.tun.name, mtu: 1280, fd: this.tun.fd });
  }

  async apply(config: ApplyConfig): Promise<void> {
    const name = this.tun?.name;
    if (!name) throw new Error('apply before open');
    await this.run(IFCONFIG, [name, 'mtu', String(config.mtu), 'up']);
    for (const address of this.addresses) {
      if (!config.addresses.includes(address))
        await this.run(IFCONFIG, [name, ...addressArgs(address), 'delete']);
    }
    for (const address of config.addresses) {
      if (!this.addresses.has(address)) await this.run(IFCONFIG, [name, ...addressArgs(address), 'alias']);
    }
    this.addresses = new Set(config.addresses);
    const wanted = new Set(config.routes.map(canonicalCidr));
    for (const route of this.routes) {
      if (!wanted.has(route))
        await this.run(ROUTE, ['-q', '-n', 'delete', ...routeArgs(route, name)]).catch(() => undefined);
    }
    for (const route of wanted) {
      if (!this.routes.has(route)) await this.run(ROUTE, ['-q', '-n', 'add', ...routeArgs(route, name)]);
    }
    this.routes = wanted;
    if (config.dns && config.dns.servers.length > 0) {
      this.dnsKey = `State:/Network/Service/fz-tun-helper-${name}/DNS`;
      const search = config.dns.searchDomain ? `d.add SearchDomains * ${config.dns.searchDomain}\n` : '';
      await this.run(
        SCUTIL,
        [],
        `d.init\nd.add ServerAddresses * ${config.dns.servers.join(' ')}\n${search}d.add SupplementalMatchDomains * ""\nset ${this.dnsKey}\nquit\n`,
      );
    } else await this.removeDns();
  }

  async close(): Promise<void> {
    const name = this.tun?.name;
    await this.removeDns().catch(() => undefined);
    if (name)
      for (const route of this.routes)
        await this.run(ROUTE, ['-q', '-n', 'delete', ...routeArgs(route, name)]).catch(() => undefined);
    this.routes.clear();
    this.addresses.clear();
    // A utun disappears with its last fd.
    this.tun?.close();
    this.tun = undefined;
  }

  private async removeDns(): Promise<void> {
    if (!this.dnsKey) return;
    const key = this.dnsKey;
    this.dnsKey = undefined;
    await this.run(SCUTIL, [], `remove ${key}\nquit\n`);
  }
}

function addressArgs(cidr: string): string[] {
  const parsed = parseStrictCidr(cidr)!;
  return parsed.family === 4
    ? ['inet', parsed.address, parsed.address, 'netmask', netmask(parsed.prefix)]
    : ['inet6', `${parsed.address}/${parsed.prefix}`];
}

function routeArgs(cidr: string, device: string): string[] {
  return [cidr.includes(':') ? '-inet6' : '-inet', cidr, '-interface', device];
}
