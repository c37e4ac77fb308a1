/**
 * fz-tun-helper: the small root service that gives the unprivileged desktop app its TUN device
 * (`npm run tun-helper -- [options]`; in the packages, fz-tun-helper.service). See
 * docs/privilege-model.md for what it trusts and what it refuses.
 *
 *   --socket <path>         default /run/fz-tun-helper/helper.sock (macOS /var/run/…; Windows a pipe)
 *   --group <name>          who besides root may connect (default fz-tunnel)
 *   --dns <auto|systemd-resolved|resolv-conf|none>   how DNS requests are applied (default auto)
 *   --resolv-conf <path>    the resolv.conf to manage (default /etc/resolv.conf)
 *   --state-dir <path>      where the resolv.conf backup lives (default /var/lib/fz-tun-helper)
 *   --max-connections-per-uid <n>, --max-connects-per-second <n>, --max-requests-per-second <n>
 *   --log-format <human|json>
 *
 * Exit codes: 0 stopped by a signal, 1 fatal error, 2 usage.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { consoleLogger } from '../src-client/log.js';
import { createDnsControl, type DnsMethodChoice } from '../src-engine/platform/dns-control.js';
import { defaultHelperSocket } from '../src-engine/platform/tun-helper/client.js';
import { DEFAULT_HELPER_GROUP, DEFAULT_WINDOWS_PIPE } from '../src-engine/platform/tun-helper/protocol.js';
import type { Logger } from '../src-engine/portal/log.js';
import { groupAccess, groupId } from './access.js';
import { DarwinDeviceBackend } from './darwin/backend.js';
import { DEFAULT_LIMITS, UidLimiter } from './limits.js';
import { LinuxDeviceBackend } from './linux/backend.js';
import { UnixHelperServer } from './unix-server.js';
import { WindowsHelperService } from './windows/service.js';

const USAGE = `usage: fz-tun-helper [--socket PATH] [--group NAME] [--dns auto|systemd-resolved|resolv-conf|none]
       [--resolv-conf PATH] [--state-dir PATH] [--max-connections-per-uid N]
       [--max-connects-per-second N] [--max-requests-per-second N] [--log-format human|json]`;

export const DEFAULT_HELPER_STATE_DIR = '/var/lib/fz-tun-helper';

interface Stoppable {
  close(): Promise<void>;
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000)
    throw new UsageError(`--${name} must be a positive integer`);
  return n;
}

class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        socket: { type: 'string' },
        group: { type: 'string', default: DEFAULT_HELPER_GROUP },
        dns: { type: 'string', default: 'auto' },
        'resolv-conf': { type: 'string' },
        'state-dir': { type: 'string', default: DEFAULT_HELPER_STATE_DIR },
        'max-connections-per-uid': { type: 'string' },
        'max-connects-per-second': { type: 'string' },
        'max-requests-per-second': { type: 'string' },
        'log-format': { type: 'string', default: 'human' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const format = values['log-format'] === 'json' ? 'json' : 'human';
  // stdout: systemd puts it in the journal.
  const logger = consoleLogger('info', format, (line) => process.stdout.write(line));
  let limiter: UidLimiter;
  try {
    limiter = new UidLimiter({
      maxConnectionsPerUid: positiveInt(
        'max-connections-per-uid',
        values['max-connections-per-uid'],
        DEFAULT_LIMITS.maxConnectionsPerUid,
      ),
      maxConnectsPerSecond: positiveInt(
        'max-connects-per-second',
        values['max-connects-per-second'],
        DEFAULT_LIMITS.maxConnectsPerSecond,
      ),
      maxRequestsPerSecond: positiveInt(
        'max-requests-per-second',
        values['max-requests-per-second'],
        DEFAULT_LIMITS.maxRequestsPerSecond,
      ),
    });
    if (!['auto', 'systemd-resolved', 'resolv-conf', 'none'].includes(values.dns))
      throw new UsageError('--dns must be auto, systemd-resolved, resolv-conf or none');
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }

  let server: Stoppable;
  try {
    server = await start(values, limiter, logger);
  } catch (error) {
    logger.error('cannot start', { error: (error as Error).message });
    return 1;
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      logger.info('stopping', { signal });
      void server.close().finally(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

async function start(
  values: {
    socket?: string;
    group: string;
    dns: string;
    'resolv-conf'?: string;
    'state-dir': string;
  },
  limiter: UidLimiter,
  logger: Logger,
): Promise<Stoppable> {
  if (process.platform === 'win32') {
    const service = new WindowsHelperService({
      pipePath: values.socket ?? DEFAULT_WINDOWS_PIPE,
      limiter,
      logger,
    });
    await service.listen();
    return service;
  }
  if (typeof process.geteuid === 'function' && process.geteuid() !== 0)
    throw new Error('the TUN helper must run as root (it creates devices and changes routes and DNS)');
  const gid = groupId(values.group);
  if (gid === undefined) logger.warn('group not found: only root may connect', { group: values.group });
  const darwin = process.platform === 'darwin';
  // macOS: the backend sets DNS itself through scutil (the engine's DnsControl is Linux-only).
  const dns =
    values.dns === 'none' || darwin
      ? null
      : createDnsControl({
          method: values.dns as DnsMethodChoice,
          resolvConfPath: values['resolv-conf'],
          stateDir: values['state-dir'],
          logger: { info: (m) => logger.info(m), warn: (m) => logger.warn(m) },
        });
  // A helper that died may have left the host's DNS pointed into a tunnel that is gone.
  await dns?.recover();
  const server = new UnixHelperServer({
    socketPath: values.socket ?? defaultHelperSocket(),
    gid,
    access: groupAccess(values.group, gid),
    limiter,
    createBackend: () => (darwin ? new DarwinDeviceBackend() : new LinuxDeviceBackend({ dns })),
    logger,
  });
  server.listen();
  return server;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
