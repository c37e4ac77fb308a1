/**
 * The gateway engine at run time: the portal session (topic `gateway`), the gateway core, the
 * connection node and the TUN device. `src-gateway/` wraps it with the host set-up (forwarding,
 * nftables masquerade) and the command line.
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
import type { GatewayIngressMessage } from '../portal/messages/index.js';
import type { UserAgentParts } from '../portal/user-agent.js';
import { Node, type ConnectionInfo } from '../node/node.js';
import { NodeDriver } from '../node/node-driver.js';
import { toWallClock } from '../node/connection-info.js';
import type { AgentFactory } from '../node/agent-port.js';
import { relayConfigs, type PortalRelay } from '../node/relay-config.js';
import { createDomainResolver, type DomainResolver } from './domain-resolver.js';
import { GatewayState, type GatewayEvent } from './gateway-state.js';
import { ioDrops } from '../node/io-drops.js';

export interface GatewayInterfaceConfig {
  readonly ipv4: string;
  readonly ipv6: string;
  readonly routes: readonly string[];
}

export interface GatewayRuntimeOptions {
  readonly portalUrl: string;
  readonly token: string;
  readonly deviceId: string;
  readonly name?: string;
  readonly userAgent: string | UserAgentParts;
  readonly crypto: CryptoBackend;
  readonly createAgent: AgentFactory;
  readonly tun: TunDevice;
  readonly transports: readonly UdpTransport[];
  readonly applyInterface: (config: GatewayInterfaceConfig) => Promise<void>;
  readonly hostAddresses: () => readonly string[];
  readonly logger: Logger;
  /** A stable key across restarts is not needed: the portal derives fresh secrets per key. */
  readonly privateKey?: Uint8Array;
  readonly portalBackoff?: ConstructorParameters<typeof PortalSession>[0]['backoff'];
  /** Resolves DNS-resource names for clients (default: the system resolver, 10 s). */
  readonly resolveDomain?: DomainResolver;
}

export interface GatewayStatus {
  readonly portal: SessionState;
  readonly interface: GatewayInterfaceConfig | undefined;
  readonly clients: (ReturnType<GatewayState['clientList']>[number] & Partial<ConnectionInfo>)[];
  readonly relays: { id: string; state: string; relayed: string[]; srflx?: string }[];
  readonly drops: Record<string, number>;
  readonly forwarded: { fromClients: number; toClients: number; prohibited: number };
}

/** How often the host's addresses are compared with the last seen ones. */
const NETWORK_POLL_MS = 1_000;

export class GatewayRuntime {
  private readonly node: Node;
  private readonly state: GatewayState;
  private readonly session: PortalSession<'gateway'>;
  private readonly driver: NodeDriver;
  private readonly tunOut: TunWriter;
  private readonly hostWatch: HostAddressWatch;
  private iface: GatewayInterfaceConfig | undefined;
  private applying: Promise<void> = Promise.resolve();
  private relayIds = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private networkWatch: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly fatalListeners: ((error: Error) => void)[] = [];
  private readonly eventListeners: ((event: GatewayEvent) => void)[] = [];
  private readonly resolveDomain: DomainResolver;

  constructor(private readonly options: GatewayRuntimeOptions) {
    this.tunOut = new TunWriter(options.tun);
    this.hostWatch = new HostAddressWatch(options.transports, options.hostAddresses);
    this.node = new Node({
      crypto: options.crypto,
      privateKey: options.privateKey ?? randomBytes(32),
      createAgent: options.createAgent,
    });
    this.state = new GatewayState(this.node);
    this.resolveDomain = options.resolveDomain ?? createDomainResolver();
    this.session = new PortalSession({
      role: 'gateway',
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
      onPacket: (connection, packet) => this.state.handleTunnelPacket(connection, packet, this.driver.now),
      onWork: () => this.pump(),
      onError: (error) => options.logger.error('engine error', { error }),
    });
  }

  start(): void {
    this.session.on('message', (message) => this.onPortalMessage(message));
    this.session.on('signed_out', ({ reason, detail }) => {
      this.fatal(new Error(`the portal ended this gateway's session (${reason}): ${detail}`));
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
    // Goodbye to every connected client first, so they drop us now rather than after a timeout.
    this.state.shutdown(this.driver.now);
    this.driver.flush();
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.networkWatch);
    this.driver.stop();
    this.options.tun.close();
    await this.session.stop();
    await this.applying.catch(() => undefined);
  }

  onFatal(listener: (error: Error) => void): void {
    this.fatalListeners.push(listener);
  }

  onEvent(listener: (event: GatewayEvent) => void): void {
    this.eventListeners.push(listener);
  }

  refreshHostAddresses(): void {
    const { addresses, changed, first } = this.hostWatch.read();
    if (!changed && !first) return;
    if (changed) {
      this.options.logger.info('network changed: new host addresses', {
        addresses: addresses.map((a) => a.address),
      });
      this.session.reconnect();
    }
    this.node.setHostAddresses(addresses, this.driver.now);
    this.pump();
    this.driver.flush();
  }

  status(): GatewayStatus {
    return {
      portal: this.session.state,
      interface: this.iface,
      clients: this.state.clientList().map((client) => {
        const info = this.node.connectionInfo(client.id);
        return { ...client, ...(info ? toWallClock(info, this.driver.now) : {}) };
      }),
      relays: this.node.relayIds().map((id) => ({ id, ...this.node.relayState(id)! })),
      drops: {
        ...Object.fromEntries(this.state.drops),
        ...Object.fromEntries([...this.node.drops].map(([k, v]) => [`node_${k}`, v])),
        ...ioDrops(this.options.tun, this.tunOut, this.options.transports, this.driver),
      },
      forwarded: {
        fromClients: this.state.stats.packetsFromClients,
        toClients: this.state.stats.packetsToClients,
        prohibited: this.state.stats.prohibited,
      },
    };
  }

  private onPortalMessage(message: GatewayIngressMessage): void {
    const now = this.driver.now;
    this.state.handlePortalMessage(message, now);
    if (message.event === 'init') this.syncRelays(message.payload.relays, [], now);
    else if (message.event === 'relays_presence')
      this.syncRelays(message.payload.connected, message.payload.disconnected_ids, now);
    this.pump();
    this.driver.flush();
  }

  private syncRelays(relays: readonly PortalRelay[], disconnected: readonly string[], now: number): void {
    const configs = relayConfigs(relays, (unixMs) => now + (unixMs - Date.now()));
    for (const id of disconnected) this.relayIds.delete(id);
    for (const config of configs) this.relayIds.add(config.id);
    this.node.updateRelays(disconnected, configs, now);
  }

  private fromTun(batch: PacketBatch, count: number): void {
    const now = this.driver.now;
    for (let i = 0; i < count; i++) {
      const offset = i * batch.slotSize + batch.headroom;
      this.state.handleTunPacket(batch.buffer.subarray(offset, offset + batch.lengths[i]!), now);
    }
    this.pump();
    this.driver.flush();
  }

  private pump(): void {
    const now = this.driver.now;
    this.state.drainNode(now);
    for (let out = this.state.pollPortalMessage(); out; out = this.state.pollPortalMessage()) {
      this.session.send(out.event as never, out.payload as never);
    }
    for (let packet = this.state.pollTunPacket(); packet; packet = this.state.pollTunPacket()) {
      this.tunOut.push(packet);
    }
    this.tunOut.flush();
    for (let request = this.state.pollResolveRequest(); request; request = this.state.pollResolveRequest()) {
      const asked = request;
      void this.resolveDomain(asked.domain).then((result) => {
        if (this.stopped) return;
        this.state.handleDomainResolved(asked, result, this.driver.now);
        this.pump();
        this.driver.flush();
      });
    }
    for (let event = this.state.pollEvent(); event; event = this.state.pollEvent()) {
      if (event.type === 'domain_status') {
        this.options.logger.info(`DNS resource name ${event.status === 'Active' ? 'mapped' : 'refused'}`, {
          client: event.clientId,
          domain: event.domain,
          ...(event.reason ? { reason: event.reason } : {}),
        });
      }
      if (event.type === 'interface') {
        const config = { ipv4: event.ipv4, ipv6: event.ipv6, routes: event.routes };
        this.iface = config;
        this.applying = this.applying
          .then(() => this.options.applyInterface(config))
          .catch((error: unknown) =>
            this.fatal(new Error(`cannot configure ${this.options.tun.name}: ${(error as Error).message}`)),
          );
      }
      for (const listener of this.eventListeners) listener(event);
    }
    const at = this.state.pollTimeout();
    clearTimeout(this.timer);
    if (at !== undefined && !this.stopped) {
      this.timer = setTimeout(
        () => {
          this.state.handleTimeout(this.driver.now);
          this.pump();
          this.driver.flush();
        },
        Math.min(Math.max(0, at - now), 2 ** 31 - 1),
      );
    }
  }

  private fatal(error: Error): void {
    this.options.logger.error('fatal gateway error', { error: error.message });
    for (const listener of this.fatalListeners) listener(error);
  }
}
