// An in-process engine that behaves like the real one from main's point of view: the same
// lifecycle and events, realistic timings, diagnostics that move (RTT jitter, growing byte
// counters, rekeys every 120 s), an offline site, and hooks for tests to inject what the real
// engine would report (portal sign-out, connection loss, a failing flow, a hung worker).
// Packet capture works too: while one runs, the simulated traffic (fake-traffic.ts) passes real
// IPv4/UDP/ICMP and p2p control packets through the engine's own `PacketTapSet` and
// `CaptureSession`, so the pcap file is the same shape as one of the real engine.

import type {
  ConnectionDiagnostics,
  FlowFailReason,
  LogLevel,
  Resource,
  ResourceConnection,
  Site,
} from '../../src-shared/domain.js';
import { CaptureSession, PacketTapSet } from '../../src-engine/capture/packet-tap.js';
import {
  EngineCaptureError,
  EngineEventEmitter,
  EngineStartError,
  captureLimits,
  type EngineCaptureOptions,
  type EngineCaptureSummary,
  type EngineError,
  type EngineEvents,
  type EngineHost,
  type EngineSettings,
  type EngineStartOptions,
  type EngineStatus,
} from './engine-host.js';
import { demoScenario, type FakeResourceDef, type FakeScenario } from './fake-scenario.js';
import { FakeTraffic } from './fake-traffic.js';

export interface FakeEngineTimings {
  readonly startMs: number;
  readonly portalMs: number;
  readonly tunnelMs: number;
  /** From the first packet to a connected flow. */
  readonly flowMs: number;
  /** Diagnostics refresh period (and `resources` event throttle). */
  readonly tickMs: number;
  /** Backoff after a simulated connection loss. */
  readonly retryMs: number;
  /** While a capture runs: how often the simulated apps send a ping (and every other time NTP). */
  readonly packetMs: number;
}

export const DEFAULT_FAKE_TIMINGS: FakeEngineTimings = {
  startMs: 150,
  portalMs: 400,
  tunnelMs: 250,
  flowMs: 300,
  tickMs: 1000,
  retryMs: 2000,
  packetMs: 100,
};

export interface FakeEngineOptions {
  readonly scenario?: FakeScenario;
  readonly timings?: Partial<FakeEngineTimings>;
  /** PRNG seed for RTT jitter and traffic. */
  readonly seed?: number;
  readonly now?: () => number;
}

interface FlowState {
  connection: ResourceConnection;
  timer: ReturnType<typeof setTimeout> | null;
}

const HANDSHAKE_INTERVAL_MS = 120_000; // WireGuard REKEY_AFTER_TIME

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAIL_MESSAGES: Record<FlowFailReason, string> = {
  not_found: 'The portal does not know this resource any more.',
  offline: 'No gateway of this site is online.',
  version_mismatch: 'No gateway of this site runs a compatible version.',
  forbidden: 'A policy does not allow you to reach this resource right now.',
  disabled: 'This resource is disabled.',
  ambiguous_address: 'The resource address is ambiguous.',
  missing_address: 'The resource has no address.',
  invalid_address: 'The resource address is invalid.',
  handshake_timeout: 'The gateway did not answer the WireGuard handshake.',
  unknown: 'The portal could not authorise this resource.',
};

export class FakeEngineHost implements EngineHost {
  readonly #events = new EngineEventEmitter();
  readonly #timings: FakeEngineTimings;
  readonly #now: () => number;
  readonly #random: () => number;
  #scenario: FakeScenario;

  #status: EngineStatus = { state: 'stopped' };
  #options: EngineStartOptions | null = null;
  #settings: EngineSettings = { logLevel: 'info', internetResourceEnabled: false };
  #flows = new Map<string, FlowState>();
  #unreachable = new Map<string, FlowFailReason>();
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #tick: ReturnType<typeof setInterval> | null = null;
  #attempt = 0;
  #dirty = false;
  readonly #taps = new PacketTapSet();
  #capture: CaptureSession | null = null;
  #packets: ReturnType<typeof setInterval> | null = null;

  // Test hooks.
  #stalled = false;
  #nextStartError: EngineError | null = null;
  #nextConnectError: EngineError | null = null;

  /** Calls made to the host, for assertions. */
  readonly calls: string[] = [];

  constructor(options: FakeEngineOptions = {}) {
    this.#scenario = options.scenario ?? demoScenario();
    this.#timings = { ...DEFAULT_FAKE_TIMINGS, ...options.timings };
    this.#now = options.now ?? Date.now;
    this.#random = mulberry32(options.seed ?? 20211111);
  }

  get status(): EngineStatus {
    return this.#status;
  }

  get startOptions(): EngineStartOptions | null {
    return this.#options;
  }

  on<E extends keyof EngineEvents>(event: E, listener: EngineEvents[E]): () => void {
    return this.#events.on(event, listener);
  }

  async start(options: EngineStartOptions): Promise<void> {
    this.calls.push('start');
    if (this.#stalled) return new Promise<void>(() => {});
    if (this.#status.state !== 'stopped') return;
    if (options.token.length === 0) {
      throw new EngineStartError({
        code: 'authentication-failed',
        message: 'No token was given to the engine.',
      });
    }
    const failure = this.#nextStartError;
    this.#nextStartError = null;
    await this.#sleep(this.#timings.startMs);
    if (failure) {
      this.#log('error', 'tun', failure.message);
      throw new EngineStartError(failure);
    }
    this.#options = options;
    this.#settings = options.settings;
    this.#log(
      'info',
      'engine',
      `started (device ${options.deviceName}, portal ${new URL(options.portalUrl).host})`,
    );
    this.#setStatus({ state: 'idle' });
  }

  async stop(): Promise<void> {
    this.calls.push('stop');
    this.#capture?.stop();
    if (this.#status.state === 'stopped') return;
    this.#teardown();
    this.#options = null;
    await this.#sleep(10);
    this.#setStatus({ state: 'stopped' });
    this.#events.emit('resources', []);
    this.#log('info', 'engine', 'stopped');
  }

  connect(): void {
    this.calls.push('connect');
    if (this.#stalled) return;
    if (this.#status.state !== 'idle' && this.#status.state !== 'failed') return;
    this.#attempt = 1;
    this.#runConnect(null);
  }

  disconnect(): void {
    this.calls.push('disconnect');
    if (this.#stalled) return;
    const s = this.#status.state;
    if (s === 'stopped' || s === 'idle' || s === 'disconnecting') return;
    this.#capture?.stop();
    this.#teardown();
    this.#setStatus({ state: 'disconnecting' });
    this.#later(Math.min(150, this.#timings.tunnelMs), () => {
      this.#setStatus({ state: 'idle' });
      this.#log('info', 'portal', 'left topic client');
      this.#emitResources();
    });
  }

  applySettings(settings: EngineSettings): void {
    this.calls.push('applySettings');
    const internetChanged = settings.internetResourceEnabled !== this.#settings.internetResourceEnabled;
    this.#settings = settings;
    if (internetChanged && this.#status.state === 'connected') {
      const internet = this.#scenario.resources.find((r) => r.type === 'internet');
      if (internet) {
        if (settings.internetResourceEnabled) this.#startFlow(internet);
        else this.#flows.delete(internet.id);
        this.#log(
          'info',
          'tunnel',
          `Internet Resource ${settings.internetResourceEnabled ? 'enabled' : 'disabled'}`,
        );
        this.#emitResources();
      }
    }
  }

  async capture(
    options: EngineCaptureOptions,
    sink: (chunk: Uint8Array) => void,
  ): Promise<EngineCaptureSummary> {
    this.calls.push('capture');
    const { seconds, maxBytes } = captureLimits(options);
    if (this.#capture) throw new EngineCaptureError('capture-busy', 'A packet capture is already running.');
    if (this.#stalled || this.#status.state !== 'connected') {
      throw new EngineCaptureError(
        'not-connected',
        'Connect first: packets can only be captured while the tunnel is up.',
      );
    }
    const session = new CaptureSession({ seconds, maxBytes, sink, backlog: options.backlog });
    const removeTap = this.#taps.add(session.tap);
    const onAbort = () => session.stop();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) session.stop();
    this.#capture = session;
    this.#startPackets();
    this.#log('info', 'capture', `packet capture started (${seconds} s, at most ${maxBytes} bytes)`);
    try {
      const summary = await session.done;
      this.#log(
        'info',
        'capture',
        `packet capture ended (${summary.reason}): ${summary.packets} packets, ${summary.bytes} bytes, ${summary.dropped} dropped`,
      );
      return summary;
    } finally {
      removeTap();
      options.signal?.removeEventListener('abort', onAbort);
      this.#capture = null;
      this.#stopPackets();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Test and demo hooks: what the real engine reports in these situations.

  /** The worker stops answering: calls are accepted and nothing happens. */
  setStalled(stalled: boolean): void {
    this.#stalled = stalled;
  }

  failNextStart(error: EngineError): void {
    this.#nextStartError = error;
  }

  failNextConnect(error: EngineError): void {
    this.#nextConnectError = error;
  }

  /** The portal sends `disconnect {reason}` (or the WS upgrade gets 401 invalid_token). */
  simulatePortalSignOut(reason = 'token_expired'): void {
    this.#capture?.stop();
    this.#teardown();
    this.#setStatus({ state: 'idle' });
    this.#log('warn', 'portal', `portal ended the session: ${reason}`);
    this.#events.emit('signedOut', {
      reason,
      message:
        reason === 'token_expired'
          ? 'Your session expired.'
          : 'The portal no longer accepts this device’s token.',
    });
  }

  /** The network drops: the engine retries with backoff and reconnects. */
  simulateConnectionLoss(reason = 'network changed'): void {
    if (this.#status.state !== 'connected') return;
    this.#teardown();
    this.#attempt += 1;
    this.#log('warn', 'portal', `connection lost (${reason}); retrying in ${this.#timings.retryMs} ms`);
    this.#setStatus({
      state: 'connecting',
      phase: 'portal',
      attempt: this.#attempt,
      reason,
      retryInMs: this.#timings.retryMs,
    });
    this.#emitResources();
    this.#later(this.#timings.retryMs, () => this.#runConnect(reason));
  }

  /** The next flow to this resource fails (the portal's `authorization_creation_failed`). */
  setResourceUnreachable(resourceId: string, reason: FlowFailReason | null): void {
    if (reason) this.#unreachable.set(resourceId, reason);
    else this.#unreachable.delete(resourceId);
  }

  /** An app on this machine sends a packet to the resource: a flow starts if none exists. */
  simulateTraffic(resourceId: string): void {
    const def = this.#scenario.resources.find((r) => r.id === resourceId);
    if (!def || this.#status.state !== 'connected') return;
    const flow = this.#flows.get(resourceId);
    if (flow && flow.connection.state !== 'failed' && flow.connection.state !== 'idle') return;
    this.#startFlow(def, true);
    this.#emitResources();
  }

  /** Replaces the account's resources (the portal's `init` / `resource_*` events). */
  setScenario(scenario: FakeScenario): void {
    this.#scenario = scenario;
    for (const id of [...this.#flows.keys()]) {
      if (!scenario.resources.some((r) => r.id === id)) this.#flows.delete(id);
    }
    if (this.#status.state !== 'stopped') this.#emitResources();
  }

  // -------------------------------------------------------------------------------------------

  #runConnect(reason: string | null): void {
    const attempt = this.#attempt;
    this.#setStatus({ state: 'connecting', phase: 'portal', attempt, reason, retryInMs: null });
    this.#log(
      'info',
      'portal',
      `connecting to ${this.#options ? new URL(this.#options.portalUrl).host : 'portal'}`,
    );
    this.#later(this.#timings.portalMs, () => {
      const failure = this.#nextConnectError;
      if (failure) {
        this.#nextConnectError = null;
        this.#log('error', 'portal', failure.message);
        this.#setStatus({ state: 'failed', error: failure });
        return;
      }
      this.#log('info', 'portal', 'joined topic client; received init');
      this.#setStatus({ state: 'connecting', phase: 'tunnel', attempt, reason, retryInMs: null });
      this.#emitResources();
      this.#later(this.#timings.tunnelMs, () => {
        const { ipv4, ipv6 } = this.#scenario.interface;
        this.#log('info', 'tun', `tun-fz up: ${ipv4}, ${ipv6}; routes and DNS sentinels installed`);
        this.#setStatus({ state: 'connected', ipv4, ipv6 });
        for (const def of this.#scenario.resources) {
          if (def.type === 'internet') {
            if (this.#settings.internetResourceEnabled) this.#startFlow(def);
          } else if (def.activity !== 'idle') {
            this.#startFlow(def);
          }
        }
        this.#emitResources();
        this.#tick = setInterval(() => this.#onTick(), this.#timings.tickMs);
      });
    });
  }

  #startFlow(def: FakeResourceDef, userTriggered = false): void {
    const flow: FlowState = { connection: { state: 'connecting', since: this.#now() }, timer: null };
    this.#flows.set(def.id, flow);
    this.#log('debug', 'tunnel', `requesting authorization for ${def.name}`);
    flow.timer = this.#later(this.#timings.flowMs, () => {
      flow.timer = null;
      const site = this.#scenario.sites.find((s) => s.id === def.siteId);
      const reason: FlowFailReason | null =
        this.#unreachable.get(def.id) ?? (site && !site.online ? 'offline' : null);
      if (reason) {
        flow.connection = { state: 'failed', reason, message: FAIL_MESSAGES[reason], at: this.#now() };
        this.#log('warn', 'tunnel', `${def.name}: ${FAIL_MESSAGES[reason]}`);
        this.#events.emit('error', {
          code: 'resource-unreachable',
          message: `Can’t reach ${def.name}: ${FAIL_MESSAGES[reason]}`,
          resourceId: def.id,
          reason,
        });
      } else {
        flow.connection = { state: 'connected', diagnostics: this.#newDiagnostics(def, userTriggered) };
        const d = flow.connection.diagnostics;
        this.#log(
          'info',
          'ice',
          `${def.name}: nominated ${d.path} path to ${d.gatewayName ?? d.gatewayId} ${d.relayAddress ? `via ${d.relayAddress}` : `at ${d.remoteAddress}`}`,
        );
      }
      this.#emitResources();
    });
  }

  #newDiagnostics(def: FakeResourceDef, userTriggered: boolean): ConnectionDiagnostics {
    const site = this.#scenario.sites.find((s) => s.id === def.siteId);
    const gateway =
      site?.gateways[Math.floor(this.#random() * (site?.gateways.length ?? 1))] ?? site?.gateways[0];
    const relayed = def.activity === 'relayed' || (userTriggered && this.#random() < 0.25);
    const now = this.#now();
    return {
      path: relayed ? 'relayed' : 'direct',
      gatewayId: gateway?.id ?? 'unknown',
      gatewayName: gateway?.name ?? null,
      remoteAddress: gateway?.address ?? '0.0.0.0:0',
      relayAddress: relayed ? this.#scenario.relay : null,
      rttMs: null,
      txBytes: 148 + 32,
      rxBytes: 92 + 32,
      lastHandshakeAt: now,
      establishedAt: now,
    };
  }

  #onTick(): void {
    const now = this.#now();
    for (const flow of this.#flows.values()) {
      if (flow.connection.state !== 'connected') continue;
      const d = flow.connection.diagnostics;
      const base = d.path === 'direct' ? 14 : 38;
      const rtt = Math.round((base + this.#random() * 9) * 10) / 10;
      const handshakeDue = d.lastHandshakeAt !== null && now - d.lastHandshakeAt >= HANDSHAKE_INTERVAL_MS;
      flow.connection = {
        state: 'connected',
        diagnostics: {
          ...d,
          rttMs: d.rttMs === null ? rtt : Math.round((d.rttMs * 0.75 + rtt * 0.25) * 10) / 10,
          txBytes: d.txBytes + Math.floor(this.#random() * 40_000),
          rxBytes: d.rxBytes + Math.floor(this.#random() * 220_000),
          lastHandshakeAt: handshakeDue ? now : d.lastHandshakeAt,
        },
      };
      this.#dirty = true;
    }
    if (this.#dirty) this.#emitResources();
  }

  #currentResources(): Resource[] {
    const connected = this.#status.state === 'connected';
    const siteById = new Map<string, Site>(
      this.#scenario.sites.map((s) => [
        s.id,
        { id: s.id, name: s.name, status: connected ? (s.online ? 'online' : 'offline') : 'unknown' },
      ]),
    );
    return this.#scenario.resources.map((def): Resource => {
      const sites = [
        siteById.get(def.siteId) ?? { id: def.siteId, name: 'Unknown site', status: 'unknown' as const },
      ];
      const connection = this.#flows.get(def.id)?.connection ?? { state: 'idle' as const };
      if (def.type === 'internet') {
        return { id: def.id, type: 'internet', name: def.name, canBeDisabled: true, sites, connection };
      }
      return {
        id: def.id,
        type: def.type,
        name: def.name,
        address: def.address,
        addressDescription: def.addressDescription,
        sites,
        connection,
      };
    });
  }

  #emitResources(): void {
    this.#dirty = false;
    const list = this.#currentResources();
    queueMicrotask(() => this.#events.emit('resources', list));
  }

  #setStatus(status: EngineStatus): void {
    this.#status = status;
    queueMicrotask(() => this.#events.emit('status', status));
  }

  #log(level: LogLevel, target: string, message: string): void {
    const record = { time: this.#now(), level, target, message };
    queueMicrotask(() => this.#events.emit('log', record));
  }

  /** The simulated apps' packets, through the taps, while a capture runs and the tunnel is up. */
  #startPackets(): void {
    this.#stopPackets();
    const traffic = new FakeTraffic(this.#scenario, this.#random);
    let opened = false;
    this.#packets = setInterval(() => {
      if (this.#status.state !== 'connected' || !this.#taps.active) return; // paused while reconnecting
      const packets = opened ? traffic.next() : [...traffic.opening(), ...traffic.next()];
      opened = true;
      for (const { packet, direction } of packets) this.#taps.emit(packet, direction, this.#now());
    }, this.#timings.packetMs);
  }

  #stopPackets(): void {
    if (this.#packets) clearInterval(this.#packets);
    this.#packets = null;
  }

  #teardown(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    if (this.#tick) clearInterval(this.#tick);
    this.#tick = null;
    this.#flows.clear();
  }

  #later(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
    return t;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}
