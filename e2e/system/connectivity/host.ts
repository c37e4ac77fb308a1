/** One machine of the connectivity topology: a namespace with its name and addresses. */
import type { ExecOptions, ExecResult, Netns, NsProcess, SpawnOptions } from '../netns.js';

export type HostName =
  'inet' | 'portal' | 'relay' | 'client-router' | 'client' | 'site-router' | 'resource' | `gateway${number}`;

export class Host {
  /** The host's main IPv4 address (no prefix); for routers the WAN address. Changes on roaming. */
  ipv4: string;
  /** The host's main IPv6 address (no prefix), when the topology has IPv6. */
  ipv6: string | undefined;

  constructor(
    readonly name: HostName,
    readonly ns: Netns,
    /** The interface holding `ipv4`/`ipv6` (`eth0`, or `wan0` on routers). */
    readonly ifname: string,
    ipv4: string,
    ipv6?: string,
  ) {
    this.ipv4 = ipv4;
    this.ipv6 = ipv6;
  }

  /** Runs a command in the host's namespace (throws CommandError on failure). */
  exec(cmd: string, args: readonly string[] = [], options: ExecOptions = {}): Promise<ExecResult> {
    return this.ns.exec(cmd, args, options);
  }

  /** Starts a long-running process in the host's namespace, tracked by the harness. */
  spawn(cmd: string, args: readonly string[] = [], options: SpawnOptions = {}): NsProcess {
    return this.ns.spawn(cmd, args, { label: `${this.name}: ${cmd}`, ...options });
  }

  /** `ip <args>` in the host's namespace; `ip -batch -` when given several command lines. */
  async ip(...args: string[]): Promise<ExecResult> {
    return this.ns.ip(...args);
  }

  /**
   * Runs `ip` command lines in order with as few `ip -batch -` runs as possible. A line may start
   * with `-4 ` or `-6 ` (a family option, which `ip -batch` accepts only on its command line):
   * consecutive lines with the same option share one run.
   */
  async ipBatch(lines: string[]): Promise<void> {
    const groups: { option: string | undefined; lines: string[] }[] = [];
    for (const line of lines) {
      const m = /^(-[46]) (.*)$/.exec(line);
      const option = m?.[1];
      const text = m?.[2] ?? line;
      const last = groups[groups.length - 1];
      if (last && last.option === option) last.lines.push(text);
      else groups.push({ option, lines: [text] });
    }
    for (const group of groups) {
      const args = [...(group.option === undefined ? [] : [group.option]), '-batch', '-'];
      await this.ns.exec('ip', args, { input: `${group.lines.join('\n')}\n` });
    }
  }

  async nft(ruleset: string, allowFailure = false): Promise<ExecResult> {
    return this.ns.exec('nft', ['-f', '-'], { input: ruleset, allowFailure });
  }

  toString(): string {
    return `${this.name} (${this.ns.name})`;
  }
}
