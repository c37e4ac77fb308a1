// Chooses the engine host for the app. The worker host (the engine in a `worker_threads`
// worker) plugs in here once the engine provides its worker entry; until then an installed app
// reports clearly that it has no tunnel engine, and `FZ_ENGINE=simulated` (or the command-line
// flag `--simulated-engine`) runs the simulation (demos, screenshots, UI development).

import {
  EngineCaptureError,
  EngineEventEmitter,
  EngineStartError,
  captureLimits,
  type EngineCaptureOptions,
  type EngineCaptureSummary,
  type EngineEvents,
  type EngineHost,
} from './engine-host.js';
import { FakeEngineHost } from './fake-engine-host.js';

export type EngineKind = 'worker' | 'simulated' | 'none';

/** Factories for engine hosts that live elsewhere (the worker host registers itself here). */
const factories = new Map<EngineKind, () => EngineHost>([['simulated', () => new FakeEngineHost()]]);

export function registerEngineHost(kind: 'worker', factory: () => EngineHost): void {
  factories.set(kind, factory);
}

/** An engine host for builds without an engine: every start fails with an explanation. */
export class MissingEngineHost implements EngineHost {
  readonly #events = new EngineEventEmitter();
  on<E extends keyof EngineEvents>(event: E, listener: EngineEvents[E]): () => void {
    return this.#events.on(event, listener);
  }
  async start(): Promise<void> {
    throw new EngineStartError({
      code: 'tun-unavailable',
      message:
        'This build of the app has no tunnel engine. Install a release build, or set FZ_ENGINE=simulated to try the app with a simulated tunnel.',
    });
  }
  async stop(): Promise<void> {}
  connect(): void {}
  disconnect(): void {}
  applySettings(): void {}
  async capture(options: EngineCaptureOptions): Promise<EngineCaptureSummary> {
    captureLimits(options);
    throw new EngineCaptureError(
      'capture-unavailable',
      'This build of the app has no tunnel engine, so there are no packets to capture.',
    );
  }
}

export function createEngineHost(
  env: NodeJS.ProcessEnv = process.env,
  argv: readonly string[] = process.argv,
): { host: EngineHost; kind: EngineKind } {
  const wanted =
    env.FZ_ENGINE === 'simulated' || argv.includes('--simulated-engine') ? 'simulated' : 'worker';
  const factory = factories.get(wanted);
  if (factory) return { host: factory(), kind: wanted };
  return { host: new MissingEngineHost(), kind: 'none' };
}
