// Vitest runs the JS suites against the built package: tests import from 'loci' (the
// package's self-reference, resolving to dist/src/index.js, which loads build/Release),
// so run `npm run build` (or `tsc`) first.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each test file in its own child process: a native addon cannot be unloaded, may
    // keep libuv threads busy, and a crash in it should fail one file, not the runner.
    // (The 'threads' pool would load the addon into worker_threads of one process.)
    pool: 'forks',
    // Files are independent (each test makes its own stores); two at a time on a 2-core
    // machine leaves room for the libuv pool threads each file drives.
    maxWorkers: 2,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    teardownTimeout: 10_000,
    // CI (.ci/run) sets LOCI_VITEST_JSON to count passed and failed tests from a report.
    reporters: process.env.LOCI_VITEST_JSON ? ['default', 'json'] : ['default'],
    outputFile: process.env.LOCI_VITEST_JSON ? { json: process.env.LOCI_VITEST_JSON } : undefined,
    // Fail loudly on an unhandled rejection: a Loci Promise that rejects unobserved is a bug.
    dangerouslyIgnoreUnhandledErrors: false,
  },
});
