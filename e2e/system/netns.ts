/**
 * Network-namespace harness for system tests (Linux, root).
 *
 * A `NetnsHarness` creates namespaces named `<base>-<pid>-<n>` (default base `fzt`), joins them
 * with veth pairs, runs commands in them and spawns long-running processes in their own process
 * groups. `cleanup()` kills every tracked process group (SIGTERM, then SIGKILL after a grace
 * period), kills whatever else still runs in the namespaces and deletes them. It may be called
 * any number of times; a synchronous variant runs on process exit and on SIGINT/SIGTERM/SIGHUP,
 * so a failing or interrupted test leaves nothing behind. `removeStale()` deletes the namespaces
 * of earlier runs whose process is gone.
 *
 * The namespaces are never linked to the host's namespace: traffic stays between them (or on
 * their loopback). Interface addresses must come from ranges that are never routed on the
 * internet (see `assertTestAddress`); tests use 10.x and fd00::/8.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockList, isIP } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** Linux limit for interface names (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15;
/** Where wireguard-go puts its UAPI sockets; this directory is shared by all namespaces. */
export const WG_SOCKET_DIR = '/var/run/wireguard';

const DEFAULT_BASE = 'fzt';
const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
const DEFAULT_GRACE_MS = 2_000;
const DEFAULT_MAX_LOG_BYTES = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Results and errors

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ExecOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
  /** Kill the command's process group and throw after this long (default 30 s). */
  timeoutMs?: number;
  /** Return the result of a failed command instead of throwing. Time-outs always throw. */
  allowFailure?: boolean;
  /** Added to (and overriding) the inherited environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export interface SpawnOptions {
  /** Added to (and overriding) the inherited environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Label used in logs and error messages (default: the command line). */
  label?: string;
  /** Keep at most this many characters of captured output, dropping the oldest (default 4 MiB). */
  maxLogBytes?: number;
  /** 'pipe' to write to the process through `child.stdin` (default 'ignore'). */
  stdin?: 'ignore' | 'pipe';
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: ExecResult,
    readonly netns: string | undefined,
    reason?: string,
  ) {
    const where = netns === undefined ? '' : ` in netns ${netns}`;
    const status =
      reason ?? (result.signal !== null ? `killed by ${result.signal}` : `exit code ${String(result.code)}`);
    const stderr = result.stderr.trim();
    const stdout = result.stdout.trim();
    super(
      `Command failed${where} (${status}): ${command}` +
        (stderr ? `\nstderr: ${tail(stderr, 4000)}` : '') +
        (!stderr && stdout ? `\nstdout: ${tail(stdout, 4000)}` : ''),
    );
    this.name = 'CommandError';
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function tail(text: string, max: number): string {
  return text.length <= max ? text : `…${text.slice(text.length - max)}`;
}

function quoteArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function commandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map(quoteArg).join(' ');
}

function mergeEnv(extra: Record<string, string | undefined> | undefined): NodeJS.ProcessEnv {
  if (!extra) return process.env;
  const merged = { ...process.env, ...extra };
  // An undefined value removes the variable.
  return Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined));
}

/** True while `pid` exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

// Guards: kill(0)/kill(-1) would signal our own group or every process on the machine.
// (Likewise, never shell out to procps' /usr/bin/kill with a negative pid: `kill -KILL -<pgid>`
// from procps-ng 4.0.2 took down every process here.)
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  if (!Number.isInteger(pgid) || pgid <= 1) return;
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: gone already.
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------
// Address guard

const testRanges = new BlockList();
testRanges.addSubnet('10.0.0.0', 8, 'ipv4');
testRanges.addSubnet('172.16.0.0', 12, 'ipv4');
testRanges.addSubnet('192.168.0.0', 16, 'ipv4');
testRanges.addSubnet('100.64.0.0', 10, 'ipv4'); // shared address space (CGNAT)
testRanges.addSubnet('192.0.2.0', 24, 'ipv4'); // TEST-NET-1
testRanges.addSubnet('198.51.100.0', 24, 'ipv4'); // TEST-NET-2
testRanges.addSubnet('203.0.113.0', 24, 'ipv4'); // TEST-NET-3
testRanges.addSubnet('fc00::', 7, 'ipv6'); // unique local addresses
testRanges.addSubnet('2001:db8::', 32, 'ipv6'); // documentation

/**
 * Throws unless `address` (an IP, optionally with `/prefix`) lies in a range that is never
 * routed on the internet: RFC 1918, 100.64/10, the TEST-NETs, fc00::/7, 2001:db8::/32 — or on
 * loopback when `allowLoopback` is set.
 */
export function assertTestAddress(address: string, allowLoopback = false): void {
  const slash = address.indexOf('/');
  const ip = slash === -1 ? address : address.slice(0, slash);
  const family = isIP(ip);
  if (family === 0) throw new Error(`not an IP address: ${address}`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (allowLoopback && (ip === '::1' || (family === 4 && ip.startsWith('127.')))) return;
  if (!testRanges.check(ip, type)) {
    throw new Error(
      `refusing address ${address}: test topologies must use private/test ranges (10.x, fd00::/8, ...)`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A process started in its own process group, with captured output. */
export class NsProcess {
  readonly pid: number;
  readonly label: string;
  /** Resolves when the process has exited (its pipes may still be open). */
  readonly exited: Promise<ProcessExit>;
  /** Resolves when the process has exited and its stdout/stderr are closed. */
  readonly closed: Promise<ProcessExit>;

  private stdoutText = '';
  private stderrText = '';
  private combined = '';
  private exitInfo: ProcessExit | undefined;
  private streamsClosed = false;
  private spawnError: Error | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly maxLog: number;

  constructor(
    readonly child: ChildProcess,
    readonly command: string,
    readonly netns: string | undefined,
    options: { label?: string; maxLogBytes?: number } = {},
  ) {
    this.pid = child.pid ?? -1;
    this.label = options.label ?? command;
    this.maxLog = options.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.append('stdout', chunk));
    child.stderr?.on('data', (chunk: string) => this.append('stderr', chunk));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
        this.notify();
      });
      child.once('error', (err) => {
        // Spawning failed (e.g. `ip` not found): there will be no 'exit'.
        this.spawnError = err;
        if (this.pid === -1) {
          this.exitInfo = { code: null, signal: null };
          resolve(this.exitInfo);
          this.notify();
        }
      });
    });
    this.closed = new Promise((resolve) => {
      if (this.pid === -1) {
        void this.exited.then(resolve);
        return;
      }
      child.once('close', (code, signal) => {
        this.streamsClosed = true;
        resolve({ code, signal });
        this.notify();
      });
    });
  }

  get stdout(): string {
    return this.stdoutText;
  }
  get stderr(): string {
    return this.stderrText;
  }
  /** stdout and stderr interleaved in arrival order. */
  get output(): string {
    return this.combined;
  }
  get exitCode(): number | null {
    return this.exitInfo?.code ?? null;
  }
  get running(): boolean {
    return this.exitInfo === undefined;
  }
  get error(): Error | undefined {
    return this.spawnError;
  }

  /**
   * Waits until the captured output (both streams by default) matches `pattern` and returns the
   * match. Rejects, with the end of the log, on timeout or when the process exits first.
   */
  waitForOutput(
    pattern: RegExp,
    timeoutMs = 10_000,
    stream: 'both' | 'stdout' | 'stderr' = 'both',
  ): Promise<RegExpMatchArray> {
    const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
    const text = (): string =>
      stream === 'stdout' ? this.stdoutText : stream === 'stderr' ? this.stderrText : this.combined;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const match = re.exec(text());
        if (match) {
          done();
          resolve(match);
          return true;
        }
        // Wait for the pipes to close too, so that output printed just before exit counts.
        if (!this.running && (this.streamsClosed || this.pid === -1)) {
          done();
          reject(
            new Error(
              `${this.label} exited (${this.describeExit()}) before printing ${String(pattern)}\n` +
                `--- output ---\n${tail(this.combined, 4000)}`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        if (check()) return;
        done();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${String(pattern)} from ${this.label}\n` +
              `--- output ---\n${tail(this.combined, 4000)}`,
          ),
        );
      }, timeoutMs);
      const listener = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      if (!check()) this.listeners.add(listener);
    });
  }

  /** Waits for the process to exit; rejects after `timeoutMs` if given. */
  async waitForExit(timeoutMs?: number): Promise<ProcessExit> {
    if (timeoutMs === undefined) return this.exited;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.label} still running after ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` to the whole process group. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.pid > 0) signalGroup(this.pid, signal);
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`, then waits for the exit. */
  async stop(graceMs = DEFAULT_GRACE_MS): Promise<void> {
    if (this.pid <= 0) return;
    if (this.running) {
      this.kill('SIGTERM');
      const deadline = Date.now() + graceMs;
      while (this.running && Date.now() < deadline) {
        await Promise.race([this.exited, delay(Math.min(50, Math.max(1, deadline - Date.now())))]);
      }
    }
    // Also reaches children left in the group after the leader exited.
    this.kill('SIGKILL');
    if (this.running) {
      await Promise.race([this.exited, delay(5_000)]);
    }
  }

  /** For the synchronous exit path: the event loop cannot reap, so look at /proc. */
  leaderAlive(): boolean {
    return this.pid > 0 && this.running && pidAlive(this.pid);
  }

  describeExit(): string {
    if (this.spawnError) return `spawn failed: ${this.spawnError.message}`;
    if (!this.exitInfo) return 'running';
    return this.exitInfo.signal !== null ? `signal ${this.exitInfo.signal}` : `code ${this.exitInfo.code}`;
  }

  private append(stream: 'stdout' | 'stderr', chunk: string): void {
    if (stream === 'stdout') this.stdoutText = this.cap(this.stdoutText + chunk);
    else this.stderrText = this.cap(this.stderrText + chunk);
    this.combined = this.cap(this.combined + chunk);
    this.notify();
  }

  private cap(text: string): string {
    return text.length > this.maxLog ? text.slice(text.length - this.maxLog) : text;
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

// ---------------------------------------------------------------------------------------------
// Namespaces

export interface VethEnd {
  ns: Netns;
  ifname: string;
  /** CIDR, e.g. 10.99.0.1/24. */
  ipv4?: string;
  /** CIDR, e.g. fd00:99::1/64 (added with nodad). */
  ipv6?: string;
}

export interface VethOptions {
  /** CIDRs for the a and b ends, e.g. ['10.99.0.1/24', '10.99.0.2/24']. */
  ipv4?: [string, string];
  /** CIDRs for the a and b ends, e.g. ['fd00:99::1/64', 'fd00:99::2/64']; added with nodad. */
  ipv6?: [string, string];
  /** Interface names in a and b (default `veth<k>` on both sides; at most 15 characters). */
  names?: [string, string];
  mtu?: number;
}

export interface VethPair {
  a: VethEnd;
  b: VethEnd;
}

/** One namespace owned by a harness. */
export class Netns {
  constructor(
    readonly name: string,
    readonly harness: NetnsHarness,
  ) {}

  /** Runs a command inside the namespace and waits for it (throws CommandError on failure). */
  exec(cmd: string, args: readonly string[] = [], options: ExecOptions = {}): Promise<ExecResult> {
    return this.harness.execIn(this.name, cmd, args, options);
  }

  /** `ip <args>` inside the namespace. */
  ip(...args: string[]): Promise<ExecResult> {
    return this.exec('ip', args);
  }

  /** Starts a long-running, tracked process inside the namespace. */
  spawn(cmd: string, args: readonly string[] = [], options: SpawnOptions = {}): NsProcess {
    return this.harness.spawnIn(this.name, cmd, args, options);
  }

  /** Adds an address (CIDR) to `ifname`; IPv6 addresses get nodad. */
  async addAddress(ifname: string, cidr: string): Promise<void> {
    assertTestAddress(cidr);
    const v6 = cidr.includes(':');
    await this.ip(...(v6 ? ['-6'] : []), 'addr', 'add', cidr, 'dev', ifname, ...(v6 ? ['nodad'] : []));
  }

  /** `sysctl -w key=value` inside the namespace (for net.* keys, which are per namespace). */
  async sysctl(key: string, value: string | number): Promise<void> {
    await this.exec('sysctl', ['-q', '-w', `${key}=${String(value)}`]);
  }

  /** Names of the links in this namespace. */
  async links(): Promise<string[]> {
    const { stdout } = await this.ip('-o', 'link', 'show');
    return parseLinkNames(stdout);
  }

  toString(): string {
    return this.name;
  }
}

function parseLinkNames(ipOneLineOutput: string): string[] {
  const names: string[] = [];
  for (const line of ipOneLineOutput.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m) names.push(m[1]!);
  }
  return names;
}

// Namespace numbers are unique across all harnesses of this process.
let namespaceCounter = 0;

const liveHarnesses = new Set<NetnsHarness>();
let exitHandlersInstalled = false;

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', () => {
    for (const harness of [...liveHarnesses]) harness.cleanupSync();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      for (const harness of [...liveHarnesses]) harness.cleanupSync();
      // With no other listener, restore the default action so the process still ends.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, handler);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, handler);
  }
  // A test worker whose parent (the test runner) died: clean up now rather than when the
  // orphaned worker eventually exits.
  if (typeof process.send === 'function') {
    process.once('disconnect', () => {
      for (const harness of [...liveHarnesses]) harness.cleanupSync();
    });
  }
}

export interface HarnessOptions {
  /** First part of namespace names (default `fzt`); names are `<base>-<pid>-<n>`. */
  base?: string;
  /** How long processes get between SIGTERM and SIGKILL in cleanup() (default 2 s). */
  graceMs?: number;
}

export class NetnsHarness {
  /** `<base>-<pid>-`: every namespace of this process starts with it. */
  readonly prefix: string;
  readonly graceMs: number;

  private readonly namespaces: Netns[] = [];
  private readonly processes = new Set<NsProcess>();
  private readonly history: NsProcess[] = [];
  private readonly hooks: (() => void)[] = [];
  private vethCounter = 0;
  private cleaning: Promise<void> | undefined;

  constructor(options: HarnessOptions = {}) {
    const base = options.base ?? DEFAULT_BASE;
    if (!/^[a-z][a-z0-9]{0,7}$/.test(base)) throw new Error(`invalid namespace base name: ${base}`);
    this.prefix = `${base}-${process.pid}-`;
    this.graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  }

  /** Namespaces created and not yet deleted. */
  get namespaceNames(): string[] {
    return this.namespaces.map((ns) => ns.name);
  }

  /** Processes started (spawned or exec'd) that have not been reaped by cleanup or completion. */
  get trackedProcesses(): NsProcess[] {
    return [...this.processes];
  }

  /** Creates a namespace with `lo` up. */
  async createNamespace(): Promise<Netns> {
    this.register();
    const name = `${this.prefix}${namespaceCounter++}`;
    const ns = new Netns(name, this);
    // Listed before it exists, so that a cleanup racing with `ip netns add` still removes it.
    this.namespaces.push(ns);
    try {
      await this.execHost('ip', ['netns', 'add', name]);
    } catch (err) {
      if (!existsSync(`/run/netns/${name}`)) this.namespaces.splice(this.namespaces.indexOf(ns), 1);
      throw err;
    }
    await ns.ip('link', 'set', 'dev', 'lo', 'up');
    return ns;
  }

  /** Joins two namespaces with a veth pair, assigns the addresses and brings both ends up. */
  async connect(a: Netns, b: Netns, options: VethOptions = {}): Promise<VethPair> {
    for (const ns of [a, b]) {
      if (!this.namespaces.includes(ns)) throw new Error(`namespace ${ns.name} is not owned by this harness`);
    }
    if (a === b) throw new Error('connect() needs two different namespaces');
    for (const cidr of [...(options.ipv4 ?? []), ...(options.ipv6 ?? [])]) assertTestAddress(cidr);
    const k = this.vethCounter++;
    const [nameA, nameB] = options.names ?? [`veth${k}`, `veth${k}`];
    for (const n of [nameA, nameB]) {
      if (n.length > IFNAME_MAX || !/^[\w.-]+$/.test(n)) throw new Error(`invalid interface name: ${n}`);
    }
    // Created directly inside the namespaces, so the names never meet in the host namespace.
    await this.execHost('ip', [
      'link',
      'add',
      nameA,
      'netns',
      a.name,
      'type',
      'veth',
      'peer',
      'name',
      nameB,
      'netns',
      b.name,
    ]);
    const ends: [VethEnd, VethEnd] = [
      { ns: a, ifname: nameA },
      { ns: b, ifname: nameB },
    ];
    for (const [i, end] of ends.entries()) {
      if (options.mtu !== undefined)
        await end.ns.ip('link', 'set', 'dev', end.ifname, 'mtu', String(options.mtu));
      const v4 = options.ipv4?.[i];
      const v6 = options.ipv6?.[i];
      if (v4 !== undefined) {
        await end.ns.addAddress(end.ifname, v4);
        end.ipv4 = v4;
      }
      if (v6 !== undefined) {
        await end.ns.addAddress(end.ifname, v6);
        end.ipv6 = v6;
      }
      await end.ns.ip('link', 'set', 'dev', end.ifname, 'up');
    }
    return { a: ends[0], b: ends[1] };
  }

  /**
   * A fresh private (0700) directory `<tmp>/<base>-<pid>-<label>-XXXXXX`, removed at cleanup
   * (and by a later removeStale() if this process dies before that).
   */
  tempDir(label: string): string {
    if (!/^[\w-]{1,20}$/.test(label)) throw new Error(`invalid temp dir label: ${label}`);
    const dir = mkdtempSync(join(tmpdir(), `${this.prefix}${label}-`));
    this.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** Registers a synchronous action run at the end of every cleanup (e.g. removing temp dirs). */
  onCleanup(action: () => void): void {
    this.register();
    this.hooks.push(action);
  }

  /** Runs `cmd` inside namespace `netns` (`ip netns exec`). */
  async execIn(
    netns: string,
    cmd: string,
    args: readonly string[] = [],
    options: ExecOptions = {},
  ): Promise<ExecResult> {
    return this.runTracked(['netns', 'exec', netns, cmd, ...args], commandLine(cmd, args), netns, options);
  }

  /** Runs a command in the host namespace (only for `ip netns …`/`ip link add … netns …`). */
  private execHost(cmd: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    return runCommand(cmd, args, options);
  }

  /** Starts a long-running process in `netns`, in its own process group, tracked for cleanup. */
  spawnIn(netns: string, cmd: string, args: readonly string[] = [], options: SpawnOptions = {}): NsProcess {
    this.register();
    const child = spawn('ip', ['netns', 'exec', netns, cmd, ...args], {
      detached: true,
      stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
      env: mergeEnv(options.env),
      cwd: options.cwd,
    });
    // A write to a process that has exited must not crash the test run.
    child.stdin?.on('error', () => undefined);
    const proc = new NsProcess(child, commandLine(cmd, args), netns, {
      label: options.label ?? `[${netns}] ${commandLine(cmd, args)}`,
      maxLogBytes: options.maxLogBytes,
    });
    this.processes.add(proc);
    this.history.push(proc);
    return proc;
  }

  /** The captured output of every process spawned so far, for test failure reports. */
  logs(maxPerProcess = 4000): string {
    return this.history
      .map((p) => `=== ${p.label} (pid ${p.pid}, ${p.describeExit()}) ===\n${tail(p.output, maxPerProcess)}`)
      .join('\n');
  }

  /**
   * Kills every tracked process group (SIGTERM, SIGKILL after graceMs), kills anything else
   * still running in the namespaces, deletes them and runs the onCleanup actions. Safe to call
   * repeatedly and concurrently. Throws, after doing all it can, if something could not be removed.
   */
  cleanup(): Promise<void> {
    this.cleaning ??= this.doCleanup().finally(() => {
      this.cleaning = undefined;
    });
    return this.cleaning;
  }

  private async doCleanup(): Promise<void> {
    const errors: string[] = [];
    await Promise.all([...this.processes].map((p) => p.stop(this.graceMs)));
    for (const p of this.processes) if (!p.running) this.processes.delete(p);
    for (const p of this.processes) errors.push(`process ${p.pid} (${p.label}) did not exit`);

    const namespaces = [...this.namespaces];
    for (const ns of namespaces) {
      try {
        await killNamespaceProcesses(ns.name, this.graceMs);
      } catch (err) {
        errors.push(String(err));
      }
    }
    for (const ns of namespaces) {
      const res = await runCommand('ip', ['netns', 'del', ns.name], { allowFailure: true });
      if (res.code === 0 || !existsSync(`/run/netns/${ns.name}`)) {
        this.namespaces.splice(this.namespaces.indexOf(ns), 1);
      } else {
        errors.push(`could not delete netns ${ns.name}: ${res.stderr.trim()}`);
      }
    }
    this.runHooks(errors);
    if (this.namespaces.length === 0 && this.processes.size === 0) liveHarnesses.delete(this);
    if (errors.length > 0) throw new Error(`netns cleanup incomplete:\n${errors.join('\n')}`);
  }

  /** Synchronous best-effort cleanup, for process exit and signal handlers. Never throws. */
  cleanupSync(): void {
    try {
      const procs = [...this.processes];
      for (const p of procs) p.kill('SIGTERM');
      const deadline = Date.now() + Math.min(this.graceMs, 1_000);
      while (procs.some((p) => p.leaderAlive()) && Date.now() < deadline) sleepSync(20);
      for (const p of procs) p.kill('SIGKILL');
      this.processes.clear();
      for (const ns of this.namespaces) {
        for (const pid of namespacePidsSync(ns.name)) signalPid(pid, 'SIGKILL');
      }
      for (const ns of this.namespaces) {
        const until = Date.now() + 1_000;
        while (namespacePidsSync(ns.name).some(pidAlive) && Date.now() < until) sleepSync(20);
        spawnSync('ip', ['netns', 'del', ns.name], { stdio: 'ignore' });
      }
      this.namespaces.length = 0;
      this.runHooks([]);
      liveHarnesses.delete(this);
    } catch {
      // Best effort only: this runs while the process is going down.
    }
  }

  private runHooks(errors: string[]): void {
    const hooks = this.hooks.splice(0).reverse();
    for (const hook of hooks) {
      try {
        hook();
      } catch (err) {
        errors.push(`cleanup action failed: ${String(err)}`);
      }
    }
  }

  private register(): void {
    installExitHandlers();
    liveHarnesses.add(this);
  }

  private async runTracked(
    ipArgs: string[],
    shown: string,
    netns: string,
    options: ExecOptions,
  ): Promise<ExecResult> {
    this.register();
    const proc = startProcess('ip', ipArgs, shown, netns, options);
    this.processes.add(proc);
    try {
      return await finishProcess(proc, shown, netns, options);
    } finally {
      this.processes.delete(proc);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Running commands

function startProcess(
  cmd: string,
  args: readonly string[],
  shown: string,
  netns: string | undefined,
  options: ExecOptions,
): NsProcess {
  const child = spawn(cmd, args, {
    detached: true,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: mergeEnv(options.env),
    cwd: options.cwd,
  });
  if (options.input !== undefined && child.stdin) {
    child.stdin.on('error', () => {
      // EPIPE when the command does not read its input: its exit status tells what happened.
    });
    child.stdin.end(options.input);
  }
  return new NsProcess(child, shown, netns);
}

async function finishProcess(
  proc: NsProcess,
  shown: string,
  netns: string | undefined,
  options: ExecOptions,
): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill('SIGKILL');
  }, timeoutMs);
  let exit: ProcessExit;
  try {
    exit = await proc.exited;
    // Give the pipes a moment to drain; a background grandchild may hold them open.
    await Promise.race([proc.closed, delay(1_000)]);
  } finally {
    clearTimeout(timer);
  }
  proc.child.stdout?.destroy();
  proc.child.stderr?.destroy();
  const result: ExecResult = {
    stdout: proc.stdout,
    stderr: proc.stderr,
    code: exit.code,
    signal: exit.signal,
  };
  if (proc.error && proc.pid === -1) {
    throw new CommandError(shown, result, netns, `could not start: ${proc.error.message}`);
  }
  if (timedOut) throw new CommandError(shown, result, netns, `timed out after ${timeoutMs} ms`);
  if (result.code !== 0 && !options.allowFailure) throw new CommandError(shown, result, netns);
  return result;
}

/** Runs a command in the current (host) namespace, with the same result and errors as exec. */
export async function runCommand(
  cmd: string,
  args: readonly string[] = [],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const shown = commandLine(cmd, args);
  return finishProcess(startProcess(cmd, args, shown, undefined, options), shown, undefined, options);
}

/** All named network namespaces (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await runCommand('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.length > 0);
}

function namespacePidsSync(netns: string): number[] {
  const res = spawnSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' });
  if (res.status !== 0 || typeof res.stdout !== 'string') return [];
  return res.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((pid) => pid > 1 && pid !== process.pid);
}

/** SIGTERM, then SIGKILL after graceMs, to every process still inside `netns`. */
async function killNamespaceProcesses(netns: string, graceMs: number): Promise<void> {
  let pids = namespacePidsSync(netns).filter(pidAlive);
  if (pids.length === 0) return;
  for (const pid of pids) signalPid(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.length > 0 && Date.now() < deadline) {
    await delay(25);
    pids = pids.filter(pidAlive);
  }
  for (const pid of pids) signalPid(pid, 'SIGKILL');
  const killDeadline = Date.now() + 2_000;
  while (pids.length > 0 && Date.now() < killDeadline) {
    await delay(25);
    pids = pids.filter(pidAlive);
  }
  if (pids.length > 0) throw new Error(`processes ${pids.join(', ')} in netns ${netns} survived SIGKILL`);
}

/**
 * Deletes namespaces named `<base>-<pid>-<n>` whose pid no longer exists (left by killed runs),
 * after killing what still runs in them and removing their wireguard-go UAPI sockets, and the
 * temp dirs `<tmp>/<base>-<pid>-*` of such runs. Returns the names of what it removed.
 */
export async function removeStale(options: { base?: string } = {}): Promise<string[]> {
  const base = options.base ?? DEFAULT_BASE;
  const pattern = new RegExp(`^${escapeRegExp(base)}-(\\d+)-\\d+$`);
  const removed: string[] = [];
  for (const name of await listNamespaces()) {
    const m = pattern.exec(name);
    if (!m) continue;
    const owner = Number(m[1]);
    if (owner === process.pid || processExists(owner)) continue;
    const linkList = await runCommand('ip', ['-n', name, '-o', 'link', 'show'], { allowFailure: true });
    const links = linkList.code === 0 ? parseLinkNames(linkList.stdout) : [];
    await killNamespaceProcesses(name, 500);
    for (const link of links) {
      rmSync(`${WG_SOCKET_DIR}/${link}.sock`, { force: true });
    }
    await runCommand('ip', ['netns', 'del', name]);
    removed.push(name);
  }
  const dirPattern = new RegExp(`^${escapeRegExp(base)}-(\\d+)-[\\w-]+$`);
  for (const entry of readdirSync(tmpdir())) {
    const m = dirPattern.exec(entry);
    if (!m) continue;
    const owner = Number(m[1]);
    if (owner === process.pid || processExists(owner)) continue;
    rmSync(join(tmpdir(), entry), { recursive: true, force: true });
    removed.push(join(tmpdir(), entry));
  }
  return removed;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
