import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    // tfjs-node's native addon is loaded per process: forks, not worker threads.
    pool: 'forks',
    testTimeout: 20_000,
    env: { TF_CPP_MIN_LOG_LEVEL: '3' },
  },
});
