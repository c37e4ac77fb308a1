// The engine worker: the same client engine as the headless client (ClientRuntime: portal session,
// client core, ICE/WireGuard node, TUN), run in a `worker_threads` worker so no packet work ever
// shares the thread with main's UI plumbing. Main talks to it only through ./protocol.ts.
//
//   start ─▶ idle ─connect─▶ (TUN from the provider, UDP sockets, portal) ─▶ connected
//                 ◀─disconnect── (Goodbye to gateways, routes and DNS undone, TUN closed)
//
// The token lives in this worker's memory for the session and in no log line: the logger redacts it.

import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { ClientRuntime, type ClientStatus } from '../../../src-engine/client/client-runtime.js';
import { CaptureSession } from '../../../src-engine/capture/packet-tap.js';
import type { UdpTransport } from '../../../src-engine/datapath/udp.js';
import { iceAgentFactory } from '../../../src-engine/node/ice-agent-adapter.js';
import {
  createDnsControl,
  parseNameservers,
  type DnsControl,
} from '../../../src-engine/platform/dns-control.js';
import { ENGINE_FWMARK } from '../../../src-engine/platform/fwmark.js';
import { hostAddresses } from '../../../src-engine/platform/host-addresses.js';
import { createTunProvider } from '../../../src-engine/platform/create-tun-provider.js';
import { TunProviderError, type TunProvider } from '../../../src-engine/platform/tun-provider.js';
import { openUdpSockets } from '../../../src-engine/platform/udp-sockets.js';
import { redactingLogger, type LogFields, type Logger } from '../../../src-engine/portal/log.js';
import { setPortalSocketMark } from '../../../src-engine/portal/ws-transport.js';
import { userAgentPartsFor } from '../../../src-engine/portal/host-user-agent.js';
import { defaultBackend } from '../../../src-engine/wireguard/crypto/index.js';
import type { LogLevel, Resource } from '../../../src-shared/domain.js';
import type { EngineError, EngineSettings, EngineStatus } from '../engine-host.js';
import type { HostToWorker, WorkerStartOptions, WorkerToHost } from './protocol.js';
import { engineStatusOf, resourcesOf, type EstablishedTimes } from './status-view.js';

/** How often the status is sampled while connected (diagnostics: rtt, bytes). */
const STATUS_POLL_MS = 500;
/** At most one `resources` event per this long (the rule of the EngineHost contract). */
const RESOURCES_MIN_INTERVAL_MS = 1_000;
/** Capture records are sent to main in batches, at least this often. */
const CAPTURE_FLUSH_MS = 50;
const CAPTURE_FLUSH_BYTES = 256 * 1024;

const LEVEL_ORDER: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

const port = parentPort;
if (!port) throw new Error('client-worker.ts runs only as a worker thread');

function post(message: WorkerToHost, transfer?: ArrayBuffer[]): void {
  port!.postMessage(message, transfer ?? []);
}

function formatFields(fields: LogFields | undefined): string {
  if (!fields || Object.keys(fields).length === 0) return '';
  try {
    return ` ${JSON.stringify(fields, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`;
  } catch {
    return '';
  }
}

/** Log records go to main (its log file and the Logs view), filtered by the level setting. */
function mainLogger(level: () => LogLevel): Logger {
  const emit =
    (l: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, fields?: LogFields): void => {
      if (LEVEL_ORDER[l] < LEVEL_ORDER[level()]) return;
      post({
        type: 'log',
        record: { time: Date.now(), level: l, target: 'engine', message: message + formatFields(fields) },
      });
    };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

interface Capture {
  readonly id: number;
  readonly session: CaptureSession;
  readonly removeTap: () => void;
  chunks: Uint8Array[];
  pendingBytes: number;
  /** Bytes posted to main and not yet acknowledged, plus main's own backlog at the last ack. */
  unacked: number;
  mainBacklog: number;
  timer: NodeJS.Timeout;
}

class ClientWorker {
  private options: WorkerStartOptions | undefined;
  private settings: EngineSettings = { logLevel: 'info', internetResourceEnabled: false };
  private readonly logger: Logger;
  private runtime: ClientRuntime | undefined;
  private provider: TunProvider | undefined;
  private dns: DnsControl | undefined;
  private transports: UdpTransport[] = [];
  /** The interface as last applied (addresses, routes, DNS), or undefined before. */
  private applied: { ipv4: string; ipv6: string } | undefined;
  private poll: NodeJS.Timeout | undefined;
  private lastStatus = '';
  private lastResources = '';
  private lastResourcesAt = 0;
  private resourcesTimer: NodeJS.Timeout | undefined;
  private readonly established: EstablishedTimes = new Map();
  /** Serialises connect and disconnect: each waits for the one before. */
  private transition: Promise<void> = Promise.resolve();
  private wantConnected = false;
  private capture: Capture | undefined;

  constructor() {
    this.logger = redactingLogger(
      mainLogger(() => this.settings.logLevel),
      () => (this.options ? [this.options.token] : []),
    );
  }

  handle(message: HostToWorker): void {
    switch (message.type) {
      case 'start':
        this.options = message.options;
        this.settings = message.options.settings;
        this.status({ state: 'idle' });
        post({ type: 'started' });
        return;
      case 'connect':
        if (!this.options || this.wantConnected) return;
        this.wantConnected = true;
        this.transition = this.transition.then(() => this.connect());
        return;
      case 'disconnect':
        this.wantConnected = false;
        this.transition = this.transition.then(() => this.teardown('idle'));
        return;
      case 'settings':
        this.settings = message.settings;
        this.runtime?.setInternetResourceEnabled(message.settings.internetResourceEnabled);
        return;
      case 'stop':
        this.wantConnected = false;
        this.transition = this.transition
          .then(() => this.teardown('stopped'))
          .finally(() => {
            post({ type: 'stopped' });
            port!.close();
          });
        return;
      case 'capture-start':
        this.startCapture(message.id, message.seconds, message.maxBytes);
        return;
      case 'capture-stop':
        if (this.capture?.id === message.id) this.capture.session.stop();
        return;
      case 'capture-ack':
        if (this.capture?.id === message.id) {
          this.capture.unacked = Math.max(0, this.capture.unacked - message.bytes);
          this.capture.mainBacklog = message.backlog;
        }
        return;
    }
  }

  // -------------------------------------------------------------------------------------------

  private async connect(): Promise<void> {
    const o = this.options!;
    if (!this.wantConnected || this.runtime) return;
    this.status({ state: 'connecting', phase: 'tunnel', attempt: 1, reason: null, retryInMs: null });
    try {
      this.dns =
        o.dnsControl === 'off'
          ? undefined
          : createDnsControl({ method: o.dnsControl, stateDir: o.stateDir, logger: this.logger });
      // Root (servers, tests) creates the TUN itself; the desktop user gets it from the
      // privileged helper, which also applies routes and DNS (docs/privilege-model.md).
      const provider: TunProvider = createTunProvider({
        name: o.tunName,
        ...(this.dns ? { dns: this.dns } : {}),
        ...(o.helperSocket !== undefined ? { helperSocket: o.helperSocket } : {}),
        logger: this.logger,
      });
      this.provider = provider;
      const tun = await provider.open();
      // Only a privileged process may mark its sockets; the helper's routes leave the engine's
      // unmarked traffic alone as long as no Internet resource routes everything.
      const mark = provider.kind === 'direct' ? ENGINE_FWMARK : undefined;
      this.transports = await openUdpSockets(mark !== undefined ? { mark } : {});
      if (mark !== undefined) setPortalSocketMark(mark);
      const dns = this.dns;
      const runtime = new ClientRuntime({
        portalUrl: o.portalUrl,
        token: o.token,
        deviceId: o.deviceId,
        name: o.deviceName,
        // The Firezone protocol version we implement, not the app's own (see host-user-agent.ts).
        userAgent: userAgentPartsFor('gui-client'),
        crypto: defaultBackend(),
        createAgent: iceAgentFactory(),
        tun,
        transports: this.transports,
        applyInterface: async (config) => {
          await provider.apply(config);
          this.applied = { ipv4: config.ipv4, ipv6: config.ipv6 };
          this.refresh();
        },
        systemDnsServers: () =>
          dns ? dns.systemUpstreams() : parseNameservers(readFileOr('/etc/resolv.conf')),
        ...(mark !== undefined ? { socketMark: mark } : {}),
        hostAddresses: () => hostAddresses({ excludeInterfaces: [tun.name] }),
        logger: this.logger,
        internetResource: this.settings.internetResourceEnabled,
      });
      this.runtime = runtime;
      runtime.onSignedOut((reason) => {
        post({
          type: 'signed-out',
          signOut: {
            reason,
            message:
              reason === 'token_expired'
                ? 'Your session expired. Sign in again.'
                : 'The portal no longer accepts this sign-in. Sign in again.',
          },
        });
        this.wantConnected = false;
        this.transition = this.transition.then(() => this.teardown('idle'));
      });
      runtime.onFatal((error) => {
        this.logger.error('the tunnel stopped', { error: error.message });
        this.wantConnected = false;
        const failure: EngineError = {
          code: 'tun-unavailable',
          message: `The tunnel stopped: ${error.message}`,
        };
        this.transition = this.transition.then(() => this.teardown({ state: 'failed', error: failure }));
      });
      runtime.onEvent((event) => {
        if (event.type === 'connection' && event.state === 'failed') {
          const resources = runtime
            .status()
            .resources.filter((r) => r.gatewayId === event.gatewayId || r.flow.state === 'failed');
          for (const r of resources) {
            post({
              type: 'error',
              error: {
                code: 'resource-unreachable',
                message: `${r.name} cannot be reached: the gateway did not answer.`,
                resourceId: r.id,
                reason: 'handshake_timeout',
              },
            });
          }
        }
        this.refresh();
      });
      runtime.start();
      this.logger.info('engine started', {
        tun: tun.name,
        provider: provider.kind,
        udp: this.transports.map((t) => `${t.localAddress}:${t.localPort}`),
        dns: dns?.method ?? 'off',
      });
      this.poll = setInterval(() => this.refresh(), STATUS_POLL_MS);
      this.refresh();
    } catch (error) {
      this.logger.error('cannot bring the tunnel up', { error: (error as Error).message });
      this.wantConnected = false;
      await this.teardown({ state: 'failed', error: startFailure(error) });
    }
  }

  /** Takes the tunnel down; ends in `final` (idle after a disconnect, stopped on stop, failed). */
  private async teardown(final: 'idle' | 'stopped' | EngineStatus): Promise<void> {
    const runtime = this.runtime;
    const provider = this.provider;
    this.runtime = undefined;
    this.provider = undefined;
    clearInterval(this.poll);
    this.poll = undefined;
    this.capture?.session.stop();
    if (runtime || provider) this.status({ state: 'disconnecting' });
    try {
      await runtime?.stop();
    } catch (error) {
      this.logger.warn('engine stop failed', { error: (error as Error).message });
    }
    for (const transport of this.transports) transport.close();
    this.transports = [];
    try {
      await provider?.close();
    } catch (error) {
      this.logger.warn('cannot undo the routes or DNS settings', { error: (error as Error).message });
    }
    this.applied = undefined;
    this.established.clear();
    this.status(final === 'idle' || final === 'stopped' ? { state: final } : final);
    this.sendResources([], true);
  }

  private status(status: EngineStatus): void {
    const key = JSON.stringify(status);
    if (key === this.lastStatus) return;
    this.lastStatus = key;
    post({ type: 'status', status });
  }

  /** Samples the engine: status on every change, resources at most once a second. */
  private refresh(): void {
    const runtime = this.runtime;
    if (!runtime) return;
    let snapshot: ClientStatus;
    try {
      snapshot = runtime.status();
    } catch (error) {
      this.logger.error('status failed', { error: (error as Error).message });
      return;
    }
    if (snapshot.portal.status === 'signed_out') return; // onSignedOut tears down
    const status = engineStatusOf(snapshot.portal, this.applied, performance.now());
    if (status.state === 'failed') {
      this.wantConnected = false;
      this.transition = this.transition.then(() => this.teardown(status));
      return;
    }
    this.status(status);
    this.sendResources(resourcesOf(snapshot, this.established, Date.now()));
  }

  private sendResources(resources: Resource[], now = false): void {
    const key = JSON.stringify(resources);
    if (key === this.lastResources) return;
    const wait = this.lastResourcesAt + RESOURCES_MIN_INTERVAL_MS - Date.now();
    if (!now && wait > 0) {
      // Sample again when the interval is over, so the last change is never lost.
      this.resourcesTimer ??= setTimeout(() => {
        this.resourcesTimer = undefined;
        this.refresh();
      }, wait);
      return;
    }
    clearTimeout(this.resourcesTimer);
    this.resourcesTimer = undefined;
    this.lastResources = key;
    this.lastResourcesAt = Date.now();
    post({ type: 'resources', resources });
  }

  // -------------------------------------------------------------------------------------------
  // Capture: the runtime's packet tap → a bounded pcap stream → batches of chunks to main.

  private startCapture(id: number, seconds: number, maxBytes: number): void {
    const runtime = this.runtime;
    if (!runtime || !this.applied) {
      post({
        type: 'capture-failed',
        id,
        code: 'not-connected',
        message: 'Connect first: the tunnel is down.',
      });
      return;
    }
    if (this.capture) {
      post({ type: 'capture-failed', id, code: 'capture-busy', message: 'A capture is already running.' });
      return;
    }
    const flush = (): void => {
      const c = this.capture;
      if (!c || c.chunks.length === 0) return;
      post({ type: 'capture-chunks', id, chunks: c.chunks });
      c.unacked += c.pendingBytes;
      c.chunks = [];
      c.pendingBytes = 0;
    };
    const session = new CaptureSession({
      seconds,
      maxBytes,
      sink: (chunk) => {
        const c = this.capture;
        if (!c) {
          // The file header, written from inside the constructor: before `capture` is set.
          post({ type: 'capture-chunks', id, chunks: [chunk] });
          return;
        }
        c.chunks.push(chunk);
        c.pendingBytes += chunk.length;
        if (c.pendingBytes >= CAPTURE_FLUSH_BYTES) flush();
      },
      backlog: () =>
        this.capture ? this.capture.unacked + this.capture.pendingBytes + this.capture.mainBacklog : 0,
    });
    const capture: Capture = {
      id,
      session,
      removeTap: runtime.addPacketTap(session.tap),
      chunks: [],
      pendingBytes: 0,
      unacked: 0,
      mainBacklog: 0,
      timer: setInterval(flush, CAPTURE_FLUSH_MS),
    };
    this.capture = capture;
    post({ type: 'capture-started', id });
    void session.done.then((summary) => {
      capture.removeTap();
      clearInterval(capture.timer);
      flush();
      if (this.capture === capture) this.capture = undefined;
      post({ type: 'capture-end', id, summary });
    });
  }
}

function startFailure(error: unknown): EngineError {
  if (error instanceof TunProviderError) {
    const code = error.code === 'permission-denied' ? 'permission-denied' : 'tun-unavailable';
    return { code, message: error.message };
  }
  return { code: 'internal', message: `The tunnel could not start: ${(error as Error).message}` };
}

function readFileOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

const worker = new ClientWorker();
port.on('message', (message: HostToWorker) => worker.handle(message));
