import { defineConfig } from 'vitest/config';

// The library's entry points resolve to its sources, so that tests and the kernel-ext modules they load share one copy.
const lib = (file: string) => new URL(`../lib/src/${file}`, import.meta.url).pathname;

export default defineConfig({
  resolve: {
    alias: [
      { find: /^ecotrain\/base$/, replacement: lib('base.ts') },
      { find: /^ecotrain$/, replacement: lib('index.ts') },
    ],
  },
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    // tfjs-node's native addon is loaded per process: forks, not worker threads.
    pool: 'forks',
    testTimeout: 20_000,
    env: { TF_CPP_MIN_LOG_LEVEL: '3' },
  },
});
