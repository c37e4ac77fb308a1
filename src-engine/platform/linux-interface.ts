/**
 * Applies the engine's interface configuration to a Linux TUN device with iproute2, idempotently:
 * each call brings addresses and routes to exactly the given sets, adding what is new and
 * removing what is gone, so resource routes follow the portal live. Tools run by absolute path.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

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
  private routes = new Set<string>();
  private up = false;

  constructor(
    readonly name: string,
    private readonly ip: (args: string[]) => Promise<void> = defaultIp,
  ) {}

  async apply(state: LinuxInterfaceState): Promise<void> {
    if (!this.up) {
      await this.ip(['link', 'set', 'dev', this.name, 'mtu', String(state.mtu)]);
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
    const routes = new Set(state.routes);
    for (const route of this.routes) {
      if (!routes.has(route))
        await this.ip([...family(route), 'route', 'del', route, 'dev', this.name]).catch(() => undefined);
    }
    for (const route of routes) {
      if (!this.routes.has(route))
        await this.ip([...family(route), 'route', 'replace', route, 'dev', this.name]);
    }
    this.routes = routes;
  }
}

function family(cidr: string): string[] {
  return cidr.includes(':') ? ['-6'] : ['-4'];
}

async function defaultIp(args: string[]): Promise<void> {
  try {
    await run(IP_BINARY, args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(' ')} failed: ${stderr || (error as Error).message}`, { cause: error });
  }
}
