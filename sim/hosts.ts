/**
 * Simulated client and gateway hosts: the production cores (ClientState / GatewayState), the
 * production connection node, and the production portal session core (through SimPortalLink),
 * joined by thin sim drivers instead of sockets, a TUN and WebSockets.
 */
import { defaultBackend } from '../src-engine/wireguard/crypto/index.js';
import { ClientState } from '../src-engine/client/client-state.js';
import { GatewayState } from '../src-engine/gateway/gateway-state.js';
import { Node } from '../src-engine/node/node.js';
import { iceAgentFactory } from '../src-engine/node/ice-agent-adapter.js';
import { relayConfigs } from '../src-engine/node/relay-config.js';
import type { TransportAddress } from '../src-engine/ice/transport-address.js';
import type { ClientIngressMessage, GatewayIngressMessage } from '../src-engine/portal/messages/index.js';
import type { SessionEvent } from '../src-engine/portal/session-core.js';
import { SimPortalLink } from '../src-portal/sim/sim-link.js';
import type { Participant, SimPortal } from '../src-portal/sim/sim-portal.js';
import type { SimHost, SimNetwork } from './network.js';
import type { Random } from './random.js';
import { TurnServer } from './turn-server.js';

const crypto = defaultBackend();
export const SIM_CLIENT_UA = 'Debian/12 headless-client/0.1.0 (x86_64; 6.1.0)';
export const SIM_GATEWAY_UA = 'Debian/12 gateway/0.1.0 (x86_64; 6.1.0)';

/** What the sim drives of ClientState and GatewayState alike. */
interface SimCore {
  handlePortalMessage(message: never, now: number): void;
  drainNode(now: number): void;
  pollPortalMessage(): { event: string; payload: Record<string, unknown> } | undefined;
  pollTunPacket(): Uint8Array | undefined;
  pollEvent(): unknown;
}

interface Common {
  readonly name: string;
  readonly address: TransportAddress;
  readonly node: Node;
}

abstract class SimPeerHost implements SimHost, Participant, Common {
  readonly node: Node;
  address: TransportAddress;
  /** Log lines at warn level or above: a simulation fails on any it did not expect. */
  readonly problems: string[] = [];
  protected relayIds = new Set<string>();

  constructor(
    readonly name: string,
    ip: string,
    protected readonly net: SimNetwork,
    protected readonly portal: SimPortal,
    protected readonly random: Random,
  ) {
    this.address = { address: ip, port: 52625 };
    this.node = new Node({
      crypto,
      privateKey: random.fill(new Uint8Array(32)),
      createAgent: iceAgentFactory({ random: (out) => void random.fill(out) }),
      random: () => random.next(),
      stunRandom: (out) => void random.fill(out),
      // WireGuard's TAI64N timestamps from the virtual clock too: with the real one a tunnel set
      // up again seconds later in virtual time may carry a timestamp only microseconds newer (or
      // rounded to the same), and whether the peer takes it for a replay would depend on how fast
      // the machine runs the simulation.
      wallClock: () => portal.now(),
    });
    this.node.setHostAddresses([this.address], portal.now());
  }

  /** The host got a new address (roaming): its sockets now send from it. */
  moveTo(ip: string, router: string | undefined): void {
    this.address = { address: ip, port: this.address.port };
    this.net.attach(this, ip, router);
    this.node.setHostAddresses([this.address], this.portal.now());
    this.onNetworkChange(this.portal.now());
    this.pump(this.portal.now());
  }

  protected onNetworkChange(_now: number): void {}

  get publicKey(): string {
    return Buffer.from(this.node.publicKey).toString('base64');
  }

  receive(from: TransportAddress, _to: TransportAddress, payload: Uint8Array, now: number): void {
    const result = this.node.handleDatagram(from, payload, now);
    if (result) this.onTunnelPacket(result.connection, result.packet, now);
    this.pump(now);
  }

  pollTimeout(): number | undefined {
    if (this.linkHasEvents()) return this.portal.now();
    const times = [this.node.pollTimeout(), this.corePollTimeout()].filter(
      (t): t is number => t !== undefined,
    );
    return times.length ? Math.min(...times) : undefined;
  }

  handleTimeout(now: number): void {
    const nodeAt = this.node.pollTimeout();
    if (nodeAt !== undefined && nodeAt <= now) this.node.handleTimeout(now);
    const coreAt = this.corePollTimeout();
    if (coreAt !== undefined && coreAt <= now) this.coreHandleTimeout(now);
    this.pump(now);
  }

  protected syncRelays(
    relays: readonly { type: string; id: string }[],
    disconnected: readonly string[],
    replace: boolean,
    now: number,
  ): void {
    const configs = relayConfigs(relays, (unixMs) => unixMs);
    const removed = replace
      ? [...this.relayIds].filter((id) => !configs.some((c) => c.id === id))
      : [...disconnected];
    if (replace) this.relayIds = new Set(configs.map((c) => c.id));
    else {
      for (const id of disconnected) this.relayIds.delete(id);
      for (const c of configs) this.relayIds.add(c.id);
    }
    this.node.updateRelays(removed, configs, now);
  }

  /** Sends what the node queued onto the network. */
  protected flushNode(now: number): void {
    for (let t = this.node.pollTransmit(); t; t = this.node.pollTransmit()) {
      this.net.send(this.address, t.to, t.payload, now);
    }
  }

  /**
   * Drains the portal link into the core and the core into the link, the TUN (`onTunPacket`,
   * which says whether it caused more work) and the network, until nothing moves.
   */
  protected pumpCore(
    now: number,
    link: {
      pollEvent(): SessionEvent<'client' | 'gateway'> | undefined;
      send(event: never, payload: never): boolean;
    },
    core: SimCore,
    onTunPacket: (packet: Uint8Array) => boolean,
  ): void {
    for (let round = 0; round < 50; round++) {
      let busy = false;
      for (let e = link.pollEvent(); e; e = link.pollEvent()) {
        busy = true;
        if (e.type === 'message') {
          const message = e.message as ClientIngressMessage | GatewayIngressMessage;
          core.handlePortalMessage(message as never, now);
          if (message.event === 'init') this.syncRelays(message.payload.relays, [], true, now);
          if (message.event === 'relays_presence')
            this.syncRelays(message.payload.connected, message.payload.disconnected_ids, false, now);
        } else if (e.type === 'warning' || e.type === 'invalid_message' || e.type === 'push_failed') {
          this.problems.push(`${this.name}: portal ${e.type}: ${JSON.stringify(e)}`);
        }
      }
      core.drainNode(now);
      for (let out = core.pollPortalMessage(); out; out = core.pollPortalMessage()) {
        busy = true;
        link.send(out.event as never, out.payload as never);
      }
      for (let p = core.pollTunPacket(); p; p = core.pollTunPacket()) busy = onTunPacket(p) || busy;
      // Interface changes have no OS to apply to in the simulation.
      while (core.pollEvent()) {
        /* drained */
      }
      this.flushNode(now);
      if (!busy) break;
    }
  }

  abstract pump(now: number): void;
  protected abstract linkHasEvents(): boolean;
  protected abstract onTunnelPacket(connection: string, packet: Uint8Array, now: number): void;
  protected abstract corePollTimeout(): number | undefined;
  protected abstract coreHandleTimeout(now: number): void;
}

export class SimClient extends SimPeerHost {
  readonly state: ClientState;
  readonly link: SimPortalLink<'client'>;
  /** Packets the engine wrote to the TUN, for the simulated applications. */
  readonly tun: Uint8Array[] = [];

  constructor(
    name: string,
    ip: string,
    net: SimNetwork,
    portal: SimPortal,
    random: Random,
    token: string,
    options: { internetResource?: boolean; router?: string } = {},
  ) {
    super(name, ip, net, portal, random);
    this.state = new ClientState(this.node, { internetResourceEnabled: options.internetResource ?? false });
    this.link = new SimPortalLink(portal, {
      role: 'client',
      token,
      publicKey: this.publicKey,
      deviceId: name,
      userAgent: SIM_CLIENT_UA,
      random: () => random.next(),
    });
    net.attach(this, ip, options.router);
    portal.addParticipant(this);
  }

  start(): void {
    this.link.start();
  }

  /** An application sends `packet` into the TUN. */
  send(packet: Uint8Array): void {
    const now = this.portal.now();
    this.state.handleTunPacket(packet, now);
    this.pump(now);
  }

  pump(now: number): void {
    this.pumpCore(now, this.link, this.state, (packet) => {
      this.tun.push(packet);
      return false;
    });
  }

  protected onTunnelPacket(connection: string, packet: Uint8Array, now: number): void {
    this.state.handleTunnelPacket(connection, packet, now);
  }

  /** As ClientRuntime: a session reset with a new key (docs/protocol.md §3.3). */
  protected override onNetworkChange(now: number): void {
    this.node.reset(this.random.fill(new Uint8Array(32)), now);
    this.state.resetConnections();
    this.link.setPublicKey(this.publicKey);
  }

  protected linkHasEvents(): boolean {
    return this.link.hasEvents;
  }

  protected corePollTimeout(): number | undefined {
    return this.state.pollTimeout();
  }

  protected coreHandleTimeout(now: number): void {
    this.state.handleTimeout(now);
  }
}

/**
 * A gateway whose TUN leads to simulated resources: `resource(packet)` answers a packet that
 * reached the site (an echo server), or returns undefined for silence.
 */
export class SimGateway extends SimPeerHost {
  readonly state: GatewayState;
  readonly link: SimPortalLink<'gateway'>;
  /** Packets forwarded to the site. */
  readonly forwarded: Uint8Array[] = [];

  constructor(
    name: string,
    ip: string,
    net: SimNetwork,
    portal: SimPortal,
    random: Random,
    token: string,
    private readonly resource: (packet: Uint8Array) => Uint8Array | undefined,
    router?: string,
  ) {
    super(name, ip, net, portal, random);
    this.state = new GatewayState(this.node);
    this.link = new SimPortalLink(portal, {
      role: 'gateway',
      token,
      publicKey: this.publicKey,
      deviceId: name,
      userAgent: SIM_GATEWAY_UA,
      random: () => random.next(),
    });
    net.attach(this, ip, router);
    portal.addParticipant(this);
  }

  start(): void {
    this.link.start();
  }

  stop(): void {
    this.link.stop();
    this.net.setOnline(this.address.address, false);
  }

  pump(now: number): void {
    this.pumpCore(now, this.link, this.state, (packet) => {
      this.forwarded.push(packet);
      const reply = this.resource(packet);
      if (reply) this.state.handleTunPacket(reply, now);
      return true;
    });
  }

  protected onTunnelPacket(connection: string, packet: Uint8Array, now: number): void {
    this.state.handleTunnelPacket(connection, packet, now);
  }

  protected linkHasEvents(): boolean {
    return this.link.hasEvents;
  }

  protected corePollTimeout(): number | undefined {
    return this.state.pollTimeout();
  }

  protected coreHandleTimeout(now: number): void {
    this.state.handleTimeout(now);
  }
}

/**
 * A TURN relay (the sans-IO `TurnServer`, coturn-like) on a public address of the network. The
 * network routes by IP, so datagrams to any port of the relay's IP — its listening port and every
 * relayed port it allocates — reach this host; the server itself drops those for ports it does
 * not serve. Its answers and relayed data leave from the address the server names (the listening
 * address, or a relayed one), and its expiry timers run as a participant of the portal's clock.
 */
export class SimRelay implements SimHost, Participant {
  readonly server: TurnServer;

  constructor(
    readonly name: string,
    readonly address: TransportAddress,
    secret: string,
    private readonly net: SimNetwork,
    portal: SimPortal,
    random: Random,
  ) {
    this.server = new TurnServer({
      addresses: [address],
      secret,
      // The portal hands out coturn's TURN REST credentials: only that scheme is accepted here.
      passwordSchemes: ['coturn'],
      random: (out) => void random.fill(out),
    });
    net.attach(this, address.address);
    portal.addParticipant(this);
  }

  receive(from: TransportAddress, to: TransportAddress, payload: Uint8Array, now: number): void {
    this.server.handleInput(payload, from, to, now);
    this.flush(now);
  }

  pollTimeout(): number | undefined {
    return this.server.pollTimeout();
  }

  handleTimeout(now: number): void {
    this.server.handleTimeout(now);
    this.flush(now);
  }

  /** A reboot: every allocation, permission, channel and nonce is gone. */
  restart(): void {
    this.server.restart();
  }

  private flush(now: number): void {
    for (let t = this.server.pollTransmit(); t; t = this.server.pollTransmit()) {
      this.net.send(t.from, t.to, t.payload, now);
    }
  }
}
