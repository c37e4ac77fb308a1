// The real engine host: the client engine (the same ClientRuntime as the headless client) in a
// `worker_threads` worker (./worker/client-worker.ts), behind the EngineHost contract. Main only
// passes messages; every packet is handled in the worker.

import { Worker } from 'node:worker_threads';
import {
  EngineCaptureError,
  EngineEventEmitter,
  EngineStartError,
  captureLimits,
  type EngineCaptureOptions,
  type EngineCaptureSummary,
  type EngineEvents,
  type EngineHost,
  type EngineSettings,
  type EngineStartOptions,
} from './engine-host.js';
import type { DnsControlChoice, HostToWorker, WorkerToHost } from './worker/protocol.js';

export interface WorkerEngineHostOptions {
  /** Where the engine keeps state (the resolv.conf backup), e.g. `<userData>/engine`. */
  readonly stateDir: string;
  readonly dnsControl?: DnsControlChoice;
  /** The TUN's name when the app creates it itself (as root). */
  readonly tunName?: string;
  /** The privileged helper's socket (the app without root). */
  readonly helperSocket?: string;
  /** How long `stop()` waits for the worker to take the tunnel down before ending it. */
  readonly stopTimeoutMs?: number;
}

export const DEFAULT_APP_TUN_NAME = 'tun-fzapp';

// From sources (tests, the development bridge) the worker is TypeScript: a bootstrap registers
// tsx inside the worker first (a worker does not inherit the parent's --import loaders). The
// built app bundles the worker next to main (src-main/tools/build-app.ts).
const SOURCE_WORKER = new URL('./worker/client-worker.ts', import.meta.url);
const BUILT_WORKER = new URL('./engine-worker.js', import.meta.url);
const TSX_API = new URL('../../node_modules/tsx/dist/esm/api/index.mjs', import.meta.url);

function spawnWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(BUILT_WORKER);
  return new Worker(
    `import(${JSON.stringify(TSX_API.href)})` +
      `.then((tsx) => { tsx.register(); return import(${JSON.stringify(SOURCE_WORKER.href)}); })` +
      `.catch((err) => { console.error(err); process.exit(1); });`,
    { eval: true },
  );
}

interface RunningCapture {
  readonly id: number;
  readonly sink: (chunk: Uint8Array) => void;
  readonly backlog: (() => number) | undefined;
  readonly started: { resolve: () => void; reject: (error: Error) => void };
  readonly done: { resolve: (summary: EngineCaptureSummary) => void };
  failed: boolean;
}

export class WorkerEngineHost implements EngineHost {
  readonly #events = new EngineEventEmitter();
  #worker: Worker | undefined;
  #stopping = false;
  #capture: RunningCapture | undefined;
  #nextCaptureId = 1;

  constructor(private readonly options: WorkerEngineHostOptions) {}

  on<E extends keyof EngineEvents>(event: E, listener: EngineEvents[E]): () => void {
    return this.#events.on(event, listener);
  }

  async start(o: EngineStartOptions): Promise<void> {
    if (this.#worker) throw new Error('the engine is already started');
    this.#stopping = false;
    const worker = spawnWorker();
    this.#worker = worker;
    const started = new Promise<void>((resolve, reject) => {
      const onMessage = (m: WorkerToHost): void => {
        if (m.type !== 'started') return;
        worker.off('message', onMessage);
        resolve();
      };
      worker.on('message', onMessage);
      worker.once('exit', (code) =>
        reject(
          new EngineStartError({
            code: 'worker-crashed',
            message: `The tunnel engine exited while starting (code ${code}). The details are in the log.`,
          }),
        ),
      );
    });
    worker.on('message', (m: WorkerToHost) => this.#onMessage(m));
    worker.on('error', (error) => {
      this.#log('error', `engine worker failed: ${error.stack ?? error.message}`);
    });
    worker.on('exit', (code) => this.#onExit(worker, code));
    this.#send({
      type: 'start',
      options: {
        portalUrl: o.portalUrl,
        token: o.token,
        deviceId: o.deviceId,
        deviceName: o.deviceName,
        appVersion: o.appVersion,
        settings: o.settings,
        stateDir: this.options.stateDir,
        dnsControl: this.options.dnsControl ?? 'auto',
        tunName: this.options.tunName ?? DEFAULT_APP_TUN_NAME,
        ...(this.options.helperSocket !== undefined ? { helperSocket: this.options.helperSocket } : {}),
      },
    });
    await started;
  }

  async stop(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    this.#stopping = true;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.#send({ type: 'stop' });
    // The worker says Goodbye, undoes routes and DNS and closes the TUN; a stuck one is ended.
    const timer = setTimeout(() => void worker.terminate(), this.options.stopTimeoutMs ?? 5_000);
    await exited;
    clearTimeout(timer);
  }

  connect(): void {
    this.#send({ type: 'connect' });
  }

  disconnect(): void {
    this.#send({ type: 'disconnect' });
  }

  applySettings(settings: EngineSettings): void {
    this.#send({ type: 'settings', settings });
  }

  async capture(
    options: EngineCaptureOptions,
    sink: (chunk: Uint8Array) => void,
  ): Promise<EngineCaptureSummary> {
    const { seconds, maxBytes } = captureLimits(options);
    if (!this.#worker) throw new EngineCaptureError('not-connected', 'Connect first: the tunnel is down.');
    if (this.#capture) throw new EngineCaptureError('capture-busy', 'A capture is already running.');
    const id = this.#nextCaptureId++;
    let startedHandlers!: RunningCapture['started'];
    let doneHandlers!: RunningCapture['done'];
    const started = new Promise<void>((resolve, reject) => (startedHandlers = { resolve, reject }));
    const done = new Promise<EngineCaptureSummary>((resolve) => (doneHandlers = { resolve }));
    const capture: RunningCapture = {
      id,
      sink,
      backlog: options.backlog,
      started: startedHandlers,
      done: doneHandlers,
      failed: false,
    };
    this.#capture = capture;
    this.#send({ type: 'capture-start', id, seconds, maxBytes });
    try {
      await started;
    } finally {
      if (capture.failed && this.#capture === capture) this.#capture = undefined;
    }
    const abort = (): void => this.#send({ type: 'capture-stop', id });
    if (options.signal?.aborted) abort();
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      return await done;
    } finally {
      options.signal?.removeEventListener('abort', abort);
    }
  }

  // -------------------------------------------------------------------------------------------

  #send(message: HostToWorker): void {
    this.#worker?.postMessage(message);
  }

  #log(level: 'error' | 'warn' | 'info', message: string): void {
    this.#events.emit('log', { time: Date.now(), level, target: 'host', message });
  }

  #onMessage(m: WorkerToHost): void {
    switch (m.type) {
      case 'started':
      case 'stopped':
        return;
      case 'status':
        this.#events.emit('status', m.status);
        return;
      case 'resources':
        this.#events.emit('resources', m.resources);
        return;
      case 'signed-out':
        this.#events.emit('signedOut', m.signOut);
        return;
      case 'error':
        this.#events.emit('error', m.error);
        return;
      case 'log':
        this.#events.emit('log', m.record);
        return;
      case 'capture-started':
        if (this.#capture?.id === m.id) this.#capture.started.resolve();
        return;
      case 'capture-failed':
        if (this.#capture?.id === m.id) {
          this.#capture.failed = true;
          this.#capture.started.reject(new EngineCaptureError(m.code, m.message));
        }
        return;
      case 'capture-chunks': {
        const c = this.#capture;
        if (c?.id !== m.id) return;
        let bytes = 0;
        for (const chunk of m.chunks) {
          bytes += chunk.length;
          try {
            c.sink(chunk);
          } catch {
            // A sink that throws ends the capture (the contract); the engine keeps running.
            this.#send({ type: 'capture-stop', id: c.id });
            break;
          }
        }
        this.#send({ type: 'capture-ack', id: c.id, bytes, backlog: c.backlog?.() ?? 0 });
        return;
      }
      case 'capture-end': {
        const c = this.#capture;
        if (c?.id !== m.id) return;
        this.#capture = undefined;
        c.done.resolve(m.summary);
        return;
      }
    }
  }

  #onExit(worker: Worker, code: number): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    const capture = this.#capture;
    this.#capture = undefined;
    if (capture) {
      capture.started.reject(new EngineCaptureError('not-connected', 'The tunnel engine stopped.'));
      capture.done.resolve({ packets: 0, bytes: 0, dropped: 0, reason: 'stopped' });
    }
    if (!this.#stopping) {
      this.#log('error', `engine worker exited unexpectedly (code ${code})`);
      this.#events.emit('status', {
        state: 'failed',
        error: {
          code: 'worker-crashed',
          message: 'The tunnel engine stopped unexpectedly. Connect again; the details are in the log.',
        },
      });
    }
    this.#events.emit('resources', []);
    this.#events.emit('status', { state: 'stopped' });
  }
}
