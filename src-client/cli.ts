/**
 * The headless client (`npm run client -- …`): the engine without Electron, as Firezone's
 * headless client. It joins the portal with a token, brings up its TUN, routes the resources the
 * portal grants into it, and serves its status on a Unix socket that `npm run client -- status`
 * reads. Settings come from flags or the environment variables Firezone's headless client reads.
 *
 * Exit codes: 0 stopped by a signal, 1 fatal error (also: signed out by the portal), 2 usage.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ClientRuntime } from '../src-engine/client/client-runtime.js';
import { iceAgentFactory } from '../src-engine/node/ice-agent-adapter.js';
import { hostAddresses } from '../src-engine/platform/host-addresses.js';
import { LinuxInterface } from '../src-engine/platform/linux-interface.js';
import { ENGINE_FWMARK } from '../src-engine/platform/fwmark.js';
import { userAgentPartsFor } from '../src-engine/portal/host-user-agent.js';
import { setPortalSocketMark } from '../src-engine/portal/ws-transport.js';
import {
  createDnsControl,
  parseNameservers,
  type DnsMethodChoice,
} from '../src-engine/platform/dns-control.js';
import { readTokenFile, TOKEN_CHARS } from '../src-engine/platform/token-file.js';
import { openUdpSockets } from '../src-engine/platform/udp-sockets.js';
import { LOG_LEVELS, redactingLogger, type LogLevel } from '../src-engine/portal/log.js';
import { TUN_MTU } from '../src-engine/tun/device.js';
import { LinuxTunDevice } from '../src-engine/tun/linux.js';
import { defaultBackend } from '../src-engine/wireguard/crypto/index.js';
import { consoleLogger } from './log.js';
import { formatStatus, readStatus, serveStatus } from './status.js';
import { captureCommand, parseCaptureArgs, type CaptureArgs } from './capture.js';

export const DEFAULT_STATUS_SOCKET = '/run/fz-client/status.sock';
export const DEFAULT_STATE_DIR = '/var/lib/fz-client';
export const DEFAULT_TUN_NAME = 'tun-fzclient';

export const USAGE = `fz-client: the headless client. Joins the portal with a token and routes the resources you
may reach into its TUN device; traffic to them goes peer-to-peer (or relayed) to the gateways.

Usage:
  npm run client -- [run] [options]        run the client (root or CAP_NET_ADMIN)
  npm run client -- status [--json]        show what a running client is doing
  npm run client -- internet-resource on|off
                                           route all traffic through the Internet resource (if
                                           the portal offers one), or stop; takes effect at once
  npm run client -- capture --seconds N --out FILE [--max-bytes B]
                                           write the tunnel's packets to a new pcap file (root;
                                           B default 100M, at most 1G; N at most 3600; Ctrl-C stops)

Options (each also read from the environment variable next to it; a flag wins):
  -u, --api-url <url>       FIREZONE_API_URL      Portal URL: wss://, https://, ws:// or http:// (required)
      --token-file <file>   FIREZONE_TOKEN_PATH   The token, from a file only you can read (mode 0600);
                            FIREZONE_TOKEN        or the token itself in FIREZONE_TOKEN. Never a flag.
  -i, --id <id>             FIREZONE_ID           Device id (default: a UUID kept in <state-dir>/id)
  -n, --name <name>         FIREZONE_NAME         Device name shown in the portal (default: host name)
      --tun-name <name>     FZ_CLIENT_TUN_NAME    TUN device (default ${DEFAULT_TUN_NAME})
      --status-socket <p>   FZ_CLIENT_STATUS      Status socket (default ${DEFAULT_STATUS_SOCKET})
      --state-dir <dir>     FZ_CLIENT_STATE_DIR   Where the device id lives (default ${DEFAULT_STATE_DIR})
      --internet-resource   FZ_CLIENT_INTERNET=1  Route all traffic through the Internet resource, if offered
      --dns-control <how>   FZ_CLIENT_DNS_CONTROL How the system is pointed at the client's DNS: auto (default:
                                                  systemd-resolved when it runs, else /etc/resolv.conf),
                                                  systemd-resolved, resolv-conf, or off (DNS resources then
                                                  answer only to queries sent to the addresses in status)
      --log-level <level>   LOG_LEVEL             error, warn, info (default) or debug
      --log-format <fmt>    LOG_FORMAT            human (default) or json
      --json                                      status: print the raw JSON
  -h, --help                                      this help
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Env = Readonly<Record<string, string | undefined>>;

export interface RunConfig {
  readonly apiUrl: string;
  readonly token: string;
  readonly id: string | undefined;
  readonly name: string;
  readonly tunName: string;
  readonly statusSocket: string;
  readonly stateDir: string;
  readonly internetResource: boolean;
  readonly dnsControl: DnsMethodChoice | 'off';
  readonly logLevel: LogLevel;
  readonly logFormat: 'human' | 'json';
}

export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'status'; readonly socket: string; readonly json: boolean }
  | { readonly kind: 'internet'; readonly socket: string; readonly enabled: boolean }
  | { readonly kind: 'capture'; readonly args: CaptureArgs }
  | { readonly kind: 'run'; readonly config: RunConfig };

export function parseCommand(argv: readonly string[], env: Env): Command {
  // Its own options (--seconds, --out): parsed apart, before the strict list below.
  if (argv[0] === 'capture')
    return { kind: 'capture', args: parseCaptureArgs(argv.slice(1), env, DEFAULT_STATUS_SOCKET) };
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        'api-url': { type: 'string', short: 'u' },
        'token-file': { type: 'string' },
        'token-path': { type: 'string' },
        id: { type: 'string', short: 'i' },
        name: { type: 'string', short: 'n' },
        'tun-name': { type: 'string' },
        'status-socket': { type: 'string' },
        'state-dir': { type: 'string' },
        'internet-resource': { type: 'boolean' },
        'dns-control': { type: 'string' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        token: { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.token !== undefined) {
    throw new UsageError(
      'a token on the command line would show in the process list: use --token-file or FIREZONE_TOKEN',
    );
  }
  const command = positionals[0] ?? 'run';
  const socket = values['status-socket'] ?? env.FZ_CLIENT_STATUS ?? DEFAULT_STATUS_SOCKET;
  if (command === 'internet-resource') {
    const state = positionals[1];
    if ((state !== 'on' && state !== 'off') || positionals.length > 2)
      throw new UsageError('internet-resource takes one argument: on or off');
    return { kind: 'internet', socket, enabled: state === 'on' };
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument: ${positionals[1]}`);
  if (command === 'status') return { kind: 'status', socket, json: values.json ?? false };
  if (command !== 'run')
    throw new UsageError(`unknown command: ${command} (run, status, capture or internet-resource)`);

  const apiUrl = values['api-url'] ?? env.FIREZONE_API_URL;
  if (!apiUrl) throw new UsageError('the portal URL is required: --api-url or FIREZONE_API_URL');
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new UsageError(`not a URL: ${apiUrl}`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) {
    throw new UsageError(`the portal URL must be ws://, wss://, http:// or https:// (got ${url.protocol})`);
  }
  const tokenPath = values['token-file'] ?? values['token-path'] ?? env.FIREZONE_TOKEN_PATH;
  let token: string;
  if (tokenPath !== undefined) token = readTokenFile(tokenPath);
  else if (env.FIREZONE_TOKEN !== undefined) {
    token = env.FIREZONE_TOKEN.trim();
    if (!TOKEN_CHARS.test(token)) throw new UsageError('FIREZONE_TOKEN holds characters a token cannot have');
  } else throw new UsageError('a token is required: --token-file, FIREZONE_TOKEN_PATH or FIREZONE_TOKEN');
  const level = (values['log-level'] ?? env.LOG_LEVEL ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`unknown log level: ${level}`);
  const format = values['log-format'] ?? env.LOG_FORMAT ?? 'human';
  if (format !== 'human' && format !== 'json') throw new UsageError(`unknown log format: ${format}`);
  const dnsControl = values['dns-control'] ?? env.FZ_CLIENT_DNS_CONTROL ?? 'auto';
  if (!['auto', 'systemd-resolved', 'resolv-conf', 'off'].includes(dnsControl))
    throw new UsageError(`unknown DNS control: ${dnsControl} (auto, systemd-resolved, resolv-conf or off)`);
  const tunName = values['tun-name'] ?? env.FZ_CLIENT_TUN_NAME ?? DEFAULT_TUN_NAME;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tunName)) throw new UsageError(`not a valid interface name: ${tunName}`);
  return {
    kind: 'run',
    config: {
      apiUrl,
      token,
      id: values.id ?? env.FIREZONE_ID,
      name: values.name ?? env.FIREZONE_NAME ?? hostname(),
      tunName,
      statusSocket: socket,
      stateDir: values['state-dir'] ?? env.FZ_CLIENT_STATE_DIR ?? DEFAULT_STATE_DIR,
      internetResource: values['internet-resource'] ?? env.FZ_CLIENT_INTERNET === '1',
      dnsControl: dnsControl as DnsMethodChoice | 'off',
      logLevel: level,
      logFormat: format,
    },
  };
}

/** The device id kept in `<stateDir>/id` (a new one makes the portal see a new device). */
export function deviceId(config: RunConfig): string {
  if (config.id) return config.id;
  const file = join(config.stateDir, 'id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (id) return id;
  } catch {
    // first run
  }
  const id = randomUUID();
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${id}\n`, { mode: 0o644 });
  return id;
}

export async function run(config: RunConfig): Promise<number> {
  const log = redactingLogger(consoleLogger(config.logLevel, config.logFormat), () => [config.token]);
  const id = deviceId(config);
  const tun = new LinuxTunDevice({ name: config.tunName });
  // The engine's own traffic (peers, relays, portal, upstream DNS) carries the routing mark, so
  // policy routing never sends it into our TUN, even with the Internet resource on.
  const transports = await openUdpSockets({ mark: ENGINE_FWMARK });
  setPortalSocketMark(ENGINE_FWMARK);
  const iface = new LinuxInterface(tun.name);
  const dns =
    config.dnsControl === 'off'
      ? undefined
      : createDnsControl({ method: config.dnsControl, stateDir: config.stateDir, logger: log });
  // A crashed run may have left the system pointed at sentinels that no longer answer.
  await dns?.recover();
  const systemDnsServers = (): string[] =>
    dns ? dns.systemUpstreams() : parseNameservers(readFileOr('/etc/resolv.conf'));
  const runtime = new ClientRuntime({
    portalUrl: config.apiUrl,
    token: config.token,
    deviceId: id,
    name: config.name,
    // The Firezone protocol version, not the package's: see FIREZONE_PROTOCOL_VERSION.
    userAgent: userAgentPartsFor('headless-client'),
    crypto: defaultBackend(),
    createAgent: iceAgentFactory(),
    tun,
    transports,
    applyInterface: async (c) => {
      await iface.apply({ addresses: [`${c.ipv4}/32`, `${c.ipv6}/128`], routes: c.routes, mtu: TUN_MTU });
      await dns?.apply({ interfaceName: tun.name, servers: c.dnsServers, searchDomain: c.searchDomain });
    },
    systemDnsServers,
    socketMark: ENGINE_FWMARK,
    hostAddresses: () => hostAddresses({ excludeInterfaces: [tun.name] }),
    logger: log,
    internetResource: config.internetResource,
  });
  const server = serveStatus(config.statusSocket, () => runtime.status(), {
    addPacketTap: (tap) => runtime.addPacketTap(tap),
    setInternetResource: (enabled) => runtime.setInternetResourceEnabled(enabled),
  });
  return await new Promise<number>((resolve) => {
    const finish = (code: number): void => {
      server.close();
      void runtime
        .stop()
        .then(() => iface.cleanup())
        .then(() => dns?.restore())
        .catch((error: unknown) =>
          log.error('cannot restore the DNS configuration', { error: String(error) }),
        )
        .then(() => resolve(code));
    };
    runtime.onSignedOut((reason) => {
      log.error('signed out: the token is no longer valid; sign in again for a new one', { reason });
      finish(1);
    });
    runtime.onFatal((error) => {
      log.error('stopping', { error: error.message });
      finish(1);
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => finish(0));
    runtime.start();
    log.info('client started', {
      tun: tun.name,
      device: id,
      udp: transports.map((t) => `${t.localAddress}:${t.localPort}`),
      status: config.statusSocket,
      dns: dns?.method ?? 'off',
    });
  });
}

function readFileOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export async function main(argv: readonly string[], env: Env): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(argv, env);
  } catch (error) {
    process.stderr.write(`fz-client: ${(error as Error).message}\nTry --help.\n`);
    return 2;
  }
  if (command.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command.kind === 'capture') return await captureCommand(command.args);
  if (command.kind === 'internet') {
    try {
      const status = await readStatus(command.socket, 3_000, {
        command: 'internet',
        enabled: command.enabled,
      });
      const offered = status.resources.some((r) => r.type === 'internet');
      process.stdout.write(
        `Internet resource: ${command.enabled ? 'on' : 'off'}${offered ? '' : ' (the portal offers none now)'}\n`,
      );
      return 0;
    } catch (error) {
      process.stderr.write(`fz-client: ${(error as Error).message}\n`);
      return 1;
    }
  }
  if (command.kind === 'status') {
    try {
      const status = await readStatus(command.socket);
      process.stdout.write(command.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
      return 0;
    } catch (error) {
      process.stderr.write(`fz-client: ${(error as Error).message}\n`);
      return 1;
    }
  }
  try {
    return await run(command.config);
  } catch (error) {
    process.stderr.write(`fz-client: ${(error as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  void main(process.argv.slice(2), process.env).then((code) => process.exit(code));
}
