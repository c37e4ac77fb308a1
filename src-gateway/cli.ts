/**
 * Command line of the headless gateway (`npm run gateway -- …`, or `node --import tsx
 * src-gateway/cli.ts …` as the systemd unit runs it). Settings come from flags or from the
 * environment variables Firezone's gateway reads (FIREZONE_API_URL, FIREZONE_TOKEN, FIREZONE_ID,
 * FIREZONE_NAME, FIREZONE_LOG_FORMAT, RUST_LOG), so an existing Firezone environment file works.
 * The token never comes from the command line and is never logged.
 *
 * Exit codes: 0 stopped by a signal, 1 fatal error, 2 usage or configuration error.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { endpointFor } from '../src-engine/portal/session.js';
import { readTokenFile as readTokenFileChecked, TOKEN_CHARS } from '../src-engine/platform/token-file.js';
import { redactingLogger } from '../src-engine/portal/log.js';
import { engineRuntime } from './engine-runtime.js';
import { runGateway, type GatewayHost, type GatewayRuntime } from './gateway.js';
import { assertSafeName, ensureStateDir, HostSetupError, writeFileAtomic } from './host-setup.js';
import {
  createGatewayLogger,
  isLogFormat,
  parseLogDirectives,
  type LogFormat,
  type LogLevel,
} from './log.js';

export const DEFAULT_TUN_NAME = 'tun-firezone';
export const DEFAULT_STATE_DIR = '/var/lib/fz-gateway';
export const ID_FILE = 'id';
const DEVICE_ID_CHARS = /^[\x21-\x7e]{1,255}$/;

export const USAGE = `fz-gateway: the headless gateway. Joins the portal as a gateway of its site and forwards the
flows the portal authorises to the resources it can reach.

Usage: npm run gateway -- [options]

Every option can also be set by the environment variable shown next to it; a flag wins over
its variable. FIREZONE_* variables mean what they mean for Firezone's gateway.

  -u, --api-url <url>        FIREZONE_API_URL        Portal URL: wss://, https://, ws:// or http://
                                                     (required)
      --token-file <file>    FIREZONE_TOKEN          The gateway token, from a file (owner-only, e.g.
                                                     mode 0600) or from FIREZONE_TOKEN itself; also
                                                     read from the systemd credential FIREZONE_TOKEN
                                                     ($CREDENTIALS_DIRECTORY). Never on the command line.
  -i, --id <id>              FIREZONE_ID             Device id (default: a UUID created once and kept
                                                     in <state-dir>/id)
  -n, --name <name>          FIREZONE_NAME           Name shown in the portal (default: the host name)
      --log-level <level>    RUST_LOG                error, warn, info (default) or debug; RUST_LOG
                                                     directives such as "firezone_gateway=debug,info"
                                                     work too
      --log-format <fmt>     FIREZONE_LOG_FORMAT     human (default) or json, one object per line
      --tun-name <name>      FZ_GATEWAY_TUN_NAME     TUN device (default ${DEFAULT_TUN_NAME})
      --no-masquerade        FZ_GATEWAY_NO_MASQUERADE
                                                     Do not masquerade tunnel traffic leaving the host
                                                     (then route 100.64.0.0/11 and fd00:2021:1111::/107
                                                     back to this gateway)
      --state-dir <dir>      FZ_GATEWAY_STATE_DIR    Device id and record of host changes (default
                                                     $STATE_DIRECTORY under systemd, else
                                                     ${DEFAULT_STATE_DIR})
      --no-telemetry         FIREZONE_NO_TELEMETRY   Accepted for compatibility: nothing is ever sent
  -h, --help                                         Show this help
  -V, --version                                      Show the version

On start the gateway enables IPv4/IPv6 forwarding and adds the nftables table "inet fz-gateway"
(masquerade for the tunnel ranges, forward-accept on the TUN); it removes both when it stops,
and after a crash at the next start. It needs root or CAP_NET_ADMIN.

Exit codes: 0 stopped by SIGINT/SIGTERM, 1 fatal error, 2 usage or configuration error.
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type CliEnv = Readonly<Record<string, string | undefined>>;

/** Where the token comes from; it is read later, in `resolveConfig`. */
export type TokenSource =
  | {
      readonly kind: 'file';
      readonly path: string;
      readonly origin: string;
      /** Refuse a file that group or others can access (not for systemd's credentials). */
      readonly checkPermissions: boolean;
    }
  | { readonly kind: 'value'; readonly origin: 'FIREZONE_TOKEN' };

export interface ParsedOptions {
  readonly apiUrl: string;
  readonly tokenSource: TokenSource;
  /** Undefined: the one kept in the state directory. */
  readonly id: string | undefined;
  readonly name: string;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly tunName: string;
  readonly masquerade: boolean;
  readonly stateDir: string;
  /** Things to log once the logger exists. */
  readonly notes: readonly string[];
}

export type CliCommand =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly options: ParsedOptions };

const FLAGS = {
  'api-url': { type: 'string', short: 'u' },
  'token-file': { type: 'string' },
  id: { type: 'string', short: 'i' },
  name: { type: 'string', short: 'n' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'tun-name': { type: 'string' },
  'no-masquerade': { type: 'boolean' },
  'state-dir': { type: 'string' },
  'no-telemetry': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function envBool(env: CliEnv, name: string): boolean {
  const value = nonEmpty(env[name])?.trim().toLowerCase();
  if (value === undefined) return false;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new UsageError(`${name}="${env[name]}" is not a boolean (use true or false)`);
}

/** Checks a portal URL the way the portal session will use it; the message says what is wrong. */
export function checkPortalUrl(url: string, origin: string): void {
  try {
    endpointFor(url, 'gateway');
  } catch (err) {
    throw new UsageError(`${origin}: ${(err as Error).message}`);
  }
}

/** Parses flags and environment; reads no files. Throws UsageError. */
export function parseCli(argv: readonly string[], env: CliEnv): CliCommand {
  if (argv.includes('--token') || argv.some((a) => a.startsWith('--token='))) {
    throw new UsageError(
      'there is no --token: a token on the command line shows in ps. Set FIREZONE_TOKEN or use --token-file <file>',
    );
  }
  let parsed: ReturnType<typeof parseArgs<{ options: typeof FLAGS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: FLAGS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  if (positionals.length > 0) {
    // Not echoed: Firezone's gateway takes its token as an argument, so this may be one.
    throw new UsageError(
      `unexpected argument on the command line (not shown, it may be a token): ` +
        `pass the token in FIREZONE_TOKEN or a file (--token-file)`,
    );
  }
  const notes: string[] = [];

  const apiUrlOrigin = values['api-url'] !== undefined ? '--api-url' : 'FIREZONE_API_URL';
  const apiUrl = nonEmpty(values['api-url']) ?? nonEmpty(env.FIREZONE_API_URL);
  if (apiUrl === undefined) {
    throw new UsageError('the portal URL is required: --api-url <url> or FIREZONE_API_URL');
  }
  checkPortalUrl(apiUrl.trim(), apiUrlOrigin);

  let tokenSource: TokenSource;
  const envToken = nonEmpty(env.FIREZONE_TOKEN);
  if (values['token-file'] !== undefined) {
    if (nonEmpty(values['token-file']) === undefined) throw new UsageError('--token-file needs a file name');
    tokenSource = {
      kind: 'file',
      path: values['token-file'],
      origin: '--token-file',
      checkPermissions: true,
    };
    if (envToken !== undefined) notes.push('FIREZONE_TOKEN is set too; --token-file takes precedence');
  } else if (envToken !== undefined && envToken.startsWith('/')) {
    // As in Firezone's container image: FIREZONE_TOKEN may name a file (a mounted secret).
    tokenSource = { kind: 'file', path: envToken.trim(), origin: 'FIREZONE_TOKEN', checkPermissions: true };
  } else if (envToken !== undefined) {
    tokenSource = { kind: 'value', origin: 'FIREZONE_TOKEN' };
  } else if (nonEmpty(env.CREDENTIALS_DIRECTORY) !== undefined) {
    tokenSource = {
      kind: 'file',
      path: join(env.CREDENTIALS_DIRECTORY!, 'FIREZONE_TOKEN'),
      origin: 'systemd credential FIREZONE_TOKEN',
      // systemd makes the credential readable by the unit's user through an ACL, which shows as
      // group bits in the mode; the credentials directory itself is private to the unit.
      checkPermissions: false,
    };
  } else {
    throw new UsageError(
      'no token: set FIREZONE_TOKEN, use --token-file <file>, or load the systemd credential FIREZONE_TOKEN',
    );
  }

  const id = nonEmpty(values.id) ?? nonEmpty(env.FIREZONE_ID);
  if (id !== undefined && !DEVICE_ID_CHARS.test(id)) {
    throw new UsageError(
      'the device id (--id / FIREZONE_ID) must be 1-255 printable ASCII characters, no spaces',
    );
  }

  const name = (nonEmpty(values.name) ?? nonEmpty(env.FIREZONE_NAME) ?? hostname()).trim();
  // eslint-disable-next-line no-control-regex
  if (name.length === 0 || name.length > 255 || /[\x00-\x1f\x7f]/.test(name)) {
    throw new UsageError(
      'the name (--name / FIREZONE_NAME) must be 1-255 characters without control characters',
    );
  }

  let logLevel: LogLevel = 'info';
  const levelText = values['log-level'] ?? nonEmpty(env.RUST_LOG);
  if (levelText !== undefined) {
    const origin = values['log-level'] !== undefined ? '--log-level' : 'RUST_LOG';
    try {
      logLevel = parseLogDirectives(levelText, origin === '--log-level') ?? 'info';
    } catch (err) {
      throw new UsageError(`${origin}: ${(err as Error).message}`);
    }
  }

  const formatText = (values['log-format'] ?? nonEmpty(env.FIREZONE_LOG_FORMAT) ?? 'human')
    .trim()
    .toLowerCase();
  if (!isLogFormat(formatText)) {
    const origin = values['log-format'] !== undefined ? '--log-format' : 'FIREZONE_LOG_FORMAT';
    throw new UsageError(`${origin}: "${formatText}" is not a log format (human or json)`);
  }

  const tunName = (values['tun-name'] ?? nonEmpty(env.FZ_GATEWAY_TUN_NAME) ?? DEFAULT_TUN_NAME).trim();
  try {
    assertSafeName(tunName);
  } catch (err) {
    const origin = values['tun-name'] !== undefined ? '--tun-name' : 'FZ_GATEWAY_TUN_NAME';
    throw new UsageError(`${origin}: ${(err as Error).message}`);
  }

  const masquerade = !(values['no-masquerade'] || envBool(env, 'FZ_GATEWAY_NO_MASQUERADE'));
  if (values['no-telemetry'] || envBool(env, 'FIREZONE_NO_TELEMETRY')) {
    notes.push('--no-telemetry / FIREZONE_NO_TELEMETRY has no effect: this gateway sends no telemetry');
  }

  const stateDirText =
    values['state-dir'] ??
    nonEmpty(env.FZ_GATEWAY_STATE_DIR) ??
    // systemd's StateDirectory= may list several, separated by ':'.
    nonEmpty(env.STATE_DIRECTORY)?.split(':')[0] ??
    DEFAULT_STATE_DIR;
  if (nonEmpty(stateDirText) === undefined) throw new UsageError('--state-dir needs a directory');

  return {
    kind: 'run',
    options: {
      apiUrl: apiUrl.trim(),
      tokenSource,
      id,
      name,
      logLevel,
      logFormat: formatText,
      tunName,
      masquerade,
      stateDir: resolve(stateDirText),
      notes,
    },
  };
}

/** The shared token-file reader (`src-engine/platform/token-file.ts`), its errors as usage errors. */
export function readTokenFile(path: string, origin = '--token-file', checkPermissions = true): string {
  try {
    return readTokenFileChecked(path, origin, checkPermissions);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function resolveToken(source: TokenSource, env: CliEnv): string {
  if (source.kind === 'file') return readTokenFile(source.path, source.origin, source.checkPermissions);
  const token = (env.FIREZONE_TOKEN ?? '').trim();
  if (!TOKEN_CHARS.test(token)) {
    throw new UsageError('FIREZONE_TOKEN holds characters a token cannot have (printable ASCII, no spaces)');
  }
  return token;
}

/**
 * The device id kept in `<stateDir>/id`, created (a random UUID) on first use. A file that does
 * not hold a valid id is an error, not replaced: a new id makes the portal see a new gateway.
 */
export function loadOrCreateDeviceId(stateDir: string): { id: string; created: boolean } {
  const path = join(stateDir, ID_FILE);
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new HostSetupError(`cannot read the device id file ${path}: ${(err as Error).message}`);
    }
  }
  if (text !== undefined) {
    const id = text.trim();
    if (!DEVICE_ID_CHARS.test(id)) {
      throw new HostSetupError(
        `the device id file ${path} does not hold a valid id; remove it to create a new one ` +
          '(the portal will then see a new gateway) or set FIREZONE_ID',
      );
    }
    return { id, created: false };
  }
  ensureStateDir(stateDir);
  const id = randomUUID();
  writeFileAtomic(path, `${id}\n`, 0o644);
  return { id, created: true };
}

/** Root, or CAP_NET_ADMIN in the effective set (bit 12 of CapEff). */
export function hasNetAdmin(): boolean {
  if (process.geteuid?.() === 0) return true;
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    return capEff !== undefined && (BigInt(`0x${capEff}`) & (1n << 12n)) !== 0n;
  } catch {
    return false;
  }
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export interface MainDeps {
  /** The connection runtime (default: the engine's, `engine-runtime.ts`). */
  readonly runtime?: GatewayRuntime;
  readonly hasNetAdmin?: () => boolean;
  /** Usage errors and help go here (default: process.stderr / process.stdout). */
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
  /** Log lines (default: stdout). */
  readonly logWrite?: (line: string) => void;
  /** For tests: a fake host set-up, and no process-wide signal handlers. */
  readonly host?: GatewayHost;
  readonly handleProcessSignals?: boolean;
}

export async function main(argv: readonly string[], env: CliEnv, deps: MainDeps = {}): Promise<number> {
  const out = deps.stdout ?? ((text: string) => void process.stdout.write(text));
  const err = deps.stderr ?? ((text: string) => void process.stderr.write(text));
  let command: CliCommand;
  let token: string;
  try {
    command = parseCli(argv, env);
    if (command.kind === 'help') {
      out(USAGE);
      return 0;
    }
    if (command.kind === 'version') {
      out(`fz-gateway ${packageVersion()}\n`);
      return 0;
    }
    token = resolveToken(command.options.tokenSource, env);
  } catch (error) {
    if (error instanceof UsageError) {
      err(`fz-gateway: ${error.message}\nTry 'npm run gateway -- --help' for the options.\n`);
      return 2;
    }
    throw error;
  }
  const options = command.options;
  const logger = redactingLogger(
    createGatewayLogger({
      level: options.logLevel,
      format: options.logFormat,
      ...(deps.logWrite ? { write: deps.logWrite } : {}),
    }),
    () => [token],
  );
  for (const note of options.notes) logger.info(note);

  if (!(deps.hasNetAdmin ?? hasNetAdmin)()) {
    logger.error('fz-gateway needs to run as root or with the CAP_NET_ADMIN capability');
    return 1;
  }
  let deviceId = options.id;
  if (deviceId === undefined) {
    try {
      const loaded = loadOrCreateDeviceId(options.stateDir);
      deviceId = loaded.id;
      if (loaded.created) logger.info('created a device id', { file: join(options.stateDir, ID_FILE) });
    } catch (error) {
      logger.error(`gateway stopped: ${(error as Error).message}`);
      return 1;
    }
  }
  if (!isLoopbackUrl(options.apiUrl) && /^(ws|http):/.test(options.apiUrl)) {
    logger.warn('the portal URL is not encrypted (ws:// or http://): the token crosses the network in clear');
  }
  logger.info('fz-gateway starting', {
    version: packageVersion(),
    portal: options.apiUrl,
    id: deviceId,
    name: options.name,
    tun: options.tunName,
    state_dir: options.stateDir,
    masquerade: options.masquerade,
  });
  return runGateway(
    {
      portalUrl: options.apiUrl,
      token,
      deviceId,
      name: options.name,
      tunName: options.tunName,
      masquerade: options.masquerade,
      stateDir: options.stateDir,
      logger,
      ...(deps.host ? { host: deps.host } : {}),
      ...(deps.handleProcessSignals !== undefined ? { handleProcessSignals: deps.handleProcessSignals } : {}),
    },
    deps.runtime ?? engineRuntime,
  );
}

const isEntry = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) {
  const env = { ...process.env };
  // Children (nft, ip, whatever the runtime starts) do not need the token.
  delete process.env.FIREZONE_TOKEN;
  main(process.argv.slice(2), env).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`fz-gateway: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
