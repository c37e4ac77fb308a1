/**
 * The client engine at run time: the portal session, the client core, the connection node and
 * the TUN device, wired together with thin drivers. The headless client and (through its engine
 * worker) the desktop app run this same class. Everything it does per packet stays synchronous
 * and allocation-light; configuration work (addresses, routes) is async and serialised.
 */
import { randomBytes } from 'node:crypto';
import type { CryptoBackend } from '../wireguard/crypto/backend.js';
import type { UdpTransport } from '../datapath/udp.js';
import type { PacketBatch } from '../tun/batch.js';
import { TunWriter } from '../tun/tun-writer.js';
import { HostAddressWatch } from '../platform/host-address-watch.js';
import type { TunDevice } from '../tun/device.js';
import { PortalSession } from '../portal/session.js';
import type { Logger } from '../portal/log.js';
import type { SessionState } from '../portal/session-core.js';
import type { ClientIngressMessage } from '../portal/messages/index.js';
import type { UserAgentParts } from '../portal/user-agent.js';
import { Node, type ConnectionInfo } from '../node/node.js';
import { relayConfigs } from '../node/relay-config.js';
import { NodeDriver } from '../node/node-driver.js';
import { toWallClock } from '../node/connection-info.js';
import type { AgentFactory } from '../node/agent-port.js';
import { ClientState, type ClientEvent, type FlowView } from './client-state.js';
import { UpstreamDns } from './upstream-dns.js';
import type { PacketDirection, PacketTap } from '../capture/packet-tap.js';
import { ioDrops } from '../node/io-drops.js';

export interface ClientInterfaceConfig {
  readonly ipv4: string;
  readonly ipv6: string;
  readonly routes: readonly string[];
  readonly upstreamDns: readonly string[];
  /** The sentinel addresses the OS must use as its name servers. */
  readonly dnsServers: readonly string[];
  readonly searchDomain: string | null;
}

export interface ClientRuntimeOptions {
  readonly portalUrl: string;
  readonly token: string;
  readonly deviceId: string;
  readonly name?: string;
  readonly userAgent: string | UserAgentParts;
  readonly crypto: CryptoBackend;
  readonly createAgent: AgentFactory;
  readonly tun: TunDevice;
  readonly transports: readonly UdpTransport[];
  /** Applies addresses and routes to the TUN (iproute2, the privileged helper, or nothing in tests). */
  readonly applyInterface: (config: ClientInterfaceConfig) => Promise<void>;
  /** The host's own addresses for host candidates (interface addresses, not the TUN's). */
  readonly hostAddresses: () => readonly string[];
  readonly logger: Logger;
  readonly internetResource?: boolean;
  /** The system's resolvers as configured before ours (forwarded names go there). */
  readonly systemDnsServers?: () => readonly string[];
  /** The routing mark of the engine's own sockets (Linux), so policy routing keeps them off the TUN. */
  readonly socketMark?: number;
  readonly portalBackoff?: ConstructorParameters<typeof PortalSession>[0]['backoff'];
}

export interface ClientStatus {
  readonly portal: SessionState;
  readonly signedInAs: { name: string; email: string | null } | undefined;
  readonly deviceId: string;
  /** The interface as last applied to the TUN (addresses, routes, DNS); undefined before. */
  readonly interface: ClientInterfaceConfig | undefined;
  readonly resources: {
    id: string;
    name: string;
    address: string;
    type: string;
    gatewayId: string | undefined;
    siteOffline: boolean;
    sites: { id: string; name: string }[];
    addressDescription: string | null;
    canBeDisabled: boolean;
    /** The flow's state; times in unix milliseconds. */
    flow: FlowView;
  }[];
  readonly connections: (ConnectionInfo & { resources: string[] })[];
  readonly relays: { id: string; state: string; relayed: string[]; srflx?: string }[];
  readonly dns: ReturnType<ClientState['dnsStats']> & {
    readonly names: ReturnType<ClientState['dnsNatList']>;
  };
  readonly drops: Record<string, number>;
}

/**
 * How often the host's addresses are compared with the last seen ones. A laptop roams: half a
 * second keeps the re-handshake after a network change under Firezone's 2 s target even on a
 * loaded machine, and a getifaddrs call twice a second costs nothing measurable.
 */
const NETWORK_POLL_MS = 500;

export class ClientRuntime {
  private readonly node: Node;
  private readonly state: ClientState;
  private readonly session: PortalSession<'client'>;
  private readonly driver: NodeDriver;
  private readonly tunOut: TunWriter;
  private readonly hostWatch: HostAddressWatch;
  private iface: ClientInterfaceConfig | undefined;
  private applying: Promise<void> = Promise.resolve();
  private relayIds = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private networkWatch: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly signedOutListeners: ((reason: string) => void)[] = [];
  private readonly fatalListeners: ((error: Error) => void)[] = [];
  private readonly eventListeners: ((event: ClientEvent) => void)[] = [];
  private readonly upstreamDns: UpstreamDns;
  private readonly taps = new Set<PacketTap>();

  constructor(private readonly options: ClientRuntimeOptions) {
    this.tunOut = new TunWriter(options.tun);
    this.hostWatch = new HostAddressWatch(options.transports, options.hostAddresses);
    const privateKey = randomBytes(32);
    this.node = new Node({ crypto: options.crypto, privateKey, createAgent: options.createAgent });
    this.state = new ClientState(this.node, {
      internetResourceEnabled: options.internetResource ?? false,
      systemDnsServers: options.systemDnsServers?.() ?? [],
    });
    this.state.controlTap = (packet, direction) => this.tap(packet, direction);
    this.upstreamDns = new UpstreamDns({
      onResponse: (bytes, from) => {
        this.state.handleUpstreamDnsResponse(bytes, from, this.driver.now);
        this.pump();
        this.driver.flush();
      },
      onError: (error) => options.logger.debug('upstream DNS socket error', { error: error.message }),
      ...(options.socketMark !== undefined ? { mark: options.socketMark } : {}),
    });
    this.session = new PortalSession({
      role: 'client',
      url: options.portalUrl,
      token: options.token,
      publicKey: Buffer.from(this.node.publicKey).toString('base64'),
      deviceId: options.deviceId,
      ...(options.name !== undefined ? { name: options.name } : {}),
      userAgent: options.userAgent,
      logger: options.logger,
      ...(options.portalBackoff ? { backoff: options.portalBackoff } : {}),
    });
    this.driver = new NodeDriver({
      node: this.node,
      transports: options.transports,
      onPacket: (connection, packet) => {
        this.state.handleTunnelPacket(connection, packet, this.driver.now);
      },
      onWork: () => this.pump(),
      onError: (error) => options.logger.error('engine error', { error }),
    });
  }

  start(): void {
    const log = this.options.logger;
    this.session.on('message', (message) => this.onPortalMessage(message));
    this.session.on('signed_out', ({ reason, detail }) => {
      log.warn('signed out by the portal', { reason, detail });
      for (const listener of this.signedOutListeners) listener(reason);
    });
    this.options.tun.start(
      (batch, count) => this.fromTun(batch, count),
      (error) => this.fatal(new Error(`TUN ${this.options.tun.name}: ${error.message}`, { cause: error })),
    );
    this.driver.start();
    this.refreshHostAddresses();
    // Roaming: a new address (another network, a new lease) means new host candidates; the ICE
    // agents then find a working pair again while the tunnel's inner addresses stay the same.
    this.networkWatch = setInterval(() => this.refreshHostAddresses(), NETWORK_POLL_MS);
    this.networkWatch.unref();
    this.session.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    // Goodbye to every connected gateway first, so they drop our state now (docs/protocol.md §1.4).
    this.state.shutdown(this.driver.now);
    this.driver.flush();
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.networkWatch);
    this.upstreamDns.close();
    this.driver.stop();
    this.options.tun.close();
    await this.session.stop();
    await this.applying.catch(() => undefined);
  }

  onSignedOut(listener: (reason: string) => void): void {
    this.signedOutListeners.push(listener);
  }

  onFatal(listener: (error: Error) => void): void {
    this.fatalListeners.push(listener);
  }

  onEvent(listener: (event: ClientEvent) => void): void {
    this.eventListeners.push(listener);
  }

  /** Adds a packet tap (capture); returns its remover. Off unless someone taps. */
  addPacketTap(tap: PacketTap): () => void {
    this.taps.add(tap);
    return () => this.taps.delete(tap);
  }

  /** The system's resolvers changed (e.g. a new network's DHCP lease). */
  setSystemDnsServers(servers: readonly string[]): void {
    this.state.setSystemDnsServers(servers);
    this.pump();
  }

  setInternetResourceEnabled(enabled: boolean): void {
    this.state.setInternetResourceEnabled(enabled, this.driver.now);
    this.pump();
    this.driver.flush();
  }

  /** The network changed (roaming): new host candidates; connections re-check their paths. */
  refreshHostAddresses(): void {
    const { addresses, changed, first } = this.hostWatch.read();
    if (!changed && !first) return;
    if (changed) {
      this.options.logger.info('network changed: resetting the session', {
        addresses: addresses.map((a) => a.address),
      });
      // Firezone's reset (docs/protocol.md §3.3): new key, connections and allocations from scratch,
      // and the portal told at once. Tunnel addresses stay, so TCP inside the tunnel survives.
      this.node.reset(randomBytes(32), this.driver.now);
      this.state.resetConnections();
      this.session.setPublicKey(Buffer.from(this.node.publicKey).toString('base64'));
    }
    this.node.setHostAddresses(addresses, this.driver.now);
    this.pump();
    this.driver.flush();
  }

  status(): ClientStatus {
    const gateways = this.state.gatewayList();
    return {
      portal: this.session.state,
      signedInAs: this.state.signedInAs,
      deviceId: this.options.deviceId,
      interface: this.iface,
      resources: this.state.resourceList().map(({ resource, gatewayId, siteOffline }) => ({
        id: resource.id,
        name: resource.name,
        address: 'address' in resource ? resource.address : resource.type === 'internet' ? '0.0.0.0/0' : '',
        type: resource.type,
        gatewayId,
        siteOffline,
        sites: 'sites' in resource ? resource.sites.map((site) => ({ id: site.id, name: site.name })) : [],
        addressDescription: 'address_description' in resource ? (resource.address_description ?? null) : null,
        canBeDisabled: resource.type === 'internet' ? resource.can_be_disabled : false,
        flow: this.wallClockFlow(this.state.flowView(resource.id)),
      })),
      connections: gateways.flatMap((g) => {
        const info = this.node.connectionInfo(g.id);
        return info ? [{ ...toWallClock(info, this.driver.now), resources: g.resources }] : [];
      }),
      relays: this.node.relayIds().map((id) => ({ id, ...this.node.relayState(id)! })),
      dns: { ...this.state.dnsStats(), names: this.state.dnsNatList() },
      drops: {
        ...this.state.dropCounts(),
        ...Object.fromEntries([...this.node.drops].map(([k, v]) => [`node_${k}`, v])),
        ...ioDrops(this.options.tun, this.tunOut, this.options.transports, this.driver),
      },
    };
  }

  // ---------------------------------------------------------------------------------------------

  private wallClockFlow(flow: FlowView): FlowView {
    const wall = (t: number): number => Date.now() - (this.driver.now - t);
    if (flow.state === 'connecting') return { state: 'connecting', since: wall(flow.since) };
    if (flow.state === 'failed')
      return { state: 'failed', failure: { ...flow.failure, at: wall(flow.failure.at) } };
    return flow;
  }

  private onPortalMessage(message: ClientIngressMessage): void {
    const now = this.driver.now;
    this.state.handlePortalMessage(message, now);
    if (message.event === 'init' || message.event === 'relays_presence') this.syncRelays(now);
    this.pump();
    this.driver.flush();
  }

  private syncRelays(now: number): void {
    // The portal's expiry is unix time; the node runs on the monotonic clock.
    const configs = relayConfigs(this.state.currentRelays(), (unixMs) => now + (unixMs - Date.now()));
    const ids = new Set(configs.map((config) => config.id));
    const removed = [...this.relayIds].filter((id) => !ids.has(id));
    this.relayIds = ids;
    this.node.updateRelays(removed, configs, now);
  }

  private fromTun(batch: PacketBatch, count: number): void {
    const now = this.driver.now;
    const tapping = this.taps.size > 0;
    for (let i = 0; i < count; i++) {
      const offset = i * batch.slotSize + batch.headroom;
      const packet = batch.buffer.subarray(offset, offset + batch.lengths[i]!);
      if (tapping) this.tap(packet, 'to_tunnel');
      this.state.handleTunPacket(packet, now);
    }
    this.pump();
    this.driver.flush();
  }

  /** Drains the client core: portal messages, TUN packets, events; re-arms its timer. */
  private pump(): void {
    const now = this.driver.now;
    this.state.drainNode(now);
    for (let out = this.state.pollPortalMessage(); out; out = this.state.pollPortalMessage()) {
      this.session.send(out.event as never, out.payload as never);
    }
    const tapping = this.taps.size > 0;
    for (let packet = this.state.pollTunPacket(); packet; packet = this.state.pollTunPacket()) {
      if (tapping) this.tap(packet, 'from_tunnel');
      this.tunOut.push(packet);
    }
    for (let forward = this.state.pollDnsForward(); forward; forward = this.state.pollDnsForward()) {
      this.upstreamDns.send(forward);
    }
    this.tunOut.flush();
    for (let event = this.state.pollEvent(); event; event = this.state.pollEvent()) {
      if (event.type === 'interface') this.apply(event);
      if (event.type === 'connection') {
        const info = this.node.connectionInfo(event.gatewayId);
        const fields = {
          gateway: event.gatewayId,
          ...(event.reason ? { reason: event.reason } : {}),
          ...(info?.path ? { path: info.path.relayed ? 'relayed' : 'direct' } : {}),
        };
        if (event.state === 'failed') this.options.logger.info('connection to gateway failed', fields);
        else this.options.logger.info(`connection to gateway ${event.state}`, fields);
      }
      if (event.type === 'site_offline') this.options.logger.info('site offline', { sites: event.siteIds });
      for (const listener of this.eventListeners) listener(event);
    }
    const at = this.state.pollTimeout();
    clearTimeout(this.timer);
    if (at !== undefined && !this.stopped) {
      this.timer = setTimeout(
        () => {
          this.state.handleTimeout(this.driver.now);
          this.pump();
        },
        Math.max(0, at - now),
      );
    }
  }

  private apply(event: Extract<ClientEvent, { type: 'interface' }>): void {
    const config: ClientInterfaceConfig = {
      ipv4: event.ipv4,
      ipv6: event.ipv6,
      routes: event.routes,
      upstreamDns: event.upstreamDns,
      dnsServers: event.dnsServers,
      searchDomain: event.searchDomain,
    };
    // Status shows the interface once it is applied: a caller that waits for it may then use
    // the routes (before, a first packet would still take the host's default route).
    this.applying = this.applying
      .then(() => this.options.applyInterface(config))
      .then(() => {
        this.iface = config;
      })
      .catch((error: unknown) =>
        this.fatal(new Error(`cannot configure ${this.options.tun.name}: ${(error as Error).message}`)),
      );
  }

  private tap(packet: Uint8Array, direction: PacketDirection): void {
    const at = Date.now();
    for (const tap of this.taps) tap(packet, direction, at);
  }

  private fatal(error: Error): void {
    this.options.logger.error('fatal engine error', { error: error.message });
    for (const listener of this.fatalListeners) listener(error);
  }
}
