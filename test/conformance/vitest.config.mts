// The Durable Streams conformance suite runs under vitest (it is written for it); everything else
// in test/ runs under node:test. `DS_STORE=memory|sqlite|redis` picks the hub's store.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/conformance/*.vitest.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
