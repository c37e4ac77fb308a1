/**
 * A fuzz target: a fast-check property over one parser or one whole exchange. `npm run fuzz`
 * (fuzz/run.ts) runs each target in batches with fresh seeds; fuzz/fuzz.test.ts runs every target
 * for `ciRuns` cases in the unit tests.
 *
 * Targets assert with node:assert (not vitest's expect) so that they run outside vitest too.
 */
import type fc from 'fast-check';

/** One ready-to-run property and what it holds (a test app, captured handshakes…). */
export interface FuzzInstance {
  // Synchronous and asynchronous properties alike; fc.check returns a promise for the latter.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly property: fc.IRawProperty<any, boolean>;
  /** Releases what `create` set up (temporary directories, timers). */
  dispose?(): void | Promise<void>;
}

export interface FuzzTarget {
  /** Short name used on the command line (`--target <name>`). */
  readonly name: string;
  /** What the target feeds in and what must hold, one line each, for the README and `--list`. */
  readonly invariants: readonly string[];
  /** Cases per batch (one seed) in long runs. */
  readonly batchRuns: number;
  /** Cases in the CI run (fuzz/fuzz.test.ts): small enough that all targets fit in ~20 s. */
  readonly ciRuns: number;
  create(): FuzzInstance | Promise<FuzzInstance>;
}
