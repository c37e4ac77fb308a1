/**
 * A vitest reporter for the namespace scenario suites: after the run it prints one line,
 * `scenarios passed=<n> failed=<m>`, counting the tests of `*scenarios.test.ts` files (skipped
 * ones count as neither).
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class ScenarioReporter implements Reporter {
  onTestRunEnd(modules: readonly TestModule[]): void {
    let passed = 0;
    let failed = 0;
    for (const module of modules) {
      if (!/scenarios\.test\.ts$/.test(module.moduleId)) continue;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
      }
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) failed++;
    }
    process.stdout.write(`scenarios passed=${passed} failed=${failed}\n`);
  }
}
