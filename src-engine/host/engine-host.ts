import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { EngineStats, HostToWorker, TunnelConfig, WorkerToHost } from './protocol.js';

export interface EngineHostEvents {
  event: [WorkerToHost & { type: 'event' }];
  error: [Error];
  exit: [number];
}

const WORKER_URL = new URL('./engine-worker.ts', import.meta.url);
const BUILT_WORKER_URL = new URL('./engine-worker.js', import.meta.url);
const TSX_API = new URL('../../node_modules/tsx/dist/esm/api/index.mjs', import.meta.url);

/**
 * Starts the engine in a worker thread and talks to it through typed messages. In Electron the
 * host lives in the main process, so no packet work ever blocks the UI thread.
 */
export class EngineHost extends EventEmitter<EngineHostEvents> {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (s: EngineStats) => void; reject: (e: Error) => void }
  >();

  /** Spawns the worker and brings the tunnel up; resolves once the interface is up. */
  async start(
    config: TunnelConfig,
  ): Promise<{ interfaceName: string; listenPort: number; cryptoBackend: string; cryptoLanes: number }> {
    if (this.worker) throw new Error('engine already started');
    // From sources (tests, dev) the worker is TypeScript: a tiny bootstrap registers tsx inside
    // the worker first (a worker does not inherit the parent's --import loaders). Built code runs as is.
    const fromSource = import.meta.url.endsWith('.ts');
    const worker = fromSource
      ? new Worker(
          `import(${JSON.stringify(TSX_API.href)})` +
            `.then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); })` +
            `.catch((err) => { console.error(err); process.exit(1); });`,
          { eval: true },
        )
      : new Worker(BUILT_WORKER_URL);
    this.worker = worker;
    worker.on('error', (err) => this.reportError(err));
    worker.on('exit', (code) => {
      this.worker = undefined;
      // Nobody will answer pending stats requests any more.
      for (const pending of this.pending.values())
        pending.reject(new Error(`engine worker exited (${code})`));
      this.pending.clear();
      this.emit('exit', code);
    });
    const started = new Promise<WorkerToHost & { type: 'started' }>((resolve, reject) => {
      const onMessage = (m: WorkerToHost): void => {
        if (m.type === 'started') resolve(m);
        else if (m.type === 'error' && m.fatal) reject(new Error(m.message));
      };
      worker.on('message', onMessage);
      worker.once('exit', (code) => reject(new Error(`engine worker exited (${code}) during start`)));
    });
    worker.on('message', (m: WorkerToHost) => this.onMessage(m));
    this.send({ type: 'start', config });
    try {
      return await started;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  stats(): Promise<EngineStats> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.worker) return reject(new Error('engine not running'));
      this.pending.set(id, { resolve, reject });
      this.send({ type: 'stats', id });
    });
  }

  /** Stops the tunnel and the worker (the interface disappears with its TUN fd). */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.send({ type: 'stop' });
    const timer = setTimeout(() => void worker.terminate(), 2_000);
    await exited;
    clearTimeout(timer);
  }

  private send(m: HostToWorker): void {
    this.worker?.postMessage(m);
  }

  private onMessage(m: WorkerToHost): void {
    if (m.type === 'stats') {
      this.pending.get(m.id)?.resolve(m.stats);
      this.pending.delete(m.id);
    } else if (m.type === 'event') {
      this.emit('event', m);
    } else if (m.type === 'error') {
      this.reportError(new Error(m.message));
    }
  }

  /** 'error' events only go to listeners; without one, an EventEmitter would throw instead. */
  private reportError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
