import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'src-*/**/*.test.ts',
            'scripts/**/*.test.ts',
            'bench/**/*.test.ts',
            'sim/**/*.test.ts',
            'fuzz/**/*.test.ts',
          ],
          environment: 'node',
          testTimeout: 30_000,
        },
      },
      {
        // The Playwright suite: the renderer in Debian's Chromium against main's real core with
        // the fake engine (e2e/ui/harness.ts). One file at a time: each drives a browser.
        test: {
          name: 'ui',
          include: ['e2e/ui/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['e2e/ui/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        // System tests build network namespaces and start real peers: they need root, run one
        // file at a time, and clean up after themselves even on failure.
        test: {
          name: 'system',
          include: ['e2e/system/**/*.test.ts', 'native/*/test/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
