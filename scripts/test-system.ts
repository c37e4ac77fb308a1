/**
 * `npm run test:system [-- <suite|vitest args>]`: the system tests in network namespaces (root).
 * A suite name runs that suite's scenarios alone — `connectivity`, `dns`, `reliability` —
 * and the run ends with the line `scenarios passed=<n> failed=<m>`. Anything else goes to vitest
 * as is (file filters, -t patterns).
 */
import { spawnSync } from 'node:child_process';

const SUITES: Record<string, string[]> = {
  connectivity: ['e2e/system/connectivity/scenarios.test.ts'],
  dns: ['e2e/system/dns/scenarios.test.ts'],
  reliability: [
    'e2e/system/reliability/scenarios.test.ts',
    'e2e/system/reliability/long-run.scenarios.test.ts',
  ],
};

const args = process.argv.slice(2).flatMap((arg) => SUITES[arg] ?? [arg]);
const result = spawnSync(
  process.execPath,
  [
    'node_modules/vitest/vitest.mjs',
    'run',
    '--project',
    'system',
    '--reporter=default',
    '--reporter=./e2e/system/scenario-reporter.ts',
    ...args,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
