import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // wasm + tfjs start-up and small trainings take seconds, not milliseconds.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: run files in two forks, each owning its tfjs backend.
    pool: 'forks',
    maxWorkers: 2,
  },
});
