import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // One file at a time. Files use their own key prefixes and schemas and could share the
    // services, but the load tests would then share 2 cores and Postgres's 100 connections:
    // a bench at concurrency 64 next to a simulate's engines is refused connections, and
    // arrival timing turns into a measure of the neighbours. Sequential keeps each file honest.
    pool: 'forks',
    fileParallelism: false,
  },
});
