import { defineConfig } from 'vitest/config';

// Standalone runs (`npm test` in this folder). The root project runs the same files from its
// `system` project. The tests need root: they create network namespaces and TUN devices.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
