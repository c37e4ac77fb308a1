/**
 * The relay host's TURN server: Debian's coturn (`turnserver`) with TURN REST credentials
 * (`use-auth-secret`), the way Firezone's portal hands out relay credentials.
 *
 * Configuration notes:
 * - Everything coturn writes goes to a per-run temp dir (config, pid file, its SQLite userdb)
 *   or to stdout (`log-file=stdout`), which the harness captures; nothing under /var.
 * - coturn refuses peers on addresses listed by `denied-peer-ip`; builds and distributions differ
 *   in what they deny by default (some deny RFC 1918 ranges), and a deny list would make every
 *   10.x peer of this topology unreachable through the relay. `allowed-peer-ip` whitelists
 *   ranges and takes precedence over `denied-peer-ip`, so the config allows 10.0.0.0/8 and
 *   fd00::/8 explicitly. (`allow-loopback-peers` is deliberately not set.)
 * - `no-multicast-peers`, no TLS/DTLS, no CLI, a narrow relay port range, `fingerprint`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NsProcess } from '../netns.js';
import type { Host } from './host.js';
import { stunBinding } from './udp.js';

export const TURN_REALM = 'firezone';
export const TURN_PORT = 3478;
export const RELAY_MIN_PORT = 49160;
export const RELAY_MAX_PORT = 49200;

export interface TurnCredentials {
  username: string;
  password: string;
  /** Unix time (seconds) after which coturn refuses them. */
  expiresAt: number;
}

/**
 * TURN REST API credentials as coturn checks them with `use-auth-secret`:
 * `username = "<expiry unix seconds>:<name>"`, `password = base64(HMAC-SHA1(secret, username))`.
 */
export function turnRestCredentials(
  secret: string,
  name = 'fz',
  ttlSeconds = 3600,
  nowMs: number = Date.now(),
): TurnCredentials {
  const expiresAt = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = `${expiresAt}:${name}`;
  const password = createHmac('sha1', secret).update(username).digest('base64');
  return { username, password, expiresAt };
}

export interface RelayOptions {
  /** Defaults to 32 random bytes, hex. */
  secret?: string;
  /** Extra lines for turnserver.conf. */
  extraConfig?: string[];
}

export class Relay {
  /** The shared secret of `static-auth-secret` (changes only through `restart({ secret })`). */
  secret: string;
  readonly realm = TURN_REALM;
  readonly port = TURN_PORT;
  private current: NsProcess | undefined;
  private readonly configPath: string;
  private readonly dataDir: string;

  constructor(
    readonly host: Host,
    dataDir: string,
    private readonly options: RelayOptions = {},
  ) {
    this.secret = options.secret ?? randomBytes(32).toString('hex');
    this.dataDir = dataDir;
    this.configPath = join(dataDir, 'turnserver.conf');
  }

  /** The relay's IPv4 listening (and relayed) address. */
  get address(): string {
    return this.host.ipv4;
  }

  get address6(): string | undefined {
    return this.host.ipv6;
  }

  /** The running coturn process (its output is coturn's log). */
  get proc(): NsProcess {
    if (!this.current) throw new Error('relay is not running');
    return this.current;
  }

  get running(): boolean {
    return this.current?.running ?? false;
  }

  /** `turn:` URIs the portal would hand out. */
  get uris(): string[] {
    const v6 = this.address6 === undefined ? [] : [`turn:[${this.address6}]:${this.port}?transport=udp`];
    return [`turn:${this.address}:${this.port}?transport=udp`, ...v6];
  }

  /** Fresh REST credentials for this relay's current secret. */
  credentials(name = 'fz', ttlSeconds = 3600): TurnCredentials {
    return turnRestCredentials(this.secret, name, ttlSeconds);
  }

  config(): string {
    const listen = [this.address, ...(this.address6 === undefined ? [] : [this.address6])];
    return [
      'use-auth-secret',
      `static-auth-secret=${this.secret}`,
      `realm=${TURN_REALM}`,
      ...listen.map((ip) => `listening-ip=${ip}`),
      ...listen.map((ip) => `relay-ip=${ip}`),
      `listening-port=${TURN_PORT}`,
      'no-tls',
      'no-dtls',
      'no-cli',
      'fingerprint',
      `min-port=${RELAY_MIN_PORT}`,
      `max-port=${RELAY_MAX_PORT}`,
      'no-multicast-peers',
      'allowed-peer-ip=10.0.0.0-10.255.255.255',
      'allowed-peer-ip=fd00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      'log-file=stdout',
      'simple-log',
      'verbose',
      `pidfile=${join(this.dataDir, 'turnserver.pid')}`,
      `userdb=${join(this.dataDir, 'turndb')}`,
      ...(this.options.extraConfig ?? []),
      '',
    ].join('\n');
  }

  /** Starts coturn and waits until it answers a STUN Binding on its address. */
  async start(): Promise<void> {
    if (this.current?.running) throw new Error('relay already running');
    writeFileSync(this.configPath, this.config(), { mode: 0o600 });
    const proc = this.host.spawn('turnserver', ['-c', this.configPath], { label: 'relay: coturn' });
    this.current = proc;
    await proc.waitForOutput(/Total General servers/, 15_000);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (!proc.running) throw new Error(`coturn exited (${proc.describeExit()}):\n${proc.output}`);
      const mapped = await stunBinding(
        this.host,
        { address: this.address, port: TURN_PORT },
        { timeoutMs: 1000 },
      );
      if (mapped) return;
      if (Date.now() > deadline) throw new Error(`coturn does not answer STUN:\n${proc.output}`);
    }
  }

  async stop(): Promise<void> {
    await this.current?.stop();
  }

  /** Stops and starts coturn (allocations are lost), optionally with a new secret. */
  async restart(options: { secret?: string } = {}): Promise<void> {
    await this.stop();
    if (options.secret !== undefined) this.secret = options.secret;
    await this.start();
  }
}
