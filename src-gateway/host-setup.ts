/**
 * What the gateway changes on its Linux host, and how it takes it back.
 *
 * - IP forwarding: `net.ipv4.ip_forward` and `net.ipv6.conf.all.forwarding` set to 1, written
 *   straight to /proc/sys (both are per network namespace). Only values that were not 1 already
 *   are changed, and each is put back at the end if it still holds our value.
 * - One nftables table of our own, `inet fz-gateway`: forward-accept in and out of the TUN, and
 *   masquerade for traffic from the tunnel ranges (100.64.0.0/11, fd00:2021:1111::/107) leaving by
 *   any other interface. Firezone's gateway does the same with iptables rules (FORWARD accept on
 *   its TUN, MASQUERADE out of e+/w+); one table is applied and removed atomically and touches
 *   no one else's rules.
 *
 * Before changing anything, a state file in the state directory records what is about to change
 * (previous sysctl values, the table, the TUN name) and which process did it. A gateway killed
 * with SIGKILL leaves the file behind; the next start finds it, sees that its owner is gone and
 * takes those changes back before setting up afresh. Every step is idempotent, so a teardown
 * interrupted half-way is simply run again. Tools are run by absolute path; a failure names the
 * command and its stderr.
 */
import { spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { TUNNEL_RANGES_GATEWAY } from '../src-engine/gateway/constants.js';
import type { Logger } from './log.js';

export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'fz-gateway';
export const STATE_FILE = 'host-state.json';
/** The sysctls we set to 1 (dotted names, as `sysctl` shows them). */
export const FORWARDING_SYSCTLS: readonly string[] = ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'];

const NFT_PATHS = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft', '/bin/nft'];
const IP_PATHS = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'];
const COMMAND_TIMEOUT_MS = 15_000;

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs an executable (absolute path) with arguments and optional stdin; never throws. */
export type CommandRunner = (path: string, args: readonly string[], input?: string) => Promise<CommandResult>;

/** Who made the changes: enough to tell a live owner from a dead one, across reboots too. */
export interface ProcessIdentity {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat: distinguishes a reused pid. */
  readonly startTime: string;
  /** /proc/sys/kernel/random/boot_id: a pid from an earlier boot is never alive. */
  readonly bootId: string;
  /** The network namespace (`net:[inode]`) the changes were made in. */
  readonly netns: string;
}

export interface SysctlChange {
  /** Dotted name, e.g. `net.ipv4.ip_forward`. */
  readonly key: string;
  readonly previous: string;
  readonly applied: string;
}

/** The state file: what this gateway changed on the host. */
export interface HostState {
  readonly version: 1;
  readonly owner: ProcessIdentity;
  readonly tunName: string;
  readonly nftTable: { readonly family: typeof NFT_FAMILY; readonly name: string } | null;
  readonly sysctls: readonly SysctlChange[];
  readonly createdAt: string;
}

export interface HostSetupOptions {
  readonly stateDir: string;
  readonly tunName: string;
  /** Add the masquerade chain (default true); without it, the site must route the tunnel ranges back. */
  readonly masquerade: boolean;
  readonly logger: Logger;
  /** Root of the sysctl tree (default /proc/sys); tests point it elsewhere. */
  readonly procSys?: string;
  readonly run?: CommandRunner;
  /** Absolute paths of the tools; detected when absent. */
  readonly tools?: { readonly nft?: string; readonly ip?: string };
  /** This process (default: read from /proc). */
  readonly self?: ProcessIdentity;
  /** Whether the owner of a state file still runs (default: /proc lookup). */
  readonly isAlive?: (owner: ProcessIdentity) => boolean;
}

/** A host command or file operation that failed; the message names it and its stderr. */
export class HostSetupError extends Error {
  override readonly name = 'HostSetupError';
}

// ---------------------------------------------------------------------------------------------
// Tools

/** The first executable among `candidates`; throws naming them and the package to install. */
export function findTool(name: string, candidates: readonly string[], pkg: string): string {
  for (const path of candidates) {
    try {
      accessSync(path, fsConstants.X_OK);
      return path;
    } catch {
      // next
    }
  }
  throw new HostSetupError(`${name} not found (looked for ${candidates.join(', ')}): install ${pkg}`);
}

export const runCommand: CommandRunner = (path, args, input) =>
  new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const done = (result: CommandResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const child = spawn(path, args, {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      stderr += `\n(killed after ${COMMAND_TIMEOUT_MS} ms)`;
    }, COMMAND_TIMEOUT_MS);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (err) => done({ code: null, stdout, stderr: stderr || err.message }));
    child.once('close', (code) => done({ code, stdout, stderr }));
    if (input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
  });

function describeFailure(path: string, args: readonly string[], result: CommandResult): string {
  const status = result.code === null ? 'could not run' : `exit code ${result.code}`;
  const stderr = result.stderr.trim().replace(/\s*\n\s*/g, ' | ');
  return `${[path, ...args].join(' ')} failed (${status})${stderr ? `: ${stderr}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// nftables

/** The whole table as one nft script: created (or replaced) in a single transaction. */
export function nftTableScript(tunName: string, masquerade: boolean, table = NFT_TABLE): string {
  assertSafeName(tunName);
  const tun = `"${tunName}"`;
  const [v4, v6] = TUNNEL_RANGES_GATEWAY;
  const lines = [
    // Declaring then deleting makes the replacement work whether or not the table exists.
    `table ${NFT_FAMILY} ${table}`,
    `delete table ${NFT_FAMILY} ${table}`,
    `table ${NFT_FAMILY} ${table} {`,
    `\tcomment "fz-gateway: forwarding and NAT for ${tunName}; removed when the gateway stops"`,
    `\tchain forward {`,
    `\t\ttype filter hook forward priority filter; policy accept;`,
    `\t\tiifname ${tun} accept`,
    `\t\toifname ${tun} accept`,
    `\t}`,
  ];
  if (masquerade) {
    lines.push(
      `\tchain postrouting {`,
      `\t\ttype nat hook postrouting priority srcnat; policy accept;`,
      `\t\toifname != ${tun} ip saddr ${v4} masquerade`,
      `\t\toifname != ${tun} ip6 saddr ${v6} masquerade`,
      `\t}`,
    );
  }
  lines.push('}', '');
  return lines.join('\n');
}

/** Deletes the table if it exists (idempotent, one transaction). */
export function nftDeleteScript(table = NFT_TABLE): string {
  return `table ${NFT_FAMILY} ${table}\ndelete table ${NFT_FAMILY} ${table}\n`;
}

/** Interface names we accept: what Linux allows, minus anything that needs quoting. */
export function assertSafeName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(name)) {
    throw new RangeError(
      `invalid interface name "${name}": 1-15 characters, letters, digits, '_', '.', '-' (not first)`,
    );
  }
}

/**
 * Base chains of other tables that drop forwarded packets by policy (Docker's FORWARD, a
 * firewall's `policy drop`). An accept in our table does not override a drop in another table.
 */
export function forwardDropChains(nftJson: string, ownTable = NFT_TABLE): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(nftJson);
  } catch {
    return [];
  }
  const items = (parsed as { nftables?: unknown }).nftables;
  if (!Array.isArray(items)) return [];
  const found: string[] = [];
  for (const item of items) {
    const chain = (item as { chain?: Record<string, unknown> }).chain;
    if (!chain || chain.hook !== 'forward' || chain.policy !== 'drop') continue;
    if (chain.family === NFT_FAMILY && chain.table === ownTable) continue;
    found.push(`${String(chain.family)} ${String(chain.table)} ${String(chain.name)}`);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Process identity and the state file

function readTrimmed(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

function startTimeOf(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); field 22 is rest[19].
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

export function currentIdentity(): ProcessIdentity {
  return {
    pid: process.pid,
    startTime: startTimeOf('self') ?? '',
    bootId: readTrimmed('/proc/sys/kernel/random/boot_id'),
    netns: readlinkSync('/proc/self/ns/net'),
  };
}

export function ownerAlive(owner: ProcessIdentity): boolean {
  let bootId: string;
  try {
    bootId = readTrimmed('/proc/sys/kernel/random/boot_id');
  } catch {
    return false;
  }
  if (owner.bootId !== bootId || owner.pid === process.pid) return false;
  const start = startTimeOf(owner.pid);
  return start !== undefined && start === owner.startTime;
}

export function stateFilePath(stateDir: string): string {
  return join(stateDir, STATE_FILE);
}

/** Reads the state file: undefined when there is none, 'corrupt' when it cannot be understood. */
export function readHostState(stateDir: string): HostState | 'corrupt' | undefined {
  let text: string;
  try {
    text = readFileSync(stateFilePath(stateDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HostSetupError(`cannot read ${stateFilePath(stateDir)}: ${(err as Error).message}`);
  }
  try {
    const state = JSON.parse(text) as HostState;
    const ok =
      state.version === 1 &&
      typeof state.tunName === 'string' &&
      typeof state.owner?.pid === 'number' &&
      Array.isArray(state.sysctls) &&
      state.sysctls.every(
        (s) => typeof s.key === 'string' && typeof s.previous === 'string' && typeof s.applied === 'string',
      ) &&
      (state.nftTable === null || typeof state.nftTable?.name === 'string');
    return ok ? state : 'corrupt';
  } catch {
    return 'corrupt';
  }
}

/** Writes a file atomically: a temp file next to it, fsync, rename. */
export function writeFileAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new HostSetupError(`cannot write ${path}: ${(err as Error).message}`);
  }
}

/** Writes the state file atomically, mode 0600. */
export function writeHostState(stateDir: string, state: HostState): void {
  writeFileAtomic(stateFilePath(stateDir), `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

export function ensureStateDir(stateDir: string): void {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new HostSetupError(`cannot create state directory ${stateDir}: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The host

/** Applies and removes the gateway's host changes. */
export class HostSetup {
  private readonly procSys: string;
  private readonly run: CommandRunner;
  private readonly log: Logger;
  private nftPath: string | undefined;
  private ipPath: string | undefined;

  constructor(private readonly options: HostSetupOptions) {
    assertSafeName(options.tunName);
    this.procSys = options.procSys ?? '/proc/sys';
    this.run = options.run ?? runCommand;
    this.log = options.logger;
    this.nftPath = options.tools?.nft;
    this.ipPath = options.tools?.ip;
  }

  private get self(): ProcessIdentity {
    return this.options.self ?? currentIdentity();
  }

  /**
   * Takes back what an earlier gateway with this state directory left behind (killed before it
   * could clean up). Throws if that gateway is still running. Returns whether there was any.
   */
  async cleanStale(): Promise<boolean> {
    const state = readHostState(this.options.stateDir);
    if (state === undefined) return false;
    if (state === 'corrupt') {
      this.log.warn('state file unreadable; removing our nftables table only (sysctls left as they are)', {
        file: stateFilePath(this.options.stateDir),
      });
      await this.deleteTable(NFT_TABLE);
      rmSync(stateFilePath(this.options.stateDir), { force: true });
      return true;
    }
    const isAlive = this.options.isAlive ?? ownerAlive;
    if (isAlive(state.owner)) {
      throw new HostSetupError(
        `another fz-gateway (pid ${state.owner.pid}) is running with state directory ${this.options.stateDir}; ` +
          'stop it first, or give this one its own --state-dir',
      );
    }
    const self = this.self;
    if (state.owner.netns !== self.netns) {
      // Made in another network namespace (a container that is gone, another netns): there is
      // nothing of it here to take back, and nothing here is ours to change.
      this.log.info('stale state from another network namespace; nothing to undo here', {
        pid: state.owner.pid,
        netns: state.owner.netns,
      });
      rmSync(stateFilePath(this.options.stateDir), { force: true });
      return true;
    }
    this.log.info('undoing host changes left by a gateway that did not stop cleanly', {
      pid: state.owner.pid,
      since: state.createdAt,
    });
    await this.undo(state, true);
    return true;
  }

  /** Records, then applies, forwarding and the nftables table. On failure, undoes what it did. */
  async setUp(): Promise<HostState> {
    const { stateDir, tunName, masquerade } = this.options;
    ensureStateDir(stateDir);
    const nft = this.nft();
    const sysctls: SysctlChange[] = [];
    for (const key of FORWARDING_SYSCTLS) {
      const current = this.readSysctl(key);
      if (current === undefined) {
        this.log.warn(`${key} does not exist (IPv6 disabled?): not forwarding that family`);
        continue;
      }
      if (current !== '1') sysctls.push({ key, previous: current, applied: '1' });
    }
    const state: HostState = {
      version: 1,
      owner: this.self,
      tunName,
      nftTable: { family: NFT_FAMILY, name: NFT_TABLE },
      sysctls,
      createdAt: new Date().toISOString(),
    };
    // The record comes first: whatever happens next, a later start knows what to take back.
    writeHostState(stateDir, state);
    try {
      const existing = await this.run(nft, ['list', 'table', NFT_FAMILY, NFT_TABLE]);
      if (existing.code === 0) {
        this.log.warn(`replacing an existing nftables table ${NFT_FAMILY} ${NFT_TABLE}`, {
          hint: 'one gateway per host (network namespace)',
        });
      }
      await this.nftScript(nftTableScript(tunName, masquerade));
      for (const change of sysctls) this.writeSysctl(change.key, change.applied);
    } catch (err) {
      try {
        await this.undo(state, false);
      } catch (undoErr) {
        this.log.error('could not undo a partial host set-up; the next start retries', {
          error: (undoErr as Error).message,
        });
      }
      throw err;
    }
    await this.warnAboutForwardDrops();
    this.log.info('host set up', {
      tun: tunName,
      nft_table: `${NFT_FAMILY} ${NFT_TABLE}`,
      masquerade,
      forwarding_enabled: sysctls.map((s) => s.key).join(',') || 'already on',
    });
    return state;
  }

  /** Takes back what the state file records (nothing if there is none). Idempotent. */
  async tearDown(): Promise<void> {
    const state = readHostState(this.options.stateDir);
    if (state === undefined) return;
    if (state === 'corrupt') {
      await this.deleteTable(NFT_TABLE);
      rmSync(stateFilePath(this.options.stateDir), { force: true });
      return;
    }
    await this.undo(state, false);
    this.log.info('host changes removed', { nft_table: `${NFT_FAMILY} ${NFT_TABLE}` });
  }

  /** Every step is attempted; the state file goes only when all succeeded. */
  private async undo(state: HostState, stale: boolean): Promise<void> {
    const errors: string[] = [];
    if (state.nftTable) {
      try {
        await this.deleteTable(state.nftTable.name);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    for (const change of state.sysctls) {
      try {
        const current = this.readSysctl(change.key);
        if (current === change.applied) {
          this.writeSysctl(change.key, change.previous);
        } else if (current !== undefined && current !== change.previous) {
          this.log.info(`${change.key} was changed by someone else since; leaving it at ${current}`);
        }
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (stale) {
      try {
        await this.removeLeftoverTun(state.tunName);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (errors.length > 0) {
      throw new HostSetupError(`could not undo every host change (kept ${STATE_FILE}): ${errors.join('; ')}`);
    }
    rmSync(stateFilePath(this.options.stateDir), { force: true });
  }

  /** A TUN that outlived its (dead) owner: normally the kernel removes it with the last fd. */
  private async removeLeftoverTun(name: string): Promise<void> {
    assertSafeName(name);
    const ip = this.ip();
    const show = await this.run(ip, ['-d', '-o', 'link', 'show', 'dev', name]);
    if (show.code !== 0 || !/\btun\b/.test(show.stdout)) return;
    this.log.warn(`removing TUN device ${name} left by the earlier gateway`);
    const args = ['link', 'del', 'dev', name];
    const res = await this.run(ip, args);
    if (res.code !== 0) throw new HostSetupError(describeFailure(ip, args, res));
  }

  private async deleteTable(name: string): Promise<void> {
    await this.nftScript(nftDeleteScript(name));
  }

  private async nftScript(script: string): Promise<void> {
    const nft = this.nft();
    const res = await this.run(nft, ['-f', '-'], script);
    if (res.code !== 0) throw new HostSetupError(describeFailure(nft, ['-f', '-'], res));
  }

  private async warnAboutForwardDrops(): Promise<void> {
    const res = await this.run(this.nft(), ['-j', 'list', 'chains']);
    if (res.code !== 0) {
      this.log.debug('could not list nftables chains', { stderr: res.stderr.trim() });
      return;
    }
    for (const chain of forwardDropChains(res.stdout)) {
      this.log.warn(
        `nftables chain "${chain}" drops forwarded packets by policy, and an accept in our table ` +
          `cannot override it: allow traffic in and out of ${this.options.tunName} there`,
        { example: `iptables -I FORWARD -i ${this.options.tunName} -j ACCEPT` },
      );
    }
  }

  private nft(): string {
    this.nftPath ??= findTool('nft', NFT_PATHS, 'nftables');
    return this.nftPath;
  }

  private ip(): string {
    this.ipPath ??= findTool('ip', IP_PATHS, 'iproute2');
    return this.ipPath;
  }

  private sysctlPath(key: string): string {
    if (!/^[\w.-]+$/.test(key)) throw new RangeError(`invalid sysctl name ${key}`);
    return join(this.procSys, ...key.split('.'));
  }

  private readSysctl(key: string): string | undefined {
    const path = this.sysctlPath(key);
    try {
      return readTrimmed(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new HostSetupError(`cannot read ${path}: ${(err as Error).message}`);
    }
  }

  private writeSysctl(key: string, value: string): void {
    const path = this.sysctlPath(key);
    try {
      writeFileSync(path, `${value}\n`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const hint =
        code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
          ? ' (needs root or CAP_NET_ADMIN and a writable /proc/sys, e.g. no ProtectKernelTunables=)'
          : '';
      throw new HostSetupError(`cannot set ${key}=${value} (${path}): ${(err as Error).message}${hint}`);
    }
    this.log.debug(`set ${key}=${value}`);
  }
}
