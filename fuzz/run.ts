/**
 * `npm run fuzz -- --minutes N [--target <name>]… [--seed <n> [--path <p>]] [--list]`
 *
 * Splits N minutes (default 1) over the chosen targets (default all) and runs each target's
 * property in batches, every batch with a fresh random seed, until its share of time is spent.
 * Prints `fuzz <target> cases=<n> seconds=<s>` per target and `fuzz total cases=<n> failures=0`,
 * and exits 0. On a failure it prints the target, seed and path, the command line that replays
 * it and the shrunk counterexample, and exits 1.
 *
 * `--seed S` (with `--path P` from a failure report) replays instead: one batch of that seed,
 * or exactly the failing case and its shrinking when a path is given.
 */
import { randomInt } from 'node:crypto';
import fc from 'fast-check';
import { replayCommand } from './run-support.js';
import type { FuzzTarget } from './target.js';
import { TARGETS } from './targets/index.js';

interface Options {
  minutes: number;
  targets: string[];
  seed: number | undefined;
  path: string | undefined;
  list: boolean;
}

function usage(message: string): never {
  console.error(`fuzz: ${message}`);
  console.error(
    'usage: npm run fuzz -- [--minutes N] [--target <name>]... [--seed <n> [--path <p>]] [--list]',
  );
  console.error(`targets: ${TARGETS.map((t) => t.name).join(', ')}`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { minutes: 1, targets: [], seed: undefined, path: undefined, list: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--minutes': {
        const minutes = Number(value());
        if (!Number.isFinite(minutes) || minutes <= 0) usage('--minutes must be a positive number');
        options.minutes = minutes;
        break;
      }
      case '--target':
        options.targets.push(value());
        break;
      case '--seed': {
        const seed = Number(value());
        if (!Number.isInteger(seed)) usage('--seed must be an integer');
        options.seed = seed;
        break;
      }
      case '--path':
        options.path = value();
        break;
      case '--list':
        options.list = true;
        break;
      default:
        usage(`unknown argument ${arg}`);
    }
  }
  if (options.path !== undefined && options.seed === undefined) usage('--path needs --seed');
  return options;
}

function select(names: readonly string[]): FuzzTarget[] {
  if (names.length === 0) return [...TARGETS];
  return names.map((name) => TARGETS.find((t) => t.name === name) ?? usage(`no target named ${name}`));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function report(target: FuzzTarget, details: fc.RunDetails<any>): void {
  const path = details.counterexamplePath ?? '';
  console.log(`fuzz ${target.name} FAILED seed=${details.seed} path=${path}`);
  console.log(`replay: ${replayCommand(target.name, details.seed, path)}`);
  console.log(`counterexample (shrunk ${details.numShrinks} times):`);
  console.log(fc.stringify(details.counterexample));
  const error = details.errorInstance;
  console.log(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const targets = select(options.targets);
  if (options.list) {
    for (const t of targets) {
      console.log(t.name);
      for (const line of t.invariants) console.log(`  - ${line}`);
    }
    return 0;
  }

  let total = 0;
  let failures = 0;
  const budgetMs = (options.minutes * 60_000) / targets.length;
  for (const target of targets) {
    const instance = await target.create();
    const started = performance.now();
    let cases = 0;
    try {
      do {
        const seed = options.seed ?? randomInt(0x7fffffff);
        const remaining = budgetMs - (performance.now() - started);
        if (options.seed === undefined && cases > 0 && remaining < 20) break;
        const details = await fc.check(instance.property, {
          seed,
          numRuns: target.batchRuns,
          ...(options.path !== undefined ? { path: options.path } : {}),
          // A batch stops when the target's time is up; cases run until then still count.
          ...(options.seed === undefined ? { interruptAfterTimeLimit: Math.max(1, remaining) } : {}),
          markInterruptAsFailure: false,
        });
        cases += details.numRuns;
        // A batch cut short by the time limit before any case failed is not a failure.
        if (details.failed && !(details.interrupted && details.counterexample === null)) {
          failures++;
          report(target, details);
          break;
        }
      } while (options.seed === undefined && performance.now() - started < budgetMs);
    } finally {
      await instance.dispose?.();
    }
    total += cases;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`fuzz ${target.name} cases=${cases} seconds=${seconds}`);
    if (failures > 0) break;
  }
  console.log(`fuzz total cases=${total} failures=${failures}`);
  return failures > 0 ? 1 : 0;
}

process.exitCode = await main();
