/**
 * Points the operating system's DNS at the client's sentinel resolvers inside the tunnel while
 * the client runs, and puts the original configuration back afterwards (or at the next start if
 * the client crashed). Only Linux exists so far; the `DnsControl` interface is what macOS and
 * Windows implementations will provide later.
 *
 * Linux has two ways, picked once per instance:
 * - systemd-resolved (when it runs): per-link configuration of the TUN with `resolvectl`. Nothing
 *   is written to disk, and the configuration disappears with the link, so a crash cannot leave
 *   the host without DNS.
 * - /etc/resolv.conf: the file is replaced atomically. The original is backed up to the state
 *   directory first, and a backup that is still there at the next start means the previous run
 *   crashed before restoring it.
 *
 * External tools run by absolute path through execFile: no shell, no PATH lookup, so neither a
 * hostile PATH nor a strange interface name or search domain can run anything else.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  type Stats,
  constants as fsConstants,
  accessSync,
  readFileSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { lstat, mkdir, open, readFile, readlink, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parseCidr } from '../datapath/allowed-ips.js';
import { SENTINEL_IPV4_RANGE, SENTINEL_IPV6_RANGE } from '../dns/constants.js';
import { parseIpAddress } from '../packet/index.js';
import { contains } from '../tunnel/routing-table.js';

/** How DNS is configured on Linux. */
export type DnsMethod = 'systemd-resolved' | 'resolv-conf';
/** What the caller asks for: `auto` picks systemd-resolved when it runs, else resolv.conf. */
export type DnsMethodChoice = 'auto' | DnsMethod;

export interface DnsConfig {
  /** The TUN device (systemd-resolved configures DNS per link). */
  readonly interfaceName: string;
  /** The sentinel resolver addresses inside the tunnel, in order of preference. */
  readonly servers: readonly string[];
  /** The portal's search domain, or null for none. */
  readonly searchDomain: string | null;
}

export interface DnsControl {
  /** The method this instance uses, fixed at construction. */
  readonly method: DnsMethod;
  /** Sends the host's DNS to `config.servers`; applying again replaces the previous settings. */
  apply(config: DnsConfig): Promise<void>;
  /** Puts the original configuration back. Safe to call when nothing was applied. */
  restore(): Promise<void>;
  /** At start-up: undoes what a previous run that crashed left behind. */
  recover(): Promise<void>;
  /**
   * The nameservers the host used before us (what the client forwards non-resource queries to),
   * without any sentinel address: forwarding to ourselves would loop.
   */
  systemUpstreams(): string[];
}

/** Runs `file` (an absolute path) with `args`, without a shell; rejects when it fails. */
export type CommandRunner = (file: string, args: readonly string[]) => Promise<void>;

/** What we log through; the engine's `Logger` fits. */
export interface DnsLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface DnsControlOptions {
  /** Default `auto`. */
  readonly method?: DnsMethodChoice;
  /** Default `/etc/resolv.conf`. */
  readonly resolvConfPath?: string;
  /** Where the resolv.conf backup lives; default `/var/lib/fz-client` (the client's state dir). */
  readonly stateDir?: string;
  /** systemd-resolved's runtime directory; default `/run/systemd/resolve`. */
  readonly resolvedRunDir?: string;
  /** Where `resolvectl` may be, first found wins; default /usr/bin, /bin, /usr/sbin. */
  readonly resolvectlPaths?: readonly string[];
  /** Default: execFile. */
  readonly run?: CommandRunner;
  readonly logger?: DnsLogger;
  /** Default `process.platform` (for tests of the factory). */
  readonly platform?: NodeJS.Platform;
}

export const DEFAULT_RESOLV_CONF = '/etc/resolv.conf';
export const DEFAULT_DNS_STATE_DIR = '/var/lib/fz-client';
export const DEFAULT_RESOLVED_RUN_DIR = '/run/systemd/resolve';
export const DEFAULT_RESOLVECTL_PATHS: readonly string[] = [
  '/usr/bin/resolvectl',
  '/bin/resolvectl',
  '/usr/sbin/resolvectl',
];
export const BACKUP_FILE = 'resolv.conf.backup';
export const BACKUP_META_FILE = 'resolv.conf.backup.json';

/** First line of every resolv.conf we write: how we recognise our own file. */
export const RESOLV_CONF_MARKER = '# Written by fz-client';

/** systemd-resolved's local stub listeners: they forward to resolved, never to the network. */
const RESOLVED_STUBS = new Set(['127.0.0.53', '127.0.0.54']);
const SENTINEL_RANGES = [SENTINEL_IPV4_RANGE, SENTINEL_IPV6_RANGE].map(parseCidr);
/** glibc reads at most this many nameserver lines (MAXNS). */
const GLIBC_MAXNS = 3;
const COMMAND_TIMEOUT_MS = 10_000;

/** The DNS control for this platform. */
export function createDnsControl(options: DnsControlOptions = {}): DnsControl {
  const platform = options.platform ?? process.platform;
  if (platform === 'linux') return new LinuxDnsControl(options);
  throw new Error(`DNS control is not implemented on ${platform} yet`);
}

/** What the backup meta file says about the original /etc/resolv.conf. */
interface BackupMeta {
  readonly version: 1;
  /** `absent`: there was no resolv.conf, so restoring removes ours. */
  readonly kind: 'file' | 'symlink' | 'absent';
  /** For `symlink`: the link text, put back as is (often systemd's stub-resolv.conf). */
  readonly target?: string;
  /** For `file`: its permission bits. */
  readonly mode?: number;
}

export class LinuxDnsControl implements DnsControl {
  readonly method: DnsMethod;
  private readonly resolvConfPath: string;
  private readonly stateDir: string;
  private readonly resolvedRunDir: string;
  private readonly resolvectl: string | null;
  private readonly run: CommandRunner;
  private readonly logger: DnsLogger | undefined;
  /** The link systemd-resolved was configured on, for `revert`. */
  private resolvedLink: string | null = null;
  /** apply/restore/recover one at a time: interleaved, a restore could run between backup and write. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: DnsControlOptions = {}) {
    this.resolvConfPath = options.resolvConfPath ?? DEFAULT_RESOLV_CONF;
    this.stateDir = options.stateDir ?? DEFAULT_DNS_STATE_DIR;
    this.resolvedRunDir = options.resolvedRunDir ?? DEFAULT_RESOLVED_RUN_DIR;
    this.run = options.run ?? defaultRunner;
    this.logger = options.logger;
    this.resolvectl = findExecutable(options.resolvectlPaths ?? DEFAULT_RESOLVECTL_PATHS);
    const choice = options.method ?? 'auto';
    if (choice === 'systemd-resolved') {
      if (this.resolvectl === null) {
        throw new Error(
          `DNS method systemd-resolved: resolvectl not found in ` +
            (options.resolvectlPaths ?? DEFAULT_RESOLVECTL_PATHS).join(', '),
        );
      }
      this.method = 'systemd-resolved';
    } else if (choice === 'resolv-conf') {
      this.method = 'resolv-conf';
    } else {
      // resolved's run directory exists only while it runs (its varlink socket io.systemd.Resolve
      // lives there); an installed but stopped resolved would accept nothing.
      this.method =
        this.resolvectl !== null && isDirectory(this.resolvedRunDir) ? 'systemd-resolved' : 'resolv-conf';
    }
  }

  private get backupPath(): string {
    return join(this.stateDir, BACKUP_FILE);
  }

  private get metaPath(): string {
    return join(this.stateDir, BACKUP_META_FILE);
  }

  async apply(config: DnsConfig): Promise<void> {
    const checked = checkConfig(config);
    await this.serial(() =>
      this.method === 'systemd-resolved' ? this.applyResolved(checked) : this.applyResolvConf(checked),
    );
  }

  restore(): Promise<void> {
    return this.serial(async () => {
      if (this.method === 'systemd-resolved') await this.revertResolved();
      // Also after a resolved run: a backup left by an earlier resolv-conf run must not linger.
      await this.restoreBackup();
    });
  }

  recover(): Promise<void> {
    return this.serial(async () => {
      if (!(await this.backupExists())) return;
      this.logger?.warn(
        `DNS: ${this.resolvConfPath} was not restored by the previous run; restoring it from ${this.backupPath}`,
      );
      await this.restoreBackup();
    });
  }

  systemUpstreams(): string[] {
    let source = this.backupPath;
    let text = readTextOrNull(source);
    if (text === null) {
      source = this.resolvConfPath;
      text = readTextOrNull(source);
    }
    let servers = text === null ? [] : parseNameservers(text);
    if (servers.some((s) => RESOLVED_STUBS.has(s))) {
      // The stub only leads back to resolved, which (with us applied) routes everything to our
      // link: resolved's own list of upstreams is the real one.
      const uplink = join(this.resolvedRunDir, 'resolv.conf');
      const uplinkText = readTextOrNull(uplink);
      if (uplinkText === null) {
        this.logger?.warn(
          `DNS: ${source} points at systemd-resolved's stub but ${uplink} cannot be read: ` +
            `no upstream resolvers from it`,
        );
      }
      servers = uplinkText === null ? servers : parseNameservers(uplinkText);
    }
    return [...new Set(servers.filter((s) => !RESOLVED_STUBS.has(s) && !isSentinel(s)))];
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task, task);
    this.queue = next.catch(() => undefined);
    return next;
  }

  // --- systemd-resolved ---------------------------------------------------------------------

  private async applyResolved(config: DnsConfig): Promise<void> {
    if (this.resolvedLink !== null && this.resolvedLink !== config.interfaceName) await this.revertResolved();
    const link = config.interfaceName;
    // Remembered before the first command: restore() must revert even a half-done configuration.
    this.resolvedLink = link;
    // Servers before routing domains: `~.` on a link without servers would leave names unresolved.
    await this.resolvectlRequired(['dns', link, ...config.servers]);
    // `~.` routes every name to this link (a more specific routing domain of another link, say a
    // DHCP "lan", still wins for its names); the search domain is searched and routed here too.
    await this.resolvectlRequired([
      'domain',
      link,
      ...(config.searchDomain === null ? [] : [config.searchDomain]),
      '~.',
    ]);
    // Optional settings: older systemd (< 240) has no default-route; failures there only log.
    await this.resolvectlOptional(['default-route', link, 'true']);
    // Multicast name resolution on a tunnel would only leak names to the peers.
    await this.resolvectlOptional(['llmnr', link, 'false']);
    // The sentinel makes up answers for resources (proxy addresses), which can never validate:
    // a global DNSSEC=yes must not reject them.
    await this.resolvectlOptional(['dnssec', link, 'false']);
    this.logger?.info(
      `DNS: systemd-resolved sends all names to ${link} (${config.servers.join(', ')})` +
        (config.searchDomain === null ? '' : `, search ${config.searchDomain}`),
    );
    this.warnIfResolvConfBypassesResolved();
  }

  private async revertResolved(): Promise<void> {
    const link = this.resolvedLink;
    if (link === null) return;
    this.resolvedLink = null;
    try {
      await this.run(this.resolvectl!, ['revert', link]);
      this.logger?.info(`DNS: systemd-resolved settings of ${link} reverted`);
    } catch (error) {
      // The settings belong to the link: when the TUN is already gone, so are they.
      this.logger?.warn(`DNS: resolvectl revert ${link} failed (${(error as Error).message})`);
    }
  }

  private async resolvectlRequired(args: readonly string[]): Promise<void> {
    try {
      await this.run(this.resolvectl!, args);
    } catch (error) {
      throw new Error(`resolvectl ${args.join(' ')} failed: ${(error as Error).message}`, { cause: error });
    }
  }

  private async resolvectlOptional(args: readonly string[]): Promise<void> {
    try {
      await this.run(this.resolvectl!, args);
    } catch (error) {
      this.logger?.warn(`DNS: resolvectl ${args.join(' ')} failed (ignored): ${(error as Error).message}`);
    }
  }

  /** Programs that read resolv.conf directly only see resolved if it points at resolved. */
  private warnIfResolvConfBypassesResolved(): void {
    const text = readTextOrNull(this.resolvConfPath);
    if (text === null) return;
    const servers = parseNameservers(text);
    if (servers.some((s) => RESOLVED_STUBS.has(s))) return;
    // A link to resolved's own files is fine: its "uplink" resolv.conf lists every link's servers,
    // ours included.
    if (pointsInto(this.resolvConfPath, this.resolvedRunDir)) return;
    this.logger?.warn(
      `DNS: ${this.resolvConfPath} does not point at systemd-resolved; programs that read it ` +
        `directly bypass the tunnel's DNS (use the resolv-conf method to rewrite it)`,
    );
  }

  // --- /etc/resolv.conf ----------------------------------------------------------------------

  private async applyResolvConf(config: DnsConfig): Promise<void> {
    if (!(await this.backupExists())) await this.backUp();
    if (config.servers.length > GLIBC_MAXNS) {
      this.logger?.warn(
        `DNS: ${config.servers.length} servers but glibc reads only the first ${GLIBC_MAXNS} of resolv.conf`,
      );
    }
    const text = resolvConfText(config, this.backupPath);
    try {
      await atomicReplace(this.resolvConfPath, async (tmp) => writeDurably(tmp, text, 0o644));
    } catch (error) {
      throw new Error(`cannot write ${this.resolvConfPath}: ${(error as Error).message}`, { cause: error });
    }
    this.logger?.info(
      `DNS: ${this.resolvConfPath} now sends names to ${config.servers.join(', ')}` +
        (config.searchDomain === null ? '' : `, search ${config.searchDomain}`),
    );
  }

  private async backupExists(): Promise<boolean> {
    try {
      return (await lstatOrNull(this.backupPath)) !== null;
    } catch (error) {
      throw new Error(`cannot look for the backup ${this.backupPath}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Copies the live resolv.conf (and what it is: file, symlink, nothing) to the state dir. */
  private async backUp(): Promise<void> {
    const path = this.resolvConfPath;
    let meta: BackupMeta;
    let content: Buffer;
    try {
      const stats = await lstatOrNull(path);
      if (stats === null) {
        meta = { version: 1, kind: 'absent' };
        content = Buffer.alloc(0);
      } else if (stats.isSymbolicLink()) {
        meta = { version: 1, kind: 'symlink', target: await readlink(path) };
        // The target's text only serves systemUpstreams(); a dangling link (resolved stopped)
        // is backed up as the link alone.
        content = (await readFileOrNull(path)) ?? Buffer.alloc(0);
      } else {
        meta = { version: 1, kind: 'file', mode: stats.mode & 0o7777 };
        content = await readFile(path);
      }
    } catch (error) {
      throw new Error(`cannot back up ${path}: ${(error as Error).message}`, { cause: error });
    }
    if (meta.kind !== 'absent' && content.toString('utf8').startsWith(RESOLV_CONF_MARKER)) {
      // Our own file without a backup: the backup was lost. Backing this up would make "restore"
      // put our file back for good, so there is nothing to keep.
      this.logger?.warn(
        `DNS: ${path} was written by fz-client but ${this.backupPath} is missing; ` +
          `the original configuration is lost and cannot be restored`,
      );
      return;
    }
    try {
      await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
      // Meta first: whenever the backup exists, so does the description of it.
      await atomicReplace(this.metaPath, (tmp) => writeDurably(tmp, JSON.stringify(meta) + '\n', 0o600));
      await atomicReplace(this.backupPath, (tmp) => writeDurably(tmp, content, 0o600));
    } catch (error) {
      throw new Error(`cannot back up ${path} to ${this.backupPath}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    this.logger?.info(`DNS: ${path} backed up to ${this.backupPath}`);
  }

  /** Puts the backed-up resolv.conf back and removes the backup; nothing to do without one. */
  private async restoreBackup(): Promise<void> {
    const content = await readFileOrNull(this.backupPath).catch((error: Error) => {
      throw new Error(`cannot read the backup ${this.backupPath}: ${error.message}`, { cause: error });
    });
    if (content === null) return;
    const meta = await this.readMeta();
    const path = this.resolvConfPath;
    try {
      if (meta.kind === 'absent') {
        await unlink(path).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error;
        });
      } else if (meta.kind === 'symlink') {
        await atomicReplace(path, (tmp) => symlink(meta.target!, tmp));
      } else {
        await atomicReplace(path, (tmp) => writeDurably(tmp, content, meta.mode ?? 0o644));
      }
    } catch (error) {
      throw new Error(`cannot restore ${path} from ${this.backupPath}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    // The backup goes only once the original is back: a crash in between restores again.
    await unlink(this.backupPath);
    await unlink(this.metaPath).catch(() => undefined);
    this.logger?.info(
      meta.kind === 'symlink'
        ? `DNS: ${path} restored (symlink to ${meta.target})`
        : meta.kind === 'absent'
          ? `DNS: ${path} removed (there was none before)`
          : `DNS: ${path} restored`,
    );
  }

  private async readMeta(): Promise<BackupMeta> {
    const fallback: BackupMeta = { version: 1, kind: 'file' };
    const text = await readFileOrNull(this.metaPath).catch(() => null);
    if (text === null) {
      this.logger?.warn(`DNS: ${this.metaPath} is missing; restoring the backup as a regular file`);
      return fallback;
    }
    try {
      const value = JSON.parse(text.toString('utf8')) as Partial<BackupMeta>;
      if (value.kind === 'symlink' && typeof value.target === 'string' && value.target !== '') {
        return { version: 1, kind: 'symlink', target: value.target };
      }
      if (value.kind === 'absent') return { version: 1, kind: 'absent' };
      if (value.kind === 'file') {
        const mode =
          typeof value.mode === 'number' && Number.isInteger(value.mode) ? value.mode & 0o7777 : 0o644;
        return { version: 1, kind: 'file', mode };
      }
    } catch {
      // Fall through to the warning.
    }
    this.logger?.warn(`DNS: ${this.metaPath} is unreadable; restoring the backup as a regular file`);
    return fallback;
  }
}

// --- helpers --------------------------------------------------------------------------------

const INTERFACE_NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/;
const SEARCH_DOMAIN = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*)(?:\.[A-Za-z0-9_-]+)*\.?$/;

/**
 * Checks everything that reaches a command line or the file: a newline in a server or domain
 * would add lines to resolv.conf, a leading "-" would be an option to resolvectl.
 */
function checkConfig(config: DnsConfig): DnsConfig {
  if (!INTERFACE_NAME.test(config.interfaceName))
    throw new TypeError(`not an interface name: ${JSON.stringify(config.interfaceName)}`);
  if (config.servers.length === 0) throw new TypeError('no DNS servers to apply');
  for (const server of config.servers) {
    if (!isIpText(server)) throw new TypeError(`not a DNS server address: ${JSON.stringify(server)}`);
  }
  const domain = config.searchDomain === '' ? null : config.searchDomain;
  if (domain !== null && (domain.length > 253 || !SEARCH_DOMAIN.test(domain)))
    throw new TypeError(`not a search domain: ${JSON.stringify(domain)}`);
  return { interfaceName: config.interfaceName, servers: [...config.servers], searchDomain: domain };
}

function resolvConfText(config: DnsConfig, backupPath: string): string {
  return (
    [
      `${RESOLV_CONF_MARKER} while it runs: DNS goes through the tunnel.`,
      `# The original is kept in ${backupPath} and is put back when fz-client stops`,
      `# (or at its next start). Do not edit: changes are lost.`,
      ...config.servers.map((s) => `nameserver ${s}`),
      ...(config.searchDomain === null ? [] : [`search ${config.searchDomain}`]),
      'options edns0',
    ].join('\n') + '\n'
  );
}

/** `nameserver` entries of resolv.conf text, in order, invalid ones skipped (as glibc does). */
export function parseNameservers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const [keyword, value] = line.trim().split(/\s+/);
    if (keyword === 'nameserver' && value !== undefined && isIpText(value)) out.push(value);
  }
  return out;
}

/** An IP address, IPv6 possibly with a %zone (link-local), kept as text. */
function isIpText(text: string): boolean {
  const percent = text.indexOf('%');
  if (percent >= 0) {
    const zone = text.slice(percent + 1);
    if (!text.includes(':') || !/^[A-Za-z0-9_.-]{1,15}$/.test(zone)) return false;
  }
  return parseIpAddress(percent >= 0 ? text.slice(0, percent) : text) !== null;
}

export function isSentinel(text: string): boolean {
  const percent = text.indexOf('%');
  const bytes = parseIpAddress(percent >= 0 ? text.slice(0, percent) : text);
  if (bytes === null) return false;
  if (SENTINEL_RANGES.some((range) => contains(range, bytes))) return true;
  // ::ffff:100.100.111.1 reaches the same IPv4 sentinel.
  const mapped =
    bytes.length === 16 &&
    bytes.subarray(0, 10).every((b) => b === 0) &&
    bytes[10] === 0xff &&
    bytes[11] === 0xff;
  return mapped && SENTINEL_RANGES.some((range) => contains(range, bytes.subarray(12)));
}

function findExecutable(candidates: readonly string[]): string | null {
  for (const path of candidates) {
    try {
      accessSync(path, fsConstants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // Not there: try the next one.
    }
  }
  return null;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Whether `path` resolves (through symlinks, relative ones too) to a file inside `dir`. */
function pointsInto(path: string, dir: string): boolean {
  try {
    return realpathSync(path).startsWith(realpathSync(dir) + '/');
  } catch {
    return false;
  }
}

function readTextOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

async function readFileOrNull(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (error) {
    if (isAbsent(error)) return null;
    throw error;
  }
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (error) {
    if (isAbsent(error)) return null;
    throw error;
  }
}

/** ENOTDIR too: nothing can exist below a path component that is not a directory. */
function isAbsent(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Replaces `path` atomically: `create` makes a temporary sibling (same filesystem, so rename is
 * atomic), which then takes the place of `path`. rename replaces a symlink itself, never its
 * target, which is what both writing over systemd's stub link and putting it back need.
 */
async function atomicReplace(path: string, create: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = join(
    dirname(path),
    `.${basename(path)}.fz-${process.pid}-${randomBytes(4).toString('hex')}.tmp`,
  );
  try {
    await create(tmp);
    try {
      await rename(tmp, path);
    } catch (error) {
      // A bind-mounted resolv.conf (containers, `ip netns exec`) cannot be replaced, only
      // rewritten in place: the mount stays and its content changes.
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
      const content = await readFile(tmp);
      await writeFile(path, content);
      await unlink(tmp).catch(() => undefined);
      return;
    }
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
}

/** Writes a new file and flushes it, so a power cut after the rename leaves no empty file. */
async function writeDurably(path: string, data: string | Buffer, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(data);
    // The umask may have cut bits from `mode` (resolv.conf must stay world-readable).
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Best effort: some filesystems refuse fsync on a directory.
  }
}

const execFileAsync = promisify(execFile);

async function defaultRunner(file: string, args: readonly string[]): Promise<void> {
  try {
    await execFileAsync(file, [...args], { timeout: COMMAND_TIMEOUT_MS, windowsHide: true });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    // The caller names the command; this says what went wrong.
    throw new Error(stderr || (error as Error).message, { cause: error });
  }
}
