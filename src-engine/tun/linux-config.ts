import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The TUN's queue towards us, in packets (the kernel's default is 500). Without offloads a TCP
 * burst of one 64 KiB window is about 45 packets per flow, and bursts from several flows and
 * both directions overflowed 500 while the engine sealed the previous batch: the bench counted
 * thousands of drops per run (`drops ours … tun-queue=`), each one a TCP retransmission. With
 * offloads the queue holds 64 KiB segments and never filled. Set with FZ_TUN_TXQUEUELEN.
 */
export const TUN_TXQUEUELEN = Number(process.env.FZ_TUN_TXQUEUELEN) || 2000;

export interface InterfaceConfig {
  /** Addresses with prefix, e.g. ['100.64.0.2/32', 'fd00:2021:1111::2/128']. */
  readonly addresses: readonly string[];
  readonly mtu: number;
  /** Prefixes routed into the device, e.g. resource CIDRs. */
  readonly routes?: readonly string[];
}

/**
 * Configures a Linux interface with iproute2. Why not netlink from the addon: configuration is
 * rare and off the hot path, `ip` is on every Linux system we target and is what admins read in
 * logs, and keeping netlink out of node-tun keeps the native surface small. Each step is one
 * `ip` command so a failure names exactly what could not be applied.
 */
export async function configureLinuxInterface(name: string, config: InterfaceConfig): Promise<void> {
  const ip = async (...args: string[]): Promise<void> => {
    try {
      await run('ip', args);
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr?.trim();
      throw new Error(`ip ${args.join(' ')} failed: ${stderr || (err as Error).message}`, { cause: err });
    }
  };
  await ip('link', 'set', 'dev', name, 'mtu', String(config.mtu), 'txqueuelen', String(TUN_TXQUEUELEN));
  for (const address of config.addresses) {
    const v6 = address.includes(':');
    await ip(...(v6 ? ['-6'] : []), 'addr', 'add', address, 'dev', name, ...(v6 ? ['nodad'] : []));
  }
  await ip('link', 'set', 'dev', name, 'up');
  for (const route of config.routes ?? []) {
    await ip(...(route.includes(':') ? ['-6'] : []), 'route', 'replace', route, 'dev', name);
  }
}
