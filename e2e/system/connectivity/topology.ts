/**
 * The connectivity test network: a client behind a NAT router, a site router with two gateways
 * (behind their own NAT) and a resource host, and on the "internet" between them the portal and
 * a TURN relay (coturn). Built from network namespaces of the repo's harness (e2e/system/netns.ts);
 * every bridge, address, route and nftables table lives inside them, so `destroy()` (or the
 * harness's exit/signal clean-up) removes everything. See README.md beside this file.
 *
 *   portal 10.200.0.10 ─┐
 *   relay  10.200.0.20 ─┤ inet: bridge br0, 10.200.0.0/24 + fd00:200::/64
 *   client-router  wan0 10.200.0.30 ─┤   lan0 10.201.0.1/24 ── client 10.201.0.2
 *   site-router    wan0 10.200.0.40 ─┘   br-lan 10.202.0.1/24 ── gateway1 .11, gateway2 .12
 *                                        res0 10.203.0.1/24 ── resource 10.203.0.50
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIP, BlockList } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  NetnsHarness,
  assertTestAddress,
  pidAlive,
  runCommand,
  type ExecOptions,
  type ExecResult,
  type NsProcess,
  type SpawnOptions,
} from '../netns.js';
import { Host, type HostName } from './host.js';
import {
  INBOUND_DROP_COUNTER,
  ROUTER_TABLE,
  assertNatType,
  lossRemoval,
  lossRuleset,
  routerRuleset,
  type NatType,
  type RouterSpec,
} from './nat.js';
import { Relay, type RelayOptions } from './relay.js';
import type { ResourceServerConfig } from './resource-data.js';
import {
  curl,
  dig,
  iperf3,
  ping,
  type CurlOptions,
  type CurlResult,
  type DigOptions,
  type DigResult,
  type Iperf3Options,
  type Iperf3Result,
  type PingOptions,
  type PingResult,
} from './tools.js';
import { startUdpReflector, type UdpAddress } from './udp.js';

export { Host, type HostName } from './host.js';
export type { NatType } from './nat.js';
export { Relay, turnRestCredentials, type TurnCredentials } from './relay.js';

const TSX_LOADER = new URL('../../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const RESOURCE_SERVER = fileURLToPath(new URL('./resource-server.ts', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Addresses

export const SUBNETS = {
  inet: { ipv4: '10.200.0.0/24', ipv6: 'fd00:200::/64' },
  clientLan: { ipv4: '10.201.0.0/24', ipv6: 'fd00:201::/64' },
  siteLan: { ipv4: '10.202.0.0/24', ipv6: 'fd00:202::/64' },
  resources: { ipv4: '10.203.0.0/24', ipv6: 'fd00:203::/64' },
} as const;

export const ADDRESSES = {
  portal: { ipv4: '10.200.0.10', ipv6: 'fd00:200::10' },
  relay: { ipv4: '10.200.0.20', ipv6: 'fd00:200::20' },
  clientRouterWan: { ipv4: '10.200.0.30', ipv6: 'fd00:200::30' },
  siteRouterWan: { ipv4: '10.200.0.40', ipv6: 'fd00:200::40' },
  clientRouterLan: { ipv4: '10.201.0.1', ipv6: 'fd00:201::1' },
  client: { ipv4: '10.201.0.2', ipv6: 'fd00:201::2' },
  siteRouterLan: { ipv4: '10.202.0.1', ipv6: 'fd00:202::1' },
  /** gateway<i> (1-based) is 10.202.0.(10+i). */
  gateway: (i: number): { ipv4: string; ipv6: string } => ({
    ipv4: `10.202.0.${10 + i}`,
    ipv6: `fd00:202::${(10 + i).toString()}`,
  }),
  siteRouterResources: { ipv4: '10.203.0.1', ipv6: 'fd00:203::1' },
  resource: { ipv4: '10.203.0.50', ipv6: 'fd00:203::50' },
} as const;

/** Ports of the resource host's and relay's services. */
export const PORTS = { http: 80, udpEcho: 7, dns: 53, iperf3: 5201, turn: 3478 } as const;

export const DEFAULT_DNS_RECORDS: Record<string, string[]> = {
  'resource.test': [ADDRESSES.resource.ipv4, ADDRESSES.resource.ipv6],
  'www.resource.test': [ADDRESSES.resource.ipv4, ADDRESSES.resource.ipv6],
};

function prefixLen(cidr: string): string {
  return cidr.slice(cidr.indexOf('/'));
}

function withPrefix(ip: string, subnet: string): string {
  return `${ip}${prefixLen(subnet)}`;
}

function inSubnet(ip: string, subnet: string): boolean {
  const family = isIP(ip);
  const [net, len] = subnet.split('/');
  if (family === 0 || net === undefined || len === undefined || isIP(net) !== family) return false;
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  list.addSubnet(net, Number(len), type);
  return list.check(ip, type);
}

// ---------------------------------------------------------------------------------------------
// Options and types

export type RouterName = 'client-router' | 'site-router';

export type LinkName =
  'portal' | 'relay' | 'client-wan' | 'site-wan' | 'client-lan' | 'resource' | `gateway${number}`;

export interface LinkEnd {
  host: Host;
  ifname: string;
}

/** A veth pair: `inner` is the host's end, `outer` the network's (bridge port or router). */
export interface Link {
  name: LinkName;
  inner: LinkEnd;
  outer: LinkEnd;
}

export interface TopologyOptions {
  /** NAT of the client's router (default 'cone'). */
  clientNat?: NatType;
  /** NAT of the site's router (default 'cone'). */
  siteNat?: NatType;
  /** IPv6 NAT of each router (default: the same as IPv4). */
  clientNat6?: NatType;
  siteNat6?: NatType;
  /** Number of gateways on the site LAN, 1..9 (default 2). */
  gateways?: number;
  /** Add the fd00:2xx::/64 addresses and routes (default true). */
  ipv6?: boolean;
  /** Start coturn on the relay host (default true). */
  relay?: boolean | RelayOptions;
  /** Start the resource host's HTTP/UDP echo/DNS server and iperf3 server (default true). */
  resource?: boolean;
  /** Records of the resource host's DNS server (default DEFAULT_DNS_RECORDS). */
  dnsRecords?: Record<string, string[]>;
  /** Namespace base name for the harness (default 'fzt'). */
  base?: string;
}

export interface Impairment {
  /** Random loss in percent (nftables `numgen random` at the receiving end's ingress). */
  lossPercent?: number;
  /** Fixed delay (netem; see `impairmentSupport`). */
  delayMs?: number;
  /** Delay variation (netem; needs delayMs). */
  jitterMs?: number;
  /** Percent of packets sent at once while the others wait `delayMs` (netem; needs delayMs). */
  reorderPercent?: number;
  /** Rate limit in Mbit/s (netem with a delay, tbf without). */
  rateMbit?: number;
  /**
   * 'up': packets leaving the link's inner host (e.g. client → router on 'client-lan');
   * 'down': packets towards it; 'both' (default).
   */
  direction?: 'both' | 'up' | 'down';
}

export interface ImpairmentSupport {
  loss: boolean;
  rate: boolean;
  /** False on kernels without sch_netem (CONFIG_NET_SCH_NETEM). */
  delay: boolean;
  reorder: boolean;
}

/** A process that can be stopped, killed and started again with the same command. */
export class ManagedProcess {
  private current: NsProcess | undefined;

  constructor(
    readonly host: Host,
    private readonly launch: () => NsProcess,
    private readonly ready: RegExp | undefined,
    private readonly readyTimeoutMs = 30_000,
  ) {}

  get proc(): NsProcess {
    if (!this.current) throw new Error('process not started');
    return this.current;
  }

  get running(): boolean {
    return this.current?.running ?? false;
  }

  async start(): Promise<NsProcess> {
    if (this.current?.running) throw new Error(`${this.current.label} is already running`);
    const proc = this.launch();
    this.current = proc;
    if (this.ready) await proc.waitForOutput(this.ready, this.readyTimeoutMs);
    return proc;
  }

  /** SIGTERM, SIGKILL after the grace period, and wait. */
  async stop(graceMs?: number): Promise<void> {
    await this.current?.stop(graceMs);
  }

  /** Sends a signal to the process group (SIGKILL simulates a crash) and does not wait. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.current?.kill(signal);
  }

  async restart(): Promise<NsProcess> {
    await this.stop();
    return this.start();
  }
}

// ---------------------------------------------------------------------------------------------
// The topology

export class ConnectivityTopology {
  readonly hosts = new Map<HostName, Host>();
  readonly links = new Map<LinkName, Link>();
  /** coturn on the relay host (undefined with `relay: false`). */
  relay: Relay | undefined;
  /** The resource host's HTTP/UDP echo/DNS server and iperf3 server. */
  resourceServer: ManagedProcess | undefined;
  iperf3Server: ManagedProcess | undefined;
  /** A private temp dir of this run, removed at clean-up. */
  readonly tmpDir: string;

  private readonly nat = new Map<RouterName, { nat4: NatType; nat6: NatType }>();
  private netem: boolean | undefined;
  private nextClientSuffix = 3;
  private destroyed = false;

  /** Use `buildTopology()`. */
  constructor(
    readonly harness: NetnsHarness,
    readonly ipv6: boolean,
  ) {
    this.tmpDir = harness.tempDir('conn');
  }

  // --- hosts and links ---------------------------------------------------------------------

  host(name: HostName | Host): Host {
    if (name instanceof Host) return name;
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no host ${name} in this topology`);
    return host;
  }

  link(name: LinkName): Link {
    const link = this.links.get(name);
    if (!link) throw new Error(`no link ${name} in this topology (${[...this.links.keys()].join(', ')})`);
    return link;
  }

  get inet(): Host {
    return this.host('inet');
  }
  get portal(): Host {
    return this.host('portal');
  }
  get relayHost(): Host {
    return this.host('relay');
  }
  get clientRouter(): Host {
    return this.host('client-router');
  }
  get client(): Host {
    return this.host('client');
  }
  get siteRouter(): Host {
    return this.host('site-router');
  }
  get resourceHost(): Host {
    return this.host('resource');
  }
  get gateways(): Host[] {
    return [...this.hosts.values()].filter((h) => /^gateway\d+$/.test(h.name));
  }
  gateway(i: number): Host {
    return this.host(`gateway${i}`);
  }

  /** `http://<resource>[:port]<path>` (IPv4 by default). */
  resourceUrl(path = '/', family: 4 | 6 = 4): string {
    const h = this.resourceHost;
    const ip = family === 6 ? `[${h.ipv6 ?? '?'}]` : h.ipv4;
    return `http://${ip}${path}`;
  }

  // --- NAT -----------------------------------------------------------------------------------

  natOf(router: RouterName): { nat4: NatType; nat6: NatType } {
    const nat = this.nat.get(router);
    if (!nat) throw new Error(`unknown router ${router}`);
    return { ...nat };
  }

  /** Replaces the router's NAT (atomically) and forgets its existing mappings (`conntrack -F`). */
  async setNat(router: RouterName, nat4: NatType, nat6: NatType = nat4): Promise<void> {
    assertNatType(nat4);
    assertNatType(nat6);
    this.nat.set(router, { nat4, nat6 });
    await this.host(router).nft(routerRuleset(this.routerSpec(router)));
    await this.flushNat(router);
  }

  /** Drops every conntrack entry of the router: NAT mappings and filter state start afresh. */
  async flushNat(router: RouterName): Promise<void> {
    const res = await this.host(router).exec('conntrack', ['-F'], { allowFailure: true });
    if (res.code !== 0 && !/0 flow entries|has been emptied/.test(res.stderr)) {
      throw new Error(`conntrack -F in ${router} failed: ${res.stderr.trim()}`);
    }
  }

  /** Packets the router dropped on its WAN side so far (unsolicited inbound). */
  async inboundDrops(router: RouterName): Promise<number> {
    const res = await this.host(router).exec('nft', [
      '-j',
      'list',
      'counter',
      'inet',
      ROUTER_TABLE,
      INBOUND_DROP_COUNTER,
    ]);
    const parsed = JSON.parse(res.stdout) as { nftables: { counter?: { packets: number } }[] };
    return parsed.nftables.find((e) => e.counter)?.counter?.packets ?? 0;
  }

  /** The conntrack entries of the router (`conntrack -L` output), for debugging and checks. */
  async natTable(router: RouterName): Promise<string> {
    const res = await this.host(router).exec('conntrack', ['-L'], { allowFailure: true });
    return res.stdout;
  }

  private routerSpec(router: RouterName): RouterSpec {
    const { nat4, nat6 } = this.natOf(router);
    if (router === 'client-router') {
      return {
        wan: 'wan0',
        nat4,
        nat6,
        lans: [{ ifname: 'lan0', ipv4: SUBNETS.clientLan.ipv4, ipv6: SUBNETS.clientLan.ipv6 }],
      };
    }
    return {
      wan: 'wan0',
      nat4,
      nat6,
      lans: [
        { ifname: 'br-lan', ipv4: SUBNETS.siteLan.ipv4, ipv6: SUBNETS.siteLan.ipv6, talksTo: ['res0'] },
        {
          ifname: 'res0',
          ipv4: SUBNETS.resources.ipv4,
          ipv6: SUBNETS.resources.ipv6,
          isolated: true,
          talksTo: ['br-lan'],
        },
      ],
    };
  }

  // --- link impairment -------------------------------------------------------------------------

  /** What `impair()` can do on this kernel (netem is a module some kernels lack). */
  async impairmentSupport(): Promise<ImpairmentSupport> {
    if (this.netem === undefined) {
      const probe = await this.inet.exec(
        'tc',
        ['qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'],
        {
          allowFailure: true,
        },
      );
      this.netem = probe.code === 0;
      if (this.netem)
        await this.inet.exec('tc', ['qdisc', 'del', 'dev', 'lo', 'root'], { allowFailure: true });
    }
    return { loss: true, rate: true, delay: this.netem, reorder: this.netem };
  }

  /**
   * Impairs a link, replacing any earlier impairment of it: loss with nftables (every kernel),
   * delay/jitter/reordering with netem (throws when the kernel has no netem), rate with netem
   * alongside a delay or tbf otherwise.
   */
  async impair(name: LinkName, impairment: Impairment): Promise<void> {
    const link = this.link(name);
    const { lossPercent = 0, delayMs, jitterMs, reorderPercent, rateMbit } = impairment;
    const direction = impairment.direction ?? 'both';
    const needsNetem = delayMs !== undefined || jitterMs !== undefined || reorderPercent !== undefined;
    if ((jitterMs !== undefined || reorderPercent !== undefined) && delayMs === undefined) {
      throw new Error('jitter and reordering need a delay (delayMs)');
    }
    if (needsNetem && !(await this.impairmentSupport()).delay) {
      throw new Error(
        'this kernel has no netem (CONFIG_NET_SCH_NETEM): delay, jitter and reordering are unavailable; ' +
          'check impairmentSupport() first',
      );
    }
    if (rateMbit !== undefined && !(rateMbit > 0)) throw new Error(`invalid rate: ${rateMbit}`);
    await this.clearImpairment(name);
    // 'up' leaves the inner end: its egress qdisc, and loss at the outer end's ingress.
    const flows: { sender: LinkEnd; receiver: LinkEnd }[] = [];
    if (direction !== 'down') flows.push({ sender: link.inner, receiver: link.outer });
    if (direction !== 'up') flows.push({ sender: link.outer, receiver: link.inner });
    for (const { sender, receiver } of flows) {
      if (lossPercent > 0) await receiver.host.nft(lossRuleset(receiver.ifname, lossPercent));
      if (needsNetem) {
        const args = ['qdisc', 'replace', 'dev', sender.ifname, 'root', 'netem', 'limit', '100000'];
        args.push('delay', `${delayMs ?? 0}ms`);
        if (jitterMs !== undefined) args.push(`${jitterMs}ms`);
        if (reorderPercent !== undefined) args.push('reorder', `${reorderPercent}%`, '50%');
        if (rateMbit !== undefined) args.push('rate', `${rateMbit}mbit`);
        await sender.host.exec('tc', args);
      } else if (rateMbit !== undefined) {
        const burst = Math.max(32 * 1024, Math.ceil((rateMbit * 1e6) / 8 / 100));
        await sender.host.exec('tc', [
          'qdisc',
          'replace',
          'dev',
          sender.ifname,
          'root',
          'tbf',
          'rate',
          `${rateMbit}mbit`,
          'burst',
          String(burst),
          'latency',
          '200ms',
        ]);
      }
    }
  }

  /** Removes every impairment of the link (both directions). */
  async clearImpairment(name: LinkName): Promise<void> {
    const link = this.link(name);
    for (const end of [link.inner, link.outer]) {
      await end.host.exec('tc', ['qdisc', 'del', 'dev', end.ifname, 'root'], { allowFailure: true });
      await end.host.nft(lossRemoval(end.ifname), true);
    }
  }

  /** Sets the MTU of both ends of a link (a bridge follows its smallest port). */
  async mtu(name: LinkName, mtu: number): Promise<void> {
    if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new Error(`invalid MTU ${mtu}`);
    const link = this.link(name);
    for (const end of [link.inner, link.outer]) {
      await end.host.ip('link', 'set', 'dev', end.ifname, 'mtu', String(mtu));
    }
  }

  // --- roaming -------------------------------------------------------------------------------

  /**
   * Moves the client to another address on its LAN (default: the next free one, 10.201.0.3, …),
   * as when a laptop joins another network: sockets bound to the old address break, those bound
   * to the wildcard go on from the new address and get new NAT mappings.
   */
  async roamClient(to: { ipv4?: string; ipv6?: string } = {}): Promise<{ ipv4: string; ipv6?: string }> {
    const suffix = this.nextClientSuffix++;
    const ipv4 = to.ipv4 ?? `10.201.0.${suffix}`;
    const ipv6 = this.ipv6 ? (to.ipv6 ?? `fd00:201::${suffix}`) : undefined;
    if (!inSubnet(ipv4, SUBNETS.clientLan.ipv4)) throw new Error(`${ipv4} is not on the client LAN`);
    if (ipv6 !== undefined && !inSubnet(ipv6, SUBNETS.clientLan.ipv6)) {
      throw new Error(`${ipv6} is not on the client LAN`);
    }
    assertTestAddress(ipv4);
    const client = this.client;
    const lines = [
      '-4 addr flush dev eth0',
      `addr add ${withPrefix(ipv4, SUBNETS.clientLan.ipv4)} dev eth0`,
      `route replace default via ${ADDRESSES.clientRouterLan.ipv4}`,
    ];
    if (ipv6 !== undefined) {
      assertTestAddress(ipv6);
      lines.push(
        '-6 addr flush dev eth0 scope global',
        `-6 addr add ${withPrefix(ipv6, SUBNETS.clientLan.ipv6)} dev eth0 nodad`,
        `-6 route replace default via ${ADDRESSES.clientRouterLan.ipv6}`,
      );
    }
    await client.ipBatch(lines);
    client.ipv4 = ipv4;
    client.ipv6 = ipv6;
    return ipv6 === undefined ? { ipv4 } : { ipv4, ipv6 };
  }

  /**
   * Gives a router another WAN (public) address on 10.200.0.0/24 (and fd00:200::/64): the
   * internet's routes follow, every NAT mapping of the router is dropped.
   */
  async setWanAddress(router: RouterName, ipv4: string, ipv6?: string): Promise<void> {
    if (!inSubnet(ipv4, SUBNETS.inet.ipv4)) throw new Error(`${ipv4} is not on the internet subnet`);
    if (ipv6 !== undefined && (!this.ipv6 || !inSubnet(ipv6, SUBNETS.inet.ipv6))) {
      throw new Error(`${ipv6} is not on the internet subnet`);
    }
    assertTestAddress(ipv4);
    const host = this.host(router);
    const lines = ['-4 addr flush dev wan0', `addr add ${withPrefix(ipv4, SUBNETS.inet.ipv4)} dev wan0`];
    if (ipv6 !== undefined) {
      assertTestAddress(ipv6);
      lines.push(
        '-6 addr flush dev wan0 scope global',
        `-6 addr add ${withPrefix(ipv6, SUBNETS.inet.ipv6)} dev wan0 nodad`,
      );
    }
    await host.ipBatch(lines);
    host.ipv4 = ipv4;
    if (ipv6 !== undefined) host.ipv6 = ipv6;
    // Routes through wan0 went with the old address; the other internet hosts must use the new one.
    await Promise.all(
      ['portal', 'relay', 'client-router', 'site-router'].map((name) =>
        this.host(name as HostName).ipBatch(this.internetRoutes(name as HostName)),
      ),
    );
    await this.flushNat(router);
  }

  /** `route replace` lines reaching the routers' LANs from internet host `name`. */
  private internetRoutes(name: HostName): string[] {
    const lines: string[] = [];
    const targets: [RouterName, { ipv4: string; ipv6: string }][] = [
      ['client-router', SUBNETS.clientLan],
      ['site-router', SUBNETS.siteLan],
    ];
    for (const [router, lan] of targets) {
      if (router === name) continue;
      const via = this.hosts.get(router);
      if (!via) continue;
      lines.push(`route replace ${lan.ipv4} via ${via.ipv4}`);
      if (this.ipv6 && via.ipv6 !== undefined) lines.push(`-6 route replace ${lan.ipv6} via ${via.ipv6}`);
    }
    return lines;
  }

  // --- processes -------------------------------------------------------------------------------

  /**
   * Starts one of our processes (portal, gateway, client, …) in `host`'s namespace with extra
   * environment variables; its output is captured (`proc.output`, `harness.logs()`) and it is
   * killed at clean-up.
   */
  spawnIn(
    host: HostName | Host,
    cmd: string,
    args: readonly string[] = [],
    env: Record<string, string | undefined> = {},
    options: Omit<SpawnOptions, 'env'> = {},
  ): NsProcess {
    const h = this.host(host);
    return h.spawn(cmd, args, {
      label: `${h.name}: ${[cmd, ...args].join(' ').slice(0, 120)}`,
      ...options,
      env,
    });
  }

  /** `spawnIn` of a TypeScript entry point run by Node with the tsx loader. */
  spawnTsx(
    host: HostName | Host,
    script: string,
    args: readonly string[] = [],
    env: Record<string, string | undefined> = {},
    options: Omit<SpawnOptions, 'env'> = {},
  ): NsProcess {
    return this.spawnIn(host, process.execPath, ['--import', TSX_LOADER, script, ...args], env, {
      label: `${this.host(host).name}: tsx ${script.split('/').slice(-2).join('/')} ${args.join(' ')}`.slice(
        0,
        160,
      ),
      ...options,
    });
  }

  /** A restartable process in `host`: started now, ready once its output matches `ready`. */
  async manage(
    host: HostName | Host,
    cmd: string,
    args: readonly string[],
    options: {
      env?: Record<string, string | undefined>;
      ready?: RegExp;
      label?: string;
      readyTimeoutMs?: number;
    } = {},
  ): Promise<ManagedProcess> {
    const h = this.host(host);
    const managed = new ManagedProcess(
      h,
      () =>
        this.spawnIn(
          h,
          cmd,
          args,
          options.env ?? {},
          options.label === undefined ? {} : { label: options.label },
        ),
      options.ready,
      options.readyTimeoutMs,
    );
    await managed.start();
    return managed;
  }

  /** SIGKILLs every process in `host`'s namespace (a crash of everything on that machine). */
  async killAll(host: HostName | Host, signal: NodeJS.Signals = 'SIGKILL'): Promise<number> {
    const h = this.host(host);
    const { stdout } = await runCommand('ip', ['netns', 'pids', h.ns.name], { allowFailure: true });
    const pids = stdout
      .split(/\s+/)
      .filter((s) => /^\d+$/.test(s))
      .map(Number)
      .filter((pid) => pid > 1 && pid !== process.pid);
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone already
      }
    }
    if (signal === 'SIGKILL') {
      const deadline = Date.now() + 5_000;
      while (pids.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    }
    return pids.length;
  }

  // --- tools -----------------------------------------------------------------------------------

  exec(
    host: HostName | Host,
    cmd: string,
    args: readonly string[] = [],
    options: ExecOptions = {},
  ): Promise<ExecResult> {
    return this.host(host).exec(cmd, args, options);
  }

  curl(url: string, options: CurlOptions & { from?: HostName | Host } = {}): Promise<CurlResult> {
    return curl(this.host(options.from ?? 'client'), url, { tmpDir: this.tmpDir, ...options });
  }

  ping(destination: string, options: PingOptions & { from?: HostName | Host } = {}): Promise<PingResult> {
    return ping(this.host(options.from ?? 'client'), destination, options);
  }

  iperf3(server: string, options: Iperf3Options & { from?: HostName | Host } = {}): Promise<Iperf3Result> {
    return iperf3(this.host(options.from ?? 'client'), server, options);
  }

  /** dig from `from` (default client) against `server` (default the resource host's DNS). */
  dig(name: string, options: Partial<DigOptions> & { from?: HostName | Host } = {}): Promise<DigResult> {
    return dig(this.host(options.from ?? 'client'), name, { server: this.resourceHost.ipv4, ...options });
  }

  /** A UDP reflector (answers with the sender's address) in `host`, tracked for clean-up. */
  startReflector(host: HostName | Host, port = 3500, family: 4 | 6 = 4): Promise<NsProcess> {
    const h = this.host(host);
    const address = family === 6 ? h.ipv6 : h.ipv4;
    if (address === undefined) throw new Error(`${h.name} has no IPv${family} address`);
    return startUdpReflector(h, { address, port });
  }

  /** `{address, port}` of a host (IPv4 by default). */
  addressOf(host: HostName | Host, port: number, family: 4 | 6 = 4): UdpAddress {
    const h = this.host(host);
    const address = family === 6 ? h.ipv6 : h.ipv4;
    if (address === undefined) throw new Error(`${h.name} has no IPv${family} address`);
    return { address, port };
  }

  /** Everything our spawned processes printed, for failure reports. */
  logs(maxPerProcess?: number): string {
    return this.harness.logs(maxPerProcess);
  }

  /** Kills every process and deletes every namespace of the topology; safe to call twice. */
  /**
   * Gives `host`'s processes their own /etc/resolv.conf: `ip netns exec` bind-mounts
   * /etc/netns/<namespace>/resolv.conf over it, so a client that rewrites its resolver
   * configuration changes only that namespace's file, never the machine's. Removed on clean-up.
   */
  setResolvConf(host: HostName | Host, nameservers: readonly string[]): void {
    const ns = this.host(host).ns.name;
    const dir = join('/etc/netns', ns);
    mkdirSync(dir, { recursive: true });
    this.harness.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, 'resolv.conf'),
      `# resolv.conf of test namespace ${ns}\n${nameservers.map((ip) => `nameserver ${ip}\n`).join('')}`,
    );
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.harness.cleanup();
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  // --- building ----------------------------------------------------------------------------------

  /** @internal */
  async build(options: TopologyOptions): Promise<void> {
    const gatewayCount = options.gateways ?? 2;
    if (!Number.isInteger(gatewayCount) || gatewayCount < 1 || gatewayCount > 9) {
      throw new Error(`gateways must be 1..9, got ${gatewayCount}`);
    }
    const v6 = this.ipv6;
    this.nat.set('client-router', {
      nat4: options.clientNat ?? 'cone',
      nat6: options.clientNat6 ?? options.clientNat ?? 'cone',
    });
    this.nat.set('site-router', {
      nat4: options.siteNat ?? 'cone',
      nat6: options.siteNat6 ?? options.siteNat ?? 'cone',
    });
    for (const nat of this.nat.values()) {
      assertNatType(nat.nat4);
      assertNatType(nat.nat6);
    }

    // Hosts: name, main interface and addresses.
    type Spec = { name: HostName; ifname: string; addr: { ipv4: string; ipv6: string } };
    const specs: Spec[] = [
      { name: 'inet', ifname: 'br0', addr: { ipv4: '', ipv6: '' } },
      { name: 'portal', ifname: 'eth0', addr: ADDRESSES.portal },
      { name: 'relay', ifname: 'eth0', addr: ADDRESSES.relay },
      { name: 'client-router', ifname: 'wan0', addr: ADDRESSES.clientRouterWan },
      { name: 'client', ifname: 'eth0', addr: ADDRESSES.client },
      { name: 'site-router', ifname: 'wan0', addr: ADDRESSES.siteRouterWan },
      ...Array.from({ length: gatewayCount }, (_, k) => ({
        name: `gateway${k + 1}` as HostName,
        ifname: 'eth0',
        addr: ADDRESSES.gateway(k + 1),
      })),
      { name: 'resource', ifname: 'eth0', addr: ADDRESSES.resource },
    ];
    const namespaces = await Promise.all(specs.map(() => this.harness.createNamespace()));
    specs.forEach((spec, i) => {
      const host = new Host(
        spec.name,
        namespaces[i]!,
        spec.ifname,
        spec.addr.ipv4,
        v6 ? spec.addr.ipv6 : undefined,
      );
      this.hosts.set(spec.name, host);
    });

    // Links (veth pairs, created directly inside the namespaces).
    const inet = this.inet;
    const site = this.siteRouter;
    const linkSpecs: { name: LinkName; inner: Host; innerIf: string; outer: Host; outerIf: string }[] = [
      { name: 'portal', inner: this.portal, innerIf: 'eth0', outer: inet, outerIf: 'p-portal' },
      { name: 'relay', inner: this.relayHost, innerIf: 'eth0', outer: inet, outerIf: 'p-relay' },
      { name: 'client-wan', inner: this.clientRouter, innerIf: 'wan0', outer: inet, outerIf: 'p-crouter' },
      { name: 'site-wan', inner: site, innerIf: 'wan0', outer: inet, outerIf: 'p-srouter' },
      { name: 'client-lan', inner: this.client, innerIf: 'eth0', outer: this.clientRouter, outerIf: 'lan0' },
      ...this.gateways.map((gw, k) => ({
        name: gw.name as LinkName,
        inner: gw,
        innerIf: 'eth0',
        outer: site,
        outerIf: `gw${k + 1}`,
      })),
      { name: 'resource', inner: this.resourceHost, innerIf: 'eth0', outer: site, outerIf: 'res0' },
    ];
    await Promise.all(
      linkSpecs.map((l) => this.harness.connect(l.inner.ns, l.outer.ns, { names: [l.innerIf, l.outerIf] })),
    );
    for (const l of linkSpecs) {
      this.links.set(l.name, {
        name: l.name,
        inner: { host: l.inner, ifname: l.innerIf },
        outer: { host: l.outer, ifname: l.outerIf },
      });
    }

    // Addresses, bridges and routes, one `ip -batch` per namespace.
    const addr = (
      ifname: string,
      ip: string,
      subnet: { ipv4: string; ipv6: string },
      family: 4 | 6,
    ): string => {
      const cidr = withPrefix(ip, family === 4 ? subnet.ipv4 : subnet.ipv6);
      assertTestAddress(cidr);
      return family === 4 ? `addr add ${cidr} dev ${ifname}` : `-6 addr add ${cidr} dev ${ifname} nodad`;
    };
    const both = (
      ifname: string,
      a: { ipv4: string; ipv6: string },
      subnet: { ipv4: string; ipv6: string },
    ) => [addr(ifname, a.ipv4, subnet, 4), ...(v6 ? [addr(ifname, a.ipv6, subnet, 6)] : [])];
    const defaultVia = (gw: { ipv4: string; ipv6: string }) => [
      `route add default via ${gw.ipv4}`,
      ...(v6 ? [`-6 route add default via ${gw.ipv6}`] : []),
    ];
    const bridge = (name: string, ports: string[]) => [
      `link add ${name} type bridge`,
      ...ports.map((p) => `link set dev ${p} master ${name}`),
      `link set dev ${name} up`,
    ];
    const batches = new Map<HostName, string[]>([
      ['inet', bridge('br0', ['p-portal', 'p-relay', 'p-crouter', 'p-srouter'])],
      ['portal', [...both('eth0', ADDRESSES.portal, SUBNETS.inet)]],
      ['relay', [...both('eth0', ADDRESSES.relay, SUBNETS.inet)]],
      [
        'client-router',
        [
          ...both('wan0', ADDRESSES.clientRouterWan, SUBNETS.inet),
          ...both('lan0', ADDRESSES.clientRouterLan, SUBNETS.clientLan),
        ],
      ],
      [
        'client',
        [...both('eth0', ADDRESSES.client, SUBNETS.clientLan), ...defaultVia(ADDRESSES.clientRouterLan)],
      ],
      [
        'site-router',
        [
          ...both('wan0', ADDRESSES.siteRouterWan, SUBNETS.inet),
          ...bridge(
            'br-lan',
            this.gateways.map((_, k) => `gw${k + 1}`),
          ),
          ...both('br-lan', ADDRESSES.siteRouterLan, SUBNETS.siteLan),
          ...both('res0', ADDRESSES.siteRouterResources, SUBNETS.resources),
        ],
      ],
      [
        'resource',
        [
          ...both('eth0', ADDRESSES.resource, SUBNETS.resources),
          ...defaultVia(ADDRESSES.siteRouterResources),
        ],
      ],
    ]);
    this.gateways.forEach((gw, k) => {
      batches.set(gw.name, [
        ...both('eth0', ADDRESSES.gateway(k + 1), SUBNETS.siteLan),
        ...defaultVia(ADDRESSES.siteRouterLan),
      ]);
    });
    await Promise.all([...batches].map(([name, lines]) => this.host(name).ipBatch(lines)));
    await Promise.all(
      (['portal', 'relay', 'client-router', 'site-router'] as const).map((name) =>
        this.host(name).ipBatch(this.internetRoutes(name)),
      ),
    );

    // Forwarding on the routers and on the gateways (they route tunnel traffic to resources).
    const forwarders = [this.clientRouter, site, ...this.gateways];
    await Promise.all(
      forwarders.map((h) =>
        h.exec('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']),
      ),
    );
    await Promise.all(
      (['client-router', 'site-router'] as const).map((r) =>
        this.host(r).nft(routerRuleset(this.routerSpec(r))),
      ),
    );

    // Services.
    const services: Promise<void>[] = [];
    if (options.relay !== false) {
      const relay = new Relay(
        this.relayHost,
        this.harness.tempDir('coturn'),
        options.relay === true ? {} : options.relay,
      );
      this.relay = relay;
      services.push(relay.start());
    }
    if (options.resource !== false) {
      const records = options.dnsRecords ?? DEFAULT_DNS_RECORDS;
      for (const ips of Object.values(records)) for (const ip of ips) assertTestAddress(ip);
      const config: ResourceServerConfig = {
        httpPort: PORTS.http,
        udpEchoPort: PORTS.udpEcho,
        dnsPort: PORTS.dns,
        records: Object.fromEntries(Object.entries(records).map(([k, v]) => [k.toLowerCase(), v])),
      };
      services.push(
        this.manage(
          this.resourceHost,
          process.execPath,
          ['--import', TSX_LOADER, RESOURCE_SERVER, JSON.stringify(config)],
          {
            ready: /^READY /m,
            label: 'resource: http/udp-echo/dns',
          },
        ).then((m) => {
          this.resourceServer = m;
        }),
        this.manage(this.resourceHost, 'iperf3', ['-s', '-p', String(PORTS.iperf3), '--forceflush'], {
          ready: /Server listening/,
          label: 'resource: iperf3 -s',
        }).then((m) => {
          this.iperf3Server = m;
        }),
      );
    }
    await Promise.all(services);
  }
}

/**
 * Builds the whole topology in fresh namespaces of a new harness (names `<base>-<pid>-<n>`, so
 * test files running in parallel never collide). On failure everything built so far is removed
 * before the error is thrown.
 */
export async function buildTopology(options: TopologyOptions = {}): Promise<ConnectivityTopology> {
  const harness = new NetnsHarness(options.base === undefined ? {} : { base: options.base });
  const topology = new ConnectivityTopology(harness, options.ipv6 ?? true);
  try {
    await topology.build(options);
  } catch (err) {
    const logs = harness.logs(2000);
    await harness.cleanup().catch(() => undefined);
    if (err instanceof Error && logs) err.message += `\n--- process logs ---\n${logs}`;
    throw err;
  }
  return topology;
}
