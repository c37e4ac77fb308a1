// An engine host that has no engine: every start and capture fails with an explanation. Only
// tests use it (as a base to override single methods); the app always runs the worker host.

import {
  EngineCaptureError,
  EngineEventEmitter,
  EngineStartError,
  captureLimits,
  type EngineCaptureOptions,
  type EngineCaptureSummary,
  type EngineEvents,
  type EngineHost,
} from '../engine/engine-host.js';

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
