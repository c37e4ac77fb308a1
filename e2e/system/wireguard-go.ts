/**
 * wireguard-go fixture: Debian's userspace WireGuard, in foreground mode, inside a harness
 * namespace, configured with `wg set` and `ip`. The reference peer for interop tests.
 *
 * The UAPI socket directory (/var/run/wireguard) is shared by all namespaces, so every instance
 * gets an interface name that is unique on the machine: `wg<pid % 10000><n>`.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  IFNAME_MAX,
  WG_SOCKET_DIR,
  assertTestAddress,
  runCommand,
  type Netns,
  type NsProcess,
} from './netns.js';

export interface WgKeyPair {
  /** base64, 32 bytes */
  privateKey: string;
  /** base64, 32 bytes */
  publicKey: string;
}

/** A fresh key pair from `wg genkey` / `wg pubkey`. */
export async function genKeyPair(): Promise<WgKeyPair> {
  const { stdout } = await runCommand('wg', ['genkey']);
  const privateKey = stdout.trim();
  return { privateKey, publicKey: await publicKeyOf(privateKey) };
}

/** The public key for a base64 private key (`wg pubkey`). */
export async function publicKeyOf(privateKey: string): Promise<string> {
  assertKey(privateKey, 'private key');
  const { stdout } = await runCommand('wg', ['pubkey'], { input: `${privateKey}\n` });
  return stdout.trim();
}

/** A random preshared key (`wg genpsk`). */
export async function genPresharedKey(): Promise<string> {
  const { stdout } = await runCommand('wg', ['genpsk']);
  return stdout.trim();
}

const KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

function assertKey(key: string, what: string): void {
  if (!KEY_RE.test(key)) throw new Error(`${what} is not a base64 WireGuard key: ${JSON.stringify(key)}`);
}

/** Splits `host:port` / `[v6]:port` and checks the host is a test or loopback address. */
function assertEndpoint(endpoint: string): void {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(endpoint);
  if (!m) throw new Error(`endpoint must be <ipv4>:<port> or [<ipv6>]:<port>, got ${endpoint}`);
  assertTestAddress(m[1] ?? m[2]!, true);
}

export interface WgPeerConfig {
  publicKey: string;
  presharedKey?: string;
  /** `10.99.0.2:51820` or `[fd00:99::2]:51820`. */
  endpoint?: string;
  allowedIps: string[];
  /** Seconds; 0 or undefined turns it off. */
  persistentKeepalive?: number;
}

export interface WireguardGoOptions {
  /** base64; generated with `wg genkey` when absent. */
  privateKey?: string;
  /** UDP port; when absent wireguard-go picks one (read it from `listenPort` after start). */
  listenPort?: number;
  /** Tunnel addresses as CIDRs, e.g. ['10.98.0.1/24', 'fd00:98::1/64']. */
  addresses?: string[];
  /** Default 1420. */
  mtu?: number;
  peers?: WgPeerConfig[];
  /** Interface name; default `wg<pid % 10000><n>`. Must be unique on the machine. */
  ifname?: string;
  /** wireguard-go's LOG_LEVEL; default `verbose` so handshakes show in `logs`. */
  logLevel?: 'verbose' | 'error' | 'silent';
  /** How long to wait for the UAPI socket (default 10 s). */
  startTimeoutMs?: number;
}

export interface WgPeerState {
  publicKey: string;
  hasPresharedKey: boolean;
  /** `ip:port`, or null before the peer has one. */
  endpoint: string | null;
  allowedIps: string[];
  /** Unix seconds of the latest completed handshake; 0 = never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  /** Seconds, or null when off. */
  persistentKeepalive: number | null;
}

export interface WgShow {
  publicKey: string;
  listenPort: number;
  fwmark: number | null;
  peers: WgPeerState[];
}

/** Parses `wg show <if> dump` (tab-separated; first line is the interface). */
export function parseWgDump(dump: string): WgShow {
  const lines = dump.split('\n').filter((l) => l.length > 0);
  const iface = lines[0]?.split('\t');
  if (!iface || iface.length < 4) throw new Error(`unexpected wg dump: ${JSON.stringify(dump)}`);
  const peers = lines.slice(1).map((line): WgPeerState => {
    const f = line.split('\t');
    if (f.length < 8) throw new Error(`unexpected wg dump peer line: ${JSON.stringify(line)}`);
    return {
      publicKey: f[0]!,
      hasPresharedKey: f[1] !== '(none)',
      endpoint: f[2] === '(none)' ? null : f[2]!,
      allowedIps: f[3] === '(none)' ? [] : f[3]!.split(','),
      latestHandshake: Number(f[4]),
      rxBytes: Number(f[5]),
      txBytes: Number(f[6]),
      persistentKeepalive: f[7] === 'off' ? null : Number(f[7]),
    };
  });
  return {
    publicKey: iface[1]!,
    listenPort: Number(iface[2]),
    fwmark: iface[3] === 'off' ? null : Number(iface[3]),
    peers,
  };
}

let instanceCounter = 0;

function nextIfname(): string {
  for (;;) {
    const name = `wg${process.pid % 10_000}${instanceCounter++}`;
    if (name.length > IFNAME_MAX) throw new Error('ran out of wireguard-go interface names');
    if (!existsSync(join(WG_SOCKET_DIR, `${name}.sock`))) return name;
  }
}

export class WireguardGo {
  private stopped = false;
  private pskCounter = 0;

  private constructor(
    readonly ns: Netns,
    readonly ifname: string,
    readonly privateKey: string,
    readonly publicKey: string,
    readonly process: NsProcess,
    private readonly keyDir: string,
    public listenPort: number,
  ) {}

  /** Starts wireguard-go in `ns`, configures keys, port, peers and addresses, and brings the link up. */
  static async start(ns: Netns, options: WireguardGoOptions = {}): Promise<WireguardGo> {
    const ifname = options.ifname ?? nextIfname();
    if (ifname.length > IFNAME_MAX) throw new Error(`interface name too long: ${ifname}`);
    for (const cidr of options.addresses ?? []) assertTestAddress(cidr);
    for (const peer of options.peers ?? []) checkPeer(peer);
    const privateKey = options.privateKey ?? (await genKeyPair()).privateKey;
    const publicKey = await publicKeyOf(privateKey);

    // A 0700 directory removed at cleanup; the key files in it are 0600.
    const keyDir = ns.harness.tempDir('wg');
    const socketPath = join(WG_SOCKET_DIR, `${ifname}.sock`);
    const proc = ns.spawn('wireguard-go', [ifname], {
      env: { WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: options.logLevel ?? 'verbose' },
      label: `[${ns.name}] wireguard-go ${ifname}`,
    });
    ns.harness.onCleanup(() => {
      // wireguard-go removes its socket on SIGTERM, not when it is SIGKILLed.
      if (!proc.leaderAlive()) rmSync(socketPath, { force: true });
    });

    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    while (!existsSync(socketPath)) {
      if (!proc.running) {
        throw new Error(`wireguard-go ${ifname} exited (${proc.describeExit()}):\n${proc.output}`);
      }
      if (Date.now() > deadline) {
        await proc.stop();
        throw new Error(`wireguard-go ${ifname}: no UAPI socket after start timeout\n${proc.output}`);
      }
      await delay(20);
    }

    const wg = new WireguardGo(ns, ifname, privateKey, publicKey, proc, keyDir, options.listenPort ?? 0);
    const keyFile = join(keyDir, 'private.key');
    writeFileSync(keyFile, `${privateKey}\n`, { mode: 0o600 });
    const args = ['set', ifname, 'private-key', keyFile];
    if (options.listenPort !== undefined) args.push('listen-port', String(options.listenPort));
    for (const peer of options.peers ?? []) args.push(...wg.peerArgs(peer));
    await ns.exec('wg', args);

    for (const cidr of options.addresses ?? []) await ns.addAddress(ifname, cidr);
    await ns.ip('link', 'set', 'dev', ifname, 'mtu', String(options.mtu ?? 1420), 'up');
    wg.listenPort = (await wg.show()).listenPort;
    return wg;
  }

  /** The interface and peers as `wg show <if> dump` reports them. */
  async show(): Promise<WgShow> {
    const { stdout } = await this.ns.exec('wg', ['show', this.ifname, 'dump']);
    return parseWgDump(stdout);
  }

  async peer(publicKey: string): Promise<WgPeerState | undefined> {
    return (await this.show()).peers.find((p) => p.publicKey === publicKey);
  }

  /** Adds a peer, or updates it (allowed-ips are replaced). */
  async setPeer(peer: WgPeerConfig): Promise<void> {
    checkPeer(peer);
    await this.ns.exec('wg', ['set', this.ifname, ...this.peerArgs(peer)]);
  }

  async setPeerEndpoint(publicKey: string, endpoint: string): Promise<void> {
    assertKey(publicKey, 'peer public key');
    assertEndpoint(endpoint);
    await this.ns.exec('wg', ['set', this.ifname, 'peer', publicKey, 'endpoint', endpoint]);
  }

  async removePeer(publicKey: string): Promise<void> {
    assertKey(publicKey, 'peer public key');
    await this.ns.exec('wg', ['set', this.ifname, 'peer', publicKey, 'remove']);
  }

  /** Polls `wg show` until the peer has completed a handshake (latest-handshake > 0). */
  async waitForHandshake(publicKey: string, timeoutMs = 10_000): Promise<WgPeerState> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const peer = await this.peer(publicKey);
      if (peer && peer.latestHandshake > 0) return peer;
      if (Date.now() > deadline) {
        throw new Error(
          `no handshake with ${publicKey} on ${this.ifname} within ${timeoutMs} ms\n${this.process.output.slice(-4000)}`,
        );
      }
      await delay(100);
    }
  }

  /** wireguard-go's captured log. */
  get logs(): string {
    return this.process.output;
  }

  /** Stops wireguard-go (the interface goes with it) and removes the key files. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.process.stop(this.ns.harness.graceMs);
    rmSync(this.keyDir, { recursive: true, force: true });
    if (!this.process.leaderAlive()) rmSync(join(WG_SOCKET_DIR, `${this.ifname}.sock`), { force: true });
  }

  private peerArgs(peer: WgPeerConfig): string[] {
    const args = ['peer', peer.publicKey];
    if (peer.presharedKey !== undefined) {
      const pskFile = join(this.keyDir, `psk-${this.pskCounter++}.key`);
      writeFileSync(pskFile, `${peer.presharedKey}\n`, { mode: 0o600 });
      args.push('preshared-key', pskFile);
    }
    if (peer.endpoint !== undefined) args.push('endpoint', peer.endpoint);
    if (peer.persistentKeepalive !== undefined) {
      args.push(
        'persistent-keepalive',
        peer.persistentKeepalive > 0 ? String(peer.persistentKeepalive) : 'off',
      );
    }
    if (peer.allowedIps.length > 0) args.push('allowed-ips', peer.allowedIps.join(','));
    return args;
  }
}

function checkPeer(peer: WgPeerConfig): void {
  assertKey(peer.publicKey, 'peer public key');
  if (peer.presharedKey !== undefined) assertKey(peer.presharedKey, 'preshared key');
  if (peer.endpoint !== undefined) assertEndpoint(peer.endpoint);
}
