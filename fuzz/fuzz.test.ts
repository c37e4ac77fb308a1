/**
 * The CI share of `npm run fuzz`: every target for its small fixed number of cases (`ciRuns`)
 * with a random seed; a failure prints the seed and path to replay with `npm run fuzz`.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { replayCommand } from './run-support.js';
import { TARGETS } from './targets/index.js';

describe('fuzz targets (short CI run)', () => {
  for (const target of TARGETS) {
    it(`${target.name} (${target.ciRuns} cases)`, async () => {
      const instance = await target.create();
      try {
        const details = await fc.check(instance.property, { numRuns: target.ciRuns });
        if (details.failed) {
          const path = details.counterexamplePath ?? '';
          throw new Error(
            `fuzz target ${target.name} failed; replay: ${replayCommand(target.name, details.seed, path)}\n` +
              `counterexample: ${fc.stringify(details.counterexample)}`,
            { cause: details.errorInstance },
          );
        }
      } finally {
        await instance.dispose?.();
      }
    });
  }
});
