/**
 * Applies the engine's interface configuration to a Linux TUN device with iproute2, idempotently:
 * each call brings addresses and routes to exactly the given sets, adding what is new and
 * removing what is gone, so resource routes follow the portal live. Tools run by absolute path.
 *
 * Routes go through policy routing (./linux-policy-routing.ts): resource routes into table
 * 0x2021fd00; 0.0.0.0/0 and ::/0 (the Internet resource) into table 0x2021fd02 with the LAN's
 * routes copied to 0x2021fd01; all of it only for packets without the engine's fwmark, so the
 * engine's own sockets, marked with ENGINE_FWMARK (./fwmark.ts), never loop through the TUN.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { ENGINE_FWMARK } from './fwmark.js';
import { type IpBatchRunner, type IpRunner, LinuxPolicyRouting } from './linux-policy-routing.js';
import { TUN_TXQUEUELEN } from '../tun/linux-config.js';

const run = promisify(execFile);

export const IP_BINARY =
  ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? '/usr/sbin/ip';

export interface LinuxInterfaceState {
  readonly addresses: readonly string[];
  readonly routes: readonly string[];
  readonly mtu: number;
}

export class LinuxInterface {
  private addresses = new Set<string>();
  private up = false;
  private readonly routing: LinuxPolicyRouting;

  constructor(
    readonly name: string,
    private readonly ip: IpRunner = defaultIp,
    options: { readonly mark?: number; readonly batch?: IpBatchRunner } = {},
  ) {
    // The system's `ip` also takes batches; a runner given by the caller (tests, the helper's
    // audited runner) gets one command per call unless it brings its own batch runner.
    const batch = options.batch ?? (ip === defaultIp ? defaultIpBatch : undefined);
    this.routing = new LinuxPolicyRouting(name, ip, options.mark ?? ENGINE_FWMARK, batch);
  }

  async apply(state: LinuxInterfaceState): Promise<void> {
    if (!this.up) {
      await this.ip([
        'link',
        'set',
        'dev',
        this.name,
        'mtu',
        String(state.mtu),
        'txqueuelen',
        String(TUN_TXQUEUELEN),
      ]);
      // No IPv6 link-local on the tunnel: nothing but the portal's addresses lives there.
      await this.ip(['link', 'set', 'dev', this.name, 'addrgenmode', 'none']).catch(() => undefined);
      await this.ip(['link', 'set', 'dev', this.name, 'up']);
      this.up = true;
    }
    const addresses = new Set(state.addresses);
    for (const address of this.addresses) {
      if (!addresses.has(address))
        await this.ip([...family(address), 'addr', 'del', address, 'dev', this.name]);
    }
    for (const address of addresses) {
      if (!this.addresses.has(address))
        await this.ip([
          ...family(address),
          'addr',
          'replace',
          address,
          'dev',
          this.name,
          ...(address.includes(':') ? ['nodad'] : []),
        ]);
    }
    this.addresses = addresses;
    // Resource routes, and 0.0.0.0/0 and ::/0 when the Internet resource is on.
    await this.routing.apply(state.routes);
  }

  /** Copies the LAN's routes again for the Internet resource (call when the host's networks change). */
  async refreshLanRoutes(): Promise<void> {
    await this.routing.refreshLanRoutes();
  }

  /**
   * Removes the policy rules and the routes of the engine's tables (on exit). The TUN's own
   * addresses and routes go with the device when it closes. apply() starts from scratch after it.
   */
  async cleanup(): Promise<void> {
    await this.routing.cleanup();
  }
}

function family(cidr: string): string[] {
  return cidr.includes(':') ? ['-6'] : ['-4'];
}

/** `ip [-force] -4|-6 -batch -` with the commands on stdin, one per line. */
export function defaultIpBatch(family: '-4' | '-6', commands: string[][], force: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      IP_BINARY,
      [...(force ? ['-force'] : []), family, '-batch', '-'],
      (error, _stdout, stderr) => {
        if (!error) return resolve();
        reject(
          new Error(
            `ip ${family} -batch (${commands.length} commands) failed: ${stderr.trim() || error.message}`,
          ),
        );
      },
    );
    child.stdin?.end(`${commands.map((c) => c.join(' ')).join('\n')}\n`);
  });
}

async function defaultIp(args: string[]): Promise<string> {
  try {
    return (await run(IP_BINARY, args)).stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(' ')} failed: ${stderr || (error as Error).message}`, { cause: error });
  }
}
